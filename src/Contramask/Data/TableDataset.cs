using static TorchSharp.torch;

namespace Contramask.Data;

/// <summary>
/// Table rows encoded with a <see cref="TableSchema"/>: per row and feature a value (numbers standardized,
/// categories as their code, 0 when missing) and a missing flag. A batch is one float tensor N×2F laid out as
/// [values | missing flags] (see <see cref="TableLayout"/>), so tables go through the same training loop, views
/// and objectives interface as images; the table encoders split it again.
/// </summary>
public sealed class TableDataset : IRecordSet
{
    public TableDataset(TableSchema schema, float[] values, byte[] missing, int count, int[]? labels, IReadOnlyList<string>? recordIds, string source)
    {
        if (values.Length != (long)count * schema.FeatureCount || missing.Length != values.Length)
            throw new ArgumentException($"buffers hold {values.Length} values and {missing.Length} flags, expected {count}×{schema.FeatureCount}");
        if (labels is not null && labels.Length != count) throw new ArgumentException($"{labels.Length} labels for {count} rows");
        Schema = schema; Values = values; Missing = missing; Count = count; Labels = labels; RecordIds = recordIds; Source = source;
    }

    public TableSchema Schema { get; }
    public float[] Values { get; }
    public byte[] Missing { get; }
    public int Count { get; }
    public int[]? Labels { get; }
    public IReadOnlyList<string>? ClassNames => Schema.Classes;
    public IReadOnlyList<string>? RecordIds { get; }
    public string Source { get; }
    public int FeatureCount => Schema.FeatureCount;

    public string RecordId(int index) => RecordIds?[index] ?? $"{Source}:{index}";

    /// <summary>Encodes <paramref name="rows"/> of a raw table with a fitted schema (unseen categories → unknown).</summary>
    public static TableDataset Encode(RawTable table, TableSchema schema, CsvFormat format, IReadOnlyList<int> rows, string source)
    {
        int features = schema.FeatureCount;
        var encoder = new TableRowEncoder(schema, table, format);
        var values = new float[(long)rows.Count * features];
        var missing = new byte[values.Length];
        for (int n = 0; n < rows.Count; n++)
            encoder.Encode(rows[n], values.AsSpan(n * features, features), missing.AsSpan(n * features, features));
        int[]? labels = null;
        if (schema.Label is not null && schema.Classes is not null)
        {
            int labelColumn = table.ColumnIndex(schema.Label, "label");
            var classIndex = schema.Classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
            labels = new int[rows.Count];
            for (int n = 0; n < rows.Count; n++)
            {
                var cell = table.Rows[rows[n]][labelColumn].Trim();
                labels[n] = classIndex.TryGetValue(cell, out var k) ? k
                    : throw new DataFormatException(table.Path, $"line {table.Lines[rows[n]]}: label '{cell}' is not one of the run's classes ({string.Join(", ", schema.Classes.Take(10))}…)");
            }
        }
        IReadOnlyList<string> ids = schema.Id is not null
            ? rows.Select(r => table.Rows[r][table.ColumnIndex(schema.Id, "id")].Trim()).ToArray()
            : rows.Select(r => $"{Path.GetFileName(table.Path)}:{table.Lines[r]}").ToArray();
        return new TableDataset(schema, values, missing, rows.Count, labels, ids, source);
    }

    /// <summary>The rows at <paramref name="indices"/> as N×2F floats: values, then missing flags.</summary>
    public Tensor Batch(ReadOnlySpan<int> indices)
    {
        int f = FeatureCount;
        var buffer = new float[indices.Length * 2 * f];
        for (int i = 0; i < indices.Length; i++)
        {
            Array.Copy(Values, (long)indices[i] * f, buffer, (long)i * 2 * f, f);
            for (int j = 0; j < f; j++) buffer[i * 2 * f + f + j] = Missing[(long)indices[i] * f + j];
        }
        return tensor(buffer, new long[] { indices.Length, 2 * f });
    }

