using System.Globalization;
using System.Text;
using Contramask.Data;
using Parquet;
using Parquet.Schema;

namespace Contramask.Mining;

public enum EmbeddingFormat { Parquet, Csv, Npy }

/// <summary>
/// Streams embeddings to a file batch by batch, so data larger than memory can be exported: Parquet (one row group
/// per batch; columns <c>id</c>, <c>label</c>, <c>e0</c>…<c>e{D−1}</c>; readable by Spark, DuckDB, pandas), CSV
/// (same columns) or NumPy <c>.npy</c> (float32 N×D, with ids and labels in <c>FILE.ids.tsv</c>). Everything is
/// written to temporary files that replace the targets only when the last batch is in: a failed export leaves
/// no half-written file.
/// </summary>
public sealed class EmbeddingWriter : IDisposable
{
    readonly string path, temporary;
    readonly EmbeddingFormat format;
    readonly int dimensions;
    readonly long expectedRows;
    readonly FileStream stream;
    readonly ParquetWriter? parquet;
    readonly DataField<string>? idField;
    readonly DataField<string>? labelField;
    readonly DataField<float>[] vectorFields = [];
    readonly StreamWriter? text;
    readonly StreamWriter? idsText;
    readonly string? idsPath, idsTemporary;
    readonly bool rowsAtMost;
    long rows;
    bool completed;

    /// <param name="rowsAtMost">The file may end with fewer rows than <paramref name="expectedRows"/> (records left out
    /// while streaming, e.g. undecodable images); .npy's header then gets the final count.</param>
    public EmbeddingWriter(string path, int dimensions, long expectedRows, EmbeddingFormat? format = null, bool rowsAtMost = false)
    {
        this.path = path;
        this.dimensions = dimensions;
        this.expectedRows = expectedRows;
        this.rowsAtMost = rowsAtMost;
        this.format = format ?? FormatOf(path);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Training.RunFiles.EnsureWritable(folder);
        temporary = path + ".tmp";
        stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None);
        try
        {
            switch (this.format)
            {
                case EmbeddingFormat.Parquet:
                    idField = new DataField<string>("id");
                    labelField = new DataField<string>("label", true);
                    vectorFields = Enumerable.Range(0, dimensions).Select(d => new DataField<float>($"e{d}")).ToArray();
                    parquet = ParquetWriter.CreateAsync(new ParquetSchema([idField, labelField, .. vectorFields]), stream).GetAwaiter().GetResult();
                    break;
                case EmbeddingFormat.Csv:
                    text = new StreamWriter(stream, new UTF8Encoding(false));
                    text.WriteLine("id,label," + string.Join(',', Enumerable.Range(0, dimensions).Select(d => $"e{d}")));
                    break;
                case EmbeddingFormat.Npy:
                    stream.Write(NpyHeader(expectedRows, dimensions));
                    idsPath = path + ".ids.tsv";
                    idsTemporary = idsPath + ".tmp";
                    idsText = new StreamWriter(idsTemporary, false, new UTF8Encoding(false));
                    idsText.WriteLine("id\tlabel");
                    break;
            }
        }
        catch
        {
            // A constructor that throws is never disposed: remove the partial files here.
            Dispose();
            throw;
        }
    }

    public static EmbeddingFormat FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".parquet" or ".pq" => EmbeddingFormat.Parquet,
        ".csv" => EmbeddingFormat.Csv,
        ".npy" => EmbeddingFormat.Npy,
        var other => throw new ArgumentException($"{path}: unknown embeddings format '{other}'; use .parquet, .csv or .npy"),
    };

    /// <summary>Appends a batch: ids, labels (null entries = unlabeled) and an N×D row-major block of floats.</summary>
    public void Write(IReadOnlyList<string> ids, IReadOnlyList<string?> labels, ReadOnlySpan<float> vectors)
    {
        int n = ids.Count;
        if (vectors.Length != n * dimensions) throw new ArgumentException($"{vectors.Length} values for {n}×{dimensions}");
        if (rows + n > expectedRows) throw new InvalidOperationException($"more rows than the {expectedRows} announced");
        switch (format)
        {
            case EmbeddingFormat.Parquet:
                using (var group = parquet!.CreateRowGroup())
                {
                    group.WriteAsync(idField!, ids.ToArray()).GetAwaiter().GetResult();
                    group.WriteAsync(labelField!, labels.ToArray()).GetAwaiter().GetResult();
                    var column = new float[n];
                    for (int d = 0; d < dimensions; d++)
                    {
                        for (int i = 0; i < n; i++) column[i] = vectors[i * dimensions + d];
                        group.WriteAsync<float>(vectorFields[d], column.AsMemory()).GetAwaiter().GetResult();
                    }
                }
                break;
            case EmbeddingFormat.Csv:
                var line = new StringBuilder();
                for (int i = 0; i < n; i++)
                {
                    line.Clear().Append(CsvText.Field(ids[i])).Append(',').Append(CsvText.Field(labels[i] ?? ""));
                    for (int d = 0; d < dimensions; d++) line.Append(',').Append(vectors[i * dimensions + d].ToString("R", CultureInfo.InvariantCulture));
                    text!.WriteLine(line);
                }
                break;
            case EmbeddingFormat.Npy:
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(vectors));
                for (int i = 0; i < n; i++) idsText!.WriteLine($"{ids[i].Replace('\t', ' ')}\t{labels[i]}");
                break;
        }
        rows += n;
    }

    /// <summary>Finishes the file and moves it into place (and the ids file for .npy).</summary>
    public void Complete()
    {
        if (rows != expectedRows && !(rowsAtMost && rows < expectedRows)) throw new InvalidOperationException($"{rows} rows written, {expectedRows} announced");
        if (format == EmbeddingFormat.Npy && rows != expectedRows)
        {
            // Same header length (fewer digits, more padding), so the data after it stays where it is.
            stream.Flush();
            stream.Position = 0;
            stream.Write(NpyHeader(rows, dimensions, NpyHeader(expectedRows, dimensions).Length));
            stream.Seek(0, SeekOrigin.End);
        }
        parquet?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        text?.Flush();
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        idsText?.Dispose();
        if (idsPath is not null) File.Move(idsTemporary!, idsPath, overwrite: true);
        File.Move(temporary, path, overwrite: true);
        completed = true;
    }

    /// <summary>Without <see cref="Complete"/> (an error, a full disk), the partial files are removed.</summary>
    public void Dispose()
    {
        if (completed) return;
        // Closing flushes buffered bytes, which fails again on a full disk: the temporary files go regardless.
        try { parquet?.DisposeAsync().AsTask().GetAwaiter().GetResult(); } catch (IOException) { }
        try { stream.Dispose(); } catch (IOException) { }
        try { idsText?.Dispose(); } catch (IOException) { }
        if (File.Exists(temporary)) File.Delete(temporary);
        if (idsTemporary is not null && File.Exists(idsTemporary)) File.Delete(idsTemporary);
    }

    /// <summary>NumPy format 1.0: magic, version, little-endian header length, a dict padded to 64 bytes.</summary>
    /// <param name="length">The header's length in bytes when it must have one (a multiple of 64); else the shortest.</param>
    static byte[] NpyHeader(long rows, int columns, int? length = null)
    {
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}";
        int total = 10 + dict.Length + 1;
        int padding = length is int fixedLength ? fixedLength - total : (64 - total % 64) % 64;
        dict = dict + new string(' ', padding) + "\n";
        var header = new byte[10 + dict.Length];
        header[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY", 0, 5, header, 1);
        header[6] = 1; header[7] = 0;
        BitConverter.GetBytes((ushort)dict.Length).CopyTo(header, 8);
        Encoding.ASCII.GetBytes(dict).CopyTo(header, 10);
        return header;
    }
}

