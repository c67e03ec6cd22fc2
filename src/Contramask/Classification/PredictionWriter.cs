using System.Globalization;
using System.Text;
using Contramask.Mining;
using Parquet;
using Parquet.Schema;

namespace Contramask.Classification;

/// <summary>
/// Streams predictions to Parquet (one row group per batch) or CSV: <c>id</c>, <c>label</c> (the record's own, when it
/// has one), <c>predicted</c>, <c>confidence</c>, and the top three classes with their probabilities (<c>top1</c>,
/// <c>p1</c>, …). Written to a temporary file that replaces the target only when complete.
/// </summary>
public sealed class PredictionWriter : IDisposable
{
    readonly string path, temporary;
    readonly bool parquetFormat;
    readonly IReadOnlyList<string> classes;
    readonly int top;
    readonly FileStream stream;
    readonly ParquetWriter? parquet;
    readonly DataField<string> id = new("id"), predicted = new("predicted");
    readonly DataField<string> label = new("label", true);
    readonly DataField<float> confidence = new("confidence");
    readonly DataField<string>[] topClass;
    readonly DataField<float>[] topProbability;
    readonly StreamWriter? text;
    bool completed;

    public PredictionWriter(string path, IReadOnlyList<string> classes)
    {
        this.path = path;
        this.classes = classes;
        top = Math.Min(3, classes.Count);
        parquetFormat = Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".parquet" or ".pq" => true,
            ".csv" => false,
            var other => throw new ArgumentException($"{path}: unknown predictions format '{other}'; use .parquet or .csv"),
        };
        topClass = Enumerable.Range(1, top).Select(k => new DataField<string>($"top{k}")).ToArray();
        topProbability = Enumerable.Range(1, top).Select(k => new DataField<float>($"p{k}")).ToArray();
        Training.RunFiles.EnsureWritable(Path.GetDirectoryName(Path.GetFullPath(path))!);
        temporary = path + ".tmp";
        stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None);
        try
        {
            if (parquetFormat)
            {
                Field[] fields = [id, label, predicted, confidence, .. topClass.Zip(topProbability).SelectMany(p => new Field[] { p.First, p.Second })];
                parquet = ParquetWriter.CreateAsync(new ParquetSchema(fields), stream).GetAwaiter().GetResult();
            }
            else
            {
                text = new StreamWriter(stream, new UTF8Encoding(false));
                text.WriteLine("id,label,predicted,confidence," + string.Join(',', Enumerable.Range(1, top).Select(k => $"top{k},p{k}")));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public long Rows { get; private set; }

    /// <param name="probabilities">N×C, row-major.</param>
    public void Write(IReadOnlyList<string> ids, IReadOnlyList<string?> labels, ReadOnlySpan<float> probabilities)
    {
        int n = ids.Count, c = classes.Count;
        var order = new int[n][];
        for (int i = 0; i < n; i++)
        {
            var row = probabilities.Slice(i * c, c).ToArray();
            order[i] = Enumerable.Range(0, c).OrderByDescending(k => row[k]).ThenBy(k => k).Take(top).ToArray();
        }
        var all = probabilities.ToArray();
        float P(int i, int k) => all[i * c + order[i][k]];
        if (parquet is not null)
        {
            using var group = parquet.CreateRowGroup();
            group.WriteAsync(id, ids.ToArray()).GetAwaiter().GetResult();
            group.WriteAsync(label, labels.ToArray()).GetAwaiter().GetResult();
            group.WriteAsync(predicted, Enumerable.Range(0, n).Select(i => classes[order[i][0]]).ToArray()).GetAwaiter().GetResult();
            group.WriteAsync<float>(confidence, Enumerable.Range(0, n).Select(i => P(i, 0)).ToArray().AsMemory()).GetAwaiter().GetResult();
            for (int k = 0; k < top; k++)
            {
                group.WriteAsync(topClass[k], Enumerable.Range(0, n).Select(i => classes[order[i][k]]).ToArray()).GetAwaiter().GetResult();
                group.WriteAsync<float>(topProbability[k], Enumerable.Range(0, n).Select(i => P(i, k)).ToArray().AsMemory()).GetAwaiter().GetResult();
            }
        }
        else
        {
            var line = new StringBuilder();
            for (int i = 0; i < n; i++)
            {
                line.Clear().Append(CsvText.Field(ids[i])).Append(',').Append(CsvText.Field(labels[i] ?? "")).Append(',')
                    .Append(CsvText.Field(classes[order[i][0]])).Append(',').Append(P(i, 0).ToString("R", CultureInfo.InvariantCulture));
                for (int k = 0; k < top; k++)
                    line.Append(',').Append(CsvText.Field(classes[order[i][k]])).Append(',').Append(P(i, k).ToString("R", CultureInfo.InvariantCulture));
                text!.WriteLine(line);
            }
        }
        Rows += n;
    }

    public void Complete()
    {
        parquet?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        text?.Flush();
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        File.Move(temporary, path, overwrite: true);
        completed = true;
    }

    public void Dispose()
    {
        if (completed) return;
        try { parquet?.DisposeAsync().AsTask().GetAwaiter().GetResult(); } catch (IOException) { }
        try { stream.Dispose(); } catch (IOException) { }
        if (File.Exists(temporary)) File.Delete(temporary);
    }
}
