using Contramask.Evaluation;
using static TorchSharp.torch;

namespace Contramask.Tests;

public class MetricTests
{
    [Fact]
    public void Nmi_and_ari_of_a_perfect_clustering_are_one_whatever_the_numbering()
    {
        int[] labels = [0, 0, 1, 1, 2, 2, 2];
        int[] renamed = [5, 5, 3, 3, 9, 9, 9];
        Assert.Equal(1.0, ClusteringMetrics.NormalizedMutualInformation(labels, renamed), 12);
        Assert.Equal(1.0, ClusteringMetrics.AdjustedRandIndex(labels, renamed), 12);
    }

    [Fact]
    public void Nmi_and_ari_match_hand_computed_values()
    {
        // Clusters split class 1 in two. MI = H(labels) = ln 2; H(clusters) = 1.5 ln 2; NMI = ln2 / (1.25 ln 2) = 0.8.
        // ARI: Σ C(n_ij,2) = 1, Σ C(a_i,2) = 2, Σ C(b_j,2) = 1, C(4,2) = 6: (1 − 2/6) / (1.5 − 2/6) = 4/7.
        int[] labels = [0, 0, 1, 1];
        int[] clusters = [0, 0, 1, 2];
        Assert.Equal(0.8, ClusteringMetrics.NormalizedMutualInformation(labels, clusters), 12);
        Assert.Equal(4.0 / 7, ClusteringMetrics.AdjustedRandIndex(labels, clusters), 12);
    }

    [Fact]
    public void A_random_clustering_scores_near_zero()
    {
        var random = new Random(1);
        var labels = Enumerable.Range(0, 5000).Select(i => i % 10).ToArray();
        var clusters = Enumerable.Range(0, 5000).Select(_ => random.Next(10)).ToArray();
        Assert.InRange(ClusteringMetrics.AdjustedRandIndex(labels, clusters), -0.01, 0.01);
        Assert.InRange(ClusteringMetrics.NormalizedMutualInformation(labels, clusters), 0, 0.01);
    }

    [Fact]
    public void Kmeans_finds_well_separated_blobs()
    {
        using var g = new Generator(4);
        using var centres = tensor(new float[] { 0, 0, 10, 0, 0, 10, 10, 10 }).reshape(4, 2);
        var truth = Enumerable.Range(0, 400).Select(i => i % 4).ToArray();
        using var points = centres[tensor(truth.Select(t => (long)t).ToArray())] + randn(400, 2, generator: g) * 0.5f;
        var clustering = KMeans.Fit(points, 4, seed: 3);
        Assert.Equal(1.0, ClusteringMetrics.AdjustedRandIndex(truth, clustering.Assignments), 12);
        Assert.Equal(clustering.Assignments, KMeans.Fit(points, 4, seed: 3).Assignments);
    }

    [Fact]
    public void Uniformity_and_alignment_of_known_point_sets()
    {
        // Two antipodal unit vectors: ‖x − y‖² = 4, so uniformity = log exp(−2·4) = −8.
        using var antipodal = tensor(new float[] { 1, 0, -1, 0 }).reshape(2, 2);
        Assert.Equal(-8.0, RepresentationHealth.Uniformity(antipodal), 4);
        // All points equal: every distance 0, uniformity = log 1 = 0 (the collapsed worst case).
        using var same = tensor(new float[] { 3, 4, 3, 4, 3, 4 }).reshape(3, 2);
        Assert.Equal(0.0, RepresentationHealth.Uniformity(same), 5);
        // Alignment: identical views 0, orthogonal unit views 2 (after normalization, whatever the length).
        using var a = tensor(new float[] { 2, 0, 0, 5 }).reshape(2, 2);
        using var b = tensor(new float[] { 0, 1, 7, 0 }).reshape(2, 2);
        Assert.Equal(0.0, RepresentationHealth.Alignment(a, a), 6);
        Assert.Equal(2.0, RepresentationHealth.Alignment(a, b), 5);
    }

