using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using Contramask.Views;

namespace Contramask.Models;

/// <summary>
/// A Vision Transformer (Dosovitskiy et al. 2021) without a class token: patches → linear embedding + fixed 2-D
/// sin-cos positions → pre-norm blocks → LayerNorm; the embedding is the mean of the tokens. As in MAE
/// (He et al. 2021) it can encode only the visible patches of a mask, which is what makes masked pretraining cheap.
/// </summary>
public sealed class VisionTransformer : ImageEncoder
{
    readonly Linear patchEmbedding;
    readonly ModuleList<TransformerBlock> blocks;
    readonly LayerNorm norm;
    Tensor positions;

    public VisionTransformer(int channels, int height, int width, int patch, int dim, int depth, int heads) : base("vit")
    {
        if (height % patch != 0 || width % patch != 0)
            throw new ArgumentException($"image size {height}×{width} is not divisible by the patch size {patch}");
        Channels = channels; ImageHeight = height; ImageWidth = width; Patch = patch; Dim = dim; Depth = depth; Heads = heads;
        patchEmbedding = nn.Linear(patch * patch * channels, dim);
        nn.init.xavier_uniform_(patchEmbedding.weight);
        nn.init.zeros_(patchEmbedding.bias);
        blocks = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new TransformerBlock(dim, heads)).ToArray());
        norm = nn.LayerNorm(dim, eps: 1e-6);
        positions = PositionEmbedding.SinCos2D(dim, GridHeight, GridWidth);
        register_buffer("positions", positions, persistent: false);
        RegisterComponents();
    }

    public int Channels { get; }
    public int ImageHeight { get; }
    public int ImageWidth { get; }
    public int Patch { get; }
    public int Dim { get; }
    public int Depth { get; }
    public int Heads { get; }
    public int GridHeight => ImageHeight / Patch;
    public int GridWidth => ImageWidth / Patch;
    public override int EmbeddingSize => Dim;

    /// <summary>Tokens of the visible patches (all patches when <paramref name="keepIndices"/> is null): N×K×D.</summary>
    public Tensor EncodeVisible(Tensor images, Tensor? keepIndices) => Encode(images, keepIndices, tapAfter: null).Tokens;

    /// <summary>As <see cref="EncodeVisible(Tensor, Tensor?)"/>, plus the tokens after the first <paramref name="tapAfter"/> blocks (before any norm).</summary>
    public (Tensor Tokens, Tensor Tapped) EncodeVisible(Tensor images, Tensor? keepIndices, int tapAfter)
    {
        if (tapAfter < 1 || tapAfter >= Depth) throw new ArgumentException($"this ViT has {Depth} blocks: cannot tap after block {tapAfter}");
        var (tokens, tapped) = Encode(images, keepIndices, tapAfter);
        return (tokens, tapped!);
    }

    (Tensor Tokens, Tensor? Tapped) Encode(Tensor images, Tensor? keepIndices, int? tapAfter)
    {
        if (images.shape[2] != ImageHeight || images.shape[3] != ImageWidth)
            throw new ArgumentException($"this ViT was built for {ImageHeight}×{ImageWidth} images, got {images.shape[2]}×{images.shape[3]}");
        using var scope = NewDisposeScope();
        // A non-persistent buffer is not moved by Module.to (TorchSharp moves only persistent ones): follow the input.
        if (positions.device != images.device) positions = positions.to(images.device).DetachFromDisposeScope();
        var x = patchEmbedding.forward(Patches.Patchify(images, Patch)).add(positions, One);
        if (keepIndices is not null)
            x = x.gather(1, keepIndices.unsqueeze(-1).expand(-1, -1, Dim));
        Tensor? tapped = null;
        for (int b = 0; b < blocks.Count; b++)
        {
            x = blocks[b].forward(x);
            if (b + 1 == tapAfter) tapped = x.MoveToOuterDisposeScope();
        }
        return (norm.forward(x).MoveToOuterDisposeScope(), tapped);
    }

    public override Tensor forward(Tensor images)
    {
        using var tokens = EncodeVisible(images, null);
        return tokens.mean([1]);
    }
}
