using System.Text.Json;
using Contramask.Data;
using Contramask.Models;
using Contramask.Training;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>What <c>contramask evaluate</c> reports: the pretrained encoder beside the baselines, on the same split and protocol.</summary>
public sealed record EvaluationReport(string Data, string Method, string Encoder, long PretrainSteps, int TrainCount, int TestCount,
    ProtocolScores Pretrained, ProtocolScores RandomInit, ProtocolScores? RawPixels)
{
    public IEnumerable<ProtocolScores> All => RawPixels is null ? [Pretrained, RandomInit] : [Pretrained, RandomInit, RawPixels];
}

/// <summary>
/// Runs <see cref="EvaluationProtocol"/> on frozen features: a run's encoder, the same encoder with random
/// weights, raw pixels. Alignment uses two contrastive-strength views of the first test images, the same views
/// for every encoder, so the figures compare.
/// </summary>
public static class EncoderEvaluator
{
    public static ProtocolScores Score(Func<Tensor, Tensor> featurizer, string name, DataSplits data, int seed = 0, Action<string>? progress = null)
    {
        var test = data.Test ?? throw new InvalidOperationException($"evaluation needs a test split ({data.Train.Source} has none)");
        if (!data.Train.HasLabels || !test.HasLabels)
            throw new InvalidOperationException($"evaluation needs labels in both splits ({data.Train.Source}, {test.Source})");
        int classes = Math.Max(data.Train.ClassCount, test.ClassCount);
        progress?.Invoke($"{name}: embedding {data.Train.Count + test.Count} images");
        using var trainFeatures = EmbeddingExtractor.Extract(featurizer, data.Train);
        using var testFeatures = EmbeddingExtractor.Extract(featurizer, test);
        var sample = Enumerable.Range(0, Math.Min(EvaluationProtocol.HealthSample, test.Count)).ToArray();
        var views = AugmentationOptions.Contrastive(test.Channels);
        using var g1 = new Generator((ulong)seed + 1);
        using var first = EmbeddingExtractor.Extract(featurizer, test, sample, augmenter: new ImageAugmenter(views, g1));
        using var second = EmbeddingExtractor.Extract(featurizer, test, sample, augmenter: new ImageAugmenter(views, g1));
        return EvaluationProtocol.Run(name, trainFeatures, data.Train.Labels!, testFeatures, test.Labels!, classes, seed, (first, second), progress);
    }

    public static ProtocolScores Score(ImageEncoder encoder, string name, DataSplits data, ImageNormalization normalization, int seed = 0, Action<string>? progress = null)
    {
        bool wasTraining = encoder.training;
        encoder.eval();
        try { return Score(EmbeddingExtractor.Featurizer(encoder, normalization), name, data, seed, progress); }
        finally { if (wasTraining) encoder.train(); }
    }

    public static ProtocolScores ScoreRawPixels(DataSplits data, int seed = 0, Action<string>? progress = null) =>
        Score(EmbeddingExtractor.RawPixels, "raw pixels", data, seed, progress);

    /// <summary>
    /// Evaluates a run folder's encoder, a random-init twin and (if asked) raw pixels; writes
    /// <c>evaluation.json</c> into the run.
    /// </summary>
    public static EvaluationReport EvaluateRun(string runFolder, DataSplits? data = null, Action<string>? warn = null,
        bool rawPixels = true, Action<string>? progress = null)
    {
        var (state, path) = Checkpoint.ReadState(runFolder, warn);
        var config = state.Config;
        Runtime.TorchRuntime.Initialize(config.Threads);
        data ??= DataSpec.Parse(config.Data).Load();
        var normalization = config.Normalization ?? ImageNormalization.FromDataset(data.Train);
        var train = data.Train;
        if (data.Test is { } t && (t.Channels != train.Channels || t.Height != train.Height || t.Width != train.Width))
            throw new InvalidOperationException($"test images are {t.Channels}×{t.Height}×{t.Width}, train images {train.Channels}×{train.Height}×{train.Width}");

        using var encoder = LoadEncoder(path, config, train);
        var pretrained = Score(encoder, "pretrained", data, normalization, config.Seed, progress);

        manual_seed(config.Seed);
        using var randomEncoder = config.Encoder.Build(train.Channels, train.Height, train.Width);
        var random = Score(randomEncoder, "random-init", data, normalization, config.Seed, progress);
        var raw = rawPixels ? ScoreRawPixels(data, config.Seed, progress) : null;

        var report = new EvaluationReport(config.Data, config.Objective.Method.ToString().ToLowerInvariant(), config.Encoder.ToString(),
            state.Step, train.Count, data.Test!.Count, pretrained, random, raw);
        RunFiles.WriteAllTextAtomic(Path.Combine(runFolder, RunFiles.EvaluationFileName), JsonSerializer.Serialize(report, PretrainConfig.Json));
        return report;
    }

    /// <summary>Rebuilds the run's objective from its config, loads the checkpoint's weights, and hands back the encoder.</summary>
    public static ImageEncoder LoadEncoder(string checkpointPath, PretrainConfig config, ImageDataset like)
    {
        using var generator = new Generator((ulong)config.Seed);
        manual_seed(config.Seed);
        var encoder = config.Encoder.Build(like.Channels, like.Height, like.Width);
        using var objective = Objectives.SelfSupervisedObjective.Create(config.Objective, encoder, like.Channels, like.Height, like.Width, config.Patch, generator);
        Checkpoint.LoadInto(checkpointPath, objective, null);
        // The objective's heads go with it; the encoder, registered inside it, outlives its disposal only if detached.
        var detached = config.Encoder.Build(like.Channels, like.Height, like.Width);
        detached.load_state_dict(encoder.state_dict());
        return detached;
    }
}
