using Contramask.Data;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Views;

/// <summary>
/// SubTab's feature subsets (Ucar et al. 2021, §3; reference code AstraZeneca/SubTab, <c>model.py</c>,
/// <c>subset_generator</c>): the columns in their own order cut into K contiguous slices of ⌊F/K⌋ columns, each slice
/// but the first reaching back over ⌊overlap·⌊F/K⌋⌋ columns of the one before it, the first reaching as far forward.
/// SubTab drops the F mod K trailing columns; here the last subset keeps them, because a column no subset holds would
/// be hidden in every training view and then appear at inference.
/// A view of a subset hides the other columns as missing cells (value 0, missing flag set), which is how the
/// whole-row encoders here see a column that is absent; SubTab's per-subset encoder does not see them at all.
/// </summary>
public sealed class FeatureSubsets
{
    /// <param name="featureCount">F, the table's features (at least 2).</param>
    /// <param name="count">K, the number of subsets (SubTab: 4); fewer when F is smaller.</param>
    /// <param name="overlap">Share of a slice each subset takes from its neighbour (SubTab: 0.75).</param>
    public FeatureSubsets(int featureCount, int count = 4, double overlap = 0.75)
    {
        if (featureCount < 2) throw new ArgumentException($"feature subsets need at least 2 features, the table has {featureCount}");
        if (count < 2) throw new ArgumentOutOfRangeException(nameof(count), $"{count} subsets: expected at least 2");
        if (overlap is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(overlap), $"overlap {overlap}: expected [0, 1]");
        FeatureCount = featureCount;
        int k = Math.Min(count, featureCount);
        int slice = featureCount / k, reach = (int)(overlap * slice);
        Ranges = Enumerable.Range(0, k).Select(i =>
        {
            int start = i == 0 ? 0 : i * slice - reach;
            int end = i == 0 ? slice + reach : i == k - 1 ? featureCount : (i + 1) * slice;
            return (start, Math.Min(end, featureCount));
        }).ToArray();
    }

    public int FeatureCount { get; }
    public int Count => Ranges.Length;
    /// <summary>Each subset as a column range [Start, End).</summary>
    public (int Start, int End)[] Ranges { get; }

    /// <summary>K×F: 1 where subset k hides the column (it is not among its columns).</summary>
    public Tensor HiddenMap(Device device)
    {
        var map = new float[Count * FeatureCount];
        for (int k = 0; k < Count; k++)
            for (int j = 0; j < FeatureCount; j++)
                map[k * FeatureCount + j] = j >= Ranges[k].Start && j < Ranges[k].End ? 0 : 1;
        return tensor(map, new long[] { Count, FeatureCount }, device: device);
    }

    /// <summary>K copies of a batch, subset by subset (copy k is rows k·N to k·N + N − 1): the order <see cref="Hide"/> takes.</summary>
    public Tensor Repeat(Tensor rows) => rows.repeat(Count, 1);

    /// <summary>
    /// The K views of packed rows stacked subset by subset (K·N×2F): view k of a row keeps subset k's cells and shows
    /// every other cell as missing.
    /// </summary>
    /// <param name="rows">K·N packed rows from <see cref="Repeat"/> (each copy may carry its own noise).</param>
    public Tensor Hide(Tensor rows, TableLayout layout)
    {
        using var scope = NewDisposeScope();
        long n = rows.shape[0] / Count;
        if (n * Count != rows.shape[0]) throw new ArgumentException($"{rows.shape[0]} rows are not {Count} copies of a batch");
        var hidden = HiddenMap(rows.device).repeat_interleave(n, 0);
        var values = layout.Values(rows).mul(OneMinus(hidden));
        var missing = layout.MissingFlags(rows).maximum(hidden);
        return cat([values, missing], 1).MoveToOuterDisposeScope();
    }
}
