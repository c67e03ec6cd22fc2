using Contramask.Models;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// CAN's fusion (Mishra et al. 2022) carried to rows: two views of each row, each masked on its own by
/// <see cref="TableMaskedBranch"/> (VIME fill-from-training-rows, then a little Gaussian noise, or MAE token
/// dropping); InfoNCE between the projected embeddings of the two masked views plus the masked-modeling terms of
/// both views.
/// L = w_nce·L_nce + w_rec·(L_rec + w_mask·L_mask).
/// </summary>
public sealed class TableFusionObjective : SelfSupervisedObjective
{
    readonly TableMaskedBranch branch;
    readonly ProjectionHead projection;

    public TableFusionObjective(TableEncoder encoder, ObjectiveOptions options, Tensor pool, Generator generator, double noiseStd)
        : base("table_fusion", encoder, options, generator)
    {
        branch = new TableMaskedBranch(encoder, options.MaskRatio, pool, generator, noiseStd);
        projection = new ProjectionHead(encoder.EmbeddingSize, options.ProjectionHidden, options.ProjectionOutput);
        RegisterComponents();
    }

    public override int ViewCount => 2;
    public override bool WantsStrongViews => false;

    public override LossTerms Loss(IReadOnlyList<Tensor> views)
    {
        long n = views[0].shape[0];
        // Both views through the branch as one batch, so their masks and the encoder's statistics are shared.
        var output = branch.Forward(cat([views[0], views[1]], 0));
        var z = projection.forward(output.Embedding);
        var contrastive = NtXentLoss.Compute(z[..(int)n], z[(int)n..], Options.Temperature);
        var components = new Dictionary<string, Tensor> { ["contrastive"] = contrastive, ["reconstruction"] = output.Reconstruction };
        var masked = output.Reconstruction;
        if (output.MaskPrediction is { } maskLoss)
        {
            components["mask"] = maskLoss;
            masked = masked.add(maskLoss, Of(Options.WeightMaskPrediction));
        }
        return new LossTerms(Weighted(Options.WeightContrastive, contrastive, Options.WeightReconstruction, masked), components);
    }
}
