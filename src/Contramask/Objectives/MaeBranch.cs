using Contramask.Models;
using Contramask.Views;
using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// MAE's asymmetric encoder-decoder (He et al. 2021, §3): the ViT encodes only the visible tokens; a light decoder
/// receives them projected to its width, plus a learned mask token at every hidden position, unshuffled into
/// patch order, with fixed positions; it predicts each patch's pixels. With a <c>decoderBlock</c> the decoder reads the
/// tokens after that encoder block, layer-normed, instead of the last (the layered fusion, see <see cref="FusionKind.Layered"/>).
/// </summary>
public sealed class MaeBranch : MaskedBranch
{
    readonly VisionTransformer encoder;
    readonly Linear decoderEmbedding, predictor;
    readonly Parameter maskToken;
    readonly ModuleList<TransformerBlock> decoderBlocks;
    readonly LayerNorm decoderNorm;
    readonly LayerNorm? tapNorm;
    readonly int? decoderBlock;
    readonly Sequential noiseEmbedding;
    Tensor decoderPositions;
    readonly int decoderDim;
    readonly double noiseStdMax;

    public MaeBranch(VisionTransformer encoder, ObjectiveOptions options, int? decoderBlock = null) : base("mae")
    {
        if (decoderBlock is int block && (block < 1 || block >= encoder.Depth))
            throw new ArgumentException($"this ViT has {encoder.Depth} blocks: the decoder cannot read block {block}");
        this.encoder = encoder;
        this.decoderBlock = decoderBlock;
        if (decoderBlock is not null) tapNorm = nn.LayerNorm(encoder.Dim, eps: 1e-6);
        decoderDim = options.DecoderDim;
        noiseStdMax = options.NoiseStdMax;
        decoderEmbedding = nn.Linear(encoder.Dim, decoderDim);
        maskToken = nn.Parameter(nn.init.normal_(empty(1, 1, decoderDim), std: 0.02));
        decoderBlocks = nn.ModuleList(Enumerable.Range(0, options.DecoderDepth).Select(_ => new TransformerBlock(decoderDim, options.DecoderHeads)).ToArray());
        decoderNorm = nn.LayerNorm(decoderDim, eps: 1e-6);
        predictor = nn.Linear(decoderDim, encoder.Patch * encoder.Patch * encoder.Channels);
        noiseEmbedding = nn.Sequential(nn.Linear(decoderDim, decoderDim), nn.ReLU(), nn.Linear(decoderDim, decoderDim));
        decoderPositions = PositionEmbedding.SinCos2D(decoderDim, encoder.GridHeight, encoder.GridWidth);
        register_buffer("decoder_positions", decoderPositions, persistent: false);
        RegisterComponents();
    }

    public override int Patch => encoder.Patch;
    public override int GridHeight => encoder.GridHeight;
    public override int GridWidth => encoder.GridWidth;

    public override (Tensor Pooled, Tensor Predictions) Forward(Tensor images, PatchMask mask, Tensor? noiseLevel)
    {
        using var scope = NewDisposeScope();
        Tensor visible, pooled;
        if (decoderBlock is int tapAfter)
        {
            var (tokens, tapped) = encoder.EncodeVisible(images, mask.KeepIndices, tapAfter);
            pooled = tokens.mean([1]);
            visible = tapNorm!.forward(tapped);
        }
        else
        {
            visible = encoder.EncodeVisible(images, mask.KeepIndices);
            pooled = visible.mean([1]);
        }
        // A non-persistent buffer is not moved by Module.to (TorchSharp moves only persistent ones): follow the input.
        if (decoderPositions.device != visible.device) decoderPositions = decoderPositions.to(visible.device).DetachFromDisposeScope();
        var x = mask.Unshuffle(decoderEmbedding.forward(visible), maskToken).add(decoderPositions, One);
        if (noiseLevel is not null)
            x = x.add(noiseEmbedding.forward(NoiseFeatures(noiseLevel, noiseStdMax, decoderDim)).unsqueeze(1), One);
        foreach (var block in decoderBlocks) x = block.forward(x);
        var predictions = predictor.forward(decoderNorm.forward(x));
        return (pooled.MoveToOuterDisposeScope(), predictions.MoveToOuterDisposeScope());
    }
}