    [Fact]
    public void Effective_rank_counts_the_dimensions_in_use()
    {
        using var g = new Generator(2);
        // Four independent, equally scaled directions embedded in 16 dimensions → effective rank ≈ 4.
        using var basis = linalg.qr(randn(16, 16, generator: g)).Q[.., ..4];
        using var spread = randn(5000, 4, generator: g).matmul(basis.T);
        Assert.InRange(RepresentationHealth.EffectiveRank(spread), 3.9, 4.0001);
        // Collapsed onto one line → 1.
        using var line = randn(500, 1, generator: g) * tensor(new float[] { 1, 2, 3 }).unsqueeze(0);
        Assert.InRange(RepresentationHealth.EffectiveRank(line), 0.999, 1.01);
    }

    [Fact]
    public void Few_label_split_is_stratified_repeatable_and_keeps_every_class()
    {
        var labels = Enumerable.Range(0, 1000).Select(i => i < 700 ? 0 : i < 950 ? 1 : 2).ToArray();
        var tenth = FewLabelSplit.Stratified(labels, 0.1, seed: 7);
        Assert.Equal(70, tenth.Count(i => labels[i] == 0));
        Assert.Equal(25, tenth.Count(i => labels[i] == 1));
        Assert.Equal(5, tenth.Count(i => labels[i] == 2));
        Assert.Equal(tenth, FewLabelSplit.Stratified(labels, 0.1, seed: 7));
        Assert.NotEqual(tenth, FewLabelSplit.Stratified(labels, 0.1, seed: 8));
        var onePercent = FewLabelSplit.Stratified(labels, 0.01, seed: 7);
        Assert.Equal([7, 2, 1], new[] { 0, 1, 2 }.Select(c => onePercent.Count(i => labels[i] == c)).ToArray()); // round(0.5) = 0 → at least 1
        var (train, validation) = FewLabelSplit.TrainValidation(labels, 0.1, 7);
        Assert.Empty(train.Intersect(validation));
        Assert.Equal(1000, train.Length + validation.Length);
    }

    [Fact]
    public void Linear_probe_breaks_penalty_ties_by_held_out_cross_entropy_not_by_grid_order()
    {
        // Two far-apart classes, 40 labelled rows: every penalty classifies each held-out fold perfectly, so
        // accuracy ties; the weak penalty's sharper probabilities have the lower cross-entropy. Choosing on one
        // slice with a strict ">" kept whichever penalty came first in the grid (here the heavy one).
        using var g = new Generator(3);
        var labels = Enumerable.Range(0, 40).Select(i => (long)(i % 2)).ToArray();
        using var features = randn(40, 4, generator: g) + tensor(labels).unsqueeze(1).to_type(ScalarType.Float32) * 8;
        var (probe, l2) = LinearProbe.FitSelectingL2(features, labels, 2, settings: new ProbeSettings { L2Grid = [1, 1e-6] });
        using (probe) Assert.Equal(1e-6, l2);
    }

    [Fact]
    public void Few_label_probe_standardizes_by_the_features_it_is_given_and_survives_a_class_of_one()
    {
        using var g = new Generator(4);
        using var all = randn(200, 3, generator: g).mul_(3).add_(5);
        var labels = new long[] { 0, 0, 0, 1, 1, 1, 2 }; // class 2 has one row: no fold can hold it out
        using var few = all.narrow(0, 0, labels.Length);
        var (probe, l2) = LinearProbe.FitSelectingL2(few, labels, 3, standardizeBy: all);
        using (probe)
        {
            Assert.Equal(1e-4, l2); // the middle penalty when nothing can be held out
            using var expected = all.mean([0], keepdim: true);
            Assert.True(probe.State.Mean.allclose(expected));
        }
        // The one-slice path (here forced at 7 rows) must also see that the slice would take the class of one away.
        var (sliced, slicedL2) = LinearProbe.FitSelectingL2(few, labels, 3, settings: new ProbeSettings { CrossValidationBelow = 5, L2Grid = [1, 1e-6] });
        using (sliced) Assert.Equal(1e-4, slicedL2);
        var folds = FewLabelSplit.StratifiedFolds(Enumerable.Range(0, 50).Select(i => i % 2).ToArray(), 5, seed: 1);
        foreach (var c in new[] { 0, 1 })
            Assert.Equal(Enumerable.Range(0, 5), Enumerable.Range(0, 50).Where(i => i % 2 == c).Select(i => folds[i]).Distinct().Order());
    }

