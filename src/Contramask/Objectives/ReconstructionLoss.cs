using Contramask.Views;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// Patch regression losses of MAE (He et al. 2021, §3 "Reconstruction target"): mean squared error per patch,
/// against per-patch normalized pixels, averaged over the selected patches only.
/// </summary>
public static class ReconstructionLoss
{
    /// <param name="predictions">N×L×(p·p·C) decoder outputs.</param>
    /// <param name="targets">N×C×H×W images (or noise) to regress.</param>
    /// <param name="weights">N×L, 1 for patches that count (the masked ones for reconstruction).</param>
    public static Tensor OnPatches(Tensor predictions, Tensor targets, int patch, Tensor weights, bool normalizeTargets = true)
    {
        using var scope = NewDisposeScope();
        var target = Patches.Patchify(targets, patch);
        if (normalizeTargets) target = Patches.NormalizePerPatch(target);
        var perPatch = Square(predictions - target).mean([-1]);
        return ((perPatch * weights).sum() / weights.sum().clamp_min(Of(1.0))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// CAN's denoising loss (Mishra et al. 2022, §3.3; reference <c>forward_loss</c>): mean squared error between the
    /// predicted and the added noise itself on the visible patches. Never normalized per patch: that would erase
    /// the noise level σ the decoder is told.
    /// </summary>
    public static Tensor OnNoise(Tensor predictions, Tensor noise, int patch, Tensor visible) =>
        OnPatches(predictions, noise, patch, visible, normalizeTargets: false);
}
