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
    public int Format { get; init; } = 1;
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
/// detects a torn or corrupted file. It is written to a temporary file, flushed to disk, then renamed over the last
/// one, which is kept as <c>checkpoint.prev.zip</c> (older ones as <c>checkpoint.prev2.zip</c>, … up to the last
/// <c>keep</c>): an interrupted write never destroys the last good checkpoint, and reading falls back newest first.
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

    public static void Save(string runFolder, CheckpointState state, nn.Module model, OptimizerHelper optimizer, int keep = 2)
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
                    WriteEntry(zip, "optimizer.bin", s => { using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true); optimizer.save_state_dict(w); });
                }
                file.Flush(flushToDisk: true);
            }
            // Shift the older ones down (the oldest kept falls off), then the new one takes the first place.
            var names = FileNames(Math.Clamp(keep, 1, MaxKeep));
            for (int i = names.Count - 1; i >= 1; i--)
            {
                var newer = Path.Combine(runFolder, names[i - 1]);
                if (File.Exists(newer)) File.Move(newer, Path.Combine(runFolder, names[i]), overwrite: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            if (File.Exists(temporary)) File.Delete(temporary);
            throw;
        }
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
    public static (CheckpointState State, string Path) ReadState(string runFolder, Action<string>? warn = null)
    {
        var candidates = FileNames(MaxKeep).Select(name => Path.Combine(runFolder, name));
        var problems = new List<string>();
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
                return (state, path);
            }
            catch (Exception e) when (e is InvalidDataException or JsonException or DataFormatException or IOException)
            {
                problems.Add($"{path} is unreadable ({e.Message})");
            }
        }
        if (problems.Count > 0) throw new DataFormatException(runFolder, string.Join("; ", problems));
        throw new DataFormatException(runFolder, $"no checkpoint ({FileName}) in this run folder");
    }

    /// <summary>Loads weights (and optimizer state when given) from the checkpoint file at <paramref name="path"/>.</summary>
    public static void LoadInto(string path, nn.Module model, OptimizerHelper? optimizer)
    {
        using var zip = ZipFile.OpenRead(path);
        using (var s = new MemoryStream(ReadBytes(zip, "model.bin", path))) model.load(s);
        if (optimizer is not null)
        {
            using var s = new MemoryStream(ReadBytes(zip, "optimizer.bin", path));
            using var reader = new BinaryReader(s);
            optimizer.load_state_dict(reader);
        }
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
