using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Objectives;

/// <summary>
/// InfoNCE with one-way candidates (van den Oord et al. 2018), as SCARF uses it (Bahri et al. 2021, §2): each
/// anchor zᵢ is scored against every positive z̃ₖ of the batch by cosine similarity / τ, and the loss is the
/// cross-entropy of picking its own z̃ᵢ: −log exp(s(zᵢ, z̃ᵢ)/τ) / Σₖ exp(s(zᵢ, z̃ₖ)/τ), averaged over anchors.
/// (NT-Xent, <see cref="NtXentLoss"/>, also uses the other anchors as candidates and both directions.)
/// </summary>
public static class InfoNceLoss
{
    public static Tensor Compute(Tensor anchors, Tensor positives, double temperature)
    {
        if (temperature <= 0) throw new ArgumentOutOfRangeException(nameof(temperature), "temperature must be > 0");
        using var scope = NewDisposeScope();
        var logits = F.normalize(anchors, dim: 1).matmul(F.normalize(positives, dim: 1).T).div_(Of(temperature));
        var targets = arange(Of(0L), Of(anchors.shape[0]), One, device: anchors.device);
        return F.cross_entropy(logits, targets).MoveToOuterDisposeScope();
    }
}
