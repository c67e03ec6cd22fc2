using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Contramask.Data;

public enum ColumnKind { Numeric, Categorical }

/// <summary>
/// One feature column as fitted on the training rows: numbers are standardized with <see cref="Mean"/> and
/// <see cref="Std"/>; categories are coded 1…K in the order of <see cref="Categories"/>, and 0 means "unknown"
/// (a value not seen in training, or missing).
/// </summary>
public sealed record FeatureColumn
{
    public required string Name { get; init; }
    public ColumnKind Kind { get; init; }
    public double Mean { get; init; }
    public double Std { get; init; } = 1;
    public IReadOnlyList<string> Categories { get; init; } = [];
    /// <summary>Missing cells among the training rows.</summary>
    public int MissingInTrain { get; init; }

    /// <summary>Number of codes a categorical column takes, including the unknown code 0.</summary>
    [JsonIgnore] public int Cardinality => Categories.Count + 1;
}

/// <summary>
/// What a user may say about a CSV file's columns in <c>--schema FILE</c> (JSON), overriding inference:
/// <c>{"label": "class", "id": "row_id", "columns": {"zip": "categorical", "notes": "ignore"}}</c>.
/// </summary>
public sealed record SchemaOverrides
{
    public string? Label { get; init; }
    public string? Id { get; init; }
    /// <summary>Column name → numeric, categorical or ignore.</summary>
    public Dictionary<string, string> Columns { get; init; } = [];

    public static SchemaOverrides Read(string path)
    {
        if (!File.Exists(path)) throw new DataFormatException(path, "schema file not found");
        SchemaOverrides? result;
        try { result = JsonSerializer.Deserialize<SchemaOverrides>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new DataFormatException(path, $"not a valid schema (JSON): {e.Message}"); }
        if (result is null) throw new DataFormatException(path, "empty schema");
        foreach (var (name, kind) in result.Columns)
            if (kind.ToLowerInvariant() is not ("numeric" or "categorical" or "ignore"))
                throw new DataFormatException(path, $"column '{name}': kind '{kind}' is not one of numeric, categorical, ignore");
        return result;
    }

    static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
}

/// <summary>
/// The fitted schema of a table: its feature columns (with statistics from the training rows only), the label
/// and id columns kept out of the features, and the class names. Saved with a run (<c>config.json</c>) and
/// reused unchanged to encode any later data for that run's encoder.
/// </summary>
public sealed record TableSchema
{
    public required IReadOnlyList<FeatureColumn> Features { get; init; }
    public string? Label { get; init; }
    public string? Id { get; init; }
    /// <summary>Columns left out: declared "ignore", or holding no value at all.</summary>
    public IReadOnlyList<string> Ignored { get; init; } = [];
    public IReadOnlyList<string>? Classes { get; init; }

    /// <summary>An integer column with at most this many distinct values is taken as categorical.</summary>
    public const int MaxIntegerCategories = 10;
    /// <summary>Categorical columns keep their most frequent values up to this many; rarer ones become "unknown".</summary>
    public const int MaxCategories = 1000;

    static readonly HashSet<string> MissingTokens = new(StringComparer.OrdinalIgnoreCase) { "", "NA", "N/A", "?", "NaN", "null" };

    public static bool IsMissing(string cell) => MissingTokens.Contains(cell.Trim());

    public static bool TryParseNumber(string cell, CsvFormat format, out double value) =>
        double.TryParse(cell.Trim(), NumberStyles.Float, format.Numbers, out value) && double.IsFinite(value);

    [JsonIgnore] public int FeatureCount => Features.Count;

