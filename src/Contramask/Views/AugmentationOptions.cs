namespace Contramask.Views;

/// <summary>
/// Strength of the random views. SimCLR (Chen et al. 2020, §3) found crop plus colour distortion the crucial
/// pair; for grey digits colour reduces to brightness/contrast, and horizontal flips change a digit's meaning, so
/// they are off by default for one-channel data.
/// </summary>
public sealed record AugmentationOptions
{
    /// <summary>Smallest crop area as a fraction of the image (random resized crop).</summary>
    public double CropScaleMin { get; init; } = 0.35;
    public double CropScaleMax { get; init; } = 1.0;
    /// <summary>Aspect ratio range of the crop, sampled log-uniformly.</summary>
    public double AspectMin { get; init; } = 3.0 / 4;
    public double AspectMax { get; init; } = 4.0 / 3;
    /// <summary>Largest random shift of the view, as a fraction of the image side, in each direction (on top of the crop's own position).</summary>
    public double Translate { get; init; } = 0;
    public bool HorizontalFlip { get; init; } = false;
    /// <summary>Largest rotation of the view, in degrees either way (0 = none).</summary>
    public double RotateMax { get; init; } = 0;
    /// <summary>Largest horizontal and vertical shear of the view, as a slope (0 = none).</summary>
    public double ShearMax { get; init; } = 0;
    /// <summary>Brightness and contrast factors drawn from [1 − j, 1 + j].</summary>
    public double Jitter { get; init; } = 0.4;
    /// <summary>Saturation factor range [1 − s, 1 + s] (RGB only).</summary>
    public double Saturation { get; init; } = 0.4;
    public double JitterProbability { get; init; } = 0.8;
    /// <summary>Probability of turning an RGB view grey.</summary>
    public double GreyProbability { get; init; } = 0.2;
    public double BlurProbability { get; init; } = 0.3;
    /// <summary>Standard deviation (unit pixel scale) of additive Gaussian noise, drawn per sample from [0, max].</summary>
    public double NoiseMax { get; init; } = 0.05;

    /// <summary>Strong views for contrastive learning; flips only for colour images.</summary>
    public static AugmentationOptions Contrastive(int channels) => new() { HorizontalFlip = channels == 3 };

    /// <summary>Light views for masked modeling (MAE uses only random resized crop with scale 0.2–1 and flips).</summary>
    public static AugmentationOptions Light(int channels) => new()
    {
        CropScaleMin = 0.5, HorizontalFlip = channels == 3, Jitter = 0, Saturation = 0, JitterProbability = 0,
        GreyProbability = 0, BlurProbability = 0, NoiseMax = 0,
    };

    /// <summary>
    /// FixMatch's weak augmentation (Sohn et al. 2020, §2.3): the whole image shifted by up to 12.5% of its side,
    /// flipped for colour images; no crop, so a digit keeps its size and stays whole.
    /// </summary>
    public static AugmentationOptions Shift(int channels) => new()
    {
        CropScaleMin = 1, CropScaleMax = 1, AspectMin = 1, AspectMax = 1, Translate = 0.125, HorizontalFlip = channels == 3,
        Jitter = 0, Saturation = 0, JitterProbability = 0, GreyProbability = 0, BlurProbability = 0, NoiseMax = 0,
    };

    /// <summary>
    /// A strong view that distorts shape instead of cutting most of the image away: rotation up to 30° and shear up to
    /// 0.3 (the magnitudes of RandAugment's geometric operations in FixMatch's strong augmentation, Sohn et al. 2020,
    /// §2.3 and appendix), shifts up to 10%, a light crop (50–100% of the area) and pretraining's brightness, contrast,
    /// blur and noise, all at once (RandAugment draws two of its fourteen operations per image; this view is harsher in
    /// shape and has no colour operations but pretraining's). The contrastive view's crops down to 35% of the area can cut a
    /// digit's strokes away, which makes the pseudo-label from the weak view a wrong target for it.
    /// </summary>
    public static AugmentationOptions Affine(int channels) => new()
    {
        CropScaleMin = 0.5, RotateMax = 30, ShearMax = 0.3, Translate = 0.1, HorizontalFlip = channels == 3,
    };

    /// <summary>Largest side of the Cutout square (DeVries and Taylor 2017), as a fraction of the image side; 0 = none.</summary>
    public double CutoutMax { get; init; } = 0;
    /// <summary>Mid grey, the value FixMatch's CTAugment fills its Cutout square with.</summary>
    public const double GreyCutoutFill = 0.5;
    /// <summary>The Cutout square's value in the unit range (0 is black).</summary>
    public double CutoutFill { get; init; } = GreyCutoutFill;

    /// <summary>Range checks with messages that name the allowed range.</summary>
    public void Validate()
    {
        Check(CropScaleMin > 0 && CropScaleMin <= CropScaleMax && CropScaleMax <= 1, $"crop scale [{CropScaleMin}, {CropScaleMax}] must satisfy 0 < min ≤ max ≤ 1");
        Check(AspectMin > 0 && AspectMin <= AspectMax, $"aspect range [{AspectMin}, {AspectMax}] must satisfy 0 < min ≤ max");
        Check(Translate is >= 0 and <= 0.5, $"translate {Translate} must be in [0, 0.5]");
        Check(RotateMax is >= 0 and <= 180, $"rotation {RotateMax}° must be in [0, 180]");
        Check(ShearMax is >= 0 and <= 1, $"shear {ShearMax} must be in [0, 1]");
        Check(CutoutMax is >= 0 and <= 1, $"cutout {CutoutMax} must be in [0, 1]");
        Check(CutoutFill is >= 0 and <= 1, $"cutout fill {CutoutFill} must be in [0, 1]");
        Check(Jitter is >= 0 and < 1, $"jitter {Jitter} must be in [0, 1)");
        Check(Saturation is >= 0 and <= 1, $"saturation {Saturation} must be in [0, 1]");
        foreach (var (name, p) in new[] { ("jitter probability", JitterProbability), ("grey probability", GreyProbability), ("blur probability", BlurProbability) })
            Check(p is >= 0 and <= 1, $"{name} {p} must be in [0, 1]");
        Check(NoiseMax is >= 0 and <= 1, $"noise {NoiseMax} must be in [0, 1]");
    }

    static void Check(bool ok, string message) { if (!ok) throw new ArgumentOutOfRangeException(null, message); }
}
