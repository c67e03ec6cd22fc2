using System.Diagnostics;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>Embeddings of one split to score: its name ("val" or "test"), features, labels and, optionally, two views of a sample of it.</summary>
public sealed record EvaluationSet(string Split, Tensor Features, int[] Labels, (Tensor First, Tensor Second)? ViewPairs = null, int[]? HealthSample = null);

/// <summary>
/// The evaluation protocol on frozen embeddings (docs/EVALUATION.md), for any features (an encoder's, raw pixels'):
/// probes fitted on the training split only: linear probe (L2 chosen by cross-validation or a slice of train), kNN with
/// k = 20 and 200, the same two probes with a stratified 1% and 10% of the training labels (3 seeded draws each);
/// then, on each split scored (validation and/or test): their accuracy, balanced accuracy, macro-F1 and ROC-AUC,
/// k-means with k = number of classes (NMI, ARI), and representation health (alignment, uniformity, effective rank
/// on a seeded random sample).
/// </summary>
public static class EvaluationProtocol
{
    public static readonly double[] FewLabelFractions = [0.01, 0.10];
    public const int FewLabelDraws = 3;
    /// <summary>Uniformity and effective rank use a seeded random sample of this many embeddings (pairwise cost grows as n²).</summary>
    public const int HealthSample = 2000;

    /// <summary>The positions of the health sample of a split of <paramref name="count"/> records: seeded, random, ascending.</summary>
    public static int[] HealthSampleOf(int count, int seed)
    {
        if (count <= HealthSample) return Enumerable.Range(0, count).ToArray();
        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        return order[..HealthSample].Order().ToArray();
    }

    /// <summary>One split: the protocol with its probes scored on <paramref name="testFeatures"/>.</summary>
    public static ProtocolScores Run(string name, Tensor trainFeatures, int[] trainLabels, Tensor testFeatures, int[] testLabels,
        int classes, int seed = 0, (Tensor First, Tensor Second)? viewPairs = null, Action<string>? progress = null) =>
        Run(name, trainFeatures, trainLabels, [new EvaluationSet("test", testFeatures, testLabels, viewPairs)], classes, seed, progress)[0];

    /// <summary>Fits every probe once on the training features and scores it on each set.</summary>
    public static IReadOnlyList<ProtocolScores> Run(string name, Tensor trainFeatures, int[] trainLabels, IReadOnlyList<EvaluationSet> sets,
        int classes, int seed = 0, Action<string>? progress = null, ProbeSettings? probeSettings = null)
    {
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        var trainY = trainLabels.Select(l => (long)l).ToArray();
        // probe → split → scores (few-label probes: one entry per draw)
        var results = sets.ToDictionary(s => s.Split, _ => new Dictionary<string, List<ClassificationScores>>());
        void Score(string probe, Func<Tensor, (long[] Predicted, float[]? Positive)> classify)
        {
            foreach (var set in sets)
            {
                var (predicted, positive) = classify(set.Features);
                var scores = ClassificationScores.Compute(set.Labels, predicted, classes, positive);
                if (!results[set.Split].TryGetValue(probe, out var list)) results[set.Split][probe] = list = [];
                list.Add(scores);
            }
        }

        progress?.Invoke($"{name}: linear probe");
        var (probe, l2) = LinearProbe.FitSelectingL2(trainFeatures, trainY, classes, seed, settings: probeSettings);
        using (probe) Score("linear", probe.Classify);
        progress?.Invoke($"{name}: kNN");
        Score("knn20", q => KnnClassifier.Classify(trainFeatures, trainY, q, 20, classes));
        Score("knn200", q => KnnClassifier.Classify(trainFeatures, trainY, q, 200, classes));

        foreach (var fraction in FewLabelFractions)
            for (int draw = 0; draw < FewLabelDraws; draw++)
            {
                progress?.Invoke($"{name}: {fraction:P0} labels, draw {draw + 1}");
                var subset = FewLabelSplit.Stratified(trainLabels, fraction, seed + 1000 * (draw + 1));
                using var x = trainFeatures.index_select(0, tensor(subset.Select(i => (long)i).ToArray()));
                var y = subset.Select(i => trainY[i]).ToArray();
                string percent = $"{Math.Round(fraction * 100)}pct";
                // Standardized by every training embedding: the unlabelled rest is there in this setting and needs no labels.
                var (fewProbe, _) = LinearProbe.FitSelectingL2(x, y, classes, seed + draw, probeSettings, standardizeBy: trainFeatures);
                using (fewProbe) Score($"linear_{percent}", fewProbe.Classify);
                Score($"knn20_{percent}", q => KnnClassifier.Classify(x, y, q, 20, classes));
            }

        var output = new List<ProtocolScores>();
        foreach (var set in sets)
        {
            progress?.Invoke($"{name}: k-means ({set.Split})");
            using var normalized = nn.functional.normalize(set.Features, dim: 1);
            var clustering = KMeans.Fit(normalized, classes, seed: seed);
            var sample = set.HealthSample ?? HealthSampleOf((int)set.Features.shape[0], seed);
            using var healthFeatures = set.Features.index_select(0, tensor(sample.Select(i => (long)i).ToArray()));
            var probes = results[set.Split];
            (double Mean, double Std) Accuracy(string key) => (probes[key].Average(s => s.Accuracy), Std(probes[key].Select(s => s.Accuracy).ToList()));
            output.Add(new ProtocolScores
            {
                Name = name,
                Split = set.Split,
                Dimensions = (int)trainFeatures.shape[1],
                Classes = classes,
                MajorityRate = set.Labels.Length == 0 ? 0 : set.Labels.GroupBy(l => l).Max(g => g.Count()) / (double)set.Labels.Length,
                Linear = Accuracy("linear").Mean,
                LinearL2 = l2,
                Knn20 = Accuracy("knn20").Mean,
                Knn200 = Accuracy("knn200").Mean,
                Linear1Pct = Accuracy("linear_1pct").Mean, Linear1PctStd = Accuracy("linear_1pct").Std,
                Linear10Pct = Accuracy("linear_10pct").Mean, Linear10PctStd = Accuracy("linear_10pct").Std,
                Knn20_1Pct = Accuracy("knn20_1pct").Mean, Knn20_1PctStd = Accuracy("knn20_1pct").Std,
                Knn20_10Pct = Accuracy("knn20_10pct").Mean, Knn20_10PctStd = Accuracy("knn20_10pct").Std,
                Probes = probes.ToDictionary(p => p.Key, p => ClassificationScores.Mean(p.Value)),
                Nmi = ClusteringMetrics.NormalizedMutualInformation(set.Labels, clustering.Assignments),
                Ari = ClusteringMetrics.AdjustedRandIndex(set.Labels, clustering.Assignments),
                Alignment = set.ViewPairs is var (a, b) ? RepresentationHealth.Alignment(a, b) : null,
                Uniformity = RepresentationHealth.Uniformity(healthFeatures),
                EffectiveRank = RepresentationHealth.EffectiveRank(healthFeatures),
                Seconds = clock.Elapsed.TotalSeconds,
            });
        }
        return output;
    }

    static double Std(List<double> values)
    {
        double mean = values.Average();
        return values.Count < 2 ? 0 : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }
}
