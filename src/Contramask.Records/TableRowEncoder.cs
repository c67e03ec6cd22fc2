namespace Contramask.Data;

/// <summary>
/// Encodes rows of a CSV table with a fitted <see cref="TableSchema"/>, as the encoders take them: per feature a value
/// (a number as (x − mean) / std with the training statistics, a category as 1 + its index in the schema's list,
/// 0 for an unseen one, 0 when missing) and a missing flag. Training (TableDataset) and Contramask.Inference share it.
/// </summary>
public sealed class TableRowEncoder
{
    readonly TableSchema schema;
    readonly RawTable table;
    readonly CsvFormat format;
    readonly int[] columnIndex;
    readonly Dictionary<string, int>[] codes;

    /// <summary>Fails with the file's name (and its columns) when a column the schema reads is absent.</summary>
    public TableRowEncoder(TableSchema schema, RawTable table, CsvFormat format)
    {
        this.schema = schema; this.table = table; this.format = format;
        columnIndex = schema.Features.Select(f => table.ColumnIndex(f.Name, "schema")).ToArray();
        codes = schema.Features.Select(f => f.Categories.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i + 1)).ToArray();
    }

    public int FeatureCount => schema.FeatureCount;

    /// <summary>
    /// Refuses a table that lacks feature columns a trained model reads (matched as training matches them: exact, then
    /// ignoring case), naming every absent one (up to five) in one message, where the constructor names only the first.
    /// </summary>
    public static void RequireModelColumns(TableSchema schema, RawTable table)
    {
        var absent = schema.Features.Select(f => f.Name).Where(n => !table.Columns.Any(c => string.Equals(c, n, StringComparison.OrdinalIgnoreCase))).ToList();
        if (absent.Count > 0)
            throw new DataFormatException(table.Path, $"{absent.Count} column(s) the model reads are absent: {string.Join(", ", absent.Take(5))}{(absent.Count > 5 ? ", …" : "")}");
    }

    /// <summary>Writes row <paramref name="row"/>'s values and missing flags (each <see cref="FeatureCount"/> long).</summary>
    public void Encode(int row, Span<float> values, Span<byte> missing)
    {
        for (int f = 0; f < schema.FeatureCount; f++)
        {
            var column = schema.Features[f];
            var cell = table.Rows[row][columnIndex[f]];
            if (TableSchema.IsMissing(cell)) { values[f] = 0; missing[f] = 1; continue; }
            missing[f] = 0;
            values[f] = column.Kind == ColumnKind.Numeric
                ? (float)((TableSchema.ParseNumber(table, row, columnIndex[f], format) - column.Mean) / column.Std)
                : codes[f].GetValueOrDefault(TableSchema.CategoryKey(cell, format), 0);
        }
    }
}
