using Contramask.Models;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// Masked image modeling: MAE (He et al. 2021) for ViTs, SimMIM (Xie et al. 2022) for CNNs. One lightly
/// augmented view; hide a random <c>MaskRatio</c> of its patches; regress the hidden patches' normalized pixels.
/// With a noise weight, CAN's denoising term is added (noise on the input, predicted on the visible patches).
/// </summary>
public sealed class MaskedObjective : SelfSupervisedObjective
{
    readonly MaskedBranch branch;

    public MaskedObjective(ImageEncoder encoder, ObjectiveOptions options, int channels, int height, int width, int patch, Generator generator)
        : base("masked", encoder, options, generator)
    {
        branch = MaskedBranch.For(encoder, options, channels, height, width, patch);
        RegisterComponents();
    }

    public override int ViewCount => 1;
    public override bool WantsStrongViews => false;

    public override LossTerms Loss(IReadOnlyList<Tensor> views)
    {
        var images = views[0];
        using var mask = RandomMask(images.shape[0], branch);
        var components = new Dictionary<string, Tensor>();
        Tensor total;
        if (Options.WeightNoise > 0)
        {
            var (noisy, noise, level) = AddNoise(images);
            var (_, predictions) = branch.Forward(noisy, mask, level);
            var reconstruction = ReconstructionLoss.OnPatches(predictions, images, branch.Patch, mask.Mask, Options.NormalizeTargets);
            var denoise = ReconstructionLoss.OnNoise(predictions, noise, branch.Patch, OneMinus(mask.Mask));
            components["reconstruction"] = reconstruction;
            components["denoise"] = denoise;
            total = Weighted(1 - Options.WeightNoise, reconstruction, Options.WeightNoise, denoise);
        }
        else
        {
            var (_, predictions) = branch.Forward(images, mask, null);
            total = ReconstructionLoss.OnPatches(predictions, images, branch.Patch, mask.Mask, Options.NormalizeTargets);
            components["reconstruction"] = total;
        }
        return new LossTerms(total, components);
    }
}
