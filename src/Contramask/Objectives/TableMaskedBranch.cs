using Contramask.Data;
using Contramask.Models;
using Contramask.Views;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Objectives;

/// <summary>The masked part of a table objective for one batch: the embeddings it produced and its loss terms.</summary>
public sealed record TableMaskedOutput(Tensor Embedding, Tensor Reconstruction, Tensor? MaskPrediction);

/// <summary>
/// Masked modeling for rows, in the style the encoder allows. A residual MLP gets VIME (Yoon et al. 2020): a
/// random <c>MaskRatio</c> of cells is filled from other rows; the embedding must tell which cells were replaced
/// (mask estimator, binary cross-entropy) and recover all original features. A feature-token transformer gets
/// MAE (He et al. 2021): the hidden columns' tokens are dropped, and only they are reconstructed.
/// </summary>
public sealed class TableMaskedBranch : nn.Module
{
    readonly TableEncoder encoder;
    readonly FeatureReconstruction reconstruction;
    readonly Linear? maskEstimator;
    readonly RowCorruption corruption;
    readonly double ratio;
    readonly Generator generator;

    public TableMaskedBranch(TableEncoder encoder, double ratio, Generator generator) : base("table_masked_branch")
    {
        this.encoder = encoder;
        this.ratio = ratio;
        this.generator = generator;
        corruption = new RowCorruption(encoder.Layout, generator);
        reconstruction = new FeatureReconstruction(encoder.Layout, encoder.EmbeddingSize);
        if (!DropsTokens) maskEstimator = nn.Linear(encoder.EmbeddingSize, encoder.Layout.FeatureCount);
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
        var (corrupted, replaced) = corruption.Corrupt(rows, ratio);
        var filled = encoder.forward(corrupted);
        var maskLoss = F.binary_cross_entropy_with_logits(maskEstimator!.forward(filled), replaced);
        return new TableMaskedOutput(filled, reconstruction.Loss(filled, rows, ones_like(replaced)), maskLoss);
    }
}
