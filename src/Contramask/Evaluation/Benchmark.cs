using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Contramask.Data;
using Contramask.Objectives;
using Contramask.Runtime;
using Contramask.Training;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>A quality-monitor reading on a benchmark's curve: minutes of training and validation kNN-20 (a fraction).</summary>
public sealed record QualityPoint(double Minutes, double Knn20);

/// <summary>
/// One row of a benchmark: what was trained, how long and how fast, every protocol score on the validation slice
/// (for choosing) and the test split (for publishing), and the monitor's validation kNN-20 over training time.
/// </summary>
public sealed record BenchmarkRecord(string Dataset, string Method, string Encoder, double BudgetSeconds, long Steps, double Epochs,
    double ImagesPerSecond, ProtocolScores? Validation, ProtocolScores Test)
{
    /// <summary>Validation kNN-20 of the quality monitor (<see cref="QualityMonitor"/>) against minutes of training; empty for baselines.</summary>
    public IReadOnlyList<QualityPoint> Curve { get; init; } = [];

    /// <summary>A JSON object: the run's fields, the scores of each split under "val" and "test", the monitor's curve.</summary>
    public JsonObject ToJson(double? minutesToContrastive = null)
    {
        var json = new JsonObject
        {
            ["dataset"] = Dataset, ["method"] = Method, ["encoder"] = Encoder, ["budget_s"] = Math.Round(BudgetSeconds, 1),
            ["steps"] = Steps, ["epochs"] = Math.Round(Epochs, 2), ["images_per_s"] = Math.Round(ImagesPerSecond, 1),
        };
        if (Validation is not null) json["val"] = JsonSerializer.SerializeToNode(Validation, PretrainConfig.Json);
        json["test"] = JsonSerializer.SerializeToNode(Test, PretrainConfig.Json);
        if (Curve.Count > 0)
        {
            json["val_knn20_over_time"] = new JsonArray(Curve.Select(p => (JsonNode)new JsonArray(Math.Round(p.Minutes, 3), Math.Round(p.Knn20, 4))).ToArray());
            json["minutes_to_contrastive_knn20"] = minutesToContrastive is double m ? Math.Round(m, 2) : null;
        }
        return json;
    }
}

/// <summary>What a benchmark produced: the encoders' rows and, with <c>--finetune</c>, the classifiers' rows.</summary>
public sealed record BenchmarkResult(IReadOnlyList<BenchmarkRecord> Records, IReadOnlyList<ClassifierRecord> Classifiers);

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
    /// <summary>
    /// Label budgets of the classifier table (<c>--finetune</c>; null = none): each pretrained run fine-tuned (full, and
    /// semi where labels are left over), the encoder from scratch, and LightGBM for tables (<see cref="ClassifierBenchmark"/>).
    /// </summary>
    public IReadOnlyList<Classification.LabelBudget>? FinetuneLabels { get; init; }
    /// <summary>Steps of every fine-tune (null: each mode's default; early stopping may end it sooner).</summary>
    public int? FinetuneSteps { get; init; }
    /// <summary>Changes applied to every self-supervised run's default config (for sweeps from code).</summary>
    [JsonIgnore] public Func<PretrainConfig, PretrainConfig>? Adjust { get; init; }
    /// <summary>What <see cref="Adjust"/> changes, in words: recorded with the plan, and a finished run is reused only when it matches.</summary>
    public string Overrides { get; init; } = "";

    /// <summary>The plan as <c>benchmark.json</c> (and <c>benchmark-seeds.json</c>) record it, with the data spec it ran on.</summary>
    public JsonObject ToJson(string dataSpec) => new()
    {
        ["data"] = dataSpec,
        ["methods"] = new JsonArray(Methods.Select(m => (JsonNode)m.ToString().ToLowerInvariant()).ToArray()),
        ["encoders"] = Encoders is null ? null : new JsonArray(Encoders.Select(e => (JsonNode)e).ToArray()),
        ["baselines"] = new JsonArray(Baselines.Select(b => (JsonNode)b).ToArray()),
        ["budget_minutes"] = BudgetMinutes,
        ["seed"] = Seed,
        ["overrides"] = Overrides,
        ["finetune_labels"] = FinetuneLabels is { } budgets ? new JsonArray(budgets.Select(b => (JsonNode)b.ToString()).ToArray()) : null,
        ["finetune_steps"] = FinetuneSteps,
    };
}