/// <summary>Reads an embeddings file written by <see cref="EmbeddingWriter"/> (or any file of the same layout).</summary>
public static class EmbeddingReader
{
    public static EmbeddingTable Read(string path)
    {
        if (!File.Exists(path)) throw new DataFormatException(path, "embeddings file not found");
        return EmbeddingWriter.FormatOf(path) switch
        {
            EmbeddingFormat.Parquet => ReadParquet(path),
            EmbeddingFormat.Csv => ReadCsv(path),
            _ => ReadNpy(path),
        };
    }

    static EmbeddingTable ReadParquet(string path)
    {
        using var stream = File.OpenRead(path);
        ParquetReader reader;
        try { reader = ParquetReader.CreateAsync(stream).GetAwaiter().GetResult(); }
        catch (IOException e) { throw new DataFormatException(path, e.Message); }
        try { return ReadParquet(path, reader); }
        finally { reader.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    }

    static EmbeddingTable ReadParquet(string path, ParquetReader reader)
    {
        var fields = reader.Schema.GetDataFields();
        var idField = fields.FirstOrDefault(f => f.Name == "id") ?? throw new DataFormatException(path, "no 'id' column");
        var labelField = fields.FirstOrDefault(f => f.Name == "label");
        var vectorFields = fields.Where(f => f.Name.Length > 1 && f.Name[0] == 'e' && int.TryParse(f.Name[1..], out _)).OrderBy(f => int.Parse(f.Name[1..])).ToArray();
        if (vectorFields.Length == 0) throw new DataFormatException(path, "no embedding columns (e0, e1, …)");
        var ids = new List<string>();
        var labels = new List<string?>();
        var vectors = new List<float>();
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            int n = (int)group.RowCount;
            var idValues = new string?[n];
            group.ReadAsync(idField, idValues.AsMemory()).GetAwaiter().GetResult();
            ids.AddRange(idValues.Select(v => v ?? ""));
            var labelValues = new string?[n];
            if (labelField is not null) group.ReadAsync(labelField, labelValues.AsMemory()).GetAwaiter().GetResult();
            labels.AddRange(labelValues.Select(l => string.IsNullOrEmpty(l) ? null : l));
            var block = new float[n * vectorFields.Length];
            var column = new float[n];
            for (int d = 0; d < vectorFields.Length; d++)
            {
                group.ReadAsync<float>(vectorFields[d], column.AsMemory()).GetAwaiter().GetResult();
                for (int i = 0; i < n; i++) block[i * vectorFields.Length + d] = column[i];
            }
            vectors.AddRange(block);
        }
        return Build(ids, labels, vectors.ToArray(), vectorFields.Length);
    }

