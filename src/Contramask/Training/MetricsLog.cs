using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Contramask.Training;

/// <summary>
/// One JSON object per step in <c>metrics.jsonl</c>. A resumed run continues the same file from its checkpoint's
/// step: lines logged after that checkpoint (the steps a crash lost) and a line torn by the crash are cut first,
/// so the file holds each step once.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    public const string FileName = "metrics.jsonl";
    readonly StreamWriter writer;

    /// <param name="keepSteps">Steps already done (a resumed run's checkpoint step); lines after them are removed. 0 for a new run.</param>
    public MetricsLog(string runFolder, long keepSteps = 0)
    {
        var path = Path.Combine(runFolder, FileName);
        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        stream.SetLength(keepSteps == 0 ? 0 : LengthUpToStep(stream, keepSteps));
        stream.Seek(0, SeekOrigin.End);
        writer = new StreamWriter(stream, new UTF8Encoding(false));
    }

    /// <summary>Byte length of the complete lines whose step is at most <paramref name="step"/>.</summary>
    static long LengthUpToStep(Stream stream, long step)
    {
        stream.Seek(0, SeekOrigin.Begin);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        long kept = 0, start = 0;
        for (long i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != (byte)'\n') continue;
            var line = Encoding.UTF8.GetString(bytes, (int)start, (int)(i - start));
            if (StepOf(line) is not long s || s > step) break;
            kept = i + 1;
            start = i + 1;
        }
        return kept;
    }

    static long? StepOf(string line)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            return json.RootElement.TryGetProperty("step", out var s) && s.TryGetInt64(out var v) ? v : null;
        }
        catch (JsonException) { return null; }
    }

    public void Write(TrainingProgress p)
    {
        var line = new StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{{\"step\":{p.Step},\"epoch\":{p.Epoch},\"lr\":{Number(p.LearningRate)},\"loss\":{Number(p.Loss)}");
        foreach (var (name, value) in p.Components) line.Append(CultureInfo.InvariantCulture, $",\"loss_{name}\":{Number(value)}");
        // Resident memory of the process after the step: a flat line over a long run shows nothing leaks.
        line.Append(CultureInfo.InvariantCulture, $",\"images_per_s\":{Number(p.ImagesPerSecond)},\"elapsed_s\":{Number(p.Elapsed.TotalSeconds)},\"rss_mb\":{Environment.WorkingSet / (1 << 20)}");
        if (p.Quality is { } q && q.Step == p.Step) AppendQuality(line, q, p.Warning is not null);
        line.Append('}');
        writer.WriteLine(line.ToString());
    }

    /// <summary>A reading taken before the first step (step 0: the untrained encoder), on a line of its own.</summary>
    public void WriteReading(QualityReading q)
    {
        var line = new StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{{\"step\":{q.Step},\"elapsed_s\":{Number(q.TrainingSeconds)}");
        AppendQuality(line, q, collapsed: false);
        line.Append('}');
        writer.WriteLine(line.ToString());
    }

    /// <summary>
    /// The monitor's fields: <c>val_knn20</c> (when labels exist), <c>rankme</c>, <c>embedding_std</c> (of the
    /// L2-normalized embeddings), <c>monitor_s</c> (what the reading cost; not counted in <c>elapsed_s</c>), <c>collapse</c>.
    /// </summary>
    static void AppendQuality(StringBuilder line, QualityReading q, bool collapsed)
    {
        if (q.Knn20 is double knn) line.Append(CultureInfo.InvariantCulture, $",\"val_knn20\":{Number(knn)}");
        line.Append(CultureInfo.InvariantCulture, $",\"rankme\":{Number(q.RankMe)},\"embedding_std\":{Number(q.NormalizedStd)},\"monitor_s\":{Number(q.Seconds)}");
        if (collapsed) line.Append(",\"collapse\":1");
    }

    static string Number(double v) => double.IsFinite(v) ? v.ToString("G6", CultureInfo.InvariantCulture) : $"\"{v.ToString(CultureInfo.InvariantCulture)}\"";

    public void Flush() => writer.Flush();
    public void Dispose() => writer.Dispose();

    /// <summary>
    /// Every readable line of a metrics file. A line that is not JSON (the last one torn by a killed run, or a
    /// damaged one) is skipped with a warning naming the file and line.
    /// </summary>
    public static List<JsonElement> Read(string path, Action<string>? warn = null)
    {
        var rows = new List<JsonElement>();
        int number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (line.Length == 0) continue;
            try
            {
                using var json = JsonDocument.Parse(line);
                rows.Add(json.RootElement.Clone());
            }
            catch (JsonException)
            {
                warn?.Invoke($"{path} line {number}: not a complete JSON line (a run killed while writing it?); skipped");
            }
        }
        return rows;
    }
}
