using System.Globalization;

namespace Contramask.Data;

/// <summary>
/// Where the data comes from, as one string the CLI takes and the run folder records:
/// <c>digits</c> (embedded 8×8 digits), <c>idx:DIR</c> (MNIST-style IDX files), <c>cifar:DIR</c> (CIFAR-10/100
/// binary), <c>folder:DIR</c> (image files). Options follow after commas: <c>size=N</c> and <c>skipbad</c> and
/// <c>test=FRACTION</c> (folders), <c>prefix=NAME</c> (IDX, e.g. <c>emnist-balanced-</c>), <c>channels=1|3</c>
/// (convert), <c>limit=N</c> (keep the first N training images). Example: <c>folder:photos,size=64,channels=3</c>.
/// </summary>
public sealed record DataSpec(string Kind, string? Path, IReadOnlyDictionary<string, string> Options)
{
    static readonly string[] Kinds = ["digits", "idx", "cifar", "folder"];
    static readonly Dictionary<string, string[]> AllowedOptions = new()
    {
        ["digits"] = ["channels", "limit"],
        ["idx"] = ["prefix", "channels", "limit"],
        ["cifar"] = ["channels", "limit"],
        ["folder"] = ["size", "channels", "skipbad", "test", "seed", "limit"],
    };

    public static DataSpec Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new ArgumentException("empty data spec; expected digits, idx:DIR, cifar:DIR or folder:DIR");
        var parts = spec.Split(',');
        var head = parts[0];
        int colon = head.IndexOf(':');
        string kind = (colon < 0 ? head : head[..colon]).Trim().ToLowerInvariant();
        string? path = colon < 0 ? null : head[(colon + 1)..];
        if (!Kinds.Contains(kind))
            throw new ArgumentException($"unknown data kind '{kind}' in '{spec}'; expected one of {string.Join(", ", Kinds)} (e.g. idx:data/mnist)");
        if (kind != "digits" && string.IsNullOrEmpty(path))
            throw new ArgumentException($"data spec '{spec}' needs a path: {kind}:DIR");
        var options = new Dictionary<string, string>();
        foreach (var part in parts.Skip(1))
        {
            var kv = part.Split('=', 2);
            var key = kv[0].Trim().ToLowerInvariant();
            if (!AllowedOptions[kind].Contains(key))
                throw new ArgumentException($"option '{key}' does not apply to {kind} data; allowed: {string.Join(", ", AllowedOptions[kind])}");
            options[key] = kv.Length > 1 ? kv[1].Trim() : "true";
        }
        var result = new DataSpec(kind, path, options);
        result.Validate();
        return result;
    }

    void Validate()
    {
        if (IntOption("size") is int s && (s < 4 || s > 1024)) throw new ArgumentException($"size={s} is out of range: expected 4 to 1024");
        if (IntOption("channels") is int c && c is not (1 or 3)) throw new ArgumentException($"channels={c} is out of range: expected 1 or 3");
        if (IntOption("limit") is int l && l < 1) throw new ArgumentException($"limit={l} is out of range: expected at least 1");
        if (DoubleOption("test") is double t && (t <= 0 || t >= 1)) throw new ArgumentException($"test={t} is out of range: expected a fraction between 0 and 1");
    }

    int? IntOption(string key)
    {
        if (!Options.TryGetValue(key, out var v)) return null;
        return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n
            : throw new ArgumentException($"option {key}={v} is not a whole number");
    }

    double? DoubleOption(string key)
    {
        if (!Options.TryGetValue(key, out var v)) return null;
        return double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) ? n
            : throw new ArgumentException($"option {key}={v} is not a number");
    }

    /// <summary>Reads the data this spec names.</summary>
    public DataSplits Load(List<string>? skipped = null)
    {
        var splits = Kind switch
        {
            "digits" => DigitsDataset.Load(),
            "idx" => IdxReader.ReadFolder(Path!, Options.GetValueOrDefault("prefix", "")),
            "cifar" => CifarReader.ReadFolder(Path!),
            "folder" => ImageFolderReader.ReadFolder(Path!, new ImageFolderOptions(IntOption("size"), IntOption("channels"),
                Options.ContainsKey("skipbad"), DoubleOption("test") ?? 0.2, IntOption("seed") ?? 0), skipped),
            _ => throw new InvalidOperationException(Kind),
        };
        if (IntOption("channels") is int channels)
            splits = new DataSplits(splits.Train.WithChannels(channels), splits.Test?.WithChannels(channels));
        if (IntOption("limit") is int limit && limit < splits.Train.Count)
            splits = splits with { Train = splits.Train.Subset(Enumerable.Range(0, limit).ToArray()) };
        return splits;
    }

    /// <summary>The same spec with its path made absolute, so a run folder's record works from any directory.</summary>
    public DataSpec WithFullPath() => Path is null ? this : this with { Path = System.IO.Path.GetFullPath(Path) };

    public override string ToString() =>
        (Path is null ? Kind : $"{Kind}:{Path}") + string.Concat(Options.Select(o => o.Value == "true" ? $",{o.Key}" : $",{o.Key}={o.Value}"));
}
