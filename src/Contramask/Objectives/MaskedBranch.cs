using Contramask.Models;
using Contramask.Views;
using TorchSharp;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// What the masked and fused objectives need from an encoder under a patch mask: the pooled embedding of what the
/// encoder saw, and a prediction per patch (N×L×(p·p·C)) from a light decoder. ViTs use <see cref="MaeBranch"/>
/// (visible tokens only), CNNs <see cref="SimMimBranch"/> (masked pixels replaced by a learned value).
/// A noise level (N, in standardized pixel units) tells the decoder how noisy the input was (CAN's denoising).
/// </summary>
public abstract class MaskedBranch(string name) : nn.Module(name)
{
    public abstract int Patch { get; }
    public abstract int GridHeight { get; }
    public abstract int GridWidth { get; }

    public abstract (Tensor Pooled, Tensor Predictions) Forward(Tensor images, PatchMask mask, Tensor? noiseLevel);

    /// <param name="decoderStage">The stage (CNNs) or block (ViTs, counted from 1) whose output the decoder reads (null: the last).</param>
    public static MaskedBranch For(ImageEncoder encoder, ObjectiveOptions options, int channels, int height, int width, int patch, int? decoderStage = null) =>
        encoder switch
        {
            VisionTransformer vit => new MaeBranch(vit, options, decoderStage),
            ConvEncoder cnn => new SimMimBranch(cnn, options, channels, height, width, patch, decoderStage),
            _ => throw new ArgumentException($"no masked branch for encoder {encoder.GetType().Name}"),
        };

    /// <summary>Sinusoidal features of the noise level (scaled to [0, 1000] like a diffusion time step).</summary>
    protected static Tensor NoiseFeatures(Tensor noiseLevel, double maxLevel, int dim) =>
        PositionEmbedding.SinCos1D(dim, noiseLevel.mul(Of(1000 / maxLevel)));
}
