namespace Contramask.Views;

/// <summary>
/// Random views of table rows. SCARF corrupts exactly ⌊c·F⌋ features of the positive with values of the same
/// features from other training rows (its paper found c = 0.6 best on its benchmarks; on UCI Letter's validation
/// slice 0.3 won by 2.8 points of linear accuracy, docs/TUNING.md). Masked and fused objectives corrupt inside the
/// objective (VIME); the fusion adds a little Gaussian noise to the numbers after corruption.
/// </summary>
public sealed record TableViewOptions
{
    /// <summary>Fraction c of each row's features replaced by another row's value of that feature.</summary>
    public double CorruptionRate { get; init; } = 0.3;
    /// <summary>Fusion: standard deviation of Gaussian noise added to standardized numbers after corruption (missing cells untouched).</summary>
    public double NoiseStd { get; init; } = 0.05;

    public static TableViewOptions ForContrastive() => new();
    public static TableViewOptions Light() => new() { CorruptionRate = 0, NoiseStd = 0.05 };

    public void Validate()
    {
        if (CorruptionRate is < 0 or >= 1) throw new ArgumentOutOfRangeException(null, $"corruption rate {CorruptionRate} is out of range: expected [0, 1)");
        if (NoiseStd is < 0 or > 10) throw new ArgumentOutOfRangeException(null, $"table noise {NoiseStd} is out of range: expected [0, 10]");
    }
}
