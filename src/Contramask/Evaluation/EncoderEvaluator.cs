using System.Text.Json;
using Contramask.Data;
using Contramask.Models;
using Contramask.Training;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>What <c>contramask evaluate</c> reports: the pretrained encoder beside the baselines, on one split (<see cref="Split"/>) and protocol.</summary>
public sealed record EvaluationReport(string Data, string Method, string Encoder, long PretrainSteps, int TrainCount, int TestCount,
    ProtocolScores Pretrained, ProtocolScores? RandomInit, ProtocolScores? Raw)
{
    /// <summary>"val" (the validation slice, for choosing) or "test" (for publishing).</summary>
    public string Split => Pretrained.Split;
    public IEnumerable<ProtocolScores> All => new[] { Pretrained, RandomInit, Raw }.OfType<ProtocolScores>();
}

/// <summary>
/// Runs <see cref="EvaluationProtocol"/> on frozen features: a run's encoder, the same encoder with random
/// weights, the raw inputs (pixels, or standardized numbers + one-hot categories), on the validation slice, the
/// test split, or both. Alignment uses two contrastive-strength views of a seeded random sample of each scored
/// split, the same views for every encoder, so the figures compare.
/// </summary>
public static class EncoderEvaluator
{
    public const string Validation = "val";
    public const string Test = "test";

    /// <summary>The split <paramref name="name"/> ("val" or "test") names, or a clear error when the data has none.</summary>
    public static IRecordSet SplitOf(ISplits data, string name) => name switch
    {
        Validation => data.Validation ?? throw new InvalidOperationException(
            $"{data.Train.Source} has no validation split; it is carved from the training split unless the data spec says val=0"),
        Test => data.Test ?? throw new InvalidOperationException($"evaluation on the test split needs one ({data.Train.Source} has none)"),
        _ => throw new ArgumentException($"unknown split '{name}'; expected val or test"),
    };

    /// <summary>Scores features on each split named in <paramref name="splits"/>, probes fitted once on the training split.</summary>
    public static IReadOnlyList<ProtocolScores> Score(Func<Tensor, Tensor> featurizer, string name, ISplits data, IReadOnlyList<string> splits,
        int seed = 0, Action<string>? progress = null, ProbeSettings? probe = null)
    {
        var parts = splits.Select(s => (Name: s, Records: SplitOf(data, s))).ToList();
        if (!data.Train.HasLabels || parts.Any(p => !p.Records.HasLabels))
            throw new InvalidOperationException($"evaluation needs labels in the training split and in {string.Join(" and ", splits)} ({data.Train.Source})");
        int classes = parts.Select(p => p.Records.ClassCount).Append(data.Train.ClassCount).Max();
        using var scope = NewDisposeScope();
        progress?.Invoke($"{name}: embedding {data.Train.Count + parts.Sum(p => p.Records.Count)} records");
        var trainFeatures = EmbeddingExtractor.Extract(featurizer, data.Train);
        var sets = new List<EvaluationSet>();
        foreach (var (split, records) in parts)
        {
            var features = EmbeddingExtractor.Extract(featurizer, records);
            var sample = EvaluationProtocol.HealthSampleOf(records.Count, seed);
            using var g1 = new Generator((ulong)seed + 1);
            var view = AlignmentView(records, g1);
            var first = EmbeddingExtractor.Extract(featurizer, records, sample, view: view);
            var second = EmbeddingExtractor.Extract(featurizer, records, sample, view: view);
            sets.Add(new EvaluationSet(split, features, records.Labels!, (first, second), sample));
        }
        return EvaluationProtocol.Run(name, trainFeatures, data.Train.Labels!, sets, classes, seed, progress, probe);
    }

    /// <summary>The test split only (the published figure).</summary>
    public static ProtocolScores Score(Func<Tensor, Tensor> featurizer, string name, ISplits data, int seed = 0, Action<string>? progress = null) =>
        Score(featurizer, name, data, [Test], seed, progress)[0];

    /// <summary>
    /// Scores an encoder of a run with this config, in eval mode and in float32 whatever precision it trained in
    /// (as <c>evaluate</c> loads it), both restored afterwards.
    /// </summary>
    public static IReadOnlyList<ProtocolScores> Score(Encoder encoder, string name, ISplits data, PretrainConfig config, IReadOnlyList<string> splits,
        int seed = 0, Action<string>? progress = null, ProbeSettings? probe = null)
    {
        bool wasTraining = encoder.training;
        using var float32 = MixedPrecision.InFloat32(encoder);
        encoder.eval();
        try { return Score(ModelFactory.Featurizer(encoder, config, data.Train), name, data, splits, seed, progress, probe); }
        finally { if (wasTraining) encoder.train(); }
    }

    public static ProtocolScores Score(Encoder encoder, string name, ISplits data, PretrainConfig config, int seed = 0, Action<string>? progress = null) =>
        Score(encoder, name, data, config, [Test], seed, progress)[0];

    /// <summary>The raw-input baseline: pixels for images; standardized numbers, missing flags and one-hot categories for tables.</summary>
    public static IReadOnlyList<ProtocolScores> ScoreRaw(ISplits data, IReadOnlyList<string> splits, int seed = 0, Action<string>? progress = null, ProbeSettings? probe = null) => data.Train is TableDataset table
        ? Score(EmbeddingExtractor.RawTableFeatures(new TableLayout(table.Schema)), "raw features", data, splits, seed, progress, probe)
        : Score(EmbeddingExtractor.RawPixels, "raw pixels", data, splits, seed, progress, probe);

