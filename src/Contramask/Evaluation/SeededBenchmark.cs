using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Contramask.Data;
using Contramask.Runtime;
using Contramask.Training;

namespace Contramask.Evaluation;

/// <summary>Mean and sample standard deviation of one figure over seeds, and the per-seed values it came from.</summary>
public sealed record SeedSpread(IReadOnlyList<double> Values)
{
    public double Mean => Values.Count == 0 ? double.NaN : Values.Average();
    /// <summary>Sample standard deviation (n − 1); NaN for a single seed, which has no spread to measure.</summary>
    public double Std => Values.Count < 2 ? double.NaN : Math.Sqrt(Values.Sum(v => (v - Mean) * (v - Mean)) / (Values.Count - 1));
}

/// <summary>One finished seed of a <see cref="SeededBenchmark"/>: the seed and what <see cref="Benchmark.Run"/> returned for it.</summary>
public sealed record SeedResult(int Seed, BenchmarkResult Result);

/// <summary>
/// The benchmark repeated with seeds S, S+1, …, S+N−1 (each its own initialization, views, monitor and few-label
/// draws), each seed in <c>OUT/seed-S</c> as a full <see cref="Benchmark"/> (resumable: a finished seed's runs are
/// reused), then <c>benchmark-seeds.json</c> and <c>.md</c>: every probe as mean ± std over the seeds, and fusion's
/// margin over the better of contrastive-only and masked-only seed by seed. One 10-minute MNIST run moves NMI by
/// ±0.05 and the full-label probes by a few hundredths between identical runs, the size of the margins the fused
/// objective is judged by; a margin is evidence only when it holds across seeds.
/// <code>
/// var seeds = SeededBenchmark.Run(data, "idx:mnist", new BenchmarkPlan { BudgetMinutes = 10 }, seeds: 3, "runs/benchmark-mnist-3seeds");
/// </code>
/// </summary>
public static class SeededBenchmark
{
    public const string JsonFileName = "benchmark-seeds.json";
    public const string MarkdownFileName = "benchmark-seeds.md";

    /// <summary>The folder of one seed's benchmark inside the output folder.</summary>
    public static string SeedFolder(string outFolder, int seed) => Path.Combine(outFolder, $"seed-{seed}");

    /// <summary>The probes summarized, as the benchmark's table names them; accuracies in %, NMI as is.</summary>
    public static readonly IReadOnlyList<(string Key, string Label, Func<ProtocolScores, double> Pick, bool Percent)> Probes =
    [
        ("linear", "linear", s => s.Linear, true),
        ("knn20", "kNN-20", s => s.Knn20, true),
        ("linear_1pct", "linear 1%", s => s.Linear1Pct, true),
        ("linear_10pct", "linear 10%", s => s.Linear10Pct, true),
        ("knn20_1pct", "kNN-20 1%", s => s.Knn20_1Pct, true),
        ("nmi", "NMI", s => s.Nmi, false),
    ];

    public static IReadOnlyList<SeedResult> Run(ISplits data, string dataSpec, BenchmarkPlan plan, int seeds, string outFolder,
        string? command = null, Action<string>? log = null,
        Func<string, Func<Action<TrainingProgress>, PretrainResult>, PretrainResult>? runWithProgress = null, CancellationToken cancel = default)
    {
        if (seeds < 2) throw new ArgumentOutOfRangeException(nameof(seeds), $"{seeds} seeds: a spread needs at least 2 (one seed is a plain benchmark)");
        RunFiles.EnsureWritable(outFolder);
        var results = new List<SeedResult>();
        for (int i = 0; i < seeds && !cancel.IsCancellationRequested; i++)
        {
            int seed = plan.Seed + i;
            log?.Invoke($"seed {seed} ({i + 1} of {seeds})");
            var result = Benchmark.Run(data, dataSpec, plan with { Seed = seed }, SeedFolder(outFolder, seed), command, log,
                runWithProgress is null ? null : (name, train) => runWithProgress($"{name} seed {seed}", train), cancel);
            // An interrupted seed is partial: left out of the summary, its finished runs reused when the command is run again.
            if (cancel.IsCancellationRequested) break;
            results.Add(new SeedResult(seed, result));
            Write(results, dataSpec, plan, seeds, outFolder, command);
        }
        return results;
    }

