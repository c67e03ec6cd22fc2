using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Evaluation;

/// <summary>
/// The linear evaluation protocol (Zhang et al. 2016; SimCLR §B.6): multinomial logistic regression on frozen,
/// standardized embeddings, fitted full-batch with Adam and an L2 penalty. Standardization statistics come from
/// the training embeddings only.
/// </summary>
public sealed class LinearProbe : IDisposable
{
    readonly Tensor mean, std, weight, bias;

    LinearProbe(Tensor mean, Tensor std, Tensor weight, Tensor bias) { this.mean = mean; this.std = std; this.weight = weight; this.bias = bias; }

    public static LinearProbe Fit(Tensor features, long[] labels, int classes, double l2 = 1e-4, int iterations = 500, double learningRate = 0.01, int seed = 0)
    {
        using var scope = NewDisposeScope();
        var mean = features.mean([0], keepdim: true);
        var std = features.std(0, keepdim: true).clamp_min(1e-6);
        var x = (features - mean) / std;
        var y = tensor(labels);
        using var generator = new Generator((ulong)seed);
        var weight = nn.Parameter(randn(x.shape[1], classes, generator: generator) * 0.01f);
        var bias = nn.Parameter(zeros(classes));
        using var optimizer = optim.Adam([weight, bias], learningRate);
        for (int i = 0; i < iterations; i++)
        {
            using var step = NewDisposeScope();
            optimizer.zero_grad();
            var loss = F.cross_entropy(x.matmul(weight) + bias, y) + (float)l2 * weight.square().sum();
            loss.backward();
            optimizer.step();
        }
        return new LinearProbe(mean.MoveToOuterDisposeScope(), std.MoveToOuterDisposeScope(),
            weight.detach().MoveToOuterDisposeScope(), bias.detach().MoveToOuterDisposeScope());
    }

    public long[] Predict(Tensor features)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return ((features - mean) / std).matmul(weight).add(bias).argmax(1).data<long>().ToArray();
    }

    public double Accuracy(Tensor features, long[] labels)
    {
        var predicted = Predict(features);
        return predicted.Zip(labels).Count(p => p.First == p.Second) / (double)Math.Max(1, labels.Length);
    }

    public void Dispose() { mean.Dispose(); std.Dispose(); weight.Dispose(); bias.Dispose(); }
}
