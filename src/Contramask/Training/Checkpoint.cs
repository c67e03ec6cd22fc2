using System.IO.Compression;
using System.Text.Json;
using Contramask.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>Where a run stands: enough to continue it exactly.</summary>
public sealed record CheckpointState
{
    /// <summary>2 since Contramask's own AdamW state (format 1: TorchSharp's; its weights still load, it cannot be resumed).</summary>
    public int Format { get; init; } = 2;
    public long Step { get; init; }
    public int Epoch { get; init; }
    /// <summary>Batches already taken from <see cref="Epoch"/>'s shuffled order.</summary>
    public int BatchInEpoch { get; init; }
    public double ElapsedSeconds { get; init; }
    public bool Finished { get; init; }
    public required PretrainConfig Config { get; init; }
    /// <summary>State of the torch generator behind views, masks and noise.</summary>
    public string GeneratorState { get; init; } = "";
}

/// <summary>
/// A checkpoint is one zip file (<c>state.json</c>, <c>model.bin</c>, <c>optimizer.bin</c>); zip's CRC-32 per entry
/// detects a torn or corrupted file. It is written to a temporary file and flushed to disk; the older ones move down
/// by hard links (<c>checkpoint.prev.zip</c>, <c>checkpoint.prev2.zip</c>, … up to the last <c>keep</c>); then one
/// rename puts the new one in place and the folder is fsynced. An interrupted write never destroys the last good
/// checkpoint, <c>checkpoint.zip</c> never disappears, and reading falls back newest first.
/// </summary>
public static class Checkpoint
{
    public const string FileName = "checkpoint.zip";
    public const string PreviousFileName = "checkpoint.prev.zip";

    /// <summary>The file names of the last <paramref name="keep"/> checkpoints, newest first.</summary>
    public static IReadOnlyList<string> FileNames(int keep = 2) =>
        [FileName, .. Enumerable.Range(1, Math.Max(0, keep - 1)).Select(i => i == 1 ? PreviousFileName : $"checkpoint.prev{i}.zip")];

    /// <summary>Largest number of checkpoints a run may keep (and that reading looks for).</summary>
    public const int MaxKeep = 20;

