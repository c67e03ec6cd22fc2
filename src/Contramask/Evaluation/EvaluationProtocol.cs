using System.Diagnostics;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>
/// The evaluation protocol on frozen embeddings (DESIGN.md §4), for any features (an encoder's, raw pixels'):
/// linear probe (L2 chosen on a validation slice of train), kNN with k = 20 and 200, the same two probes with a
/// stratified 1% and 10% of the training labels (3 seeded draws each), k-means on the test embeddings with
/// k = number of classes (NMI, ARI), and representation health (alignment, uniformity, effective rank).
/// </summary>
public static class EvaluationProtocol
{
    public static readonly double[] FewLabelFractions = [0.01, 0.10];
    public const int FewLabelDraws = 3;
    /// <summary>Uniformity and effective rank use this many test embeddings (pairwise cost grows as n²).</summary>
    public const int HealthSample = 2000;

    /// <param name="viewPairs">Embeddings of two augmented views of the same test images, for alignment; optional.</param>
    public static ProtocolScores Run(string name, Tensor trainFeatures, int[] trainLabels, Tensor testFeatures, int[] testLabels,
        int classes, int seed = 0, (Tensor First, Tensor Second)? viewPairs = null, Action<string>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        var trainY = trainLabels.Select(l => (long)l).ToArray();
        var testY = testLabels.Select(l => (long)l).ToArray();

        progress?.Invoke($"{name}: linear probe");
        var (probe, l2) = LinearProbe.FitSelectingL2(trainFeatures, trainY, classes, seed);
        double linear;
        using (probe) linear = probe.Accuracy(testFeatures, testY);
        progress?.Invoke($"{name}: kNN");
        double knn20 = KnnClassifier.Accuracy(trainFeatures, trainY, testFeatures, testY, 20, classes);
        double knn200 = KnnClassifier.Accuracy(trainFeatures, trainY, testFeatures, testY, 200, classes);

        var few = new Dictionary<(double, string), List<double>>();
        foreach (var fraction in FewLabelFractions)
            for (int draw = 0; draw < FewLabelDraws; draw++)
            {
                progress?.Invoke($"{name}: {fraction:P0} labels, draw {draw + 1}");
                var subset = FewLabelSplit.Stratified(trainLabels, fraction, seed + 1000 * (draw + 1));
                using var x = trainFeatures.index_select(0, tensor(subset.Select(i => (long)i).ToArray()));
                var y = subset.Select(i => trainY[i]).ToArray();
                var (fewProbe, _) = LinearProbe.FitSelectingL2(x, y, classes, seed + draw);
                using (fewProbe) Add(few, (fraction, "linear"), fewProbe.Accuracy(testFeatures, testY));
                Add(few, (fraction, "knn20"), KnnClassifier.Accuracy(x, y, testFeatures, testY, 20, classes));
            }

        progress?.Invoke($"{name}: k-means");
        using var normalizedTest = nn.functional.normalize(testFeatures, dim: 1);
        var clustering = KMeans.Fit(normalizedTest, classes, seed: seed);
        int sample = (int)Math.Min(HealthSample, testFeatures.shape[0]);
        using var healthFeatures = testFeatures.narrow(0, 0, sample);

        return new ProtocolScores
        {
            Name = name,
            Dimensions = (int)trainFeatures.shape[1],
            Linear = linear,
            LinearL2 = l2,
            Knn20 = knn20,
            Knn200 = knn200,
            Linear1Pct = Mean(few[(0.01, "linear")]), Linear1PctStd = Std(few[(0.01, "linear")]),
            Linear10Pct = Mean(few[(0.10, "linear")]), Linear10PctStd = Std(few[(0.10, "linear")]),
            Knn20_1Pct = Mean(few[(0.01, "knn20")]), Knn20_1PctStd = Std(few[(0.01, "knn20")]),
            Knn20_10Pct = Mean(few[(0.10, "knn20")]), Knn20_10PctStd = Std(few[(0.10, "knn20")]),
            Nmi = ClusteringMetrics.NormalizedMutualInformation(testLabels, clustering.Assignments),
            Ari = ClusteringMetrics.AdjustedRandIndex(testLabels, clustering.Assignments),
            Alignment = viewPairs is var (a, b) ? RepresentationHealth.Alignment(a, b) : null,
            Uniformity = RepresentationHealth.Uniformity(healthFeatures),
            EffectiveRank = RepresentationHealth.EffectiveRank(healthFeatures),
            Seconds = clock.Elapsed.TotalSeconds,
        };
    }

    static void Add(Dictionary<(double, string), List<double>> d, (double, string) key, double value)
    {
        if (!d.TryGetValue(key, out var list)) d[key] = list = [];
        list.Add(value);
    }

    static double Mean(List<double> values) => values.Average();
    static double Std(List<double> values)
    {
        double mean = values.Average();
        return values.Count < 2 ? 0 : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }
}