    public Tensor Inputs(ReadOnlySpan<int> indices) => Batch(indices);

    /// <summary>Row <paramref name="index"/>'s feature values as text, decoded back through the schema: numbers
    /// un-standardized, categories by name ("(unknown)" for a value unseen in training), "" when missing.</summary>
    public string[] Describe(int index)
    {
        int f = FeatureCount;
        var cells = new string[f];
        for (int j = 0; j < f; j++)
        {
            long at = (long)index * f + j;
            var column = Schema.Features[j];
            cells[j] = Missing[at] != 0 ? ""
                : column.Kind == ColumnKind.Numeric ? (Values[at] * column.Std + column.Mean).ToString("G5", System.Globalization.CultureInfo.InvariantCulture)
                : (int)Values[at] is int code && code >= 1 && code <= column.Categories.Count ? column.Categories[code - 1] : "(unknown)";
        }
        return cells;
    }

    public TableDataset Subset(IReadOnlyList<int> indices, string? source = null)
    {
        int f = FeatureCount;
        var values = new float[(long)indices.Count * f];
        var missing = new byte[values.Length];
        for (int i = 0; i < indices.Count; i++)
        {
            Array.Copy(Values, (long)indices[i] * f, values, (long)i * f, f);
            Array.Copy(Missing, (long)indices[i] * f, missing, (long)i * f, f);
        }
        return new TableDataset(Schema, values, missing, indices.Count, Labels is null ? null : indices.Select(i => Labels[i]).ToArray(),
            indices.Select(RecordId).ToArray(), source ?? Source);
    }

    public override string ToString() =>
        $"{Source}: {Count} rows, {Schema}";
}

/// <summary>Table splits: training rows (pretraining sees them without labels), optional test and validation rows.</summary>
public sealed record TableSplits(TableDataset Train, TableDataset? Test, TableDataset? Validation = null) : ISplits
{
    IRecordSet ISplits.Train => Train;
    IRecordSet? ISplits.Test => Test;
    IRecordSet? ISplits.Validation => Validation;
}

/// <summary>
/// The column layout of a table batch for a schema: which positions hold numbers and which categories, and the
/// split of the packed N×2F tensor into values and missing flags.
/// </summary>
public sealed class TableLayout
{
    public TableLayout(TableSchema schema)
    {
        Schema = schema;
        NumericColumns = Enumerable.Range(0, schema.FeatureCount).Where(i => schema.Features[i].Kind == ColumnKind.Numeric).ToArray();
        CategoricalColumns = Enumerable.Range(0, schema.FeatureCount).Where(i => schema.Features[i].Kind == ColumnKind.Categorical).ToArray();
        Cardinalities = CategoricalColumns.Select(i => schema.Features[i].Cardinality).ToArray();
    }

    public TableSchema Schema { get; }
    public int FeatureCount => Schema.FeatureCount;
    public int[] NumericColumns { get; }
    public int[] CategoricalColumns { get; }
    public int[] Cardinalities { get; }

    public Tensor Values(Tensor batch) => batch.narrow(1, 0, FeatureCount);
    public Tensor MissingFlags(Tensor batch) => batch.narrow(1, FeatureCount, FeatureCount);
    public Tensor Numeric(Tensor batch) => Values(batch).index_select(1, tensor(NumericColumns.Select(i => (long)i).ToArray(), device: batch.device));
    /// <summary>Category codes N×C as int64.</summary>
    public Tensor Codes(Tensor batch) => Values(batch).index_select(1, tensor(CategoricalColumns.Select(i => (long)i).ToArray(), device: batch.device)).to(ScalarType.Int64);
    /// <summary>A 0/1 float vector over the F features marking the numeric ones.</summary>
    public Tensor NumericMask(Device device)
    {
        var mask = new float[FeatureCount];
        foreach (var i in NumericColumns) mask[i] = 1;
        return tensor(mask, device: device);
    }
}
