using Contramask.Data;
using Contramask.Objectives;
using Contramask.Training;

namespace Contramask.Evaluation;

/// <summary>One row of a comparison: a method's scores next to the random-init baseline of the same encoder.</summary>
public sealed record ComparisonRow(string Method, string Encoder, long Steps, double PretrainSeconds, ProtocolScores Pretrained, ProtocolScores RandomInit);

/// <summary>
/// Pretrains each method in turn on the same data with the same encoder and seed, and evaluates each: what
/// <c>contramask demo</c> prints.
/// <code>
/// var rows = MethodComparison.Run(DigitsDataset.Load(), "runs/demo", epochs: 30);
/// </code>
/// </summary>
public static class MethodComparison
{
    public static IReadOnlyList<ComparisonRow> Run(ISplits data, string outFolder, int epochs, string encoder = "convnet",
        string dataSpec = "digits", IEnumerable<Method>? methods = null, Func<Method, Func<Action<TrainingProgress>, PretrainResult>, PretrainResult>? runWithProgress = null,
        CancellationToken cancel = default)
    {
        var rows = new List<ComparisonRow>();
        foreach (var method in methods ?? [Method.Contrastive, Method.Masked, Method.Fusion])
        {
            var folder = Path.Combine(outFolder, method.ToString().ToLowerInvariant());
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            var config = PretrainConfig.DefaultsFor(data.Train, method, encoder) with { Epochs = epochs, Data = dataSpec };
            using var trainer = Pretrainer.Start(config, folder, data);
            var result = runWithProgress is null ? trainer.Run(null, cancel) : runWithProgress(method, report => trainer.Run(report, cancel));
            if (result.Status == RunStatus.Interrupted) break;
            var report = EncoderEvaluator.EvaluateRun(folder, data, raw: false);
            rows.Add(new ComparisonRow(method.ToString().ToLowerInvariant(), report.Encoder, result.Steps, result.Elapsed.TotalSeconds, report.Pretrained, report.RandomInit!));
        }
        return rows;
    }
}
