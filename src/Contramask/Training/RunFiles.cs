namespace Contramask.Training;

/// <summary>
/// The folder a run writes: <c>config.json</c>, <c>checkpoint.zip</c> (+ <c>checkpoint.prev.zip</c>),
/// <c>metrics.jsonl</c>, <c>evaluation.json</c>. Helpers here write files so that a failed write leaves no
/// half-written file behind.
/// </summary>
public static class RunFiles
{
    public const string ConfigFileName = "config.json";
    public const string EvaluationFileName = "evaluation.json";

    /// <summary>Creates the folder if needed and proves it writable before any long work starts.</summary>
    public static void EnsureWritable(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "ok");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{folder}: output folder is not writable ({e.Message})", e);
        }
    }

    /// <summary>Writes to a temporary file beside the target, then renames it into place.</summary>
    public static void WriteAllTextAtomic(string path, string text)
    {
        var temporary = path + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            using (var writer = new StreamWriter(stream))
            {
                writer.Write(text);
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            if (File.Exists(temporary)) File.Delete(temporary);
            throw;
        }
    }
}
