using System.Text.Json.Serialization;

namespace Contramask.Evaluation;

/// <summary>
/// How well one probe's predictions match the labels. Accuracy alone hides failure when one class dominates (a
/// classifier that always answers the majority class scores its share), so beside it: balanced accuracy (the mean
/// of per-class recalls; Brodersen et al. 2010), macro-F1 (the unweighted mean of per-class F1), and with two
/// classes the ROC-AUC of the probe's score for the second class (Mann–Whitney U / (n₊·n₋), ties counted half).
/// </summary>
public sealed record ClassificationScores
{
    [JsonPropertyName("accuracy")] public double Accuracy { get; init; }
    [JsonPropertyName("balanced_accuracy")] public double BalancedAccuracy { get; init; }
    [JsonPropertyName("macro_f1")] public double MacroF1 { get; init; }
    [JsonPropertyName("roc_auc")] public double? RocAuc { get; init; }

    /// <param name="truth">True classes.</param>
    /// <param name="predicted">Predicted classes.</param>
    /// <param name="positiveScore">With two classes: the probe's score for class 1 per record (for ROC-AUC); else null.</param>
    public static ClassificationScores Compute(IReadOnlyList<int> truth, IReadOnlyList<long> predicted, int classes, IReadOnlyList<float>? positiveScore = null)
    {
        if (truth.Count != predicted.Count) throw new ArgumentException($"{truth.Count} labels but {predicted.Count} predictions");
        var support = new int[classes];
        var predictedCount = new int[classes];
        var correct = new int[classes];
        int right = 0;
        for (int i = 0; i < truth.Count; i++)
        {
            int t = truth[i], p = (int)predicted[i];
            support[t]++;
            if (p >= 0 && p < classes) predictedCount[p]++;
            if (t == p) { correct[t]++; right++; }
        }
        var present = Enumerable.Range(0, classes).Where(c => support[c] > 0).ToArray();
        double balanced = present.Length == 0 ? 0 : present.Average(c => (double)correct[c] / support[c]);
        // F1 over the classes that occur in the labels (scikit-learn's macro average over present labels).
        double macroF1 = present.Length == 0 ? 0 : present.Average(c =>
        {
            double precision = predictedCount[c] == 0 ? 0 : (double)correct[c] / predictedCount[c];
            double recall = (double)correct[c] / support[c];
            return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
        });
        return new ClassificationScores
        {
            Accuracy = truth.Count == 0 ? 0 : (double)right / truth.Count,
            BalancedAccuracy = balanced,
            MacroF1 = macroF1,
            RocAuc = classes == 2 && positiveScore is not null ? AreaUnderRoc(truth, positiveScore) : null,
        };
    }

    /// <summary>Area under the ROC curve of <paramref name="score"/> for class 1 against class 0; null when a class is absent.</summary>
    public static double? AreaUnderRoc(IReadOnlyList<int> truth, IReadOnlyList<float> score)
    {
        // Rank all scores (average ranks for ties); U = sum of positive ranks − n₊(n₊+1)/2.
        var order = Enumerable.Range(0, truth.Count).OrderBy(i => score[i]).ToArray();
        var rank = new double[truth.Count];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && score[order[end + 1]] == score[order[start]]) end++;
            double average = (start + end) / 2.0 + 1;
            for (int j = start; j <= end; j++) rank[order[j]] = average;
            start = end + 1;
        }
        long positives = truth.Count(t => t == 1), negatives = truth.Count(t => t == 0);
        if (positives == 0 || negatives == 0) return null;
        double sum = Enumerable.Range(0, truth.Count).Where(i => truth[i] == 1).Sum(i => rank[i]);
        return (sum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }

    /// <summary>The mean of several draws' scores (few-label protocol).</summary>
    public static ClassificationScores Mean(IReadOnlyList<ClassificationScores> draws) => new()
    {
        Accuracy = draws.Average(d => d.Accuracy),
        BalancedAccuracy = draws.Average(d => d.BalancedAccuracy),
        MacroF1 = draws.Average(d => d.MacroF1),
        RocAuc = draws.All(d => d.RocAuc is not null) && draws.Count > 0 ? draws.Average(d => d.RocAuc!.Value) : null,
    };
}
