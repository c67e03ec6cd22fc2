using Contramask.Models;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// <see cref="MomentumFusionObjective"/> carried to rows (<c>--fusion momentum</c> on a table): the online encoder sees
/// a masked copy of each row (<see cref="TableMaskedBranch"/>: on the residual MLP VIME's cells filled from other
/// training rows plus a little Gaussian noise, with VIME's mask and feature estimators; on the feature-token
/// transformer MAE's dropped column tokens, reconstructed); its embedding passes a projector and a predictor and must
/// pick out, by one-way InfoNCE over the batch, the momentum target's projection of the clean row, scaled by 2τ as in
/// CMAE's head (Huang et al. 2022; MoCo v3's convention). The target (encoder and projector) is an EMA of the online
/// ones (<see cref="MomentumTarget"/>) and takes no gradient. The clean row as the target's view is SCARF's clean
/// anchor (Bahri et al. 2021); an EMA teacher of the unmasked input is what MSN and data2vec also use, though they
/// match prototypes (MSN) or regress per-token features (data2vec) where this contrasts pooled ones.
/// Not CMAE itself, as for images: no feature decoder, the momentum rises on a cosine to 1, and the two views differ
/// only by the masking (a row has no augmentation beside it).
/// L = w_nce·2τ·InfoNCE(q(g(f(masked x))), g_ξ(f_ξ(x))) + w_rec·(L_rec + w_mask·L_mask).
/// </summary>
public sealed class TableMomentumFusionObjective : SelfSupervisedObjective
{
    readonly TableMaskedBranch branch;
    readonly ProjectionHead projection, predictor;
    readonly TableEncoder targetEncoder;
    readonly ProjectionHead targetProjection;
    readonly MomentumTarget momentum;

    /// <param name="target">A second encoder of the same architecture and layout: it becomes the momentum target.</param>
    public TableMomentumFusionObjective(TableEncoder encoder, TableEncoder target, ObjectiveOptions options, Tensor pool, Generator generator, double noiseStd)
        : base("table_momentum_fusion", encoder, options, generator)
    {
        branch = new TableMaskedBranch(encoder, options.MaskRatio, pool, generator, noiseStd);
        projection = new ProjectionHead(encoder.EmbeddingSize, options.ProjectionHidden, options.ProjectionOutput);
        predictor = new ProjectionHead(options.ProjectionOutput, options.ProjectionHidden, options.ProjectionOutput);
        targetEncoder = target;
        targetProjection = new ProjectionHead(encoder.EmbeddingSize, options.ProjectionHidden, options.ProjectionOutput);
        RegisterComponents();
        momentum = new MomentumTarget([encoder, projection], [targetEncoder, targetProjection], options.TargetMomentum);
    }

    public override int ViewCount => 2;
    public override bool WantsStrongViews => false;

    public override LossTerms Loss(IReadOnlyList<Tensor> views)
    {
        // views[0] is corrupted inside the branch; views[1] is the row as it is (the table views of a masked objective).
        var output = branch.Forward(views[0]);
        var online = predictor.forward(projection.forward(output.Embedding));
        Tensor target;
        using (no_grad()) target = targetProjection.forward(targetEncoder.forward(views[1]));
        var contrastive = InfoNceLoss.Compute(online, target, Options.Temperature).mul(Of(2 * Options.Temperature));
        var components = new Dictionary<string, Tensor> { ["contrastive"] = contrastive };
        var masked = output.Term(Options.WeightMaskPrediction, components);
        return new LossTerms(Weighted(Options.WeightContrastive, contrastive, ReconstructionWeight, masked), components);
    }

    /// <summary>After each optimizer step: the target follows the online weights (EMA, momentum by progress).</summary>
    public override void AfterStep(double progress) => momentum.Update(progress);
}
