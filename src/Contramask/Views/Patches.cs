using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Views;

/// <summary>
/// Cutting images into non-overlapping p×p patches in row-major order, each flattened as (p, p, C), as in the
/// MAE reference (He et al. 2021): N×C×H×W → N×L×(p·p·C) with L = (H/p)·(W/p).
/// </summary>
public static class Patches
{
    public static Tensor Patchify(Tensor images, int patch)
    {
        long n = images.shape[0], c = images.shape[1], h = images.shape[2] / patch, w = images.shape[3] / patch;
        return images.reshape(n, c, h, patch, w, patch).permute(0, 2, 4, 3, 5, 1).reshape(n, h * w, patch * patch * c);
    }

    public static Tensor Unpatchify(Tensor patches, int patch, int channels, int height, int width)
    {
        long n = patches.shape[0], h = height / patch, w = width / patch;
        return patches.reshape(n, h, w, patch, patch, channels).permute(0, 5, 1, 3, 2, 4).reshape(n, channels, height, width);
    }

    /// <summary>Per-patch standardization of reconstruction targets (MAE's norm_pix_loss).</summary>
    public static Tensor NormalizePerPatch(Tensor patches)
    {
        var mean = patches.mean([-1], keepdim: true);
        var variance = patches.var(-1, keepdim: true);
        return (patches - mean) / variance.add(Of(1e-6), One).sqrt();
    }
}