    public static ProtocolScores ScoreRaw(ISplits data, int seed = 0, Action<string>? progress = null) => ScoreRaw(data, [Test], seed, progress)[0];

    /// <summary>Contrastive-strength views for the alignment metric: image augmentation, or SCARF corruption of rows.</summary>
    static Func<Tensor, Tensor> AlignmentView(IRecordSet records, Generator generator)
    {
        if (records is TableDataset table)
        {
            // SCARF's positive: ⌊c·F⌋ features from other rows of the same split.
            var corruption = new RowCorruption(new TableLayout(table.Schema), generator, table.Batch(Enumerable.Range(0, table.Count).ToArray()).DetachFromDisposeScope());
            double rate = TableViewOptions.ForContrastive().CorruptionRate;
            return rows => corruption.CorruptExactly(rows, rate, null);
        }
        var augmenter = new ImageAugmenter(AugmentationOptions.Contrastive(((ImageDataset)records).Channels), generator);
        return augmenter.Augment;
    }

    /// <summary>
    /// Evaluates a run folder's encoder, a random-init twin and (if asked) the raw inputs; writes
    /// <c>evaluation.json</c> into the run.
    /// </summary>
    /// <param name="split">"test" (default: the figure to publish) or "val" (the one to choose by).</param>
    public static EvaluationReport EvaluateRun(string runFolder, ISplits? data = null, Action<string>? warn = null,
        bool raw = true, Action<string>? progress = null, string split = Test, ProbeSettings? probe = null, bool randomInit = true,
        bool recalibrateBatchNorm = false)
    {
        var (state, path) = Checkpoint.ReadState(runFolder, warn);
        var config = state.Config;
        Runtime.TorchRuntime.Initialize(config.Threads);
        data ??= DataSpec.ForRun(config.Data, state.Format).LoadAny(config.Table);
        if (data.Train is ImageDataset train && data.Test is ImageDataset t && (t.Channels != train.Channels || t.Height != train.Height || t.Width != train.Width))
            throw new InvalidOperationException($"test images are {t.Channels}×{t.Height}×{t.Width}, train images {train.Channels}×{train.Height}×{train.Width}");
        if (config.Table is not null && data.Train is TableDataset rows && !SameFeatures(config.Table, rows.Schema))
            throw new InvalidOperationException($"{data.Train.Source} was encoded with another schema than the run's; load it with the run's schema (DataSpec.LoadTable(config.Table))");

        var evaluated = SplitOf(data, split);
        using var encoder = LoadEncoder(path, config, data.Train);
        // For comparing on the same weights: re-estimate BatchNorm's statistics on clean training images first.
        if (recalibrateBatchNorm)
            BatchNormRecalibration.Run(encoder, data.Train, ModelFactory.Standardizer(config, data.Train, encoder.parameters().First().device), config.Seed);
        var pretrained = Score(encoder, "pretrained", data, config, [split], config.Seed, progress, probe)[0];

        ProtocolScores? random = null;
        if (randomInit)
        {
            manual_seed(config.Seed);
            using var randomEncoder = ModelFactory.BuildEncoder(config, data.Train);
            random = Score(randomEncoder, "random-init", data, config, [split], config.Seed, progress, probe)[0];
        }
        var rawScores = raw ? ScoreRaw(data, [split], config.Seed, progress, probe)[0] : null;

        var report = new EvaluationReport(config.Data, config.Objective.Method.ToString().ToLowerInvariant(), config.Encoder.ToString(),
            state.Step, data.Train.Count, evaluated.Count, pretrained, random, rawScores);
        RunFiles.WriteAllTextAtomic(Path.Combine(runFolder, RunFiles.EvaluationFileName), JsonSerializer.Serialize(report, PretrainConfig.Json));
        return report;
    }

    /// <summary>Whether two schemas encode rows the same way: the same features, kinds, statistics and categories.</summary>
    public static bool SameFeatures(TableSchema a, TableSchema b) =>
        a.Features.Count == b.Features.Count && a.Features.Zip(b.Features).All(p => p.First.Name == p.Second.Name && p.First.Kind == p.Second.Kind
            && p.First.Mean == p.Second.Mean && p.First.Std == p.Second.Std && p.First.Categories.SequenceEqual(p.Second.Categories));

    /// <summary>Rebuilds the run's objective from its config, loads the checkpoint's weights, and hands back the encoder.</summary>
    public static Encoder LoadEncoder(string checkpointPath, PretrainConfig config, IRecordSet like)
    {
        using var generator = new Generator((ulong)config.Seed);
        manual_seed(config.Seed);
        var encoder = ModelFactory.BuildEncoder(config, like);
        using var objective = ModelFactory.BuildObjective(config, encoder, like, generator);
        Checkpoint.LoadInto(checkpointPath, objective, null);
        // The objective's heads go with it; the encoder, registered inside it, outlives its disposal only if detached.
        var detached = ModelFactory.BuildEncoder(config, like);
        detached.load_state_dict(encoder.state_dict());
        return detached;
    }
}
