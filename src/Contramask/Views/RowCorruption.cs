using Contramask.Data;
using static TorchSharp.torch;

namespace Contramask.Views;

/// <summary>
/// Corruption of table rows, batched and driven by one seeded generator. Each chosen cell takes the value (and the
/// missing flag) of the same feature in another random row of the batch: SCARF's draw from the feature's
/// empirical distribution (Bahri et al. 2021) and VIME's mask-and-fill (Yoon et al. 2020, which shuffles each
/// column within the batch), so a corrupted value is always one the column really holds.
/// </summary>
public sealed class RowCorruption(TableLayout layout, Generator generator)
{
    public TableLayout Layout { get; } = layout;

    /// <summary>Replaces each cell with probability <paramref name="rate"/>. Returns the rows and the N×F 0/1 mask of replaced cells.</summary>
    public (Tensor Rows, Tensor Mask) Corrupt(Tensor rows, double rate)
    {
        using var scope = NewDisposeScope();
        long n = rows.shape[0];
        int f = Layout.FeatureCount;
        var mask = rand(new long[] { n, f }, generator: generator).to(rows.device).lt(rate);
        var donors = randint(0, n, new long[] { n, f }, generator: generator).to(rows.device);
        // Gather the donor row's value and missing flag for every cell, then keep them only where masked.
        var donorValues = Layout.Values(rows).gather(0, donors);
        var donorMissing = Layout.MissingFlags(rows).gather(0, donors);
        var values = where(mask, donorValues, Layout.Values(rows));
        var missing = where(mask, donorMissing, Layout.MissingFlags(rows));
        return (cat([values, missing], 1).MoveToOuterDisposeScope(), mask.to(ScalarType.Float32).MoveToOuterDisposeScope());
    }

    /// <summary>Adds N(0, std²) to observed numeric features; categories and missing cells stay as they are.</summary>
    public Tensor AddNoise(Tensor rows, double std)
    {
        if (std <= 0 || Layout.NumericColumns.Length == 0) return rows;
        using var scope = NewDisposeScope();
        int f = Layout.FeatureCount;
        var observed = 1 - Layout.MissingFlags(rows);
        var noise = randn(new long[] { rows.shape[0], f }, generator: generator).to(rows.device) * std * Layout.NumericMask(rows.device) * observed;
        return cat([Layout.Values(rows) + noise, Layout.MissingFlags(rows)], 1).MoveToOuterDisposeScope();
    }

    /// <summary>A random view: SCARF corruption then noise, as <paramref name="options"/> say.</summary>
    public Tensor View(Tensor rows, TableViewOptions options)
    {
        var view = options.CorruptionRate > 0 ? Corrupt(rows, options.CorruptionRate).Rows : rows;
        return AddNoise(view, options.NoiseStd);
    }
}
