using Contramask.Models;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// SimCLR (Chen et al. 2020): two strongly augmented views of each sample, encoded and projected, pulled together
/// and pushed from every other view in the batch by NT-Xent. (Tables: <see cref="ScarfObjective"/>.)
/// </summary>
public sealed class ContrastiveObjective : SelfSupervisedObjective
{
    readonly ProjectionHead projection;

    public ContrastiveObjective(Encoder encoder, ObjectiveOptions options, Generator generator)
        : base("contrastive", encoder, options, generator)
    {
        projection = new ProjectionHead(encoder.EmbeddingSize, options.ProjectionHidden, options.ProjectionOutput);
        RegisterComponents();
    }

    public override int ViewCount => 2;
    public override bool WantsStrongViews => true;

    public override LossTerms Loss(IReadOnlyList<Tensor> views)
    {
        // One encoder pass over both views: BatchNorm sees the whole 2N batch, as in SimCLR.
        long n = views[0].shape[0];
        var z = projection.forward(Encoder.forward(cat([views[0], views[1]], 0)));
        var loss = NtXentLoss.Compute(z[..(int)n], z[(int)n..], Options.Temperature);
        return new LossTerms(loss, new Dictionary<string, Tensor> { ["contrastive"] = loss });
    }
}
