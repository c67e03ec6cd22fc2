using Contramask.Evaluation;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Mining;

/// <summary>How <see cref="LabelSelection"/> picks the records to label.</summary>
public enum SelectionStrategy
{
    /// <summary>TypiClust (Hacohen, Dekel &amp; Weinshall 2022): k-means into n clusters, the most typical record of each.</summary>
    Typical,
    /// <summary>k-center greedy (Sener &amp; Savarese 2018): each next record the one farthest from all picked so far.</summary>
    Coreset,
    /// <summary>Cluster-balanced: k-means into <see cref="SelectionOptions.Clusters"/> groups, the same share of each, nearest its centre first.</summary>
    Balanced,
    /// <summary>Uniform at random: the baseline.</summary>
    Random,
}

public sealed record SelectionOptions
{
    public SelectionStrategy Strategy { get; init; } = SelectionStrategy.Typical;
    /// <summary>Balanced: clusters to spread the picks over.</summary>
    public int Clusters { get; init; } = 10;
    /// <summary>Typical: neighbours in the typicality estimate (the paper's K = 20).</summary>
    public int TypicalityNeighbours { get; init; } = 20;
    public int Seed { get; init; }
}

/// <summary>One record picked for labelling: its order, row, and the strategy's reason (cluster, score).</summary>
public sealed record SelectedRecord(int Order, int Row, int Cluster, double Score);

/// <summary>
/// Which records to label first, from the embeddings alone (no labels): the records whose labels would teach a
/// classifier most. With few labels the typical records of many clusters serve best (TypiClust's finding, and ours on
/// MNIST's validation slice: docs/MINING.md); coverage-driven k-center picks outliers first at such budgets.
/// </summary>
public static class LabelSelection
{
    public static IReadOnlyList<SelectedRecord> Select(Tensor embeddings, int count, SelectionOptions? options = null, Action<string>? progress = null)
    {
        options ??= new SelectionOptions();
        long n = embeddings.shape[0];
        if (count < 1 || count > n) throw new ArgumentOutOfRangeException(nameof(count), $"{count} records to select from {n}: expected 1 to {n}");
        using var scope = NewDisposeScope();
        var points = F.normalize(embeddings.to_type(ScalarType.Float32), dim: 1);
        return options.Strategy switch
        {
            SelectionStrategy.Typical => Typical(points, count, options, progress),
            SelectionStrategy.Coreset => Coreset(points, count, options.Seed),
            SelectionStrategy.Balanced => Balanced(points, count, options, progress),
            _ => RandomPick((int)n, count, options.Seed),
        };
    }

    static IReadOnlyList<SelectedRecord> RandomPick(int n, int count, int seed)
    {
        var order = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(order);
        return order.Take(count).Select((row, k) => new SelectedRecord(k + 1, row, -1, 0)).ToList();
    }

    /// <summary>
    /// TypiClust's initial pick, as the authors' code does it: k-means into min(n, 500) clusters; clusters of 5 records
    /// or fewer left out (too small to estimate typicality); then, repeatedly, the eligible cluster with the fewest picks
    /// (the largest first) gives the most typical of its records not yet picked, typicality recomputed on those with
    /// K = min(20, remaining / 2). Typicality as the code computes it: 1 / mean squared Euclidean distance to the K
    /// nearest (the paper writes the mean distance).
    /// </summary>
    static IReadOnlyList<SelectedRecord> Typical(Tensor points, int count, SelectionOptions options, Action<string>? progress)
    {
        int k = Math.Min(count, 500);
        progress?.Invoke($"select: k-means into {k} clusters");
        var clustering = KMeans.Fit(points, k, restarts: 1, seed: options.Seed);
        var clusters = Enumerable.Range(0, (int)points.shape[0]).GroupBy(i => clustering.Assignments[i]).Select(g => (g.Key, Rows: g.ToList())).ToList();
        var eligible = clusters.Where(c => c.Rows.Count > 5).ToList();
        if (eligible.Sum(c => c.Rows.Count) < count) eligible = clusters;
        var picked = new int[eligible.Count];
        var sizes = eligible.Select(c => c.Rows.Count).ToArray();
        var picks = new List<SelectedRecord>();
        while (picks.Count < count)
        {
            int c = Enumerable.Range(0, eligible.Count).Where(i => eligible[i].Rows.Count > 0)
                .OrderBy(i => picked[i]).ThenByDescending(i => sizes[i]).ThenBy(i => eligible[i].Key).First();
            var rows = eligible[c].Rows;
            var (position, typicality) = MostTypical(points, rows, options.TypicalityNeighbours);
            picks.Add(new SelectedRecord(picks.Count + 1, rows[position], eligible[c].Key, typicality));
            rows.RemoveAt(position);
            picked[c]++;
        }
        return picks;
    }

