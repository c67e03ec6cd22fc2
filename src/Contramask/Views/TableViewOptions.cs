namespace Contramask.Views;

/// <summary>How the views of a contrastive table objective are made.</summary>
public enum TableContrastiveViews
{
    /// <summary>SCARF (Bahri et al. 2021): the clean row is the anchor, its corrupted copy the positive.</summary>
    Scarf,
    /// <summary>
    /// Contramask's earlier variant, kept for comparison: two views, each cell of each replaced with probability c
    /// from another row of the batch, plus noise; NT-Xent over both.
    /// </summary>
    TwoCorrupted,
}

/// <summary>
/// Random views of table rows. SCARF corrupts exactly ⌊c·F⌋ features of the positive with values of the same
/// features from other training rows (the paper found c = 0.6 best); masked and fused objectives corrupt inside the
/// objective (VIME masks), so their views only add a little Gaussian noise to the standardized numbers.
/// </summary>
public sealed record TableViewOptions
{
    /// <summary>Fraction c of each row's features replaced by another row's value of that feature.</summary>
    public double CorruptionRate { get; init; } = 0.6;
    /// <summary>Standard deviation of Gaussian noise added to standardized numeric features (missing cells untouched); not used by SCARF's views.</summary>
    public double NoiseStd { get; init; } = 0.05;
    public TableContrastiveViews Contrastive { get; init; } = TableContrastiveViews.Scarf;

    public static TableViewOptions ForContrastive() => new();
    public static TableViewOptions Light() => new() { CorruptionRate = 0, NoiseStd = 0.05 };

    public void Validate()
    {
        if (CorruptionRate is < 0 or >= 1) throw new ArgumentOutOfRangeException(null, $"corruption rate {CorruptionRate} is out of range: expected [0, 1)");
        if (NoiseStd is < 0 or > 10) throw new ArgumentOutOfRangeException(null, $"table noise {NoiseStd} is out of range: expected [0, 10]");
    }
}
