using Contramask.Models;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// SCARF (Bahri et al. 2021, "Self-supervised contrastive learning using random feature corruption"): the encoder
/// and a projection head map a clean row (the anchor, view 0) and a copy with ⌊c·F⌋ features replaced by values of
/// other training rows (the positive, view 1; made by <see cref="RowCorruption.CorruptExactly"/>); InfoNCE picks
/// each anchor's positive among the batch's positives. (Contramask's earlier variant, two corrupted views and
/// NT-Xent, lost to it on UCI Letter's validation slice and was removed: docs/TUNING.md.)
/// </summary>
public sealed class ScarfObjective : SelfSupervisedObjective
{
    readonly ProjectionHead projection;

    public ScarfObjective(TableEncoder encoder, ObjectiveOptions options, Generator generator)
        : base("scarf", encoder, options, generator)
    {
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
        var loss = InfoNceLoss.Compute(z[..n], z[n..], Options.Temperature);
        return new LossTerms(loss, new Dictionary<string, Tensor> { ["contrastive"] = loss });
    }
}
