using Contramask.Models;
using Contramask.Views;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Objectives;

/// <summary>
/// Table fusion with feature-subset views (<c>--fusion subsets</c>), after SubTab (Ucar et al. 2021; reference code
/// AstraZeneca/SubTab, <c>model.py</c> and <c>utils/loss_functions.py</c>). Each row becomes K = 4 views, one per
/// overlapping column subset (<see cref="FeatureSubsets"/>), each with its own swap noise (a cell replaced, with
/// probability <see cref="ObjectiveOptions.MaskRatio"/>, by the same feature of a random training row; SubTab: 0.3).
/// From every view the whole clean row is reconstructed, and the views' projections are pulled together over all
/// K(K−1)/2 pairs by NT-Xent and by SubTab's distance term (squared distance of the L2-normalized projections):
/// L = w_rec·L_rec + w_nce·(mean over pairs of NT-Xent + distance).
/// Not SubTab itself: the encoder is the whole-row encoder every table method uses, so a view shows its hidden
/// columns as missing cells, and at inference the encoder reads the whole row where SubTab averages the subsets'
/// embeddings; the weights are this project's table-fusion weights (SubTab sums three unit-weight terms with a
/// per-row summed reconstruction error, about w_nce = 1/F against the per-cell mean used here) and its temperature.
/// </summary>
public sealed class TableSubsetFusionObjective : SelfSupervisedObjective
{
    readonly TableEncoder encoder;
    readonly FeatureSubsets subsets;
    readonly RowCorruption corruption;
    readonly FeatureReconstruction reconstruction;
    readonly ProjectionHead projection;

    /// <param name="pool">The training rows, packed, that noisy cells take their values from.</param>
    public TableSubsetFusionObjective(TableEncoder encoder, ObjectiveOptions options, Tensor pool, Generator generator)
        : base("table_subset_fusion", encoder, options, generator)
    {
        this.encoder = encoder;
        subsets = new FeatureSubsets(encoder.Layout.FeatureCount);
        corruption = new RowCorruption(encoder.Layout, generator, pool);
        reconstruction = new FeatureReconstruction(encoder.Layout, encoder.EmbeddingSize);
        projection = new ProjectionHead(encoder.EmbeddingSize, options.ProjectionHidden, options.ProjectionOutput);
        RegisterComponents();
    }

    public override int ViewCount => 1;
    public override bool WantsStrongViews => false;

    public override LossTerms Loss(IReadOnlyList<Tensor> views)
    {
        var rows = views[0];
        int n = (int)rows.shape[0], k = subsets.Count;
        // K copies of the batch, each noisy on its own, then each copy reduced to its subset; one encoder pass for all.
        var copies = subsets.Repeat(rows);
        var (noisy, changed) = corruption.CorruptEach(copies, Options.MaskRatio);
        changed.Dispose();
        var embedding = encoder.forward(subsets.Hide(noisy, encoder.Layout));
        var rebuilt = reconstruction.Loss(embedding, copies, ones(new long[] { copies.shape[0], encoder.Layout.FeatureCount }, device: rows.device));
        var z = projection.forward(embedding);
        var normalized = F.normalize(z, dim: 1);
        var contrastive = zeros(1, device: rows.device).squeeze();
        var distance = zeros(1, device: rows.device).squeeze();
        for (int i = 0; i < k; i++)
            for (int j = i + 1; j < k; j++)
            {
                contrastive = contrastive.add(NtXentLoss.Compute(z[(i * n)..((i + 1) * n)], z[(j * n)..((j + 1) * n)], Options.Temperature), One);
                distance = distance.add(Square(normalized[(i * n)..((i + 1) * n)].sub(normalized[(j * n)..((j + 1) * n)])).sum(1).mean(), One);
            }
        double pairs = k * (k - 1) / 2.0;
        contrastive = contrastive.div(Of(pairs));
        distance = distance.div(Of(pairs));
        var total = Weighted(ReconstructionWeight, rebuilt, Options.WeightContrastive, contrastive.add(distance, One));
        return new LossTerms(total, new Dictionary<string, Tensor> { ["contrastive"] = contrastive, ["distance"] = distance, ["reconstruction"] = rebuilt });
    }
}
