using Contramask.Evaluation;
using static TorchSharp.torch;

namespace Contramask.Tests;

public class EvaluationTests
{
    static (Tensor Features, long[] Labels) Blobs(int perClass, int classes, int dim, float spread, int seed)
    {
        using var g = new Generator((ulong)seed);
        var centres = randn(classes, dim, generator: g) * 5;
        var labels = Enumerable.Range(0, classes * perClass).Select(i => (long)(i % classes)).ToArray();
        var features = centres[tensor(labels)] + randn(labels.Length, dim, generator: g) * spread;
        return (features, labels);
    }

    [Fact]
    public void Linear_probe_separates_a_linearly_separable_set_perfectly()
    {
        var (train, trainLabels) = Blobs(50, 4, 8, 0.3f, 1);
        var (test, testLabels) = Blobs(20, 4, 8, 0.3f, 1);
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
        var (train, trainLabels) = Blobs(30, 5, 16, 0.2f, 3);
        var (test, testLabels) = Blobs(10, 5, 16, 0.2f, 3);
        Assert.Equal(1.0, KnnClassifier.Accuracy(train, trainLabels, test, testLabels, 20, 5));
    }
}
