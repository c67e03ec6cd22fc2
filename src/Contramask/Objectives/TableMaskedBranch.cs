using Contramask.Data;
using Contramask.Models;
using Contramask.Views;
using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Objectives;

/// <summary>The masked part of a table objective for one batch: the embeddings it produced and its loss terms.</summary>
public sealed record TableMaskedOutput(Tensor Embedding, Tensor Reconstruction, Tensor? MaskPrediction)
{
    /// <summary>
    /// The masked-modeling term L_rec + w_mask·L_mask (VIME's; the mask term only where the branch estimates one),
    /// with its parts added to <paramref name="components"/> for logging.
    /// </summary>
    public Tensor Term(double maskWeight, IDictionary<string, Tensor> components)
    {
        components["reconstruction"] = Reconstruction;
        if (MaskPrediction is null) return Reconstruction;
        components["mask"] = MaskPrediction;
        return Reconstruction.add(MaskPrediction, Of(maskWeight));
    }
}

/// <summary>
/// Masked modeling for rows, in the style the encoder allows. A residual MLP gets VIME (Yoon et al. 2020, §4.1):
/// each cell is masked with probability <c>MaskRatio</c> and filled with the same feature of a random training row;
/// from the corrupted row's embedding a mask estimator tells which cells changed (binary cross-entropy against
/// x̃ ≠ x, the target of VIME's reference code: a cell filled with its own value is not a change) and a feature
/// estimator recovers every original feature. A feature-token transformer gets MAE (He et al. 2021): the hidden
/// columns' tokens are dropped, and only they are reconstructed. Layered (residual MLP only): VIME's two estimators
/// read the layer-normed hidden state below the last block instead of the embedding, so reconstruction shapes the
/// lower blocks and leaves the last to the contrastive term (after Layer-Grafted Pre-training, Jiang et al. 2023;
/// <see cref="FusionKind.Layered"/>).
/// </summary>
public sealed class TableMaskedBranch : nn.Module
{
    readonly TableEncoder encoder;
    readonly FeatureReconstruction reconstruction;
    readonly Linear? maskEstimator;
    readonly RowCorruption corruption;
    readonly double ratio;
    readonly Generator generator;

    readonly double noiseStd;
    readonly LayerNorm? lowerNorm;

    /// <param name="pool">The training rows, packed, that masked cells are filled from.</param>
    /// <param name="noiseStd">Gaussian noise added to the numbers after corruption (0 for VIME itself).</param>
    /// <param name="layered">Estimators read the hidden state below the last block (a residual MLP of two or more blocks).</param>
    public TableMaskedBranch(TableEncoder encoder, double ratio, Tensor pool, Generator generator, double noiseStd = 0, bool layered = false) : base("table_masked_branch")
    {
        if (layered && encoder is not ResidualMlp { Depth: >= 2 })
            throw ObjectiveOptions.LayeredTableNeedsResidualMlp(encoder.GetName());
        this.encoder = encoder;
        this.ratio = ratio;
        this.generator = generator;
        this.noiseStd = noiseStd;
        corruption = new RowCorruption(encoder.Layout, generator, pool);
        reconstruction = new FeatureReconstruction(encoder.Layout, encoder.EmbeddingSize);
        if (!DropsTokens) maskEstimator = nn.Linear(encoder.EmbeddingSize, encoder.Layout.FeatureCount);
        if (layered) lowerNorm = nn.LayerNorm(encoder.EmbeddingSize);
        RegisterComponents();
    }

    public bool DropsTokens => encoder is FeatureTokenTransformer;

    public TableMaskedOutput Forward(Tensor rows)
    {
        if (encoder is FeatureTokenTransformer transformer)
        {
            using var mask = PatchMask.Random(rows.shape[0], 1, encoder.Layout.FeatureCount, ratio, generator, rows.device);
            var embedding = transformer.EncodeVisible(rows, mask.KeepIndices);
            return new TableMaskedOutput(embedding, reconstruction.Loss(embedding, rows, mask.Mask), null);
        }
        // The target compares the corrupted row with the clean one; noise comes after, on every cell alike, so it
        // neither hides a change nor gives a replaced cell away.
        var (corrupted, changed) = corruption.CorruptEach(rows, ratio);
        var (top, estimated) = Encode(corruption.AddNoise(corrupted, noiseStd));
        return VimeTerms(top, estimated, rows, changed);
    }

    /// <summary>The MLP's embeddings, and what the estimators read: the embeddings themselves, or (layered) the normed lower state.</summary>
    (Tensor Embedding, Tensor Estimated) Encode(Tensor rows)
    {
        if (lowerNorm is null) { var embedding = encoder.forward(rows); return (embedding, embedding); }
        var (top, lower) = ((ResidualMlp)encoder).ForwardLayered(rows);
        return (top, lowerNorm.forward(lower));
    }

    /// <summary>
    /// <see cref="Forward"/> for <paramref name="rows"/>, and beside it the embeddings of <paramref name="clean"/> rows
    /// left as they are. With the MLP both go through the encoder as one batch, so they share its batch statistics
    /// as two views of one pass do.
    /// </summary>
    public (TableMaskedOutput Masked, Tensor Clean) ForwardBeside(Tensor rows, Tensor clean)
    {
        if (DropsTokens) return (Forward(rows), encoder.forward(clean));
        var (corrupted, changed) = corruption.CorruptEach(rows, ratio);
        int n = (int)rows.shape[0];
        var (embeddings, estimated) = Encode(cat([corruption.AddNoise(corrupted, noiseStd), clean], 0));
        return (VimeTerms(embeddings[..n], estimated[..n], rows, changed), embeddings[n..]);
    }

    /// <summary>VIME's two estimators on the corrupted rows' features: which cells changed, and every original feature.</summary>
    TableMaskedOutput VimeTerms(Tensor embedding, Tensor estimated, Tensor rows, Tensor changed)
    {
        var maskLoss = F.binary_cross_entropy_with_logits(maskEstimator!.forward(estimated), changed);
        return new TableMaskedOutput(embedding, reconstruction.Loss(estimated, rows, ones_like(changed)), maskLoss);
    }
}