    /// <summary>Position in <paramref name="rows"/> of the most typical record and its typicality, 1 / mean squared distance to its K = min(neighbours, rows / 2) nearest.</summary>
    static (int Position, double Typicality) MostTypical(Tensor points, List<int> rows, int neighbours)
    {
        int k = Math.Min(neighbours, rows.Count / 2);
        if (k < 1) return (0, 1.0);
        using var scope = NewDisposeScope();
        var x = points.index_select(0, tensor(rows.Select(r => (long)r).ToArray()));
        // The k smallest distances besides the record's own zero.
        var nearest = cdist(x, x).topk(k + 1, dim: 1, largest: false).values.narrow(1, 1, k);
        // Squared, as the authors' code averages them (faiss L2 search returns squared distances); the paper writes the
        // plain distance. Squared won on MNIST's validation slice (docs/MINING.md).
        nearest = nearest.mul(nearest);
        var typicality = nearest.mean([1]).clamp_min(Of(1e-12)).reciprocal().to_type(ScalarType.Float64).data<double>().ToArray();
        int best = 0;
        for (int i = 1; i < typicality.Length; i++) if (typicality[i] > typicality[best]) best = i;
        return (best, typicality[best]);
    }

    /// <summary>k-center greedy: start at a seeded random record; each next pick maximizes the distance to its nearest pick.</summary>
    static IReadOnlyList<SelectedRecord> Coreset(Tensor points, int count, int seed)
    {
        int n = (int)points.shape[0];
        int first = new Random(seed).Next(n);
        var picks = new List<SelectedRecord> { new(1, first, -1, 0) };
        var nearest = full(n, Of(double.PositiveInfinity));
        int latest = first;
        while (picks.Count < count)
        {
            using var scope = NewDisposeScope();
            var distance = (points - points[latest].unsqueeze(0)).norm(1, false, 2);
            nearest.copy_(minimum(nearest, distance));
            var (value, index) = nearest.max(0);
            latest = (int)index.item<long>();
            picks.Add(new SelectedRecord(picks.Count + 1, latest, -1, value.item<float>()));
        }
        nearest.Dispose();
        return picks;
    }

    /// <summary>
    /// k-means into <see cref="SelectionOptions.Clusters"/> groups, the budget shared equally among them (the larger
    /// groups take the remainder), and within each group TypiClust's pick: so every coarse group is labelled alike.
    /// </summary>
    static IReadOnlyList<SelectedRecord> Balanced(Tensor points, int count, SelectionOptions options, Action<string>? progress)
    {
        int k = Math.Min(options.Clusters, count);
        progress?.Invoke($"select: k-means into {k} groups");
        var clustering = KMeans.Fit(points, k, seed: options.Seed);
        var groups = Enumerable.Range(0, (int)points.shape[0]).GroupBy(i => clustering.Assignments[i])
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key).Select(g => (g.Key, Rows: g.ToArray())).ToList();
        var picks = new List<SelectedRecord>();
        for (int g = 0; g < groups.Count; g++)
        {
            int share = Math.Min(count / groups.Count + (g < count % groups.Count ? 1 : 0), groups[g].Rows.Length);
            if (share == 0) continue;
            using var scope = NewDisposeScope();
            var rows = groups[g].Rows;
            var within = Typical(points.index_select(0, tensor(rows.Select(r => (long)r).ToArray())), share, options, null);
            picks.AddRange(within.Select(p => new SelectedRecord(picks.Count + 1, rows[p.Row], groups[g].Key, p.Score)));
        }
        return picks.Select((p, n) => p with { Order = n + 1 }).ToList();
    }
}
