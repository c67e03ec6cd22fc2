using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Contramask.Classification;
using Contramask.Data;
using Contramask.Training;

namespace Contramask.Evaluation;

/// <summary>
/// One classifier of a benchmark's <c>--finetune</c> table: a pretrained encoder fine-tuned (<c>full</c>) or
/// fine-tuned with the unlabelled rest too (<c>semi</c>), the same encoder trained from scratch on the same labels
/// (<c>scratch</c>), or gradient-boosted trees on the raw features of a table (<c>lightgbm</c>). Accuracy and macro-F1
/// are fractions; the validation figures chose every setting, the test figures are read once.
/// </summary>
public sealed record ClassifierRecord(string Method, string Encoder, string Mode, string Labels, int Labelled,
    double Seconds, double ValidationAccuracy, double? TestAccuracy)
{
    public double? ValidationMacroF1 { get; init; }
    public double? TestMacroF1 { get; init; }
    public double? TestCalibrationError { get; init; }
    /// <summary>What training settled on: steps taken and the best one for a network, the chosen grid setting for trees.</summary>
    public string Detail { get; init; } = "";
    /// <summary>A fingerprint of the labelled records' indices (<see cref="ClassifierBenchmark.Fingerprint"/>): equal in every entry of a budget.</summary>
    public string LabelledFingerprint { get; init; } = "";

    public JsonObject ToJson() => new()
    {
        ["method"] = Method, ["encoder"] = Encoder, ["mode"] = Mode, ["labels"] = Labels, ["labelled"] = Labelled,
        ["seconds"] = Math.Round(Seconds, 1), ["val_accuracy"] = Math.Round(ValidationAccuracy, 5),
        ["test_accuracy"] = TestAccuracy is double t ? Math.Round(t, 5) : null,
        ["val_macro_f1"] = ValidationMacroF1 is double vf ? Math.Round(vf, 5) : null,
        ["test_macro_f1"] = TestMacroF1 is double tf ? Math.Round(tf, 5) : null,
        ["test_ece"] = TestCalibrationError is double e ? Math.Round(e, 5) : null,
        ["detail"] = Detail,
        ["labelled_fingerprint"] = LabelledFingerprint,
    };
}

/// <summary>
/// The classifiers of <c>benchmark --finetune</c>: for each label budget, every pretrained run fine-tuned
/// (<see cref="ClassifierMode.Full"/>, and <see cref="ClassifierMode.Semi"/> when labels are left over), the same
/// encoder from scratch, and for tables LightGBM (<see cref="GradientBoostedTrees"/>). Every budget draws the same
/// labelled records for every entry (stratified, the plan's seed), so the rows of a column compare like with like.
/// A finished entry is reused when its provenance (commit, CPU, plan) and setting match, like a pretraining run.
/// </summary>
public static class ClassifierBenchmark
{
    const string RecordFileName = "benchmark-record.json";

    sealed record Stored(string Provenance, string Setting, ClassifierRecord Record);

    /// <summary>
    /// Where and under what a benchmark's classifiers are made: the provenance text (commit, CPU, plan) an entry must
    /// match to be reused, and whether reuse is allowed at all (never for a build from uncommitted changes, whose commit
    /// cannot tell which code trained an entry). <c>Cancel</c> (Ctrl+C) ends the entry being trained and the rest:
    /// an interrupted entry is neither saved nor listed, so a later benchmark trains it again in full.
    /// </summary>
    public sealed record Context(ISplits Data, BenchmarkPlan Plan, string Provenance, bool Reusable, Action<string>? Log, CancellationToken Cancel = default);

