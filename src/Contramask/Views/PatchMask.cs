using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Views;

/// <summary>
/// A random patch mask for a batch, in the MAE reference's three forms: <see cref="KeepIndices"/> (N×K, which
/// patches stay visible, so a ViT encodes only those), <see cref="RestoreIndices"/> (N×L, undoes the shuffle
/// for the decoder) and <see cref="Mask"/> (N×L float, 1 = hidden). Each sample gets its own draw.
/// </summary>
public sealed class PatchMask : IDisposable
{
    PatchMask(Tensor keep, Tensor restore, Tensor mask, int gridHeight, int gridWidth)
    { KeepIndices = keep; RestoreIndices = restore; Mask = mask; GridHeight = gridHeight; GridWidth = gridWidth; }

    public Tensor KeepIndices { get; }
    public Tensor RestoreIndices { get; }
    public Tensor Mask { get; }
    public int GridHeight { get; }
    public int GridWidth { get; }
    public int PatchCount => GridHeight * GridWidth;
    public int VisibleCount => (int)KeepIndices.shape[1];

    /// <summary>Hides round(ratio · L) patches of each sample, chosen uniformly by sorting random noise.</summary>
    public static PatchMask Random(long batch, int gridHeight, int gridWidth, double ratio, Generator generator, Device? device = null)
    {
        if (ratio < 0 || ratio >= 1) throw new ArgumentOutOfRangeException(nameof(ratio), $"mask ratio {ratio} must be in [0, 1)");
        int count = gridHeight * gridWidth;
        int keep = Math.Max(1, (int)Math.Round(count * (1 - ratio)));
        using var noise = rand(batch, count, generator: generator);
        using var shuffle = noise.argsort(1);
        var restore = shuffle.argsort(1);
        var keepIndices = shuffle[.., ..keep].contiguous();
        using var sortedMask = ones(batch, count);
        sortedMask[.., ..keep].fill_(Of(0.0));
        var mask = sortedMask.gather(1, restore);
        return device is null ? new PatchMask(keepIndices, restore, mask, gridHeight, gridWidth)
            : new PatchMask(keepIndices.to(device), restore.to(device), mask.to(device), gridHeight, gridWidth);
    }

    /// <summary>
    /// MAE's unshuffle (He et al. 2021, reference <c>forward_decoder</c>): the visible tokens (N×K×D, in
    /// <see cref="KeepIndices"/> order) followed by <paramref name="fill"/> (1×1×D, the mask token) for every hidden
    /// patch, put back into patch order by <see cref="RestoreIndices"/>: N×L×D.
    /// </summary>
    public Tensor Unshuffle(Tensor visible, Tensor fill)
    {
        long n = visible.shape[0], d = visible.shape[2];
        var all = cat([visible, fill.expand(n, PatchCount - VisibleCount, d)], 1);
        return all.gather(1, RestoreIndices.unsqueeze(-1).expand(-1, -1, d));
    }

    /// <summary>The mask at pixel resolution, N×1×H×W (1 = hidden), for CNNs (SimMIM-style input masking).</summary>
    public Tensor PixelMask(int height, int width)
    {
        long n = Mask.shape[0];
        int ph = height / GridHeight, pw = width / GridWidth;
        return Mask.view(n, 1, GridHeight, GridWidth).repeat_interleave(ph, 2).repeat_interleave(pw, 3);
    }

    public void Dispose() { KeepIndices.Dispose(); RestoreIndices.Dispose(); Mask.Dispose(); }
}