    /// <summary>
    /// Infers column kinds from all rows and fits statistics and categories on <paramref name="trainRows"/> only.
    /// A column that is numbers except for a few cells is reported as an error rather than silently turned
    /// categorical: that is almost always a typo in the data.
    /// </summary>
    /// <param name="labelTablesToo">Further files (a separate test file) whose labels count as classes too.</param>
    public static TableSchema Infer(RawTable table, CsvFormat format, IReadOnlyList<int> trainRows, SchemaOverrides? overrides = null,
        IReadOnlyList<RawTable>? labelTablesToo = null)
    {
        overrides ??= new SchemaOverrides();
        int labelIndex = overrides.Label is null ? -1 : table.ColumnIndex(overrides.Label, "label");
        int idIndex = overrides.Id is null ? -1 : table.ColumnIndex(overrides.Id, "id");
        foreach (var name in overrides.Columns.Keys) table.ColumnIndex(name, "schema");
        var features = new List<FeatureColumn>();
        var ignored = new List<string>();
        for (int c = 0; c < table.Columns.Count; c++)
        {
            if (c == labelIndex || c == idIndex) continue;
            string name = table.Columns[c];
            string? declared = overrides.Columns.FirstOrDefault(kv => string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)).Value?.ToLowerInvariant();
            if (declared == "ignore") { ignored.Add(name); continue; }
            var kind = declared switch { "numeric" => ColumnKind.Numeric, "categorical" => ColumnKind.Categorical, _ => InferKind(table, c, format) };
            if (kind is null) { ignored.Add(name); continue; }
            features.Add(Fit(table, c, kind.Value, format, trainRows));
        }
        if (features.Count == 0) throw new DataFormatException(table.Path, "no feature columns left after the label, id and ignored columns");
        var classes = labelIndex < 0 ? null : CollectClasses([table, .. labelTablesToo ?? []], table.Columns[labelIndex], format);
        return new TableSchema
        {
            Features = features, Label = labelIndex < 0 ? null : table.Columns[labelIndex], Id = idIndex < 0 ? null : table.Columns[idIndex],
            Ignored = ignored, Classes = classes,
        };
    }

    /// <summary>The label values of every row of <paramref name="tables"/>, ordered; each row needs one, and there must be two or more.</summary>
    static IReadOnlyList<string> CollectClasses(IReadOnlyList<RawTable> tables, string label, CsvFormat format)
    {
        var values = new HashSet<string>();
        foreach (var table in tables)
        {
            int column = table.ColumnIndex(label, "label");
            for (int r = 0; r < table.Rows.Count; r++)
            {
                var cell = table.Rows[r][column].Trim();
                if (IsMissing(cell)) throw new DataFormatException(table.Path, $"line {table.Lines[r]}: the label column '{table.Columns[column]}' is empty");
                values.Add(cell);
            }
            // The training file alone must hold two classes or more (a probe cannot learn from one).
            if (table == tables[0] && values.Count < 2)
                throw new DataFormatException(table.Path, $"the label column '{label}' holds a single class ('{values.First()}'); a label needs at least 2 classes");
        }
        return OrderValues(values, format);
    }

    /// <returns>The kind, or null when the column holds no value at all.</returns>
    static ColumnKind? InferKind(RawTable table, int column, CsvFormat format)
    {
        int numbers = 0, present = 0, firstText = -1;
        bool integers = true;
        var distinct = new HashSet<double>();
        for (int r = 0; r < table.Rows.Count; r++)
        {
            var cell = table.Rows[r][column];
            if (IsMissing(cell)) continue;
            present++;
            if (TryParseNumber(cell, format, out var v))
            {
                numbers++;
                if (v != Math.Floor(v)) integers = false;
                if (distinct.Count <= MaxIntegerCategories) distinct.Add(v);
            }
            else if (firstText < 0) firstText = r;
        }
        if (present == 0) return null;
        if (numbers == present)
            return integers && distinct.Count <= MaxIntegerCategories ? ColumnKind.Categorical : ColumnKind.Numeric;
        if (numbers >= 0.95 * present && present >= 20)
            throw new DataFormatException(table.Path, $"line {table.Lines[firstText]}, column '{table.Columns[column]}': '{Clip(table.Rows[firstText][column])}' is not a number, " +
                $"but {numbers} of the column's {present} values are; fix the value, mark it missing (empty or NA), or declare the column categorical with --schema");
        return ColumnKind.Categorical;
    }

    static FeatureColumn Fit(RawTable table, int column, ColumnKind kind, CsvFormat format, IReadOnlyList<int> trainRows)
    {
        string name = table.Columns[column];
        int missing = 0;
        if (kind == ColumnKind.Numeric)
        {
            double sum = 0, sumSquares = 0;
            int count = 0;
            foreach (int r in trainRows)
            {
                var cell = table.Rows[r][column];
                if (IsMissing(cell)) { missing++; continue; }
                double v = ParseNumber(table, r, column, format);
                sum += v; sumSquares += v * v; count++;
            }
            double mean = count == 0 ? 0 : sum / count;
            double std = count < 2 ? 1 : Math.Sqrt(Math.Max(0, (sumSquares - count * mean * mean) / (count - 1)));
            // A constant column standardizes to 0, not to a division by zero.
            return new FeatureColumn { Name = name, Kind = kind, Mean = mean, Std = std > 1e-12 ? std : 1, MissingInTrain = missing };
        }
        var frequency = new Dictionary<string, int>();
        foreach (int r in trainRows)
        {
            var cell = table.Rows[r][column];
            if (IsMissing(cell)) { missing++; continue; }
            var key = CategoryKey(cell, format);
            frequency[key] = frequency.GetValueOrDefault(key) + 1;
        }
        var kept = frequency.OrderByDescending(kv => kv.Value).Take(MaxCategories).Select(kv => kv.Key).ToHashSet();
        return new FeatureColumn { Name = name, Kind = kind, Categories = OrderValues(kept, format), MissingInTrain = missing };
    }

    internal static double ParseNumber(RawTable table, int row, int column, CsvFormat format) =>
        TryParseNumber(table.Rows[row][column], format, out var v) ? v
            : throw new DataFormatException(table.Path, $"line {table.Lines[row]}, column '{table.Columns[column]}': '{Clip(table.Rows[row][column])}' is not a number (the column is numeric)");

    /// <summary>"3", "3.0" and " 3" are one category; text is kept as written (trimmed).</summary>
    internal static string CategoryKey(string cell, CsvFormat format) =>
        TryParseNumber(cell, format, out var v) ? v.ToString("R", CultureInfo.InvariantCulture) : cell.Trim();

    /// <summary>Numbers in numeric order, otherwise ordinal text order, so codes do not depend on row order.</summary>
    static IReadOnlyList<string> OrderValues(IEnumerable<string> values, CsvFormat format)
    {
        var list = values.ToList();
        var numeric = list.Select(v => (Ok: double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || TryParseNumber(v, format, out d), d)).ToList();
        return numeric.All(n => n.Ok)
            ? list.Zip(numeric).OrderBy(p => p.Second.d).Select(p => p.First).ToList()
            : list.Order(StringComparer.Ordinal).ToList();
    }

    static string Clip(string s) => s.Length > 40 ? s[..40] + "…" : s;

    public override string ToString()
    {
        int numeric = Features.Count(f => f.Kind == ColumnKind.Numeric);
        return $"{Features.Count} features ({numeric} numeric, {Features.Count - numeric} categorical)" +
            (Label is null ? "" : $", label '{Label}' with {Classes!.Count} classes") + (Ignored.Count > 0 ? $", ignored: {string.Join(", ", Ignored)}" : "");
    }
}
