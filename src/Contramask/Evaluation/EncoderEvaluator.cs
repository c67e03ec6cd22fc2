using System.Text.Json;
using Contramask.Data;
using Contramask.Models;
using Contramask.Training;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>Scores of one encoder on the test split.</summary>
public sealed record EncoderScores(string Encoder, double Knn20, double LinearProbe, double Seconds);

/// <summary>What <c>contramask evaluate</c> reports: the pretrained encoder next to the same encoder with random weights.</summary>
public sealed record EvaluationReport(string Data, string Method, string Encoder, long PretrainSteps, int TrainCount, int TestCount,
    EncoderScores Pretrained, EncoderScores RandomInit);

/// <summary>
/// First evaluation protocol (DESIGN.md §4): frozen embeddings of train and test; kNN (k = 20, cosine,
/// exp(sim/0.1) votes, train as the bank) and a linear probe, both reporting test accuracy.
/// </summary>
public static class EncoderEvaluator
{
    public static EncoderScores Score(ImageEncoder encoder, string name, DataSplits data, ImageNormalization normalization, int seed = 0)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var test = data.Test ?? throw new InvalidOperationException("evaluation needs a test split");
        if (!data.Train.HasLabels || !test.HasLabels)
            throw new InvalidOperationException($"evaluation needs labels in both splits ({data.Train.Source}, {test.Source})");
        int classes = Math.Max(data.Train.ClassCount, test.ClassCount);
        using var trainFeatures = EmbeddingExtractor.Extract(encoder, data.Train, normalization);
        using var testFeatures = EmbeddingExtractor.Extract(encoder, test, normalization);
        var trainLabels = data.Train.Labels!.Select(l => (long)l).ToArray();
        var testLabels = test.Labels!.Select(l => (long)l).ToArray();
        double knn = KnnClassifier.Accuracy(trainFeatures, trainLabels, testFeatures, testLabels, 20, classes);
        using var probe = LinearProbe.Fit(trainFeatures, trainLabels, classes, seed: seed);
        double linear = probe.Accuracy(testFeatures, testLabels);
        return new EncoderScores(name, knn, linear, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Evaluates a run folder's encoder and a random-init twin; writes <c>evaluation.json</c> into the run.</summary>
    public static EvaluationReport EvaluateRun(string runFolder, DataSplits? data = null, Action<string>? warn = null)
    {
        var (state, path) = Checkpoint.ReadState(runFolder, warn);
        var config = state.Config;
        Runtime.TorchRuntime.Initialize(config.Threads);
        data ??= DataSpec.Parse(config.Data).Load();
        var normalization = config.Normalization ?? ImageNormalization.FromDataset(data.Train);
        var train = data.Train;

        using var generator = new Generator((ulong)config.Seed);
        manual_seed(config.Seed);
        using var objective = Objectives.SelfSupervisedObjective.Create(config.Objective,
            config.Encoder.Build(train.Channels, train.Height, train.Width), train.Channels, train.Height, train.Width, config.Patch, generator);
        Checkpoint.LoadInto(path, objective, null);
        var pretrained = Score(objective.Encoder, "pretrained", data, normalization, config.Seed);

        manual_seed(config.Seed);
        using var randomEncoder = config.Encoder.Build(train.Channels, train.Height, train.Width);
        var random = Score(randomEncoder, "random-init", data, normalization, config.Seed);

        var report = new EvaluationReport(config.Data, config.Objective.Method.ToString().ToLowerInvariant(), config.Encoder.ToString(),
            state.Step, train.Count, data.Test!.Count, pretrained, random);
        RunFiles.WriteAllTextAtomic(Path.Combine(runFolder, RunFiles.EvaluationFileName), JsonSerializer.Serialize(report, PretrainConfig.Json));
        return report;
    }
}