/// <summary>
/// Pretrains each method with each encoder for the same wall-clock budget on this machine, evaluates every result
/// with <see cref="EvaluationProtocol"/> on the validation slice and the test split, and writes <c>benchmark.json</c>
/// (with the commit, the plan and the CPU) and <c>benchmark.md</c>. A finished run in the output folder is reused
/// only when its commit, plan and CPU are this benchmark's, so a published table never mixes versions or machines.
/// </summary>
public static class Benchmark
{
    public const string JsonFileName = "benchmark.json";
    public const string MarkdownFileName = "benchmark.md";
    public const string AccuracyPlotFileName = "accuracy-over-time.png";
    const string RecordFileName = "benchmark-record.json";

    /// <summary>What a run's scores depend on besides its method and encoder: reused only when all of it matches.</summary>
    sealed record Provenance(string Commit, string Cpu, bool Avx512, bool BFloat16, int Threads, string Data, double BudgetMinutes, int Seed, string Overrides);

    sealed record StoredRecord(Provenance Provenance, BenchmarkRecord Record);

    public static BenchmarkResult Run(ISplits data, string dataSpec, BenchmarkPlan plan, string outFolder,
        string? command = null, Action<string>? log = null,
        Func<string, Func<Action<TrainingProgress>, PretrainResult>, PretrainResult>? runWithProgress = null, CancellationToken cancel = default)
    {
        if (data.Test is null || !data.Train.HasLabels || !data.Test.HasLabels)
            throw new InvalidOperationException($"a benchmark needs labelled train and test splits ({dataSpec})");
        RunFiles.EnsureWritable(outFolder);
        TorchRuntime.Initialize(plan.Threads);
        var machine = MachineInfo.Current(plan.Threads);
        var provenance = new Provenance(machine.Commit, machine.Cpu, machine.Avx512, machine.BFloat16, machine.Threads, dataSpec, plan.BudgetMinutes, plan.Seed, plan.Overrides);
        string[] splits = data.Validation is null ? [EncoderEvaluator.Test] : [EncoderEvaluator.Validation, EncoderEvaluator.Test];
        var records = new List<BenchmarkRecord>();
        var classifiers = new List<ClassifierRecord>();
        var result = new BenchmarkResult(records, classifiers);
        void Save() => Write(result, dataSpec, plan, machine, outFolder, command);
        bool finetune = plan.FinetuneLabels is { Count: > 0 };
        if (finetune && data.Validation is not { HasLabels: true })
            throw new InvalidOperationException($"--finetune chooses every classifier's settings on a labelled validation slice, and {dataSpec} has none; keep the data spec's val= above 0");
        var context = new ClassifierBenchmark.Context(data, plan, JsonSerializer.Serialize(provenance, PretrainConfig.Json), Reusable(provenance), log, cancel);
        // Each classifier is saved as it finishes; false when the user interrupted, to stop the benchmark there.
        bool AddClassifiers(IEnumerable<ClassifierRecord> made)
        {
            foreach (var classifier in made)
            {
                classifiers.Add(classifier);
                Save();
                if (cancel.IsCancellationRequested) return false;
            }
            return !cancel.IsCancellationRequested;
        }
        BenchmarkRecord Record(string method, string encoder, double seconds, long steps, double epochs, double rate, IReadOnlyList<ProtocolScores> scores) =>
            new(dataSpec, method, encoder, seconds, steps, epochs, rate, scores.FirstOrDefault(s => s.Split == EncoderEvaluator.Validation), scores.Single(s => s.Split == EncoderEvaluator.Test));

        if (plan.Baselines.Contains("raw"))
        {
            bool table = data.Train is TableDataset;
            log?.Invoke($"baseline: raw {(table ? "features" : "pixels")}");
            records.Add(Record("raw", table ? "features" : "pixels", 0, 0, 0, 0, EncoderEvaluator.ScoreRaw(data, splits, plan.Seed, log)));
            Save();
        }
        if (finetune && data is TableSplits && !AddClassifiers(ClassifierBenchmark.Trees(context, outFolder))) return result;
        foreach (var encoder in plan.Encoders ?? [data.Train is TableDataset ? "mlp" : "convnet"])
        {
            if (plan.Baselines.Contains("random"))
            {
                log?.Invoke($"baseline: random-init {encoder}");
                var defaults = PretrainConfig.DefaultsFor(data.Train, Method.Contrastive, encoder);
                manual_seed(plan.Seed);
                using var random = ModelFactory.BuildEncoder(defaults, data.Train);
                records.Add(Record("random", encoder, 0, 0, 0, 0, EncoderEvaluator.Score(random, "random-init", data, defaults, splits, plan.Seed, log)));
                Save();
            }
            var methods = plan.Methods.ToList();
            if (plan.Baselines.Contains("supervised")) methods.Add(Method.Supervised);
            string? anyRun = null;
            foreach (var method in methods)
            {
                if (cancel.IsCancellationRequested) return result;
                string runFolder = Path.Combine(outFolder, $"{method.ToString().ToLowerInvariant()}-{encoder}");
                var record = TrainAndScore(data, dataSpec, plan, provenance, splits, method, encoder, runFolder, Record, log, runWithProgress, cancel);
                if (record is null) return result;
                records.Add(record);
                Save();
                anyRun ??= runFolder;
                // The supervised baseline already learnt from every label: fine-tuning it compares nothing.
                if (finetune && method != Method.Supervised && !AddClassifiers(ClassifierBenchmark.FineTune(context, runFolder, record.Method, encoder)))
                    return result;
            }
            // From scratch takes only the architecture (and input normalization) from a run: any run of this encoder serves.
            if (finetune && anyRun is not null && !AddClassifiers(ClassifierBenchmark.FromScratch(context, anyRun, encoder, outFolder))) return result;
        }
        return result;
    }