    /// <summary>The first 12 hex digits of the SHA-256 of the labelled indices: proof that two entries learnt from the same records.</summary>
    public static string Fingerprint(IReadOnlyList<int> indices)
    {
        var bytes = new byte[indices.Count * sizeof(int)];
        for (int i = 0; i < indices.Count; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * sizeof(int)), indices[i]);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))[..12];
    }

    /// <summary>A budget as a folder name: 1% → 1pct.</summary>
    static string FolderName(LabelBudget budget) => budget.ToString().Replace("%", "pct", StringComparison.Ordinal);

    /// <summary>Fine-tunes a pretrained run: full at every budget, semi where the budget leaves unlabelled records.</summary>
    public static IEnumerable<ClassifierRecord> FineTune(Context context, string runFolder, string method, string encoder)
    {
        var labels = context.Data.Train.Labels!;
        foreach (var budget in context.Plan.FinetuneLabels ?? [])
        {
            // Semi needs records left without labels: a budget that takes every record (all, or a count at least the split) has none.
            bool leftOver = budget.Choose(labels, context.Plan.Seed).Length < labels.Length;
            foreach (var mode in leftOver ? new[] { ClassifierMode.Full, ClassifierMode.Semi } : new[] { ClassifierMode.Full })
            {
                if (Network(context, runFolder, Path.Combine(runFolder, "classifiers", $"{mode.ToString().ToLowerInvariant()}-{FolderName(budget)}"),
                    method, encoder, mode, budget, fromScratch: false) is not { } record) yield break;
                yield return record;
            }
        }
    }

    /// <summary>The run's encoder architecture with random weights, trained (full) on each budget's labels.</summary>
    public static IEnumerable<ClassifierRecord> FromScratch(Context context, string runFolder, string encoder, string outFolder)
    {
        foreach (var budget in context.Plan.FinetuneLabels ?? [])
        {
            if (Network(context, runFolder, Path.Combine(outFolder, $"scratch-{encoder}", FolderName(budget)),
                "scratch", encoder, ClassifierMode.Full, budget, fromScratch: true) is not { } record) yield break;
            yield return record;
        }
    }

    /// <summary>LightGBM on the raw features with each budget's labels.</summary>
    public static IEnumerable<ClassifierRecord> Trees(Context context, string outFolder)
    {
        var data = (TableSplits)context.Data;
        foreach (var budget in context.Plan.FinetuneLabels ?? [])
        {
            string folder = Path.Combine(outFolder, "lightgbm", FolderName(budget));
            string setting = $"lightgbm {budget} grid {string.Join("; ", GradientBoostedTrees.Grid)}";
            if (Reuse(context, folder, setting) is { } reused) { yield return reused; continue; }
            context.Log?.Invoke($"lightgbm: {budget} labels, {GradientBoostedTrees.Grid.Count} settings");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var labelled = budget.Choose(data.Train.Labels!, context.Plan.Seed);
            var scores = GradientBoostedTrees.Fit(data, labelled, context.Plan.Seed, threads: context.Plan.Threads);
            var record = new ClassifierRecord("lightgbm", "raw features", "trees", budget.ToString(), labelled.Length, clock.Elapsed.TotalSeconds,
                scores.ValidationAccuracy, scores.TestAccuracy) { Detail = scores.Chosen.ToString(), LabelledFingerprint = Fingerprint(labelled) };
            Store(folder, context.Provenance, setting, record);
            yield return record;
        }
    }

    /// <summary>One fine-tuned (or from-scratch) entry, reused when stored; null when the user interrupted it.</summary>
    static ClassifierRecord? Network(Context context, string runFolder, string folder, string method, string encoder, ClassifierMode mode, LabelBudget budget,
        bool fromScratch)
    {
        var plan = context.Plan;
        var options = new ClassifierOptions
        {
            Mode = mode, Labels = budget, Seed = plan.Seed, Steps = plan.FinetuneSteps, FromScratch = fromScratch, Threads = plan.Threads,
        };
        // The run's configuration is part of the setting: from scratch takes its architecture from whichever run serves.
        string setting = JsonSerializer.Serialize(options, PretrainConfig.Json) + File.ReadAllText(Path.Combine(runFolder, RunFiles.ConfigFileName));
        string name = $"{method} {encoder} {mode.ToString().ToLowerInvariant()} {budget}";
        if (Reuse(context, folder, setting) is { } reused) return reused;
        context.Log?.Invoke($"{name}: training a classifier ({options.TotalSteps} steps at most)");
        using var classifier = Classifier.Train(runFolder, context.Data, options, cancel: context.Cancel);
        if (classifier.Interrupted) return null;
        classifier.Save(folder);
        var info = classifier.Info;
        var record = new ClassifierRecord(method, encoder, mode.ToString().ToLowerInvariant(), budget.ToString(), info.LabelledCount, info.Seconds,
            info.Validation.Accuracy, info.Test?.Accuracy)
        {
            ValidationMacroF1 = info.Validation.MacroF1, TestMacroF1 = info.Test?.MacroF1, TestCalibrationError = info.Test?.ExpectedCalibrationError,
            Detail = info.FineTune is { } f ? $"{f.Steps} steps, best at {f.BestStep}" + (mode == ClassifierMode.Semi ? $", {100 * f.PseudoLabelShare:F0}% pseudo-labelled" : "") : "",
            LabelledFingerprint = Fingerprint(budget.Choose(context.Data.Train.Labels!, plan.Seed)),
        };
        Store(folder, context.Provenance, setting, record);
        context.Log?.Invoke($"{name}: validation {100 * record.ValidationAccuracy:F2}%");
        return record;
    }

    static ClassifierRecord? Reuse(Context context, string folder, string setting)
    {
        var path = Path.Combine(folder, RecordFileName);
        if (!File.Exists(path)) return null;
        Stored? stored;
        try { stored = JsonSerializer.Deserialize<Stored>(File.ReadAllText(path), PretrainConfig.Json); }
        catch (Exception e) when (e is JsonException or NotSupportedException) { stored = null; }
        if (stored is not null && context.Reusable && stored.Provenance == context.Provenance && stored.Setting == setting)
        {
            context.Log?.Invoke($"{stored.Record.Method} {stored.Record.Encoder} {stored.Record.Mode} {stored.Record.Labels}: reusing the finished entry in {folder}");
            return stored.Record;
        }
        Directory.Delete(folder, recursive: true);
        return null;
    }

    static void Store(string folder, string provenance, string setting, ClassifierRecord record)
    {
        Directory.CreateDirectory(folder);
        RunFiles.WriteAllTextAtomic(Path.Combine(folder, RecordFileName), JsonSerializer.Serialize(new Stored(provenance, setting, record), PretrainConfig.Json));
    }

    /// <summary>The benchmark.md section: accuracy per label budget, one table for validation and one for test.</summary>
    public static string Markdown(IReadOnlyList<ClassifierRecord> records)
    {
        if (records.Count == 0) return "";
        var c = CultureInfo.InvariantCulture;
        var budgets = records.Select(r => r.Labels).Distinct().ToList();
        var rows = records.Select(r => (r.Method, r.Encoder, r.Mode)).Distinct().ToList();
        var md = new StringBuilder();
        md.AppendLine();
        md.AppendLine("## Classifiers from labels (`--finetune`)");
        md.AppendLine();
        md.AppendLine("Accuracy in % (labelled training records in brackets). full = the pretrained encoder fine-tuned end to end from its linear probe; " +
            "semi = full plus the unlabelled rest of the training split (FixMatch-style consistency); scratch = the same encoder architecture from random weights, " +
            "same labels; lightgbm = gradient-boosted trees on the raw features, setting chosen on validation. Every entry of a column learns from the same labelled records; " +
            "settings and early stopping use the validation slice only.");
        foreach (var (title, pick) in new (string, Func<ClassifierRecord, double?>)[] { ("validation slice", r => r.ValidationAccuracy), ("test split", r => r.TestAccuracy) })
        {
            md.AppendLine();
            md.AppendLine(c, $"### Classifiers, {title}");
            md.AppendLine();
            md.AppendLine("| method | encoder | mode | " + string.Join(" | ", budgets) + " |");
            md.AppendLine("|---|---|---|" + string.Concat(budgets.Select(_ => "---|")));
            foreach (var (method, encoder, mode) in rows)
            {
                md.Append(c, $"| {method} | {encoder} | {mode} |");
                foreach (var budget in budgets)
                {
                    var r = records.FirstOrDefault(x => x.Method == method && x.Encoder == encoder && x.Mode == mode && x.Labels == budget);
                    md.Append(r is not null && pick(r) is double a ? string.Create(c, $" {100 * a:F2} ({r.Labelled:N0}) |") : " – |");
                }
                md.AppendLine();
            }
        }
        return md.ToString();
    }
}
