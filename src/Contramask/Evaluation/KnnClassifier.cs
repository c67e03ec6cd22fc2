using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Evaluation;

/// <summary>
/// Weighted k-nearest-neighbour classification on cosine similarity, the protocol of InstDisc (Wu et al. 2018)
/// used by lightly and solo-learn: each of the k most similar training embeddings votes for its label with weight
/// exp(similarity / τ), τ = 0.1.
/// </summary>
public static class KnnClassifier
{
    public static long[] Predict(Tensor bank, long[] bankLabels, Tensor queries, int k, int classes, double temperature = 0.1) =>
        Classify(bank, bankLabels, queries, k, classes, temperature).Predicted;

    /// <summary>Predicted classes, and with two classes each query's vote share for class 1 (a score for ROC-AUC).</summary>
    public static (long[] Predicted, float[]? PositiveShare) Classify(Tensor bank, long[] bankLabels, Tensor queries, int k, int classes, double temperature = 0.1)
    {
        using var scope = NewDisposeScope();
        k = Math.Min(k, (int)bank.shape[0]);
        var normalizedBank = F.normalize(bank, dim: 1);
        var labels = tensor(bankLabels).to(bank.device);
        var predictions = new List<long>();
        var shares = classes == 2 ? new List<float>() : null;
        for (long start = 0; start < queries.shape[0]; start += 512)
        {
            using var batchScope = NewDisposeScope();
            var q = F.normalize(queries.narrow(0, start, Math.Min(512, queries.shape[0] - start)), dim: 1);
            var (similarity, index) = q.matmul(normalizedBank.T).topk(k, dim: 1);
            var weights = similarity.div(Of(temperature)).exp_();
            var votes = zeros(q.shape[0], classes, device: bank.device).scatter_add_(1, labels[index], weights);
            predictions.AddRange(votes.argmax(1).cpu().data<long>().ToArray());
            shares?.AddRange((votes[.., 1] / votes.sum(1)).cpu().data<float>().ToArray());
        }
        return (predictions.ToArray(), shares?.ToArray());
    }

    public static double Accuracy(Tensor bank, long[] bankLabels, Tensor queries, long[] queryLabels, int k, int classes, double temperature = 0.1)
    {
        var predicted = Predict(bank, bankLabels, queries, k, classes, temperature);
        return predicted.Zip(queryLabels).Count(p => p.First == p.Second) / (double)Math.Max(1, queryLabels.Length);
    }
}
