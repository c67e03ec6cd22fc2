using Contramask.Data;

namespace Contramask.Models;

/// <summary>
/// Which encoder to build. Kinds: <c>convnet</c> (small CNN, 128-d), <c>resnet18</c> (CIFAR-style, 512·width-d),
/// <c>vit</c> (patch, dim, depth, heads). The presets <c>vit-mini</c> (128 wide, 4 deep, 4 heads),
/// <c>vit-tiny</c> (192, 6, 3) and <c>vit-small</c> (384, 12, 6) set the ViT shape. For tables: <c>mlp</c> (residual
/// MLP, dim 256, depth 3) and <c>ft-transformer</c> (feature tokens, dim 64, depth 3, 4 heads).
/// </summary>
public sealed record EncoderOptions
{
    public string Kind { get; init; } = "convnet";
    /// <summary>Channel multiplier: ResNet-18 width (1.0 = 64…512), ConvNet base width / 32.</summary>
    public double Width { get; init; } = 1.0;
    /// <summary>ViT patch side; 0 picks one from the image size.</summary>
    public int Patch { get; init; }
    public int Dim { get; init; } = 192;
    public int Depth { get; init; } = 6;
    public int Heads { get; init; } = 3;

    public static readonly string[] Names = ["convnet", "resnet18", "vit-mini", "vit-tiny", "vit-small", "mlp", "ft-transformer"];

    public static EncoderOptions FromName(string name) => name.ToLowerInvariant() switch
    {
        "convnet" => new() { Kind = "convnet" },
        "resnet18" => new() { Kind = "resnet18" },
        "vit-mini" => new() { Kind = "vit", Dim = 128, Depth = 4, Heads = 4 },
        "vit-tiny" or "vit" => new() { Kind = "vit", Dim = 192, Depth = 6, Heads = 3 },
        "vit-small" => new() { Kind = "vit", Dim = 384, Depth = 12, Heads = 6 },
        "mlp" => new() { Kind = "mlp", Dim = 256, Depth = 3 },
        "ft-transformer" or "ft" => new() { Kind = "ft-transformer", Dim = 64, Depth = 3, Heads = 4 },
        _ => throw new ArgumentException($"unknown encoder '{name}'; expected one of {string.Join(", ", Names)}"),
    };

    public bool IsVit => Kind == "vit";
    public bool IsTable => Kind is "mlp" or "ft-transformer";

    /// <summary>
    /// The patch side for masks and ViT tokens: the given one, else the smallest divisor p ≥ 2 of the side that
    /// gives at most 4 patches per side up to 28 px (8×8 digits → 2, MNIST → 7, as the reference ViT of
    /// docs/ENGINEERING.md, quality anchors) and at most 8 beyond (CIFAR → 4). Few tokens keep a ViT fast on a CPU.
    /// </summary>
    public int PatchFor(int height, int width)
    {
        int side = Math.Min(height, width);
        int perSide = side <= 28 ? 4 : 8;
        int patch = Patch > 0 ? Patch : Enumerable.Range(2, Math.Max(1, side - 1)).FirstOrDefault(p => side % p == 0 && side / p <= perSide, side);
        if (height % patch != 0 || width % patch != 0)
            throw new ArgumentException($"image size {height}×{width} is not divisible by the patch size {patch}; choose --patch to divide it");
        return patch;
    }

    public TableEncoder BuildTable(TableLayout layout) => Kind switch
    {
        "mlp" => new ResidualMlp(layout, Dim, Depth),
        "ft-transformer" => new FeatureTokenTransformer(layout, Dim, Depth, Heads),
        _ => throw new ArgumentException($"encoder '{Kind}' is for images; tables take mlp or ft-transformer"),
    };

    public ImageEncoder Build(int channels, int height, int width) => Kind switch
    {
        "convnet" => new ConvNet(channels, Math.Max(4, (int)Math.Round(32 * Width))),
        "resnet18" => new ResNet18(channels, Width),
        "vit" => new VisionTransformer(channels, height, width, PatchFor(height, width), Dim, Depth, Heads),
        "mlp" or "ft-transformer" => throw new ArgumentException($"encoder '{Kind}' is for tables; images take convnet, resnet18 or a vit"),
        _ => throw new ArgumentException($"unknown encoder kind '{Kind}'"),
    };

    public void Validate()
    {
        if (Width is <= 0 or > 8) throw new ArgumentOutOfRangeException(null, $"encoder width {Width} is out of range: expected (0, 8]");
        if (Patch < 0 || Patch > 64) throw new ArgumentOutOfRangeException(null, $"patch {Patch} is out of range: expected 1 to 64 (0 = automatic)");
        if (Kind is "vit" or "mlp" or "ft-transformer")
        {
            if (Dim < 8 || Dim % 4 != 0 || Dim > 2048) throw new ArgumentOutOfRangeException(null, $"encoder width {Dim} must be a multiple of 4 between 8 and 2048");
            if (Depth is < 1 or > 48) throw new ArgumentOutOfRangeException(null, $"encoder depth {Depth} is out of range: expected 1 to 48");
            if (Kind != "mlp" && (Heads < 1 || Dim % Heads != 0)) throw new ArgumentOutOfRangeException(null, $"attention heads {Heads} must divide the width {Dim}");
        }
    }

    public override string ToString() => Kind == "vit" ? $"vit(dim {Dim}, depth {Depth}, heads {Heads}, patch {(Patch == 0 ? "auto" : Patch)})"
        : Kind == "mlp" ? $"mlp(dim {Dim}, depth {Depth})"
        : Kind == "ft-transformer" ? $"ft-transformer(dim {Dim}, depth {Depth}, heads {Heads})"
        : Kind == "resnet18" && Width != 1 ? $"resnet18(width {Width})" : Kind;
}