    [Fact]
    public void Linear_probe_chooses_its_penalty_from_the_grid()
    {
        using var g = new Generator(5);
        var labels = Enumerable.Range(0, 300).Select(i => (long)(i % 3)).ToArray();
        using var features = randn(300, 6, generator: g) + tensor(labels).unsqueeze(1).to_type(ScalarType.Float32) * 2;
        var (probe, l2) = LinearProbe.FitSelectingL2(features, labels, 3);
        using (probe)
        {
            Assert.Contains(l2, new ProbeSettings().L2Grid);
            Assert.True(probe.Accuracy(features, labels) > 0.9);
        }
    }

    [Fact]
    public void Penalties_fitted_together_give_the_probes_fitted_one_by_one()
    {
        // 300 rows in batches of 128: mini-batches in a shuffled order, as large probes run. Each stacked probe must
        // get its own penalty's gradient; a shared or swapped penalty, or a loss summed instead of averaged over rows,
        // moves the weights far beyond rounding. The reference is the probe's formula written out one fit at a time.
        using var g = new Generator(9);
        var labels = Enumerable.Range(0, 300).Select(i => (long)(i % 3)).ToArray();
        using var features = randn(300, 5, generator: g) + tensor(labels).unsqueeze(1).to_type(ScalarType.Float32);
        double[] l2s = [1e-6, 1e-1, 1];
        var together = LinearProbe.FitEach(features, labels, 3, l2s, epochs: 20, seed: 3, batchSize: 128);
        Assert.False(together[0].State.Weight.allclose(together[2].State.Weight, rtol: 0, atol: 1e-3));
        for (int i = 0; i < l2s.Length; i++)
        {
            var (weight, bias) = OneFit(features, labels, 3, l2s[i], epochs: 20, seed: 3, batchSize: 128);
            using var stacked = together[i];
            using (weight) Assert.True(stacked.State.Weight.allclose(weight, rtol: 0, atol: 1e-5), $"penalty {l2s[i]}: weights differ");
            using (bias) Assert.True(stacked.State.Bias.allclose(bias, rtol: 0, atol: 1e-5), $"penalty {l2s[i]}: biases differ");
        }
    }

    /// <summary>
    /// One linear probe fitted as LinearProbe documents it, written out independently: standardized rows, weights
    /// randn·0.01 then a permutation per pass from one generator, mean cross-entropy + l2·ΣW², Adam, cosine rate.
    /// </summary>
    static (Tensor Weight, Tensor Bias) OneFit(Tensor features, long[] labels, int classes, double l2, int epochs, int seed, int batchSize)
    {
        using var scope = NewDisposeScope();
        long n = features.shape[0];
        var x = (features - features.mean([0], keepdim: true)) / features.std(0, keepdim: true).clamp_min(1e-6);
        var y = tensor(labels);
        using var generator = new Generator((ulong)seed);
        var weight = nn.Parameter(randn(x.shape[1], classes, generator: generator) * 0.01);
        var bias = nn.Parameter(zeros(classes));
        var adam = optim.Adam([weight, bias], 0.01);
        int stepsPerEpoch = (int)((n + batchSize - 1) / batchSize);
        int steps = Math.Max(300, epochs * stepsPerEpoch);
        Tensor order = arange(n);
        for (int step = 0; step < steps; step++)
        {
            int position = step % stepsPerEpoch;
            if (position == 0) order = randperm(n, generator: generator);
            var index = order.narrow(0, position * batchSize, Math.Min(batchSize, n - position * batchSize));
            foreach (var group in adam.ParamGroups) group.LearningRate = 0.01 * 0.5 * (1 + Math.Cos(Math.PI * step / steps));
            adam.zero_grad();
            var loss = nn.functional.cross_entropy(x[index].mm(weight) + bias, y[index]) + weight.square().sum() * l2;
            loss.backward();
            adam.step();
        }
        return (weight.detach().MoveToOuterDisposeScope(), bias.detach().MoveToOuterDisposeScope());
    }
}
