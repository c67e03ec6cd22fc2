using Contramask.Evaluation;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Mining;

/// <summary>One cluster: its size, its most central records (nearest the centre), and its commonest label if known.</summary>
public sealed record ClusterSummary(int Cluster, int Size, int[] Central, string? TopLabel, double TopLabelShare);

/// <summary>The clustering of a set of embeddings and how it was chosen.</summary>
public sealed record ClusterResult(int K, int[] Assignments, IReadOnlyList<ClusterSummary> Clusters,
    IReadOnlyDictionary<int, double> SilhouetteByK, double? Nmi, double? Ari);

/// <summary>
/// k-means (k-means++ seeding, restarts; <see cref="KMeans"/>) on L2-normalized embeddings, so distances follow
/// cosine similarity. Without a given k, each k in a range is tried and the one with the highest mean silhouette
/// (on a sample of at most 2,000 records) wins.
/// </summary>
public static class ClusterAnalysis
{
    public const int SilhouetteSample = 2000;
    /// <summary>Above this many records the final k-means is fitted on a seeded sample of this size and every record
    /// assigned to its nearest centre: the centres of 200,000 points are as good as those of a million, at a fifth of the time.</summary>
    public const int FitSample = 200_000;

    /// <param name="normalized">The table's vectors already L2-normalized (N×D float32), when the caller holds them.</param>
    public static ClusterResult Run(EmbeddingTable table, int? k = null, int kMin = 2, int kMax = 15, int central = 8, int seed = 0, Tensor? normalized = null)
    {
        using var scope = NewDisposeScope();
        var points = normalized ?? F.normalize(table.ToTensor(), dim: 1);
        var silhouettes = new Dictionary<int, double>();
        int chosen;
        if (k is int given)
        {
            if (given < 2 || given > table.Count) throw new ArgumentOutOfRangeException(nameof(k), $"k = {given} is out of range: expected 2 to {table.Count}");
            chosen = given;
        }
        else
        {
            kMax = Math.Min(kMax, table.Count - 1);
            if (kMin < 2 || kMax < kMin) throw new ArgumentOutOfRangeException(nameof(kMin), $"k range {kMin}..{kMax} is empty: expected 2 ≤ min ≤ max < records");
            var sample = Enumerable.Range(0, table.Count).ToArray();
            new Random(seed).Shuffle(sample);
            sample = sample[..Math.Min(SilhouetteSample, sample.Length)];
            var samplePoints = points.index_select(0, tensor(sample.Select(i => (long)i).ToArray()));
            for (int candidate = kMin; candidate <= kMax; candidate++)
            {
                var fit = KMeans.Fit(samplePoints, candidate, restarts: 3, seed: seed);
                silhouettes[candidate] = Silhouette.Mean(samplePoints, fit.Assignments);
            }
            chosen = silhouettes.MaxBy(s => s.Value).Key;
        }
        Clustering clustering;
        if (table.Count > FitSample)
        {
            var sample = Enumerable.Range(0, table.Count).ToArray();
            new Random(seed + 1).Shuffle(sample);
            var fit = KMeans.Fit(points.index_select(0, tensor(sample[..FitSample].Select(i => (long)i).ToArray())), chosen, restarts: 5, seed: seed);
            using var fitCentres = tensor(Flatten(fit.Centres), new long[] { chosen, table.Dimensions });
            var assignments = new int[table.Count];
            for (long start = 0; start < table.Count; start += 65536)
            {
                using var chunk = NewDisposeScope();
                long count = Math.Min(65536, table.Count - start);
                var nearest = cdist(points.narrow(0, start, count), fitCentres).argmin(1).to_type(ScalarType.Int32).data<int>().ToArray();
                nearest.CopyTo(assignments, start);
            }
            clustering = fit with { Assignments = assignments };
        }
        else clustering = KMeans.Fit(points, chosen, restarts: 5, seed: seed);
        var centres = tensor(Flatten(clustering.Centres), new long[] { chosen, table.Dimensions });
        var distance = cdist(points, centres);
        var summaries = new List<ClusterSummary>();
        for (int c = 0; c < chosen; c++)
        {
            var members = Enumerable.Range(0, table.Count).Where(i => clustering.Assignments[i] == c).ToArray();
            var toCentre = distance[.., c].contiguous().data<float>().ToArray();
            var nearest = members.OrderBy(i => toCentre[i]).Take(central).ToArray();
            string? topLabel = null; double share = 0;
            if (table.HasLabels && members.Length > 0)
            {
                var top = members.GroupBy(i => table.Labels[i]).MaxBy(g => g.Count())!;
                topLabel = table.LabelName(top.First());
                share = (double)top.Count() / members.Length;
            }
            summaries.Add(new ClusterSummary(c, members.Length, nearest, topLabel, share));
        }
        double? nmi = table.HasLabels ? ClusteringMetrics.NormalizedMutualInformation(table.Labels, clustering.Assignments) : null;
        double? ari = table.HasLabels ? ClusteringMetrics.AdjustedRandIndex(table.Labels, clustering.Assignments) : null;
        return new ClusterResult(chosen, clustering.Assignments, summaries, silhouettes, nmi, ari);
    }

    static float[] Flatten(float[,] grid)
    {
        var flat = new float[grid.Length];
        Buffer.BlockCopy(grid, 0, flat, 0, flat.Length * sizeof(float));
        return flat;
    }
}
