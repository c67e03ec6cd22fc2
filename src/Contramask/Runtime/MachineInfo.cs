using System.Reflection;
using System.Text.Json.Serialization;

namespace Contramask.Runtime;

/// <summary>
/// What a measurement ran on: the CPU model and the vector extensions that change libtorch's speed (AVX2,
/// AVX-512, bfloat16 dot products), the threads used, and the commit the program was built from. Figures are
/// compared only when these match (a Zen 5 with AVX-512 BF16 and a Zen 3 with AVX2 only are about 2× apart).
/// </summary>
public sealed record MachineInfo
{
    [JsonPropertyName("cpu")] public required string Cpu { get; init; }
    /// <summary>
    /// "family F model M" from /proc/cpuinfo: a virtual machine may name every AMD EPYC alike, while family 25 is
    /// Zen 3/4 (model 17: Zen 4 "Genoa") and 26 is Zen 5; null in files written before it was recorded.
    /// </summary>
    [JsonPropertyName("cpu_id")] public string? CpuId { get; init; }
    [JsonPropertyName("avx2")] public bool Avx2 { get; init; }
    [JsonPropertyName("avx512")] public bool Avx512 { get; init; }
    [JsonPropertyName("bf16")] public bool BFloat16 { get; init; }
    [JsonPropertyName("threads")] public int Threads { get; init; }
    [JsonPropertyName("commit")] public required string Commit { get; init; }

    /// <summary>This machine, with <paramref name="threads"/> torch threads (0 = all cores).</summary>
    public static MachineInfo Current(int threads = 0)
    {
        string model = "unknown CPU";
        string? family = null, modelNumber = null;
        var flags = new HashSet<string>();
        try
        {
            const string cpuinfo = "/proc/cpuinfo";
            if (File.Exists(cpuinfo))
                foreach (var line in File.ReadLines(cpuinfo))
                {
                    string value = line[(line.IndexOf(':') + 1)..].Trim();
                    if (line.StartsWith("model name", StringComparison.Ordinal) && model == "unknown CPU") model = value;
                    else if (line.StartsWith("cpu family", StringComparison.Ordinal)) family ??= value;
                    else if (line.StartsWith("model", StringComparison.Ordinal) && !line.StartsWith("model name", StringComparison.Ordinal)) modelNumber ??= value;
                    if (line.StartsWith("flags", StringComparison.Ordinal))
                    {
                        flags.UnionWith(line[(line.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
                        break;
                    }
                }
        }
        catch (IOException) { }
        return new MachineInfo
        {
            Cpu = model,
            CpuId = family is null ? null : $"family {family} model {modelNumber}",
            Avx2 = flags.Contains("avx2"),
            Avx512 = flags.Contains("avx512f"),
            BFloat16 = flags.Contains("avx512_bf16") || flags.Contains("amx_bf16"),
            Threads = threads > 0 ? threads : Environment.ProcessorCount,
            Commit = BuildCommit,
        };
    }

    /// <summary>
    /// The commit the library was built from (<c>git describe --always --dirty</c> at build time; "-dirty" when the
    /// working tree had changes), or "unknown" when built outside git.
    /// </summary>
    public static string BuildCommit { get; } = typeof(MachineInfo).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "SourceRevision")?.Value is { Length: > 0 } revision ? revision : "unknown";

    /// <summary>One line for the terminal: "AMD EPYC [family 25 model 17] (AVX-512, bf16), 2 threads".</summary>
    public override string ToString()
    {
        var features = new List<string>();
        if (Avx512) features.Add("AVX-512"); else if (Avx2) features.Add("AVX2");
        if (BFloat16) features.Add("bf16");
        return $"{Cpu}{(CpuId is null ? "" : $" [{CpuId}]")}{(features.Count > 0 ? $" ({string.Join(", ", features)})" : "")}, {Threads} thread{(Threads == 1 ? "" : "s")}";
    }
}
