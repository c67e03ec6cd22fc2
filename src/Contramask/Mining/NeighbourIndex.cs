using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Mining;

/// <summary>When <see cref="NeighbourIndex"/> searches exactly and how its approximate index is built.</summary>
public sealed record NeighbourSearchOptions
{
    /// <summary>Up to this many records every search is exact (batched matrix products); above, an HNSW index answers.</summary>
    public int ExactUpTo { get; init; } = 100_000;
    /// <summary>HNSW graph degree (USearch's connectivity, HNSW's M).</summary>
    public int Connectivity { get; init; } = 16;
    /// <summary>Candidates kept while inserting (efConstruction) and while searching (ef).</summary>
    public int ExpansionAdd { get; init; } = 128;
    public int ExpansionSearch { get; init; } = 128;
    /// <summary>Queries on which the approximate index's recall is measured against exact search.</summary>
    public int RecallSample { get; init; } = 1000;
    public int Seed { get; init; }
}

/// <summary>
/// The k nearest records by cosine similarity: exact for up to <see cref="NeighbourSearchOptions.ExactUpTo"/>
/// records, above that a hierarchical navigable small-world graph (Malkov &amp; Yashunin 2018) built by USearch, whose
/// recall@k against exact search is measured on a sample of queries and reported (<see cref="Recall"/>). Everything
/// in mining that needs neighbours (outliers, neighbours, duplicate candidates, label votes) asks this index.
/// </summary>
public sealed class NeighbourIndex : IDisposable
{
    readonly Tensor normalized;
    readonly HnswGraph? graph;
    readonly float[]? vectors;   // the normalized rows, for queries to the graph
    readonly int threads;
    // The last every-record search: outliers, duplicate candidates and label votes all ask for it.
    (int K, int[][] Index, float[][] Similarity)? everyRecord;

    NeighbourIndex(Tensor normalized, HnswGraph? graph, float[]? vectors, int threads)
    {
        this.normalized = normalized;
        this.graph = graph;
        this.vectors = vectors;
        this.threads = threads;
    }

    public int Count => (int)normalized.shape[0];
    /// <summary>The indexed vectors, L2-normalized (N×D float32); owned by this index.</summary>
    public Tensor Normalized => normalized;
    public bool Approximate => graph is not null;
    /// <summary>Recall@k of the approximate index against exact search on a sample, once measured (null when exact).</summary>
    public double? Recall { get; private set; }
    public int? RecallK { get; private set; }

    public static NeighbourIndex Build(Tensor points, NeighbourSearchOptions? options = null, Action<string>? progress = null)
    {
        options ??= new NeighbourSearchOptions();
        long n = points.shape[0];
        if (n < 2) throw new ArgumentException("neighbours need at least 2 records");
        Tensor normalized;
        using (var scope = NewDisposeScope())
            normalized = F.normalize(points.to_type(ScalarType.Float32), dim: 1).contiguous().MoveToOuterDisposeScope();
        int threads = Math.Max(1, TorchSharp.torch.get_num_threads());
        if (n <= options.ExactUpTo) return new NeighbourIndex(normalized, null, null, threads);

        progress?.Invoke($"neighbours: building an HNSW index of {n:N0} records (USearch, M = {options.Connectivity}, ef {options.ExpansionAdd}/{options.ExpansionSearch})");
        var flat = normalized.data<float>().ToArray();
        int d = (int)normalized.shape[1];
        var graph = new HnswGraph(d, (int)n, options.Connectivity, options.ExpansionAdd, options.ExpansionSearch);
        graph.Add(flat, d, 0, n, threads);
        var index = new NeighbourIndex(normalized, graph, flat, threads);
        index.MeasureRecall(10, options.RecallSample, options.Seed);
        return index;
    }

    /// <summary>For each query (every record when null), its k nearest others and their cosine similarities, most similar first.</summary>
    public (int[][] Index, float[][] Similarity) Find(int k, IReadOnlyList<int>? queries = null)
    {
        k = Math.Min(k, Count - 1);
        if (queries is null)
        {
            if (everyRecord is { } cached && cached.K >= k)
                return k == cached.K ? (cached.Index, cached.Similarity) : (cached.Index.Select(r => r[..Math.Min(k, r.Length)]).ToArray(), cached.Similarity.Select(r => r[..Math.Min(k, r.Length)]).ToArray());
            var all = Search(k, null);
            everyRecord = (k, all.Index, all.Similarity);
            return all;
        }
        return Search(k, queries);
    }

    (int[][] Index, float[][] Similarity) Search(int k, IReadOnlyList<int>? queries)
    {
        if (graph is null) return NearestNeighbours.Find(normalized, k, queries);
        var rows = queries?.ToArray() ?? Enumerable.Range(0, Count).ToArray();
        var index = new int[rows.Length][];
        var similarity = new float[rows.Length][];
        var flat = vectors!;
        int d = (int)normalized.shape[1];
        Parallel.For(0, rows.Length, new ParallelOptions { MaxDegreeOfParallelism = threads }, () => (Keys: new ulong[k + 1], Distances: new float[k + 1]), (q, _, buffers) =>
        {
            // k + 1: the record itself is normally the first match; identical copies can come before it.
            int found = graph.Search(flat, d, rows[q], k + 1, buffers.Keys, buffers.Distances);
            var ids = new List<int>(k);
            var sims = new List<float>(k);
            for (int m = 0; m < found && ids.Count < k; m++)
            {
                if ((int)buffers.Keys[m] == rows[q]) continue;
                ids.Add((int)buffers.Keys[m]);
                sims.Add(1 - buffers.Distances[m]);
            }
            index[q] = ids.ToArray();
            similarity[q] = sims.ToArray();
            return buffers;
        }, _ => { });
        return (index, similarity);
    }

    /// <summary>Changes the search breadth (ef) of the approximate index from now on; forgets cached answers.</summary>
    public void SetExpansionSearch(int expansion)
    {
        if (graph is null) return;
        graph.SetExpansionSearch(expansion);
        everyRecord = null;
    }

    /// <summary>Recall@k of this index against exact search on <paramref name="sample"/> random queries (1 when exact).</summary>
    public double MeasureRecall(int k, int sample, int seed)
    {
        if (graph is null) return 1;
        var random = new Random(seed);
        var queries = Enumerable.Range(0, Count).OrderBy(_ => random.Next()).Take(Math.Min(sample, Count)).ToArray();
        var (approximate, _) = Find(k, queries);
        var (exact, _) = NearestNeighbours.Find(normalized, k, queries);
        double hits = 0;
        for (int q = 0; q < queries.Length; q++) hits += approximate[q].Intersect(exact[q]).Count();
        Recall = hits / (queries.Length * (double)Math.Min(k, Count - 1));
        RecallK = k;
        return Recall.Value;
    }

    public void Dispose()
    {
        graph?.Dispose();
        normalized.Dispose();
    }
}
