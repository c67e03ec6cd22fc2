namespace Contramask.Data;

/// <summary>A chunk of a table's rows encoded with a model's schema, with each row's own label as text (null when none).</summary>
public sealed record TableChunk(TableDataset Rows, string?[] Labels);

/// <summary>
/// Every row of a CSV data spec (its file, then its <c>testfile=</c> when named), read and encoded chunk by chunk with
/// a trained model's schema, so a table of any length is read with one chunk in memory: what <c>embed</c> and
/// <c>predict</c> do with <c>--data csv:FILE</c>. As for prediction, the label column is read as text and may be
/// absent or partly empty, the id column may be absent (ids are then file:line), and features the model reads must
/// be there. Rows come in file order; the spec's split options do not apply (every row is read).
/// </summary>
public static class TableStream
{
    public const int ChunkRows = 8192;

    public static IEnumerable<TableChunk> Chunks(DataSpec spec, TableSchema schema, int chunkRows = ChunkRows)
    {
        if (!spec.IsTable) throw new ArgumentException($"{spec} is not a table (csv:FILE)");
        var format = spec.CsvFormat;
        foreach (var file in Files(spec))
        {
            TableSchema? readAs = null;
            int labelColumn = -1;
            foreach (var raw in CsvTableReader.ReadChunks(file, format, chunkRows))
            {
                if (readAs is null)
                {
                    TableRowEncoder.RequireModelColumns(schema, raw);
                    bool Has(string? column) => column is not null && raw.Columns.Any(c => string.Equals(c, column, StringComparison.OrdinalIgnoreCase));
                    readAs = schema with { Label = null, Id = Has(schema.Id) ? schema.Id : null };
                    labelColumn = Has(schema.Label) ? raw.ColumnIndex(schema.Label!, "label") : -1;
                }
                var rows = TableDataset.Encode(raw, readAs, format, Enumerable.Range(0, raw.Rows.Count).ToArray(), Path.GetFileName(file));
                var labels = raw.Rows.Select(r => labelColumn < 0 || TableSchema.IsMissing(r[labelColumn]) ? null : r[labelColumn].Trim()).ToArray();
                yield return new TableChunk(rows, labels);
            }
        }
    }

    /// <summary>An upper bound on the rows (the files' line counts), for progress, counted without parsing.</summary>
    public static long CountLines(DataSpec spec)
    {
        long lines = 0;
        var buffer = new byte[1 << 16];
        foreach (var file in Files(spec))
        {
            if (!File.Exists(file)) throw new DataFormatException(file, "file not found");
            using var stream = File.OpenRead(file);
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0) lines += buffer.AsSpan(0, read).Count((byte)'\n');
            lines++;   // a last line without a newline
        }
        return lines;
    }

    static IEnumerable<string> Files(DataSpec spec) =>
        spec.Options.TryGetValue("testfile", out var testFile) ? [spec.Path!, testFile] : [spec.Path!];
}
