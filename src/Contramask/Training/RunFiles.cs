using System.Runtime.InteropServices;

namespace Contramask.Training;

/// <summary>
/// The folder a run writes: <c>config.json</c>, <c>checkpoint.zip</c> (+ fallbacks), <c>metrics.jsonl</c>,
/// <c>evaluation.json</c>, <c>error.log</c>, <c>mining/</c>. Helpers here write files so that a failed write leaves no
/// half-written file behind, make renames durable, and tell a folder holding a run from an empty one.
/// </summary>
public static partial class RunFiles
{
    public const string ConfigFileName = "config.json";
    public const string EvaluationFileName = "evaluation.json";
    /// <summary>Where an unexpected error's full report goes (the terminal gets one line).</summary>
    public const string ErrorLogFileName = "error.log";

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

    /// <summary>The files of a run that a folder already holds (empty when it holds none).</summary>
    public static IReadOnlyList<string> ExistingRunFiles(string folder)
    {
        if (!Directory.Exists(folder)) return [];
        string[] names = [ConfigFileName, MetricsLog.FileName, EvaluationFileName, ErrorLogFileName, "benchmark-record.json"];
        return names.Select(n => Path.Combine(folder, n)).Where(File.Exists)
            .Concat(Directory.EnumerateFiles(folder, "checkpoint*.zip*"))
            .Concat(Directory.Exists(Path.Combine(folder, "mining")) ? [Path.Combine(folder, "mining")] : [])
            .ToList();
    }

    /// <summary>Deletes what a run wrote in <paramref name="folder"/> (and nothing else the folder holds).</summary>
    public static void DeleteRun(string folder)
    {
        foreach (var path in ExistingRunFiles(folder))
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            else File.Delete(path);
        var report = Path.Combine(folder, "report.md");
        if (File.Exists(report)) File.Delete(report);
    }

    /// <summary>Writes to a temporary file beside the target, flushes it to disk, renames it into place, and makes the rename durable.</summary>
    public static void WriteAllTextAtomic(string path, string text) => WriteAtomic(path, stream =>
    {
        using var writer = new StreamWriter(stream, leaveOpen: true);
        writer.Write(text);
    });

    /// <summary>As <see cref="WriteAllTextAtomic"/>, for bytes.</summary>
    public static void WriteAllBytesAtomic(string path, byte[] bytes) => WriteAtomic(path, stream => stream.Write(bytes));

    static void WriteAtomic(string path, Action<Stream> write)
    {
        var temporary = path + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
            SyncFolder(Path.GetDirectoryName(Path.GetFullPath(path))!);
        }
        catch
        {
            if (File.Exists(temporary)) File.Delete(temporary);
            throw;
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string newPath);

    /// <summary>
    /// fsync of the folder itself: a rename is durable only once the directory entry is on disk (POSIX); without it
    /// a power cut right after a checkpoint's rename can bring back the old name or none.
    /// </summary>
    public static void SyncFolder(string folder)
    {
        if (!OperatingSystem.IsLinux()) return;
        int fd = Open(folder, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try { FSync(fd); }
        finally { Close(fd); }
    }

    /// <summary>
    /// Makes <paramref name="newPath"/> a second name of <paramref name="existing"/> (a hard link: no copy, and the
    /// original name never disappears); copies where links are not supported.
    /// </summary>
    public static void LinkOrCopy(string existing, string newPath)
    {
        if (File.Exists(newPath)) File.Delete(newPath);
        if (OperatingSystem.IsLinux())
        {
            try { if (Link(existing, newPath) == 0) return; }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        }
        File.Copy(existing, newPath, overwrite: true);
    }
}
