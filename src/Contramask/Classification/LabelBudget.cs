using System.Globalization;
using Contramask.Evaluation;

namespace Contramask.Classification;

/// <summary>
/// How many of the training split's labels a classifier may learn from: <c>all</c>, a count (<c>600</c>) or a
/// fraction (<c>1%</c>, <c>0.01</c>). A count or fraction is drawn stratified (the same share of every class, at
/// least one each) with a seed, so the same budget names the same records every time. Or a file of record ids
/// (<c>select.csv</c>: its <c>id</c> column, or one id per line), e.g. the records <c>contramask select</c> picked.
/// </summary>
public sealed record LabelBudget(int? Count, double? Fraction)
{
    /// <summary>The file the ids came from, and the ids, when the budget names its records.</summary>
    public string? IdsFile { get; init; }
    public IReadOnlyList<string>? Ids { get; init; }

    public static readonly LabelBudget All = new(null, null);

    public bool IsAll => Count is null && Fraction is null;

    /// <param name="option">The option the text came from, named in an error.</param>
    public static LabelBudget Parse(string text, string option = "--labels")
    {
        var t = text.Trim().ToLowerInvariant();
        if (t is "all" or "100%") return All;
        if (File.Exists(text) || t.EndsWith(".csv") || t.EndsWith(".txt") || t.Contains('/')) return FromFile(text, option);
        if (t.EndsWith('%'))
            return double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var percent) && percent > 0 && percent <= 100
                ? (percent == 100 ? All : new(null, percent / 100))
                : throw new ArgumentException($"{option} {text}: expected a percentage in (0%, 100%], a count, or all");
        if (int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
            return count >= 1 ? new(count, null) : throw new ArgumentException($"{option} {text}: a count must be at least 1");
        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var fraction) && fraction > 0 && fraction < 1)
            return new(null, fraction);
        throw new ArgumentException($"{option} {text}: expected all, a count (600), a percentage (1%) or a fraction (0.01)");
    }

    /// <summary>A budget naming its records: the <c>id</c> column of a CSV with a header, else the first field of each line.</summary>
    static LabelBudget FromFile(string path, string option)
    {
        if (!File.Exists(path)) throw new ArgumentException($"{option} {path}: file not found (expected all, a count, a percentage, or a file of record ids)");
        var rows = new List<string[]>();
        using (var reader = new StreamReader(path))
        using (var parser = new CsvHelper.CsvParser(reader, new CsvHelper.Configuration.CsvConfiguration(CultureInfo.InvariantCulture) { HasHeaderRecord = false }))
        {
            try
            {
                while (parser.Read())
                    if (parser.Record is { Length: > 0 } record && !(record.Length == 1 && record[0].Trim().Length == 0)) rows.Add(record);
            }
            catch (CsvHelper.CsvHelperException)
            {
                throw new ArgumentException($"{path}, line {parser.Row}: not a CSV of record ids (an unclosed quote?)");
            }
        }
        if (rows.Count == 0) throw new ArgumentException($"{path}: no record ids in the file");
        int column = Array.FindIndex(rows[0], h => h.Trim().Equals("id", StringComparison.OrdinalIgnoreCase));
        var ids = (column >= 0 ? rows.Skip(1) : rows).Select((fields, n) =>
        {
            int c = Math.Max(column, 0);
            return c < fields.Length && fields[c].Length > 0 ? fields[c]
                : throw new ArgumentException($"{path}, record {n + (column >= 0 ? 2 : 1)}: no record id in column {c + 1}");
        }).Distinct().ToList();
        if (ids.Count == 0) throw new ArgumentException($"{path}: a header but no record ids");
        return new LabelBudget(ids.Count, null) { IdsFile = path, Ids = ids };
    }

    /// <summary>Indices (ascending) of the labelled records this budget takes from <paramref name="records"/>: by id when it names them.</summary>
    public int[] Choose(Data.IRecordSet records, int seed)
    {
        var labels = records.Labels ?? throw new InvalidOperationException($"{records.Source} has no labels");
        if (Ids is null) return Choose(labels, seed);
        var position = new Dictionary<string, int>();
        for (int i = 0; i < records.Count; i++) position.TryAdd(records.RecordId(i), i);
        var missing = Ids.Where(id => !position.ContainsKey(id)).ToList();
        if (missing.Count > 0)
            throw new ArgumentException($"{IdsFile}: {missing.Count} of {Ids.Count} record ids are not in the training split {records.Source} (e.g. '{missing[0]}'; its ids look like '{records.RecordId(0)}')");
        return Ids.Select(id => position[id]).Order().ToArray();
    }

    /// <summary>Indices (ascending) of the labelled records this budget takes from <paramref name="labels"/>.</summary>
    public int[] Choose(IReadOnlyList<int> labels, int seed)
    {
        if (IsAll || Count >= labels.Count) return Enumerable.Range(0, labels.Count).ToArray();
        double fraction = Fraction ?? (double)Count!.Value / labels.Count;
        var chosen = FewLabelSplit.Stratified(labels, fraction, seed);
        if (Count is int n && chosen.Length != n)
        {
            // Rounding per class can miss a count by a few: top up or trim at random, keeping one per class.
            var random = new Random(seed + 1);
            var set = new HashSet<int>(chosen);
            if (chosen.Length < n)
            {
                var rest = Enumerable.Range(0, labels.Count).Where(i => !set.Contains(i)).ToArray();
                random.Shuffle(rest);
                set.UnionWith(rest.Take(n - chosen.Length));
            }
            else
            {
                var perClass = chosen.GroupBy(i => labels[i]).ToDictionary(g => g.Key, g => g.Count());
                var order = chosen.ToArray();
                random.Shuffle(order);
                foreach (var i in order)
                {
                    if (set.Count == n) break;
                    if (perClass[labels[i]] > 1) { set.Remove(i); perClass[labels[i]]--; }
                }
            }
            chosen = set.Order().ToArray();
        }
        return chosen;
    }

    public override string ToString() => IdsFile is not null ? $"{Ids!.Count} from {Path.GetFileName(IdsFile)}" : IsAll ? "all" : Count is int n ? n.ToString(CultureInfo.InvariantCulture)
        : (100 * Fraction!.Value).ToString("0.###", CultureInfo.InvariantCulture) + "%";
}