    static EmbeddingTable ReadCsv(string path)
    {
        var table = CsvTableReader.Read(path, new CsvFormat());
        if (table.Columns.Count < 3 || table.Columns[0] != "id" || table.Columns[1] != "label")
            throw new DataFormatException(path, "expected the columns id, label, e0, e1, …");
        int d = table.Columns.Count - 2;
        var vectors = new float[table.Rows.Count * d];
        for (int r = 0; r < table.Rows.Count; r++)
            for (int j = 0; j < d; j++)
                vectors[r * d + j] = float.TryParse(table.Rows[r][j + 2], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                    : throw new DataFormatException(path, $"line {table.Lines[r]}, column '{table.Columns[j + 2]}': '{table.Rows[r][j + 2]}' is not a number");
        return Build(table.Rows.Select(r => r[0]).ToList(), table.Rows.Select(r => string.IsNullOrEmpty(r[1]) ? null : r[1]).ToList(), vectors, d);
    }

    static EmbeddingTable ReadNpy(string path)
    {
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        var magic = reader.ReadBytes(6);
        if (magic.Length < 6 || magic[0] != 0x93 || Encoding.ASCII.GetString(magic, 1, 5) != "NUMPY") throw new DataFormatException(path, "not a NumPy .npy file");
        reader.ReadBytes(2);
        int headerLength = reader.ReadUInt16();
        var header = Encoding.ASCII.GetString(reader.ReadBytes(headerLength));
        if (!header.Contains("'<f4'") || header.Contains("'fortran_order': True")) throw new DataFormatException(path, "expected a C-order float32 array ('<f4')");
        var shape = System.Text.RegularExpressions.Regex.Match(header, @"'shape': \((\d+), (\d+)\)");
        if (!shape.Success) throw new DataFormatException(path, "expected a 2-D array");
        long n = long.Parse(shape.Groups[1].Value), d = long.Parse(shape.Groups[2].Value);
        if (n * d * 4 != stream.Length - stream.Position) throw new DataFormatException(path, $"holds {stream.Length - stream.Position} data bytes, expected {n}×{d}×4");
        var vectors = new float[n * d];
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(vectors.AsSpan()).Clear();
        stream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(vectors.AsSpan()));
        var idsPath = path + ".ids.tsv";
        List<string> ids; List<string?> labels;
        if (File.Exists(idsPath))
        {
            var lines = File.ReadAllLines(idsPath).Skip(1).Select(l => l.Split('\t')).ToArray();
            if (lines.Length != n) throw new DataFormatException(idsPath, $"{lines.Length} ids for {n} rows");
            ids = lines.Select(l => l[0]).ToList();
            labels = lines.Select(l => l.Length > 1 && l[1].Length > 0 ? l[1] : null).ToList();
        }
        else
        {
            ids = Enumerable.Range(0, (int)n).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();
            labels = Enumerable.Repeat<string?>(null, (int)n).ToList();
        }
        return Build(ids, labels, vectors, (int)d);
    }

    /// <summary>Label names to class indices, in sorted order (numerically when every name is a number).</summary>
    static EmbeddingTable Build(List<string> ids, List<string?> labels, float[] vectors, int d)
    {
        var names = labels.Where(l => l is not null).Distinct().ToList();
        names = names.All(l => double.TryParse(l, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            ? names.OrderBy(l => double.Parse(l!, CultureInfo.InvariantCulture)).ToList() : names.Order(StringComparer.Ordinal).ToList();
        var index = names.Select((l, i) => (l, i)).ToDictionary(p => p.l!, p => p.i);
        return new EmbeddingTable(ids.ToArray(), labels.Select(l => l is null ? -1 : index[l]).ToArray(), vectors, d, names!);
    }
}
