using Contramask.Models;
using Contramask.Views;
using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Objectives;

/// <summary>
/// SimMIM (Xie et al. 2022) for CNNs: hidden patches of the input are replaced by a learned per-channel value
/// (a CNN has no tokens to drop), the whole image goes through the encoder, and a light head of 1×1 convolutions
/// on the feature map, resampled to the patch grid, predicts each patch's pixels. The pooled embedding is the
/// global mean of that feature map. With a <c>decoderStage</c> the head reads the map of that lower stage instead
/// (the layered fusion: reconstruction shapes the lower layers only, after Layer-Grafted Pre-training, Jiang et al. 2023).
/// </summary>
public sealed class SimMimBranch : MaskedBranch
{
    readonly ConvEncoder encoder;
    readonly Parameter maskValue;
    readonly Conv2d hidden, predictor;
    readonly Sequential noiseEmbedding;
    readonly int height, width, patch, headDim;
    readonly int? decoderStage;
    readonly double noiseStdMax;

    public SimMimBranch(ConvEncoder encoder, ObjectiveOptions options, int channels, int height, int width, int patch, int? decoderStage = null) : base("simmim")
    {
        if (decoderStage is int stage && (stage < 0 || stage >= encoder.StageWidths.Count - 1))
            throw new ArgumentException($"{encoder.GetType().Name} has {encoder.StageWidths.Count} stage(s): the decoder cannot read a lower stage {stage}");
        if (height % patch != 0 || width % patch != 0)
            throw new ArgumentException($"image size {height}×{width} is not divisible by the mask patch size {patch}");
        this.encoder = encoder; this.height = height; this.width = width; this.patch = patch; this.decoderStage = decoderStage;
        headDim = options.DecoderDim;
        noiseStdMax = options.NoiseStdMax;
        maskValue = nn.Parameter(zeros(1, channels, 1, 1));
        hidden = nn.Conv2d(decoderStage is int lower ? encoder.StageWidths[lower] : encoder.EmbeddingSize, headDim, 1);
        predictor = nn.Conv2d(headDim, patch * patch * channels, 1);
        noiseEmbedding = nn.Sequential(nn.Linear(headDim, headDim), nn.ReLU(), nn.Linear(headDim, headDim));
        RegisterComponents();
    }

    public override int Patch => patch;
    public override int GridHeight => height / patch;
    public override int GridWidth => width / patch;

    public override (Tensor Pooled, Tensor Predictions) Forward(Tensor images, PatchMask mask, Tensor? noiseLevel)
    {
        using var scope = NewDisposeScope();
        var pixelMask = mask.PixelMask(height, width);
        var input = (images * OneMinus(pixelMask)).add(maskValue * pixelMask, One);
        // The embedding is the last map's mean; the head reads the last map or, layered, a lower one.
        IReadOnlyList<Tensor> maps = decoderStage is null ? [encoder.FeatureMap(input)] : encoder.StageMaps(input);
        var pooled = maps[^1].mean([2, 3]);
        var map = maps[decoderStage ?? maps.Count - 1];
        if (map.shape[2] != GridHeight || map.shape[3] != GridWidth)
            map = map.shape[2] > GridHeight
                ? F.adaptive_avg_pool2d(map, [GridHeight, GridWidth])
                : F.interpolate(map, [GridHeight, GridWidth], mode: InterpolationMode.Bilinear, align_corners: false);
        var x = hidden.forward(map);
        if (noiseLevel is not null)
            x = x.add(noiseEmbedding.forward(NoiseFeatures(noiseLevel, noiseStdMax, headDim)).unsqueeze(-1).unsqueeze(-1), One);
        var predictions = predictor.forward(F.gelu(x));
        long n = predictions.shape[0];
        // N×P×h×w → N×L×P with L in row-major patch order, as Patches.Patchify lays out targets.
        predictions = predictions.flatten(2).transpose(1, 2);
        return (pooled.MoveToOuterDisposeScope(), predictions.MoveToOuterDisposeScope());
    }
}
