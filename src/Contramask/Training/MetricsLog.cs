using System.Globalization;
using System.Text;

namespace Contramask.Training;

/// <summary>Appends one JSON object per step to <c>metrics.jsonl</c> (a resumed run continues the same file).</summary>
public sealed class MetricsLog : IDisposable
{
    public const string FileName = "metrics.jsonl";
    readonly StreamWriter writer;

    public MetricsLog(string runFolder)
    {
        writer = new StreamWriter(new FileStream(Path.Combine(runFolder, FileName), FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
    }

    public void Write(TrainingProgress p)
    {
        var line = new StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{{\"step\":{p.Step},\"epoch\":{p.Epoch},\"lr\":{Number(p.LearningRate)},\"loss\":{Number(p.Loss)}");
        foreach (var (name, value) in p.Components) line.Append(CultureInfo.InvariantCulture, $",\"loss_{name}\":{Number(value)}");
        // Resident memory of the process after the step: a flat line over a long run shows nothing leaks.
        line.Append(CultureInfo.InvariantCulture, $",\"images_per_s\":{Number(p.ImagesPerSecond)},\"elapsed_s\":{Number(p.Elapsed.TotalSeconds)},\"rss_mb\":{Environment.WorkingSet / (1 << 20)}}}");
        writer.WriteLine(line.ToString());
    }

    static string Number(double v) => double.IsFinite(v) ? v.ToString("G6", CultureInfo.InvariantCulture) : $"\"{v.ToString(CultureInfo.InvariantCulture)}\"";

    public void Flush() => writer.Flush();
    public void Dispose() => writer.Dispose();
}
