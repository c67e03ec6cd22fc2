using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Contramask.Data;
using Contramask.Objectives;
using Contramask.Training;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>One row of a benchmark: what was trained, how long and how fast, and every protocol score.</summary>
public sealed record BenchmarkRecord(string Dataset, string Method, string Encoder, double BudgetSeconds, long Steps, double Epochs,
    double ImagesPerSecond, ProtocolScores Scores)
{
    /// <summary>A flat JSON object: the run's fields followed by every field of <see cref="ProtocolScores"/>.</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["dataset"] = Dataset, ["method"] = Method, ["encoder"] = Encoder, ["budget_s"] = Math.Round(BudgetSeconds, 1),
            ["steps"] = Steps, ["epochs"] = Math.Round(Epochs, 2), ["images_per_s"] = Math.Round(ImagesPerSecond, 1),
        };
        foreach (var (key, value) in JsonSerializer.SerializeToNode(Scores, PretrainConfig.Json)!.AsObject())
            if (key != "name") json[key] = value?.DeepClone();
        return json;
    }
}

/// <summary>What to compare: methods × encoders under one wall-clock budget, plus baselines.</summary>
public sealed record BenchmarkPlan
{
    public IReadOnlyList<Method> Methods { get; init; } = [Method.Contrastive, Method.Masked, Method.Fusion];
    /// <summary>Encoders to compare (default: convnet for images, mlp for tables).</summary>
    public IReadOnlyList<string>? Encoders { get; init; }
    public double BudgetMinutes { get; init; } = 10;
    /// <summary>Baselines: "raw" (pixels), "random" (each encoder untrained), "supervised" (each encoder, all labels, same budget).</summary>
    public IReadOnlyList<string> Baselines { get; init; } = ["raw", "random", "supervised"];
    public int Seed { get; init; } = 42;
    public int Threads { get; init; }
    /// <summary>Changes applied to every self-supervised run's default config (for tuning sweeps).</summary>
    public Func<PretrainConfig, PretrainConfig>? Adjust { get; init; }
}

/// <summary>
/// Pretrains each method with each encoder for the same wall-clock budget on this machine, evaluates every
/// result with <see cref="EvaluationProtocol"/>, and writes <c>benchmark.json</c> and <c>benchmark.md</c>.
/// Runs already finished and evaluated in the output folder are reused, so an interrupted benchmark continues.
/// </summary>
public static class Benchmark
{
    public const string JsonFileName = "benchmark.json";
    public const string MarkdownFileName = "benchmark.md";

    public static IReadOnlyList<BenchmarkRecord> Run(ISplits data, string dataSpec, BenchmarkPlan plan, string outFolder,
        string? command = null, Action<string>? log = null,
        Func<string, Func<Action<TrainingProgress>, PretrainResult>, PretrainResult>? runWithProgress = null, CancellationToken cancel = default)
    {
        if (data.Test is null || !data.Train.HasLabels || !data.Test.HasLabels)
            throw new InvalidOperationException($"a benchmark needs labelled train and test splits ({dataSpec})");
        RunFiles.EnsureWritable(outFolder);
        Runtime.TorchRuntime.Initialize(plan.Threads);
        var records = new List<BenchmarkRecord>();
        void Save() => Write(records, dataSpec, plan, outFolder, command);

        if (plan.Baselines.Contains("raw"))
        {
            bool table = data.Train is TableDataset;
            log?.Invoke($"baseline: raw {(table ? "features" : "pixels")}");
            records.Add(new BenchmarkRecord(dataSpec, "raw", table ? "features" : "pixels", 0, 0, 0, 0, EncoderEvaluator.ScoreRaw(data, plan.Seed, log)));
            Save();
        }
        foreach (var encoder in plan.Encoders ?? [data.Train is TableDataset ? "mlp" : "convnet"])
        {
            if (plan.Baselines.Contains("random"))
            {
                log?.Invoke($"baseline: random-init {encoder}");
                var defaults = PretrainConfig.DefaultsFor(data.Train, Method.Contrastive, encoder);
                manual_seed(plan.Seed);
                using var random = ModelFactory.BuildEncoder(defaults, data.Train);
                records.Add(new BenchmarkRecord(dataSpec, "random", encoder, 0, 0, 0, 0, EncoderEvaluator.Score(random, "random-init", data, defaults, plan.Seed, log)));
                Save();
            }
            var methods = plan.Methods.ToList();
            if (plan.Baselines.Contains("supervised")) methods.Add(Method.Supervised);
            foreach (var method in methods)
            {
                if (cancel.IsCancellationRequested) return records;
                var record = TrainAndScore(data, dataSpec, plan, method, encoder, Path.Combine(outFolder, $"{method.ToString().ToLowerInvariant()}-{encoder}"),
                    log, runWithProgress, cancel);
                if (record is null) return records;
                records.Add(record);
                Save();
            }
        }
        return records;
    }

