using Contramask.Data;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Views;

/// <summary>
/// Corruption of table rows, batched and driven by one seeded generator. A corrupted cell takes the value (and the
/// missing flag) of the same feature in another random row of the training split: a draw from that feature's
/// empirical marginal distribution, which is how SCARF (Bahri et al. 2021, §2) and VIME (Yoon et al. 2020, §4.1,
/// a column-wise permutation of the unlabeled data) corrupt, so a corrupted value is always one the column holds.
/// <list type="bullet">
/// <item><see cref="CorruptExactly"/>: SCARF. Exactly ⌊c·F⌋ features of each row, chosen uniformly; each replaced from a
/// training row other than the row itself.</item>
/// <item><see cref="CorruptEach"/>: VIME. Each cell independently with probability p; the mask estimator's target is
/// whether the cell changed (x̃ ≠ x), which <see cref="CorruptEach"/> returns.</item>
/// </list>
/// Without a pool of training rows (the two-view variant kept for comparison) donors come from the batch.
/// </summary>
public sealed class RowCorruption
{
    readonly Generator generator;
    Tensor? pool;

    /// <param name="pool">The training rows, packed N×2F (<see cref="TableDataset.Batch"/>), donors are drawn from; null = from the batch.</param>
    public RowCorruption(TableLayout layout, Generator generator, Tensor? pool = null)
    {
        Layout = layout;
        this.generator = generator;
        this.pool = pool;
    }

    public TableLayout Layout { get; }

    /// <summary>SCARF: ⌊<paramref name="rate"/>·F⌋ features of every row replaced from other training rows.</summary>
    /// <param name="indices">Each row's index in the training split, so its donor is never itself; null when unknown.</param>
    public Tensor CorruptExactly(Tensor rows, double rate, int[]? indices)
    {
        using var scope = NewDisposeScope();
        long n = rows.shape[0];
        int f = Layout.FeatureCount, count = (int)Math.Floor(rate * f + 1e-9);
        // The first `count` columns of a random permutation of each row: a uniform choice of exactly `count` features.
        var rank = rand(new long[] { n, f }, generator: generator).argsort(1).argsort(1);
        var mask = rank.lt(Of((long)count)).to(rows.device);
        return Replace(rows, mask, Donors(n, f, indices, rows.device)).MoveToOuterDisposeScope();
    }

    /// <summary>VIME: every cell replaced with probability <paramref name="rate"/>. Returns the rows and the N×F 0/1 map of cells whose value or missing flag changed.</summary>
    public (Tensor Rows, Tensor Changed) CorruptEach(Tensor rows, double rate)
    {
        using var scope = NewDisposeScope();
        long n = rows.shape[0];
        int f = Layout.FeatureCount;
        var mask = rand(new long[] { n, f }, generator: generator).lt(Of(rate)).to(rows.device);
        var corrupted = Replace(rows, mask, Donors(n, f, null, rows.device));
        var changed = Layout.Values(corrupted).ne(Layout.Values(rows)).logical_or(Layout.MissingFlags(corrupted).ne(Layout.MissingFlags(rows)));
        return (corrupted.MoveToOuterDisposeScope(), changed.to(ScalarType.Float32).MoveToOuterDisposeScope());
    }

    /// <summary>Row indices (in the pool, or in the batch without one) of the donor of every cell, N×F.</summary>
    Tensor Donors(long n, int f, int[]? indices, Device device)
    {
        long size = pool?.shape[0] ?? n;
        if (indices is null || size < 2) return randint(0, size, new long[] { n, f }, generator: generator).to(device);
        // A uniform draw among the other size − 1 rows: draw from [0, size − 1) and skip over the row itself.
        var draw = randint(0, size - 1, new long[] { n, f }, generator: generator);
        var self = tensor(indices.Select(i => (long)i).ToArray()).unsqueeze(1);
        return draw.add(draw.ge(self).to(ScalarType.Int64), One).to(device);
    }

    Tensor Replace(Tensor rows, Tensor mask, Tensor donors)
    {
        // The pool follows the rows to their device once (it is the training split, too large to move every step).
        if (pool is not null && pool.device != rows.device) pool = pool.to(rows.device).DetachFromDisposeScope();
        var source = pool ?? rows;
        var donorValues = Layout.Values(source).gather(0, donors);
        var donorMissing = Layout.MissingFlags(source).gather(0, donors);
        var values = where(mask, donorValues, Layout.Values(rows));
        var missing = where(mask, donorMissing, Layout.MissingFlags(rows));
        return cat([values, missing], 1);
    }

    /// <summary>Adds N(0, std²) to observed numeric features; categories and missing cells stay as they are.</summary>
    public Tensor AddNoise(Tensor rows, double std)
    {
        if (std <= 0 || Layout.NumericColumns.Length == 0) return rows;
        using var scope = NewDisposeScope();
        int f = Layout.FeatureCount;
        var observed = OneMinus(Layout.MissingFlags(rows));
        var noise = randn(new long[] { rows.shape[0], f }, generator: generator).to(rows.device).mul_(Of(std)).mul_(Layout.NumericMask(rows.device)).mul_(observed);
        return cat([Layout.Values(rows).add(noise, One), Layout.MissingFlags(rows)], 1).MoveToOuterDisposeScope();
    }
}