    /// <summary>Every method and encoder's probe over the seeds, for one split ("val" or "test").</summary>
    public static IReadOnlyList<(string Method, string Encoder, IReadOnlyDictionary<string, SeedSpread> Probes)> Spread(IReadOnlyList<SeedResult> results, string split)
    {
        var rows = new List<(string, string, IReadOnlyDictionary<string, SeedSpread>)>();
        var keys = results.SelectMany(r => r.Result.Records).Select(r => (r.Method, r.Encoder)).Distinct().ToList();
        foreach (var (method, encoder) in keys)
        {
            var scores = results.Select(r => r.Result.Records.FirstOrDefault(x => x.Method == method && x.Encoder == encoder))
                .Select(r => r is null ? null : Pick(r, split)).OfType<ProtocolScores>().ToList();
            if (scores.Count == 0) continue;
            rows.Add((method, encoder, Probes.ToDictionary(p => p.Key, p => new SeedSpread(scores.Select(p.Pick).ToList()))));
        }
        return rows;
    }

    /// <summary>
    /// Per encoder, each probe's margin of fusion over the better of contrastive-only and masked-only on each seed
    /// (issue #14's criterion: stricter than a margin over one fixed part); <c>Parts</c> names the parts that seeds
    /// had (one when the benchmark ran only one of them). Seeds lacking fusion or both parts are skipped.
    /// </summary>
    public static IReadOnlyList<(string Encoder, IReadOnlyList<string> Parts, IReadOnlyDictionary<string, SeedSpread> Margins)> FusionMargins(IReadOnlyList<SeedResult> results, string split)
    {
        var rows = new List<(string, IReadOnlyList<string>, IReadOnlyDictionary<string, SeedSpread>)>();
        foreach (var encoder in results.SelectMany(r => r.Result.Records).Where(r => r.Method == "fusion").Select(r => r.Encoder).Distinct())
        {
            var margins = Probes.ToDictionary(p => p.Key, _ => new List<double>());
            var partNames = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var seed in results)
            {
                ProtocolScores? Of(string method) => seed.Result.Records.FirstOrDefault(r => r.Method == method && r.Encoder == encoder) is { } r ? Pick(r, split) : null;
                var fusion = Of("fusion");
                var named = new[] { ("contrastive", Of("contrastive")), ("masked", Of("masked")) }.Where(p => p.Item2 is not null).ToList();
                if (fusion is null || named.Count == 0) continue;
                var parts = named.Select(p => p.Item2!).ToList();
                partNames.UnionWith(named.Select(p => p.Item1));
                foreach (var p in Probes) margins[p.Key].Add(p.Pick(fusion) - parts.Max(p.Pick));
            }
            if (margins["linear"].Count > 0) rows.Add((encoder, partNames.ToList(), margins.ToDictionary(m => m.Key, m => new SeedSpread(m.Value))));
        }
        return rows;
    }

    /// <summary>
    /// Margins closer to 0 than this are ties: two equal accuracies subtract to float rounding (about 1e-16), while one
    /// record moves an accuracy by 1/n, above this for any split under a billion records.
    /// </summary>
    const double TieTolerance = 1e-9;

    /// <summary>"2/3" seeds where fusion was ahead; exact ties are not wins and are counted apart: "2/3, 1 tied".</summary>
    public static string SeedsAhead(IReadOnlyList<double> margins)
    {
        int ahead = margins.Count(v => v > TieTolerance), tied = margins.Count(v => Math.Abs(v) <= TieTolerance);
        return tied == 0 ? $"{ahead}/{margins.Count}" : $"{ahead}/{margins.Count}, {tied} tied";
    }

    static ProtocolScores? Pick(BenchmarkRecord record, string split) => split == EncoderEvaluator.Validation ? record.Validation : record.Test;

    static readonly string[] Splits = [EncoderEvaluator.Validation, EncoderEvaluator.Test];

    static void Write(IReadOnlyList<SeedResult> results, string dataSpec, BenchmarkPlan plan, int seeds, string outFolder, string? command)
    {
        var machine = MachineInfo.Current(plan.Threads);
        static JsonObject Spreads(IReadOnlyDictionary<string, SeedSpread> probes) => new(probes.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)new JsonObject
        {
            ["mean"] = Math.Round(p.Value.Mean, 5), ["std"] = double.IsNaN(p.Value.Std) ? null : Math.Round(p.Value.Std, 5),
            ["values"] = new JsonArray(p.Value.Values.Select(v => (JsonNode)Math.Round(v, 5)).ToArray()),
        })));
        var planJson = plan.ToJson(dataSpec);
        planJson["seeds_planned"] = new JsonArray(Enumerable.Range(plan.Seed, seeds).Select(s => (JsonNode)s).ToArray());
        var json = new JsonObject
        {
            ["command"] = command,
            ["commit"] = machine.Commit,
            ["machine"] = JsonSerializer.SerializeToNode(machine, PretrainConfig.Json),
            ["plan"] = planJson,
            ["seeds_finished"] = new JsonArray(results.Select(r => (JsonNode)r.Seed).ToArray()),
            ["written_utc"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
        };
        foreach (var split in Splits)
        {
            var rows = Spread(results, split);
            if (rows.Count == 0) continue;
            json[split] = new JsonArray(rows.Select(r => (JsonNode)new JsonObject
            {
                ["method"] = r.Method, ["encoder"] = r.Encoder, ["probes"] = Spreads(r.Probes),
            }).ToArray());
            json[$"fusion_margin_{split}"] = new JsonArray(FusionMargins(results, split).Select(m => (JsonNode)new JsonObject
            {
                ["encoder"] = m.Encoder, ["over"] = new JsonArray(m.Parts.Select(p => (JsonNode)p).ToArray()), ["probes"] = Spreads(m.Margins),
            }).ToArray());
        }
        RunFiles.WriteAllTextAtomic(Path.Combine(outFolder, JsonFileName), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        RunFiles.WriteAllTextAtomic(Path.Combine(outFolder, MarkdownFileName), Markdown(results, dataSpec, plan, seeds, command, machine));
    }

    public static string Markdown(IReadOnlyList<SeedResult> results, string dataSpec, BenchmarkPlan plan, int seeds, string? command, MachineInfo? machine = null)
    {
        var c = CultureInfo.InvariantCulture;
        machine ??= MachineInfo.Current(plan.Threads);
        string Figure(double value, bool percent) => double.IsNaN(value) ? "–" : percent ? (100 * value).ToString("F2", c) : value.ToString("F3", c);
        string Signed(double value, bool percent) => (value >= 0 ? "+" : "−") + Figure(Math.Abs(value), percent);
        var md = new StringBuilder();
        md.AppendLine(c, $"# Benchmark over seeds: {dataSpec}");
        md.AppendLine();
        md.AppendLine(c, $"Budget {plan.BudgetMinutes} min of pretraining per method and encoder; seeds {string.Join(", ", results.Select(r => r.Seed))} finished of {seeds} planned from {plan.Seed}; {machine}; commit {machine.Commit}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        if (command is not null) md.AppendLine(c, $"Command: `{command}`");
        if (plan.Overrides.Length > 0) md.AppendLine(c, $"Set for this benchmark: {plan.Overrides}.");
        md.AppendLine();
        md.AppendLine("Each figure is the mean ± sample standard deviation over the seeds (– for one seed; each seed its own initialization, views and few-label draws; every seed's full table, other probes and any `--finetune` classifiers are in `seed-S/benchmark.md`). Accuracy in %. The validation slice is for choosing, the test split for publishing.");
        foreach (var split in Splits)
        {
            var rows = Spread(results, split);
            if (rows.Count == 0) continue;
            string title = split == EncoderEvaluator.Validation ? "Validation slice" : "Test split";
            md.AppendLine();
            md.AppendLine(c, $"## {title}");
            md.AppendLine();
            md.AppendLine("| method | encoder | seeds | " + string.Join(" | ", Probes.Select(p => p.Label)) + " |");
            md.AppendLine("|---|---|---|" + string.Concat(Probes.Select(_ => "---|")));
            foreach (var (method, encoder, probes) in rows)
            {
                string cells = string.Join(" | ", Probes.Select(p => $"{Figure(probes[p.Key].Mean, p.Percent)} ± {Figure(probes[p.Key].Std, p.Percent)}"));
                md.AppendLine(c, $"| {method} | {encoder} | {probes["linear"].Values.Count} | {cells} |");
            }
            var margins = FusionMargins(results, split);
            if (margins.Count == 0) continue;
            md.AppendLine();
            var parts = margins.SelectMany(m => m.Parts).Distinct().Select(p => $"{p}-only").ToList();
            string over = parts.Count == 1 ? parts[0] : "the better of " + string.Join(" and ", parts);
            md.AppendLine(c, $"Fusion minus {over} on each seed ({title.ToLowerInvariant()}): mean ± std, then the seeds where fusion was ahead.");
            md.AppendLine();
            md.AppendLine("| encoder | " + string.Join(" | ", Probes.Select(p => p.Label)) + " |");
            md.AppendLine("|---|" + string.Concat(Probes.Select(_ => "---|")));
            foreach (var (encoder, _, m) in margins)
            {
                string cells = string.Join(" | ", Probes.Select(p =>
                    $"{Signed(m[p.Key].Mean, p.Percent)} ± {Figure(m[p.Key].Std, p.Percent)} ({SeedsAhead(m[p.Key].Values)})"));
                md.AppendLine(c, $"| {encoder} | {cells} |");
            }
        }
        return md.ToString();
    }
}