    static BenchmarkRecord? TrainAndScore(ISplits data, string dataSpec, BenchmarkPlan plan, Method method, string encoder, string folder,
        Action<string>? log, Func<string, Func<Action<TrainingProgress>, PretrainResult>, PretrainResult>? runWithProgress, CancellationToken cancel)
    {
        string name = $"{method.ToString().ToLowerInvariant()} {encoder}";
        var recordPath = Path.Combine(folder, "benchmark-record.json");
        if (File.Exists(recordPath))
        {
            log?.Invoke($"{name}: reusing the finished run in {folder}");
            var cached = JsonSerializer.Deserialize<BenchmarkRecord>(File.ReadAllText(recordPath), PretrainConfig.Json);
            if (cached is not null) return cached;
        }
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        var config = PretrainConfig.DefaultsFor(data.Train, method, encoder) with
        {
            Data = dataSpec, BudgetMinutes = plan.BudgetMinutes, Epochs = 100_000, Seed = plan.Seed, Threads = plan.Threads,
        };
        if (method != Method.Supervised && plan.Adjust is not null) config = plan.Adjust(config);
        log?.Invoke($"{name}: pretraining for {plan.BudgetMinutes} min");
        PretrainResult result;
        using (var trainer = Pretrainer.Start(config, folder, data))
        {
            result = runWithProgress is null ? trainer.Run(null, cancel) : runWithProgress(name, report => trainer.Run(report, cancel));
            if (result.Status == RunStatus.Interrupted) return null;
            log?.Invoke($"{name}: {result.Steps} steps, {result.ImagesPerSecond:F0} records/s; evaluating");
            var scores = EncoderEvaluator.Score(trainer.Encoder, name, data, trainer.Config, plan.Seed, log);
            double epochs = (double)result.Steps * trainer.BatchSize / data.Train.Count;
            var record = new BenchmarkRecord(dataSpec, method.ToString().ToLowerInvariant(), encoder, result.Elapsed.TotalSeconds, result.Steps, epochs, result.ImagesPerSecond, scores);
            RunFiles.WriteAllTextAtomic(recordPath, JsonSerializer.Serialize(record, PretrainConfig.Json));
            return record;
        }
    }

    static void Write(IReadOnlyList<BenchmarkRecord> records, string dataSpec, BenchmarkPlan plan, string outFolder, string? command)
    {
        var array = new JsonArray(records.Select(r => (JsonNode)r.ToJson()).ToArray());
        RunFiles.WriteAllTextAtomic(Path.Combine(outFolder, JsonFileName), array.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        RunFiles.WriteAllTextAtomic(Path.Combine(outFolder, MarkdownFileName), Markdown(records, dataSpec, plan, command));
    }

    public static string Markdown(IReadOnlyList<BenchmarkRecord> records, string dataSpec, BenchmarkPlan plan, string? command)
    {
        var c = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(c, $"# Benchmark: {dataSpec}");
        md.AppendLine();
        md.AppendLine(c, $"Budget {plan.BudgetMinutes} min of pretraining per method and encoder, seed {plan.Seed}, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        if (command is not null) md.AppendLine(c, $"Command: `{command}`");
        md.AppendLine();
        md.AppendLine("Test accuracy in %; few-label columns are the mean ± std over 3 stratified draws; rec/s = images or rows per second of pretraining. Baselines: raw = pixels or standardized features, random = untrained encoder, supervised = all labels, same budget.");
        md.AppendLine();
        md.AppendLine("| method | encoder | epochs | rec/s | linear | kNN-20 | kNN-200 | linear 1% | linear 10% | kNN-20 1% | NMI | ARI | align | uniform | eff. rank |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in records)
        {
            var s = r.Scores;
            md.AppendLine(c, $"| {r.Method} | {r.Encoder} | {r.Epochs:F1} | {r.ImagesPerSecond:F0} | {100 * s.Linear:F2} | {100 * s.Knn20:F2} | {100 * s.Knn200:F2} | " +
                $"{100 * s.Linear1Pct:F1} ± {100 * s.Linear1PctStd:F1} | {100 * s.Linear10Pct:F1} ± {100 * s.Linear10PctStd:F1} | {100 * s.Knn20_1Pct:F1} ± {100 * s.Knn20_1PctStd:F1} | " +
                $"{s.Nmi:F3} | {s.Ari:F3} | {(s.Alignment is double a ? a.ToString("F3", c) : "–")} | {s.Uniformity:F3} | {s.EffectiveRank:F1}/{s.Dimensions} |");
        }
        return md.ToString();
    }
}
