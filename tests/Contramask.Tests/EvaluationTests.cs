using Contramask.Evaluation;
using static TorchSharp.torch;

namespace Contramask.Tests;

public class EvaluationTests
{
    /// <summary>Gaussian blobs around class centres drawn with <paramref name="centreSeed"/>; the points themselves with <paramref name="pointSeed"/>.</summary>
    static (Tensor Features, long[] Labels) Blobs(int perClass, int classes, int dim, float spread, int centreSeed, int pointSeed)
    {
        using var centreGenerator = new Generator((ulong)centreSeed);
        using var pointGenerator = new Generator((ulong)pointSeed);
        var centres = randn(classes, dim, generator: centreGenerator) * 5;
        var labels = Enumerable.Range(0, classes * perClass).Select(i => (long)(i % classes)).ToArray();
        var features = centres[tensor(labels)] + randn(labels.Length, dim, generator: pointGenerator) * spread;
        return (features, labels);
    }

    [Fact]
    public void Linear_probe_separates_a_linearly_separable_set_perfectly()
    {
        // Test points are new draws around the same centres, never copies of training points.
        var (train, trainLabels) = Blobs(50, 4, 8, 0.3f, centreSeed: 1, pointSeed: 10);
        var (test, testLabels) = Blobs(20, 4, 8, 0.3f, centreSeed: 1, pointSeed: 11);
        using var probe = LinearProbe.Fit(train, trainLabels, 4);
        Assert.Equal(1.0, probe.Accuracy(train, trainLabels));
        Assert.Equal(1.0, probe.Accuracy(test, testLabels));
    }

    [Fact]
    public void Linear_probe_is_at_chance_on_random_labels()
    {
        using var g = new Generator(2);
        using var features = randn(400, 8, generator: g);
        var labels = Enumerable.Range(0, 400).Select(i => (long)((i * 7919) % 4)).ToArray();
        using var test = randn(400, 8, generator: g);
        using var probe = LinearProbe.Fit(features, labels, 4);
        Assert.InRange(probe.Accuracy(test, labels), 0.1, 0.4);
    }

    [Fact]
    public void Knn_votes_by_weighted_cosine_neighbours()
    {
        // Bank: class 0 along +x, class 1 along +y. A query near +x is class 0 whatever its length (cosine).
        using var bank = tensor(new float[] { 1, 0, 2, 0.1f, 0, 1, 0.1f, 3 }).reshape(4, 2);
        long[] bankLabels = [0, 0, 1, 1];
        using var queries = tensor(new float[] { 10, 1, 0.2f, 5 }).reshape(2, 2);
        Assert.Equal([0L, 1L], KnnClassifier.Predict(bank, bankLabels, queries, k: 2, classes: 2));
        // With k = all, the exp(sim/0.1) weights still let the closer class win.
        Assert.Equal([0L, 1L], KnnClassifier.Predict(bank, bankLabels, queries, k: 4, classes: 2));
    }

    [Fact]
    public void Knn_reaches_full_accuracy_on_separated_blobs()
    {
        var (train, trainLabels) = Blobs(30, 5, 16, 0.2f, centreSeed: 3, pointSeed: 30);
        var (test, testLabels) = Blobs(10, 5, 16, 0.2f, centreSeed: 3, pointSeed: 31);
        Assert.Equal(1.0, KnnClassifier.Accuracy(train, trainLabels, test, testLabels, 20, 5));
        // With labels shuffled away from the geometry, the same probe is at chance: it reads the neighbours, not the points.
        var shuffled = trainLabels.ToArray();
        new Random(1).Shuffle(shuffled);
        Assert.InRange(KnnClassifier.Accuracy(train, shuffled, test, testLabels, 20, 5), 0.0, 0.5);
    }

    [Fact]
    public void Imbalanced_labels_get_balanced_accuracy_macro_f1_and_roc_auc_that_expose_a_majority_class_guess()
    {
        // 73 of class 0, 27 of class 1; a probe that always says 0 scores 73% accuracy and nothing else.
        var truth = Enumerable.Range(0, 100).Select(i => i < 73 ? 0 : 1).ToArray();
        var always = ClassificationScores.Compute(truth, truth.Select(_ => 0L).ToArray(), 2, truth.Select(_ => 0.3f).ToArray());
        Assert.Equal(0.73, always.Accuracy, 9);
        Assert.Equal(0.5, always.BalancedAccuracy, 9);
        Assert.Equal((2 * 0.73 / 1.73 + 0) / 2, always.MacroF1, 9);   // F1 of class 0 = 2·0.73·1/(0.73+1), of class 1 = 0
        Assert.Equal(0.5, always.RocAuc!.Value, 9);                    // constant score: no ranking at all
        // A perfect ranking with one error in the predictions.
        var predicted = truth.Select((t, i) => i == 0 ? 1L : t).ToArray();
        var scores = truth.Select((t, i) => t == 1 ? 0.9f : 0.1f + 0.001f * i).ToArray();
        var good = ClassificationScores.Compute(truth, predicted, 2, scores);
        Assert.Equal(0.99, good.Accuracy, 9);
        Assert.Equal((72.0 / 73 + 1) / 2, good.BalancedAccuracy, 9);
        Assert.Equal(1.0, good.RocAuc!.Value, 9);
        // Ties count half: half the negatives tie with every positive.
        var tied = ClassificationScores.AreaUnderRoc([0, 0, 1, 1], [0.5f, 0.1f, 0.5f, 0.5f]);
        Assert.Equal(0.75, tied!.Value, 9);
    }

    [Fact]
    public void The_credit_tables_72_28_split_counts_as_imbalanced_and_mnist_or_letter_do_not()
    {
        Assert.True(ProtocolScores.IsImbalanced(0.72, 2));      // credit: "good" is 72% of the rows
        Assert.True(ProtocolScores.IsImbalanced(0.73, 2));
        Assert.False(ProtocolScores.IsImbalanced(0.55, 2));
        Assert.False(ProtocolScores.IsImbalanced(0.1135, 10));  // MNIST test: the largest digit (1) is 11.35%
        Assert.False(ProtocolScores.IsImbalanced(0.042, 26));   // Letter test
        Assert.False(ProtocolScores.IsImbalanced(1.0, 1));
    }

    [Fact]
    public void Health_figures_use_a_seeded_random_sample_not_the_first_records()
    {
        // Folders list records class by class: the first 2,000 of 10,000 would all be class 0 and 1.
        var sample = EvaluationProtocol.HealthSampleOf(10_000, seed: 4);
        Assert.Equal(EvaluationProtocol.HealthSample, sample.Length);
        Assert.Equal(sample, EvaluationProtocol.HealthSampleOf(10_000, seed: 4));
        Assert.True(sample.Max() > 9_000 && sample.Min() < 1_000, "the sample must span the whole split");
        Assert.Equal(sample.Length, sample.Distinct().Count());
    }
}
