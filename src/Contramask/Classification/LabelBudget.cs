using System.Globalization;
using Contramask.Evaluation;

namespace Contramask.Classification;

/// <summary>
/// How many of the training split's labels a classifier may learn from: <c>all</c>, a count (<c>600</c>) or a
/// fraction (<c>1%</c>, <c>0.01</c>). A count or fraction is drawn stratified (the same share of every class, at
/// least one each) with a seed, so the same budget names the same records every time.
/// </summary>
public sealed record LabelBudget(int? Count, double? Fraction)
{
    public static readonly LabelBudget All = new(null, null);

    public bool IsAll => Count is null && Fraction is null;

    /// <param name="option">The option the text came from, named in an error.</param>
    public static LabelBudget Parse(string text, string option = "--labels")
    {
        var t = text.Trim().ToLowerInvariant();
        if (t is "all" or "100%") return All;
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

    public override string ToString() => IsAll ? "all" : Count is int n ? n.ToString(CultureInfo.InvariantCulture)
        : (100 * Fraction!.Value).ToString("0.###", CultureInfo.InvariantCulture) + "%";
}