    public static void Save(string runFolder, CheckpointState state, nn.Module model, AdamW optimizer, int keep = 2,
        IReadOnlyCollection<string>? unreadable = null)
    {
        string path = Path.Combine(runFolder, FileName);
        string temporary = path + ".tmp";
        try
        {
            using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                using (var zip = new ZipArchive(file, ZipArchiveMode.Create, leaveOpen: true))
                {
                    WriteEntry(zip, "state.json", s => JsonSerializer.Serialize(s, state, PretrainConfig.Json));
                    WriteEntry(zip, "model.bin", s => model.save(s));
                    WriteEntry(zip, "optimizer.bin", s => { using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true); optimizer.Save(w); });
                }
                file.Flush(flushToDisk: true);
            }
            var surplus = Rotate(runFolder, Math.Clamp(keep, 1, MaxKeep), unreadable ?? []);
            File.Move(temporary, path, overwrite: true);
            // Only now, with the new checkpoint in place, do slots past the kept fallbacks go.
            foreach (var old in surplus) if (File.Exists(old)) File.Delete(old);
            RunFiles.SyncFolder(runFolder);
        }
        catch
        {
            if (File.Exists(temporary)) File.Delete(temporary);
            throw;
        }
    }

    /// <summary>
    /// Makes room for a new newest checkpoint: slot i (≥ 1) gets the i-th newest readable checkpoint, by hard
    /// links made before any rename, so <c>checkpoint.zip</c> exists at every moment (a fresh run refuses the
    /// folder) until the new one replaces it in one atomic rename. Checkpoints found unreadable when the run was
    /// resumed are dropped, never kept as a fallback in place of a good one.
    /// </summary>
    /// <returns>The files past the kept fallbacks, to delete once the new checkpoint is in place.</returns>
    static List<string> Rotate(string runFolder, int keep, IReadOnlyCollection<string> unreadable)
    {
        foreach (var leftover in Directory.EnumerateFiles(runFolder, "checkpoint*.zip.link")) File.Delete(leftover);
        var all = FileNames(MaxKeep).Select(n => Path.Combine(runFolder, n)).ToList();
        var good = all.Where(p => File.Exists(p) && !unreadable.Contains(p)).ToList();
        var moves = new List<(string Link, string Target)>();
        for (int slot = 1; slot < keep && slot - 1 < good.Count; slot++)
        {
            if (good[slot - 1] == all[slot]) continue;
            var link = all[slot] + ".link";
            RunFiles.LinkOrCopy(good[slot - 1], link);
            moves.Add((link, all[slot]));
        }
        // Oldest slot first, so no two slots ever hold the same checkpoint by accident of order.
        foreach (var (link, target) in Enumerable.Reverse(moves)) File.Move(link, target, overwrite: true);
        int filled = 1 + Math.Min(good.Count, keep - 1);
        return all.Skip(filled).Where(File.Exists).ToList();
    }

    static void WriteEntry(ZipArchive zip, string name, Action<Stream> write)
    {
        // Serialize to memory first: TorchSharp writers may seek (zip entry streams cannot) and close the stream
        // they are given (MemoryStream.ToArray still works after that).
        var buffer = new MemoryStream();
        write(buffer);
        var bytes = buffer.ToArray();
        var entry = zip.CreateEntry(name, CompressionLevel.Fastest);
        using var stream = entry.Open();
        stream.Write(bytes);
    }

    /// <summary>Reads the state of the newest readable checkpoint in a run folder (falling back to the previous one).</summary>
    public static (CheckpointState State, string Path) ReadState(string runFolder, Action<string>? warn = null) =>
        Read(runFolder, warn) is var r ? (r.State, r.Path) : default;

    /// <summary>
    /// The newest readable checkpoint of a run folder, and the newer ones that could not be read (a resumed run
    /// must not keep those as fallbacks).
    /// </summary>
    public static (CheckpointState State, string Path, IReadOnlyList<string> Unreadable) Read(string runFolder, Action<string>? warn = null)
    {
        var candidates = FileNames(MaxKeep).Select(name => Path.Combine(runFolder, name));
        var problems = new List<string>();
        var unreadable = new List<string>();
        foreach (var path in candidates)
        {
            if (!File.Exists(path)) continue;
            try
            {
                using var zip = ZipFile.OpenRead(path);
                // Verify every entry's CRC by reading it through; a torn file fails here, not mid-load.
                foreach (var entry in zip.Entries) { using var s = entry.Open(); s.CopyTo(Stream.Null); }
                var state = JsonSerializer.Deserialize<CheckpointState>(ReadEntry(zip, "state.json", path), PretrainConfig.Json)
                    ?? throw new DataFormatException(path, "state.json is empty");
                if (problems.Count > 0) warn?.Invoke($"{problems[0]}; using the previous checkpoint {path}");
                return (state, path, unreadable);
            }
            catch (Exception e) when (e is InvalidDataException or JsonException or DataFormatException or IOException)
            {
                problems.Add($"{path} is unreadable ({e.Message})");
                unreadable.Add(path);
            }
        }
        if (problems.Count > 0) throw new DataFormatException(runFolder, string.Join("; ", problems));
        throw new DataFormatException(runFolder, $"no checkpoint ({FileName}) in this run folder");
    }

    /// <summary>Loads weights (and optimizer state when given) from the checkpoint file at <paramref name="path"/>.</summary>
    public static void LoadInto(string path, nn.Module model, AdamW? optimizer)
    {
        using (var zip = ZipFile.OpenRead(path))
        using (var s = new MemoryStream(ReadBytes(zip, "model.bin", path))) model.load(s);
        if (optimizer is not null) LoadOptimizer(path, optimizer);
    }

    /// <summary>Loads the optimizer state (step counts and moments) from the checkpoint file at <paramref name="path"/>.</summary>
    public static void LoadOptimizer(string path, AdamW optimizer)
    {
        using var zip = ZipFile.OpenRead(path);
        using var s = new MemoryStream(ReadBytes(zip, "optimizer.bin", path));
        using var reader = new BinaryReader(s);
        optimizer.Load(reader, path);
    }

    static string ReadEntry(ZipArchive zip, string name, string path) => System.Text.Encoding.UTF8.GetString(ReadBytes(zip, name, path));

    static byte[] ReadBytes(ZipArchive zip, string name, string path)
    {
        var entry = zip.GetEntry(name) ?? throw new DataFormatException(path, $"not a Contramask checkpoint: no {name} inside");
        using var stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
