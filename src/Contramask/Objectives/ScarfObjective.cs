using Contramask.Models;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// SCARF (Bahri et al. 2021, "Self-supervised contrastive learning using random feature corruption"): the encoder
/// and a projection head map a clean row (the anchor, view 0) and a copy with ⌊c·F⌋ features replaced by values of
/// other training rows (the positive, view 1; made by <see cref="RowCorruption.CorruptExactly"/>); InfoNCE picks
/// each anchor's positive among the batch's positives. With <see cref="TableContrastiveViews.TwoCorrupted"/> both
/// views are corrupted and NT-Xent is used instead: Contramask's earlier variant, kept under its own name.
/// </summary>
public sealed class ScarfObjective : SelfSupervisedObjective
{
    readonly ProjectionHead projection;
    readonly TableContrastiveViews views;

    public ScarfObjective(TableEncoder encoder, ObjectiveOptions options, TableContrastiveViews views, Generator generator)
        : base("scarf", encoder, options, generator)
    {
        this.views = views;
        projection = new ProjectionHead(encoder.EmbeddingSize, options.ProjectionHidden, options.ProjectionOutput);
        RegisterComponents();
    }

    public override int ViewCount => 2;
    public override bool WantsStrongViews => true;

    public override LossTerms Loss(IReadOnlyList<Tensor> batchViews)
    {
        // One pass over anchors and positives together (one batch for the projection's BatchNorm).
        int n = (int)batchViews[0].shape[0];
        var z = projection.forward(Encoder.forward(cat([batchViews[0], batchViews[1]], 0)));
        var loss = views == TableContrastiveViews.Scarf
            ? InfoNceLoss.Compute(z[..n], z[n..], Options.Temperature)
            : NtXentLoss.Compute(z[..n], z[n..], Options.Temperature);
        return new LossTerms(loss, new Dictionary<string, Tensor> { ["contrastive"] = loss });
    }
}
