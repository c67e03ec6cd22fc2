using static Contramask.Runtime.Scalars;
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
        var y = randn(new long[] { n, 2 }, dtype: ScalarType.Float64, generator: generator).mul_(Of(1e-4));
        var update = zeros_like(y);
        var gains = ones_like(y);
        double learningRate = Math.Max(n / 12.0 / 4, 50);   // the "auto" rate of Belkina et al. 2019
        for (int t = 0; t < iterations; ++t)
        {
            using var step = NewDisposeScope();
            double exaggeration = t < 250 ? 12 : 1;
            double momentum = t < 250 ? 0.5 : 0.8;
            // Student-t affinities 1 / (1 + ‖yᵢ − yⱼ‖²), with ‖yᵢ − yⱼ‖² = |yᵢ|² + |yⱼ|² − 2 yᵢ·yⱼ.
            var squared = Square(y).sum(1);
            var numerator = squared.unsqueeze(1).add(squared.unsqueeze(0), One).sub(y.matmul(y.T).mul_(Of(2.0))).add_(Of(1.0), One).reciprocal_();
            numerator = numerator.masked_fill(eye(n, dtype: ScalarType.Bool), Of(0.0));
            var q = (numerator / numerator.sum()).clamp_min(Of(1e-12));
            var pq = p.mul(Of(exaggeration)).sub(q).mul_(numerator);
            var gradient = (pq.sum(1).unsqueeze(1) * y).sub(pq.matmul(y)).mul_(Of(4.0));
            // Gains grow where the gradient changes sign against the last update, shrink where it keeps it.
            var sameSign = gradient.sign().eq(update.sign());
            var newGains = where(sameSign, gains.mul(Of(0.8)), gains.add(Of(0.2), One)).clamp_min(Of(0.01));
            var newUpdate = update.mul(Of(momentum)).sub(newGains.mul(gradient).mul_(Of(learningRate)));
            var newY = y.add(newUpdate, One);
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
        var squared = Square(x).sum(1);
        var distances = squared.unsqueeze(1).add(squared.unsqueeze(0), One).sub(x.matmul(x.T).mul_(Of(2.0))).clamp_min(Of(0.0));
        var diagonal = eye(n, dtype: ScalarType.Bool);
        distances = distances.masked_fill(diagonal, Of(0.0));
        double target = Math.Log(perplexity);
        var low = full(n, Of(1e-20), dtype: ScalarType.Float64);
        var high = full(n, Of(1e20), dtype: ScalarType.Float64);
        var beta = ones(n, dtype: ScalarType.Float64) / distances.mean(new long[] { 1 }).clamp_min(Of(1e-12));
        Tensor conditional = zeros_like(distances);
        for (int i = 0; i < 100; i++)
        {
            using var step = NewDisposeScope();
            var logits = -distances * beta.unsqueeze(1);
            logits = logits.masked_fill(diagonal, Of(double.NegativeInfinity));
            var probabilities = nn.functional.softmax(logits, 1);
            var entropy = -(probabilities * probabilities.clamp_min(Of(1e-300)).log()).sum(1);
            var tooFlat = entropy.gt(Of(target));            // entropy too high: sharpen (raise beta)
            var newLow = where(tooFlat, beta, low);
            var newHigh = where(tooFlat, high, beta);
            var newBeta = where(newHigh.ge(Of(1e19)), beta.mul(Of(2.0)), newLow.add(newHigh, One).div_(Of(2.0)));
            bool converged = entropy.sub(Of(target)).abs().max().item<double>() < 1e-5;
            Replace(ref conditional, probabilities);
            Replace(ref low, newLow);
            Replace(ref high, newHigh);
            Replace(ref beta, newBeta);
            if (converged) break;
        }
        return conditional.add(conditional.T, One).div_(Of(2.0 * n)).clamp_min(Of(1e-12));
    }
}
