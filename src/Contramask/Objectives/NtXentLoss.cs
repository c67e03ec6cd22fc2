using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Objectives;

/// <summary>
/// NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR (Chen et al. 2020, eq. 1), also called
/// InfoNCE (van den Oord et al. 2018). For 2N projected views z: cosine similarities s_ij / τ with i ≠ j; the
/// positive of view i is the other view of the same sample; the loss is the mean cross-entropy over all 2N views.
/// </summary>
public static class NtXentLoss
{
    /// <param name="z1">N×d projections of the first views.</param>
    /// <param name="z2">N×d projections of the second views (row i pairs with row i of z1).</param>
    public static Tensor Compute(Tensor z1, Tensor z2, double temperature)
    {
        if (temperature <= 0) throw new ArgumentOutOfRangeException(nameof(temperature), "temperature must be > 0");
        using var scope = NewDisposeScope();
        long n = z1.shape[0];
        var z = F.normalize(cat([z1, z2], 0), dim: 1);
        var logits = z.matmul(z.T).div_(Of(temperature));
        // A view is not its own candidate: exclude the diagonal before the softmax.
        var self = eye(2 * n, dtype: ScalarType.Bool, device: z.device);
        logits = logits.masked_fill(self, Of(double.NegativeInfinity));
        var positives = cat([arange(Of(n), Of(2 * n), One, device: z.device), arange(Of(0L), Of(n), One, device: z.device)]);
        return F.cross_entropy(logits, positives).MoveToOuterDisposeScope();
    }
}
