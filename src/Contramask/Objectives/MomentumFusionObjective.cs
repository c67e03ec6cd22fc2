using Contramask.Models;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// Fusion with a momentum target, after CMAE (Huang et al. 2022, "Contrastive Masked Autoencoders are Stronger
/// Vision Learners"; reference code ZhichengHuang/CMAE, <c>cmae.py</c> and <c>cmae_head.py</c>): the online encoder
/// sees a masked view and reconstructs its hidden patches (MAE for ViTs, SimMIM for CNNs); its pooled features pass
/// a projector and a predictor and must pick out, by InfoNCE over the batch, the target's projection of the other,
/// clean view; the target (encoder and projector) is an EMA of the online ones (<see cref="MomentumTarget"/>) and
/// takes no gradient. As in CMAE's head the contrastive term is one-way and scaled by 2τ (MoCo v3's convention):
/// L = w_rec·L_rec + w_nce·2τ·InfoNCE(q(g(f(masked v₁))), g_ξ(f_ξ(v₂))).
/// Not CMAE itself: no feature decoder (CMAE pools a small decoder's outputs over all tokens before its projector;
/// here the pooled visible features go straight to it, which also serves CNNs), the momentum rises on a cosine to 1
/// (BYOL, iBOT) where CMAE's configs keep 0.996, and both views come from the same augmentation.
/// </summary>
public sealed class MomentumFusionObjective : SelfSupervisedObjective
{
    readonly MaskedBranch branch;
    readonly ProjectionHead projection, predictor;
    readonly ImageEncoder targetEncoder;
    readonly ProjectionHead targetProjection;
    readonly MomentumTarget momentum;

    /// <param name="target">A second encoder of the same architecture: it becomes the momentum target.</param>
    public MomentumFusionObjective(ImageEncoder encoder, ImageEncoder target, ObjectiveOptions options, int channels, int height, int width, int patch, Generator generator)
        : base("momentum_fusion", encoder, options, generator)
    {
        branch = MaskedBranch.For(encoder, options, channels, height, width, patch);
        projection = new ProjectionHead(encoder.EmbeddingSize, options.ProjectionHidden, options.ProjectionOutput);
        predictor = new ProjectionHead(options.ProjectionOutput, options.ProjectionHidden, options.ProjectionOutput);
        targetEncoder = target;
        targetProjection = new ProjectionHead(encoder.EmbeddingSize, options.ProjectionHidden, options.ProjectionOutput);
        RegisterComponents();
        momentum = new MomentumTarget([encoder, projection], [targetEncoder, targetProjection], options.TargetMomentum);
    }

    public override int ViewCount => 2;
    public override bool WantsStrongViews => true;

    public override LossTerms Loss(IReadOnlyList<Tensor> views)
    {
        using var mask = RandomMask(views[0].shape[0], branch);
        var (pooled, predictions) = branch.Forward(views[0], mask, null);
        var online = predictor.forward(projection.forward(pooled));
        Tensor target;
        using (no_grad()) target = targetProjection.forward(targetEncoder.forward(views[1]));
        var contrastive = InfoNceLoss.Compute(online, target, Options.Temperature).mul(Of(2 * Options.Temperature));
        var reconstruction = ReconstructionLoss.OnPatches(predictions, views[0], branch.Patch, mask.Mask, Options.NormalizeTargets);
        var total = Weighted(ReconstructionWeight, reconstruction, Options.WeightContrastive, contrastive);
        return new LossTerms(total, new Dictionary<string, Tensor> { ["contrastive"] = contrastive, ["reconstruction"] = reconstruction });
    }

    /// <summary>After each optimizer step: the target follows the online weights (EMA, momentum by progress).</summary>
    public override void AfterStep(double progress) => momentum.Update(progress);
}
