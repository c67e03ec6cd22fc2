using static TorchSharp.torch;

namespace Contramask.Mining;

/// <summary>
/// Exact t-SNE (van der Maaten &amp; Hinton 2008): Gaussian affinities with a per-point bandwidth found by
/// bisection to match the perplexity, symmetrized; Student-t affinities in 2-D; gradient descent with momentum,
/// early exaggeration and per-parameter gains, as in the authors' reference implementation. O(n²) memory, so
/// it is meant for a few thousand points (mining samples larger sets).
/// </summary>
public static class Tsne
{
    public static float[,] Embed(Tensor points, double perplexity = 30, int iterations = 1000, int seed = 0)
    {
        using var scope = NewDisposeScope();
        long n = points.shape[0];
        if (n < 4) throw new ArgumentException("t-SNE needs at least 4 points");
        perplexity = Math.Min(perplexity, (n - 1) / 3.0);
        var x = points.to_type(ScalarType.Float64);
        var p = JointProbabilities(x, perplexity);

        using var generator = new Generator((ulong)seed);
        var y = randn(new long[] { n, 2 }, dtype: ScalarType.Float64, generator: generator) * 1e-4;
        var update = zeros_like(y);
        var gains = ones_like(y);
        double learningRate = Math.Max(n / 12.0 / 4, 50);   // the "auto" rate of Belkina et al. 2019
        for (int t = 0; t < iterations; ++t)
        {
            using var step = NewDisposeScope();
            double exaggeration = t < 250 ? 12 : 1;
            double momentum = t < 250 ? 0.5 : 0.8;
            var squared = y.pow(2).sum(1);
            var numerator = 1 / (1 + squared.unsqueeze(1) + squared.unsqueeze(0) - 2 * y.matmul(y.T));
            numerator = numerator.masked_fill(eye(n, dtype: ScalarType.Bool), 0);
            var q = (numerator / numerator.sum()).clamp_min(1e-12);
            var pq = (exaggeration * p - q) * numerator;
            var gradient = 4 * (pq.sum(1).unsqueeze(1) * y - pq.matmul(y));
            // Gains grow where the gradient changes sign against the last update, shrink where it keeps it.
            var sameSign = gradient.sign().eq(update.sign());
            var newGains = where(sameSign, gains * 0.8, gains + 0.2).clamp_min(0.01);
            var newUpdate = momentum * update - learningRate * newGains * gradient;
            var newY = y + newUpdate;
            newY = newY - newY.mean([0], keepdim: true);
            // Carry the three state tensors out of this step's scope and free the previous ones now.
            Replace(ref gains, newGains);
            Replace(ref update, newUpdate);
            Replace(ref y, newY);
        }
        var flat = y.to_type(ScalarType.Float32).data<float>().ToArray();
        var result = new float[n, 2];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(float));
        return result;
    }

    /// <summary>Moves <paramref name="next"/> to the enclosing scope and disposes what <paramref name="current"/> held.</summary>
    static void Replace(ref Tensor current, Tensor next)
    {
        var old = current;
        current = next.MoveToOuterDisposeScope();
        old.Dispose();
    }

    /// <summary>P_ij = (p_j|i + p_i|j) / 2n, each row's Gaussian bandwidth bisected until its entropy is log(perplexity).</summary>
    static Tensor JointProbabilities(Tensor x, double perplexity)
    {
        long n = x.shape[0];
        var squared = x.pow(2).sum(1);
        var distances = (squared.unsqueeze(1) + squared.unsqueeze(0) - 2 * x.matmul(x.T)).clamp_min(0);
        var diagonal = eye(n, dtype: ScalarType.Bool);
        distances = distances.masked_fill(diagonal, 0);
        double target = Math.Log(perplexity);
        var low = full(n, 1e-20, dtype: ScalarType.Float64);
        var high = full(n, 1e20, dtype: ScalarType.Float64);
        var beta = ones(n, dtype: ScalarType.Float64) / distances.mean(new long[] { 1 }).clamp_min(1e-12);
        Tensor conditional = zeros_like(distances);
        for (int i = 0; i < 100; i++)
        {
            using var step = NewDisposeScope();
            var logits = -distances * beta.unsqueeze(1);
            logits = logits.masked_fill(diagonal, double.NegativeInfinity);
            var probabilities = nn.functional.softmax(logits, 1);
            var entropy = -(probabilities * probabilities.clamp_min(1e-300).log()).sum(1);
            var tooFlat = entropy.gt(target);                // entropy too high: sharpen (raise beta)
            var newLow = where(tooFlat, beta, low);
            var newHigh = where(tooFlat, high, beta);
            var newBeta = where(newHigh.ge(1e19), beta * 2, (newLow + newHigh) / 2);
            bool converged = (entropy - target).abs().max().item<double>() < 1e-5;
            Replace(ref conditional, probabilities);
            Replace(ref low, newLow);
            Replace(ref high, newHigh);
            Replace(ref beta, newBeta);
            if (converged) break;
        }
        return ((conditional + conditional.T) / (2.0 * n)).clamp_min(1e-12);
    }
}
