using TorchSharp;
using static TorchSharp.torch;

namespace Contramask.Classification;

/// <summary>
/// Temperature scaling (Guo et al. 2017, §4.2): one scalar T divides the logits so that the validation slice's
/// negative log-likelihood is least. It changes no prediction, only how sure each one claims to be; fitted on
/// validation logits, never on test.
/// </summary>
public static class TemperatureScaling
{
    /// <summary>The T in [0.05, 20] (a log-spaced grid, then a finer one around the best) with the least NLL.</summary>
    public static double Fit(Tensor logits, long[] labels)
    {
        if (labels.Length == 0) return 1;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = logits.to(ScalarType.Float32);
        var y = tensor(labels);
        double Nll(double t)
        {
            using var held = t.ToScalar();
            using var scaled = x.div(held);
            using var loss = nn.functional.cross_entropy(scaled, y);
            return loss.item<float>();
        }
        double best = 1, bestNll = Nll(1);
        foreach (var (from, to, points) in new[] { (Math.Log(0.05), Math.Log(20), 61), (0.0, 0.0, 21) })
        {
            // The second pass searches ±10% around the first pass's best.
            double lo = points == 21 ? Math.Log(best * 0.9) : from, hi = points == 21 ? Math.Log(best * 1.1) : to;
            for (int i = 0; i < points; i++)
            {
                double t = Math.Exp(lo + (hi - lo) * i / (points - 1));
                double nll = Nll(t);
                if (nll < bestNll) { bestNll = nll; best = t; }
            }
        }
        return best;
    }
}