    static BenchmarkRecord? TrainAndScore(ISplits data, string dataSpec, BenchmarkPlan plan, Provenance provenance, string[] splits, Method method, string encoder,
        string folder, Func<string, string, double, long, double, double, IReadOnlyList<ProtocolScores>, BenchmarkRecord> record,
        Action<string>? log, Func<string, Func<Action<TrainingProgress>, PretrainResult>, PretrainResult>? runWithProgress, CancellationToken cancel)
    {
        string name = $"{method.ToString().ToLowerInvariant()} {encoder}";
        var recordPath = Path.Combine(folder, RecordFileName);
        if (File.Exists(recordPath))
        {
            var stored = ReadStored(recordPath);
            bool exact = Reusable(provenance);
            if (stored is not null && stored.Provenance == provenance && exact)
            {
                log?.Invoke($"{name}: reusing the finished run in {folder} (same commit, plan and CPU)");
                return stored.Record;
            }
            log?.Invoke(stored is null ? $"{name}: {recordPath} is unreadable; running again"
                : !exact ? $"{name}: built from uncommitted changes ({provenance.Commit}), so the finished run in {folder} cannot be matched to its code; running again"
                : $"{name}: the run in {folder} is from another commit, plan or CPU ({Difference(stored.Provenance, provenance)}); running again");
        }
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        var config = PretrainConfig.DefaultsFor(data.Train, method, encoder) with
        {
            Data = dataSpec, BudgetMinutes = plan.BudgetMinutes, Epochs = 100_000, Seed = plan.Seed, Threads = plan.Threads,
        };
        if (method != Method.Supervised && plan.Adjust is not null) config = plan.Adjust(config);
        log?.Invoke($"{name}: pretraining for {plan.BudgetMinutes} min");
        using var trainer = Pretrainer.Start(config, folder, data);
        var result = runWithProgress is null ? trainer.Run(null, cancel) : runWithProgress(name, report => trainer.Run(report, cancel));
        if (result.Status == RunStatus.Interrupted) return null;
        log?.Invoke($"{name}: {result.Steps} steps, {result.ImagesPerSecond:F0} records/s; evaluating");
        var scores = EncoderEvaluator.Score(trainer.Encoder, name, data, trainer.Config, splits, plan.Seed, log);
        double epochs = (double)result.Steps * trainer.BatchSize / data.Train.Count;
        var finished = record(method.ToString().ToLowerInvariant(), encoder, result.Elapsed.TotalSeconds, result.Steps, epochs, result.ImagesPerSecond, scores) with
        {
            Curve = trainer.Readings.Where(r => r.Knn20 is double k && double.IsFinite(k)).Select(r => new QualityPoint(r.TrainingSeconds / 60, r.Knn20!.Value)).ToList(),
        };
        RunFiles.WriteAllTextAtomic(recordPath, JsonSerializer.Serialize(new StoredRecord(provenance, finished), PretrainConfig.Json));
        return finished;
    }

