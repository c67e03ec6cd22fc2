using TorchSharp;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Views;

/// <summary>
/// Random views of a batch, each sample with its own draw (crop scale and aspect, position, flip, rotation, shear,
/// brightness, contrast, saturation, grey, blur, noise), computed on tensors from one seeded generator so runs repeat.
/// Crop, translation, flip, rotation and shear are one affine transform per sample, applied by a single grid_sample
/// (Jaderberg et al. 2015, spatial transformers); this replaces per-image crop loops.
/// </summary>
public sealed class ImageAugmenter(AugmentationOptions options, Generator generator)
{
    public AugmentationOptions Options { get; } = options;
    // Random draws come from the CPU generator and move to the images' device (CUDA cannot use a CPU generator).
    Device device = CPU;

    /// <summary>Float images in [0, 1], N×C×H×W → a random view of each, same shape, in [0, 1].</summary>
    public Tensor Augment(Tensor images)
    {
        using var scope = NewDisposeScope();
        device = images.device;
        long n = images.shape[0], channels = images.shape[1];
        var x = RandomResizedCrop(images);
        if (Options.JitterProbability > 0 && (Options.Jitter > 0 || (channels == 3 && Options.Saturation > 0)))
            x = ColourJitter(x);
        if (channels == 3 && Options.GreyProbability > 0)
        {
            var grey = Luma(x).expand(-1, 3, -1, -1);
            var pick = Uniform(n).lt(Of(Options.GreyProbability)).view(n, 1, 1, 1);
            x = where(pick, grey, x);
        }
        if (Options.BlurProbability > 0) x = RandomBlur(x);
        if (Options.NoiseMax > 0)
        {
            var sigma = Uniform(n).mul_(Of(Options.NoiseMax)).view(n, 1, 1, 1);
            x = x.add(randn(x.shape, generator: generator).to(device).mul_(sigma), One);
        }
        if (Options.CutoutMax > 0) x = Cutout(x);
        return x.clamp_(Of(0.0), Of(1.0)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Cutout (DeVries and Taylor 2017), as FixMatch's strong augmentation ends (Sohn et al. 2020, §2.3): a square of
    /// side up to <see cref="AugmentationOptions.CutoutMax"/> of the image, centred anywhere (it may hang over the
    /// edge), filled with <see cref="AugmentationOptions.CutoutFill"/> (mid grey by default).
    /// </summary>
    Tensor Cutout(Tensor x)
    {
        long n = x.shape[0], height = x.shape[2], width = x.shape[3];
        var half = Uniform(n, 0, Options.CutoutMax * Math.Min(height, width) / 2).view(n, 1, 1, 1);
        var cy = Uniform(n, 0, height).view(n, 1, 1, 1);
        var cx = Uniform(n, 0, width).view(n, 1, 1, 1);
        // Pixel centres at i + ½.
        var rows = arange(Of(0.5), Of(height + 0.5), One, ScalarType.Float32, device: device).view(1, 1, height, 1);
        var columns = arange(Of(0.5), Of(width + 0.5), One, ScalarType.Float32, device: device).view(1, 1, 1, width);
        var inside = (rows - cy).abs_().lt(half).logical_and((columns - cx).abs_().lt(half));
        return x.masked_fill(inside, Of(Options.CutoutFill));
    }

    Tensor Uniform(long n) => rand(n, generator: generator).to(device);
    Tensor Uniform(long n, double low, double high) => Uniform(n).mul_(Of(high - low)).add_(Of(low), One);

    Tensor RandomResizedCrop(Tensor x)
    {
        long n = x.shape[0];
        var area = Uniform(n, Options.CropScaleMin, Options.CropScaleMax);
        var ratio = Uniform(n, Math.Log(Options.AspectMin), Math.Log(Options.AspectMax)).exp_();
        // Crop width and height as fractions of the image; affine_grid maps output [-1, 1] onto [c − w, c + w].
        var w = (area * ratio).sqrt_().clamp_(max: Of(1.0));
        var h = (area / ratio).sqrt_().clamp_(max: Of(1.0));
        var cx = Uniform(n, -1, 1).mul_(OneMinus(w));
        var cy = Uniform(n, -1, 1).mul_(OneMinus(h));
        if (Options.Translate > 0)
        {
            // The image spans [-1, 1]: a shift by a fraction t of its side moves the centre by 2t.
            cx = cx.add_(Uniform(n, -2 * Options.Translate, 2 * Options.Translate), One);
            cy = cy.add_(Uniform(n, -2 * Options.Translate, 2 * Options.Translate), One);
        }
        // −1 (mirror) with probability ½: 1 − 2·[u < ½].
        var flip = Options.HorizontalFlip ? Uniform(n).lt(Of(0.5)).to_type(ScalarType.Float32).mul_(Of(-2.0)).add_(Of(1.0), One) : ones(n, device: device);
        var zero = zeros(n, device: device);
        var theta = stack([w * flip, zero, cx, zero, h, cy], 1).view(n, 2, 3);
        if (Options.RotateMax > 0 || Options.ShearMax > 0) theta = Distort(theta, n, x.shape[2], x.shape[3]);
        var grid = F.affine_grid(theta, x.shape, align_corners: false);
        return F.grid_sample(x, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, align_corners: false);
    }

    /// <summary>
    /// Rotation and shear about the view's centre: the linear part of <paramref name="theta"/> (output → input
    /// coordinates) is followed by a random rotation and shear drawn per sample. Both act in pixel units, so on a
    /// non-square image a rotation stays a rotation: normalized coordinates are scaled by the sides before and after.
    /// </summary>
    Tensor Distort(Tensor theta, long n, long height, long width)
    {
        double toPixels = (double)width / height; // x_pixels / y_pixels for equal normalized steps
        var angle = Uniform(n, -Options.RotateMax, Options.RotateMax).mul_(Of(Math.PI / 180));
        var shearX = Uniform(n, -Options.ShearMax, Options.ShearMax);
        var shearY = Uniform(n, -Options.ShearMax, Options.ShearMax);
        var (cos, sin) = (angle.cos(), angle.sin());
        // In pixel units D = R · Sh, R = [[cos, −sin], [sin, cos]], Sh = [[1, sx], [sy, 1]]; in normalized units
        // D' = P⁻¹ D P with P = diag(width, height) / 2, i.e. D'₀₁ = D₀₁ · h/w and D'₁₀ = D₁₀ · w/h.
        var d00 = cos - sin * shearY;
        var d01 = (cos * shearX - sin).mul_(Of(1 / toPixels));
        var d10 = cos.mul(shearY).add_(sin, One).mul_(Of(toPixels));
        var d11 = sin.mul(shearX).add_(cos, One);
        var distortion = stack([d00, d01, d10, d11], 1).view(n, 2, 2);
        // Sample at theta's linear part applied after the distortion: input = A · D · output + offset.
        var linear = theta[.., .., 0..2].bmm(distortion);
        return cat([linear, theta[.., .., 2..3]], 2);
    }

    Tensor ColourJitter(Tensor x)
    {
        long n = x.shape[0];
        var apply = Uniform(n).lt(Of(Options.JitterProbability)).to_type(ScalarType.Float32);
        // Factor 1 means "unchanged": samples that skip jitter get 1 + 0 · (draw − 1).
        Tensor Factor(double spread) => Uniform(n, -spread, spread).mul_(apply).add_(Of(1.0), One).view(n, 1, 1, 1);
        var brightness = Factor(Options.Jitter);
        var contrast = Factor(Options.Jitter);
        x = x * brightness;
        var mean = Luma(x).mean([1, 2, 3], keepdim: true);
        x = (x - mean).mul_(contrast).add_(mean, One);
        if (x.shape[1] == 3 && Options.Saturation > 0)
        {
            var grey = Luma(x);
            x = (x - grey).mul_(Factor(Options.Saturation)).add_(grey, One);
        }
        return x.clamp_(Of(0.0), Of(1.0));
    }

    /// <summary>Blends each sample with a Gaussian-blurred copy by a random amount (0 for samples not drawn).</summary>
    Tensor RandomBlur(Tensor x)
    {
        long n = x.shape[0], c = x.shape[1], side = Math.Min(x.shape[2], x.shape[3]);
        int k = side <= 32 ? 3 : (int)(side / 20) * 2 + 1;
        double sigma = Math.Max(0.5, k / 3.0);
        var offsets = arange(Of(0L), Of((long)k), One, ScalarType.Float32, device: device).sub_(Of((k - 1) / 2.0));
        var g = (offsets * offsets).div_(Of(-2 * sigma * sigma)).exp_();
        g = g / g.sum();
        var kernel = outer(g, g).expand(c, 1, k, k).contiguous();
        var padded = F.pad(x, [k / 2, k / 2, k / 2, k / 2], PaddingModes.Replicate);
        var blurred = F.conv2d(padded, kernel, groups: c);
        var amount = (Uniform(n).lt(Of(Options.BlurProbability)).to_type(ScalarType.Float32) * Uniform(n)).view(n, 1, 1, 1);
        return x.add((blurred - x).mul_(amount), One);
    }

    static Tensor Luma(Tensor x) => x.shape[1] == 1 ? x
        : x[.., 0..1].mul(Of(0.299)).add(x[.., 1..2], Of(0.587)).add(x[.., 2..3], Of(0.114));
}
