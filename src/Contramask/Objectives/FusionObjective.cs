using Contramask.Models;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// CAN (Mishra et al. 2022, "A simple, efficient and scalable contrastive masked autoencoder"): two augmented
/// views, each masked independently; InfoNCE between the projected means of each view's visible features;
/// reconstruction of the hidden patches of both views; optionally denoising: noise of a random level σ is added to
/// the input and the decoder, told σ, predicts that noise on the visible patches.
/// L = w_rec·[(1 − w_noise)·L_rec + w_noise·L_noise] + w_nce·L_nce (CAN eq. 4, with its weights as options).
/// With a CNN the same holds through SimMIM input masking and the pooled feature map.
/// </summary>
public sealed class FusionObjective : SelfSupervisedObjective
{
    readonly MaskedBranch branch;
    readonly ProjectionHead projection;

    public FusionObjective(ImageEncoder encoder, ObjectiveOptions options, int channels, int height, int width, int patch, Generator generator)
        : base("fusion", encoder, options, generator)
    {
        // Layered: the decoder reads the CNN stage below the last, or the ViT's middle block (FusionKind.Layered).
        int? decoderStage = options.Fusion != FusionKind.Layered ? null
            : encoder is ConvEncoder cnn ? cnn.StageWidths.Count - 2
            : encoder is VisionTransformer { Depth: >= 2 } vit ? vit.Depth / 2
            : throw new ArgumentException("--fusion layered (the default) needs a CNN or a ViT of at least two blocks; use --fusion can");
        branch = MaskedBranch.For(encoder, options, channels, height, width, patch, decoderStage);
        projection = new ProjectionHead(encoder.EmbeddingSize, options.ProjectionHidden, options.ProjectionOutput);
        RegisterComponents();
    }

    public override int ViewCount => 2;
    public override bool WantsStrongViews => true;

    public override LossTerms Loss(IReadOnlyList<Tensor> views)
    {
        long n = views[0].shape[0];
        bool bothMasked = Options.MaskedViews == 2;
        // Both views through the masked branch as one batch (CAN), or only the first (asymmetric variant), or, with no
        // masked view, a masked copy of the first beside two clean contrastive views (a third pass).
        var images = bothMasked ? cat([views[0], views[1]], 0) : views[0];
        using var mask = RandomMask(images.shape[0], branch);
        bool denoise = Options.WeightNoise > 0;
        var (input, noise, level) = denoise ? AddNoise(images) : (images, null, null);
        var (pooled, predictions) = branch.Forward(input, mask, level);

        var (first, second) = Options.MaskedViews switch
        {
            2 => (pooled[..(int)n], pooled[(int)n..]),
            1 => (pooled, Encoder.forward(views[1])),
            _ => CleanPair(views),
        };
        var contrastive = NtXentLoss.Compute(projection.forward(first), projection.forward(second), Options.Temperature);
        var reconstruction = ReconstructionLoss.OnPatches(predictions, images, branch.Patch, mask.Mask, Options.NormalizeTargets);
        var components = new Dictionary<string, Tensor> { ["contrastive"] = contrastive, ["reconstruction"] = reconstruction };
        var reconstructionTerm = reconstruction;
        if (denoise)
        {
            var denoising = ReconstructionLoss.OnNoise(predictions, noise!, branch.Patch, OneMinus(mask.Mask));
            components["denoise"] = denoising;
            reconstructionTerm = Weighted(1 - Options.WeightNoise, reconstruction, Options.WeightNoise, denoising);
        }
        var total = Weighted(ReconstructionWeight, reconstructionTerm, Options.WeightContrastive, contrastive);
        return new LossTerms(total, components);
    }

    /// <summary>Both views clean through the encoder as one batch, as SimCLR runs them (BatchNorm sees all 2N).</summary>
    (Tensor First, Tensor Second) CleanPair(IReadOnlyList<Tensor> views)
    {
        long n = views[0].shape[0];
        var embeddings = Encoder.forward(cat([views[0], views[1]], 0));
        return (embeddings[..(int)n], embeddings[(int)n..]);
    }
}
