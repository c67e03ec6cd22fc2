using System.Text.Json.Serialization;
using Contramask.Evaluation;

namespace Contramask.Classification;

/// <summary>
/// How a classifier did on one labelled split: accuracy, balanced accuracy, macro-F1 (<see cref="ClassificationScores"/>),
/// the confusion matrix (rows: true class, columns: predicted), the mean negative log-likelihood, and the expected
/// calibration error: the confidence-weighted gap between confidence and accuracy over 15 equal-width confidence bins
/// (Guo et al. 2017, "On Calibration of Modern Neural Networks", eq. 3).
/// </summary>
public sealed record ClassifierScores
{
    [JsonPropertyName("split")] public required string Split { get; init; }
    [JsonPropertyName("count")] public int Count { get; init; }
    [JsonPropertyName("accuracy")] public double Accuracy { get; init; }
    [JsonPropertyName("balanced_accuracy")] public double BalancedAccuracy { get; init; }
    [JsonPropertyName("macro_f1")] public double MacroF1 { get; init; }
    [JsonPropertyName("roc_auc")] public double? RocAuc { get; init; }
    [JsonPropertyName("ece")] public double ExpectedCalibrationError { get; init; }
    [JsonPropertyName("nll")] public double NegativeLogLikelihood { get; init; }
    [JsonPropertyName("confusion")] public required int[][] Confusion { get; init; }

    public const int CalibrationBins = 15;

    /// <param name="probabilities">N×C class probabilities, row-major.</param>
    public static ClassifierScores Compute(string split, float[] probabilities, int classes, IReadOnlyList<int> truth)
    {
        int n = truth.Count;
        if (probabilities.Length != (long)n * classes) throw new ArgumentException($"{probabilities.Length} probabilities for {n} records of {classes} classes");
        var predicted = new long[n];
        var confidence = new double[n];
        var confusion = Enumerable.Range(0, classes).Select(_ => new int[classes]).ToArray();
        double nll = 0;
        for (int i = 0; i < n; i++)
        {
            var row = probabilities.AsSpan(i * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
            predicted[i] = best;
            confidence[i] = row[best];
            confusion[truth[i]][best]++;
            nll -= Math.Log(Math.Max(row[truth[i]], 1e-12));
        }
        var scores = ClassificationScores.Compute(truth, predicted, classes,
            classes == 2 ? Enumerable.Range(0, n).Select(i => probabilities[i * 2 + 1]).ToArray() : null);
        return new ClassifierScores
        {
            Split = split,
            Count = n,
            Accuracy = scores.Accuracy,
            BalancedAccuracy = scores.BalancedAccuracy,
            MacroF1 = scores.MacroF1,
            RocAuc = scores.RocAuc,
            ExpectedCalibrationError = CalibrationError(confidence, Enumerable.Range(0, n).Select(i => predicted[i] == truth[i]).ToArray()),
            NegativeLogLikelihood = n == 0 ? 0 : nll / n,
            Confusion = confusion,
        };
    }

    /// <summary>Σ_b |B_b|/n · |accuracy(B_b) − mean confidence(B_b)| over equal-width bins of the top-class confidence.</summary>
    public static double CalibrationError(IReadOnlyList<double> confidence, IReadOnlyList<bool> correct, int bins = CalibrationBins)
    {
        int n = confidence.Count;
        if (n == 0) return 0;
        var count = new int[bins];
        var right = new double[bins];
        var sure = new double[bins];
        for (int i = 0; i < n; i++)
        {
            // Bin b holds confidences in (b/B, (b+1)/B]; a confidence of exactly 0 joins the first bin.
            int b = Math.Clamp((int)Math.Ceiling(confidence[i] * bins) - 1, 0, bins - 1);
            count[b]++;
            right[b] += correct[i] ? 1 : 0;
            sure[b] += confidence[i];
        }
        double ece = 0;
        for (int b = 0; b < bins; b++)
            if (count[b] > 0) ece += Math.Abs(right[b] - sure[b]) / n;
        return ece;
    }
}
