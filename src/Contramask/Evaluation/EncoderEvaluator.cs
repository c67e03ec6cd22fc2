using System.Text.Json;
using Contramask.Data;
using Contramask.Models;
using Contramask.Training;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>What <c>contramask evaluate</c> reports: the pretrained encoder beside the baselines, on the same split and protocol.</summary>
public sealed record EvaluationReport(string Data, string Method, string Encoder, long PretrainSteps, int TrainCount, int TestCount,
    ProtocolScores Pretrained, ProtocolScores RandomInit, ProtocolScores? Raw)
{
    public IEnumerable<ProtocolScores> All => Raw is null ? [Pretrained, RandomInit] : [Pretrained, RandomInit, Raw];
}

/// <summary>
/// Runs <see cref="EvaluationProtocol"/> on frozen features: a run's encoder, the same encoder with random
/// weights, the raw inputs (pixels, or standardized numbers + one-hot categories). Alignment uses two
/// contrastive-strength views of the first test records, the same views for every encoder, so the figures compare.
/// </summary>
public static class EncoderEvaluator
{
    public static ProtocolScores Score(Func<Tensor, Tensor> featurizer, string name, ISplits data, int seed = 0, Action<string>? progress = null)
    {
        var test = data.Test ?? throw new InvalidOperationException($"evaluation needs a test split ({data.Train.Source} has none)");
        if (!data.Train.HasLabels || !test.HasLabels)
            throw new InvalidOperationException($"evaluation needs labels in both splits ({data.Train.Source}, {test.Source})");
        int classes = Math.Max(data.Train.ClassCount, test.ClassCount);
        progress?.Invoke($"{name}: embedding {data.Train.Count + test.Count} records");
        using var trainFeatures = EmbeddingExtractor.Extract(featurizer, data.Train);
        using var testFeatures = EmbeddingExtractor.Extract(featurizer, test);
        var sample = Enumerable.Range(0, Math.Min(EvaluationProtocol.HealthSample, test.Count)).ToArray();
        using var g1 = new Generator((ulong)seed + 1);
        var view = AlignmentView(test, g1);
        using var first = EmbeddingExtractor.Extract(featurizer, test, sample, view: view);
        using var second = EmbeddingExtractor.Extract(featurizer, test, sample, view: view);
        return EvaluationProtocol.Run(name, trainFeatures, data.Train.Labels!, testFeatures, test.Labels!, classes, seed, (first, second), progress);
    }

    /// <summary>Scores an encoder of a run with this config (in eval mode, restored afterwards).</summary>
    public static ProtocolScores Score(Encoder encoder, string name, ISplits data, PretrainConfig config, int seed = 0, Action<string>? progress = null)
    {
        bool wasTraining = encoder.training;
        encoder.eval();
        try { return Score(ModelFactory.Featurizer(encoder, config, data.Train), name, data, seed, progress); }
        finally { if (wasTraining) encoder.train(); }
    }

    /// <summary>The raw-input baseline: pixels for images; standardized numbers, missing flags and one-hot categories for tables.</summary>
    public static ProtocolScores ScoreRaw(ISplits data, int seed = 0, Action<string>? progress = null) => data.Train is TableDataset table
        ? Score(EmbeddingExtractor.RawTableFeatures(new TableLayout(table.Schema)), "raw features", data, seed, progress)
        : Score(EmbeddingExtractor.RawPixels, "raw pixels", data, seed, progress);

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
    public static EvaluationReport EvaluateRun(string runFolder, ISplits? data = null, Action<string>? warn = null,
        bool raw = true, Action<string>? progress = null)
    {
        var (state, path) = Checkpoint.ReadState(runFolder, warn);
        var config = state.Config;
        Runtime.TorchRuntime.Initialize(config.Threads);
        data ??= DataSpec.Parse(config.Data).LoadAny(config.Table);
        if (data.Train is ImageDataset train && data.Test is ImageDataset t && (t.Channels != train.Channels || t.Height != train.Height || t.Width != train.Width))
            throw new InvalidOperationException($"test images are {t.Channels}×{t.Height}×{t.Width}, train images {train.Channels}×{train.Height}×{train.Width}");
        if (config.Table is not null && data.Train is TableDataset rows && !SameFeatures(config.Table, rows.Schema))
            throw new InvalidOperationException($"{data.Train.Source} was encoded with another schema than the run's; load it with the run's schema (DataSpec.LoadTable(config.Table))");

        using var encoder = LoadEncoder(path, config, data.Train);
        var pretrained = Score(encoder, "pretrained", data, config, config.Seed, progress);

        manual_seed(config.Seed);
        using var randomEncoder = ModelFactory.BuildEncoder(config, data.Train);
        var random = Score(randomEncoder, "random-init", data, config, config.Seed, progress);
        var rawScores = raw ? ScoreRaw(data, config.Seed, progress) : null;

        var report = new EvaluationReport(config.Data, config.Objective.Method.ToString().ToLowerInvariant(), config.Encoder.ToString(),
            state.Step, data.Train.Count, data.Test!.Count, pretrained, random, rawScores);
        RunFiles.WriteAllTextAtomic(Path.Combine(runFolder, RunFiles.EvaluationFileName), JsonSerializer.Serialize(report, PretrainConfig.Json));
        return report;
    }

    static bool SameFeatures(TableSchema a, TableSchema b) =>
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