    /// <summary>Two uncommitted states of the same commit look alike: nothing built from a dirty tree (or outside git) is reused.</summary>
    static bool Reusable(Provenance provenance) => !provenance.Commit.EndsWith("-dirty", StringComparison.Ordinal) && provenance.Commit != "unknown";

    /// <summary>
    /// Time to accuracy: for each run with a monitor curve, the minutes of training it took to reach the final
    /// validation kNN-20 of contrastive-only with the same encoder (its last reading); null if it never did.
    /// </summary>
    public static IReadOnlyDictionary<BenchmarkRecord, double?> MinutesToContrastive(IReadOnlyList<BenchmarkRecord> records)
    {
        var result = new Dictionary<BenchmarkRecord, double?>();
        foreach (var r in records.Where(r => r.Curve.Count > 0))
        {
            var contrastive = records.FirstOrDefault(c => c.Method == "contrastive" && c.Encoder == r.Encoder && c.Curve.Count > 0);
            if (contrastive is null) continue;
            double target = contrastive.Curve[^1].Knn20;
            result[r] = r.Curve.FirstOrDefault(p => p.Knn20 >= target)?.Minutes;
        }
        return result;
    }

    static StoredRecord? ReadStored(string path)
    {
        try { return JsonSerializer.Deserialize<StoredRecord>(File.ReadAllText(path), PretrainConfig.Json); }
        catch (Exception e) when (e is JsonException or NotSupportedException) { return null; }
    }

    static string Difference(Provenance a, Provenance b)
    {
        var differences = new List<string>();
        if (a.Commit != b.Commit) differences.Add($"commit {a.Commit} vs {b.Commit}");
        if (a.Cpu != b.Cpu || a.Avx512 != b.Avx512 || a.BFloat16 != b.BFloat16 || a.Threads != b.Threads) differences.Add($"CPU {a.Cpu} vs {b.Cpu}");
        if (a.Data != b.Data || a.BudgetMinutes != b.BudgetMinutes || a.Seed != b.Seed || a.Overrides != b.Overrides) differences.Add("plan");
        return string.Join(", ", differences);
    }

    static void Write(BenchmarkResult result, string dataSpec, BenchmarkPlan plan, MachineInfo machine, string outFolder, string? command)
    {
        var records = result.Records;
        var minutes = MinutesToContrastive(records);
        Mining.Plots.AccuracyOverTime(records.Where(r => r.Curve.Count > 0).Select(r => ($"{r.Method} {r.Encoder}", r.Curve)).ToList(),
            Path.Combine(outFolder, AccuracyPlotFileName));
        var json = new JsonObject
        {
            ["command"] = command,
            ["commit"] = machine.Commit,
            ["machine"] = JsonSerializer.SerializeToNode(machine, PretrainConfig.Json),
            ["plan"] = plan.ToJson(dataSpec),
            ["written_utc"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
            ["records"] = new JsonArray(records.Select(r => (JsonNode)r.ToJson(minutes.GetValueOrDefault(r))).ToArray()),
        };
        if (result.Classifiers.Count > 0) json["classifiers"] = new JsonArray(result.Classifiers.Select(r => (JsonNode)r.ToJson()).ToArray());
        RunFiles.WriteAllTextAtomic(Path.Combine(outFolder, JsonFileName), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        RunFiles.WriteAllTextAtomic(Path.Combine(outFolder, MarkdownFileName), Markdown(result, dataSpec, plan, command, machine));
    }

    public static string Markdown(BenchmarkResult result, string dataSpec, BenchmarkPlan plan, string? command, MachineInfo? machine = null)
    {
        var records = result.Records;
        var c = CultureInfo.InvariantCulture;
        machine ??= MachineInfo.Current(plan.Threads);
        var md = new StringBuilder();
        md.AppendLine(c, $"# Benchmark: {dataSpec}");
        md.AppendLine();
        md.AppendLine(c, $"Budget {plan.BudgetMinutes} min of pretraining per method and encoder, seed {plan.Seed}; {machine}; commit {machine.Commit}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        if (command is not null) md.AppendLine(c, $"Command: `{command}`");
        if (plan.Overrides.Length > 0) md.AppendLine(c, $"Set for this benchmark: {plan.Overrides}.");
        md.AppendLine();
        md.AppendLine("Accuracy in %; few-label columns are the mean ± std over 3 stratified draws; rec/s = images or rows per second of pretraining. Baselines: raw = pixels or standardized features, random = untrained encoder, supervised = all labels, same budget. Probes are fitted on the training split only; the validation slice is for choosing, the test split for publishing.");
        foreach (var (title, pick) in new (string, Func<BenchmarkRecord, ProtocolScores?>)[] { ("Validation slice", r => r.Validation), ("Test split", r => r.Test) })
        {
            var rows = records.Select(r => (Record: r, Scores: pick(r))).Where(p => p.Scores is not null).ToList();
            if (rows.Count == 0) continue;
            bool imbalanced = rows[0].Scores!.Imbalanced;
            md.AppendLine();
            md.AppendLine(c, $"## {title}");
            md.AppendLine();
            if (imbalanced)
                md.AppendLine(c, $"Classes are imbalanced: the majority class is {100 * rows[0].Scores!.MajorityRate:F1}% of this split, so balanced accuracy, macro-F1{(rows[0].Scores!.Classes == 2 ? " and ROC-AUC" : "")} are shown too.\n");
            var header = "| method | encoder | epochs | rec/s | linear | kNN-20 | kNN-200 | linear 1% | linear 10% | kNN-20 1% | NMI | ARI | align | uniform | eff. rank |";
            if (imbalanced) header += " linear bal. acc | linear macro-F1 |" + (rows[0].Scores!.Classes == 2 ? " linear AUC |" : "") + " kNN-20 bal. acc | kNN-20 macro-F1 |";
            md.AppendLine(header);
            md.AppendLine(string.Concat(Enumerable.Repeat("|---", header.Count(ch => ch == '|') - 1)) + "|");
            foreach (var (r, s) in rows)
            {
                md.Append(c, $"| {r.Method} | {r.Encoder} | {r.Epochs:F1} | {r.ImagesPerSecond:F0} | {100 * s!.Linear:F2} | {100 * s.Knn20:F2} | {100 * s.Knn200:F2} | " +
                    $"{100 * s.Linear1Pct:F1} ± {100 * s.Linear1PctStd:F1} | {100 * s.Linear10Pct:F1} ± {100 * s.Linear10PctStd:F1} | {100 * s.Knn20_1Pct:F1} ± {100 * s.Knn20_1PctStd:F1} | " +
                    $"{s.Nmi:F3} | {s.Ari:F3} | {(s.Alignment is double a ? a.ToString("F3", c) : "–")} | {s.Uniformity:F3} | {s.EffectiveRank:F1}/{s.Dimensions} |");
                if (imbalanced)
                {
                    var linear = s.Probes.GetValueOrDefault("linear");
                    var knn = s.Probes.GetValueOrDefault("knn20");
                    md.Append(c, $" {100 * linear?.BalancedAccuracy:F2} | {100 * linear?.MacroF1:F2} |");
                    if (s.Classes == 2) md.Append(c, $" {linear?.RocAuc:F3} |");
                    md.Append(c, $" {100 * knn?.BalancedAccuracy:F2} | {100 * knn?.MacroF1:F2} |");
                }
                md.AppendLine();
            }
        }
        var timed = records.Where(r => r.Curve.Count > 0).ToList();
        if (timed.Count > 0)
        {
            var minutes = MinutesToContrastive(records);
            md.AppendLine();
            md.AppendLine("## Time to accuracy (validation slice)");
            md.AppendLine();
            md.Append(c, $"The quality monitor's kNN-20 ({QualityMonitor.QueryRecords:N0} validation records against a bank of {QualityMonitor.BankRecords:N0} training records) during training; ").AppendLine(
                "minutes of training (the monitor's own time not counted) until a run first reached contrastive-only's final reading with the same encoder.");
            md.AppendLine();
            md.AppendLine(c, $"![validation kNN-20 over time]({AccuracyPlotFileName})");
            md.AppendLine();
            md.AppendLine("| method | encoder | readings | first | final | best | minutes to contrastive's final |");
            md.AppendLine("|---|---|---|---|---|---|---|");
            foreach (var r in timed)
            {
                string reached = minutes.GetValueOrDefault(r) is double m ? m.ToString("F1", c) : "not reached";
                md.AppendLine(c, $"| {r.Method} | {r.Encoder} | {r.Curve.Count} | {100 * r.Curve[0].Knn20:F2} | {100 * r.Curve[^1].Knn20:F2} | {100 * r.Curve.Max(p => p.Knn20):F2} | {reached} |");
            }
        }
        md.Append(ClassifierBenchmark.Markdown(result.Classifiers));
        return md.ToString();
    }
}
