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
    /// <summary>Candidates kept while inserting (efConstruction).</summary>
    public int ExpansionAdd { get; init; } = 128;
    /// <summary>Candidates kept while searching (ef) for the records a user asks about: 256 gave recall@10 0.970 on a
    /// million synthetic 128-d embeddings (chosen on one 10,000-query sample, read on another; docs/MINING.md).</summary>
    public int ExpansionSearch { get; init; } = 256;
    /// <summary>The breadth of the pass over every record (outlier scores, duplicate candidates, label votes): a
    /// million searches, so a cheaper breadth (about 2.5× the speed of 256); its own recall is measured and reported.
    /// Outlier scores average ten similarities and duplicate candidates are checked again, so a missed far neighbour
    /// costs little.</summary>
    public int ExpansionEveryRecord { get; init; } = 64;
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
    readonly NeighbourSearchOptions options;
    int expansionSearch;
    // The last every-record search: outliers, duplicate candidates and label votes all ask for it.
    (int K, int[][] Index, float[][] Similarity)? everyRecord;

    NeighbourIndex(Tensor normalized, HnswGraph? graph, float[]? vectors, int threads, NeighbourSearchOptions options)
    {
        this.normalized = normalized;
        this.graph = graph;
        this.vectors = vectors;
        this.threads = threads;
        this.options = options;
        expansionSearch = options.ExpansionSearch;
    }

    public int Count => (int)normalized.shape[0];
    /// <summary>The indexed vectors, L2-normalized (N×D float32); owned by this index.</summary>
    public Tensor Normalized => normalized;
    public bool Approximate => graph is not null;
    /// <summary>Recall@k of the approximate index against exact search on a sample at the query breadth, once measured (null when exact).</summary>
    public double? Recall { get; private set; }
    public int? RecallK { get; private set; }
    /// <summary>Recall@k of the every-record pass (<see cref="NeighbourSearchOptions.ExpansionEveryRecord"/>) on the same sample (null when exact).</summary>
    public double? EveryRecordRecall { get; private set; }

    public static NeighbourIndex Build(Tensor points, NeighbourSearchOptions? options = null, Action<string>? progress = null)
    {
        options ??= new NeighbourSearchOptions();
        long n = points.shape[0];
        if (n < 2) throw new ArgumentException("neighbours need at least 2 records");
        Tensor normalized;
        using (var scope = NewDisposeScope())
            normalized = F.normalize(points.to_type(ScalarType.Float32), dim: 1).contiguous().MoveToOuterDisposeScope();
        int threads = Math.Max(1, TorchSharp.torch.get_num_threads());
        if (n <= options.ExactUpTo) return new NeighbourIndex(normalized, null, null, threads, options);

        progress?.Invoke($"neighbours: building an HNSW index of {n:N0} records (USearch, M = {options.Connectivity}, ef {options.ExpansionAdd} adding, {options.ExpansionSearch} searching, {options.ExpansionEveryRecord} for the every-record pass)");
        var flat = normalized.data<float>().ToArray();
        int d = (int)normalized.shape[1];
        var graph = new HnswGraph(d, (int)n, options.Connectivity, options.ExpansionAdd, options.ExpansionSearch);
        graph.Add(flat, d, 0, n, threads);
        var index = new NeighbourIndex(normalized, graph, flat, threads, options);
        index.MeasureRecall(10, options.RecallSample, options.Seed);
        index.EveryRecordRecall = index.MeasureRecall(10, options.RecallSample, options.Seed, options.ExpansionEveryRecord);
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
            graph?.SetExpansionSearch(options.ExpansionEveryRecord);
            var all = Search(k, null);
            graph?.SetExpansionSearch(expansionSearch);
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

    /// <summary>Changes the search breadth (ef) of queries from now on (the every-record pass keeps its own).</summary>
    public void SetExpansionSearch(int expansion)
    {
        if (graph is null) return;
        expansionSearch = expansion;
        graph.SetExpansionSearch(expansion);
    }

    /// <summary>
    /// Recall@k of this index against exact search on <paramref name="sample"/> random queries (1 when exact), at the
    /// query breadth, or at <paramref name="expansion"/> when given (then <see cref="Recall"/> is left as it was).
    /// </summary>
    public double MeasureRecall(int k, int sample, int seed, int? expansion = null)
    {
        if (graph is null) return 1;
        var random = new Random(seed);
        var queries = Enumerable.Range(0, Count).OrderBy(_ => random.Next()).Take(Math.Min(sample, Count)).ToArray();
        exactSample = exactSample is { } known && known.Seed == seed && known.K == k && known.Queries.SequenceEqual(queries)
            ? known : (seed, k, queries, NearestNeighbours.Find(normalized, k, queries).Index);
        if (expansion is int ef) graph.SetExpansionSearch(ef);
        var (approximate, _) = Search(k, queries);
        if (expansion is not null) graph.SetExpansionSearch(expansionSearch);
        double hits = 0;
        for (int q = 0; q < queries.Length; q++) hits += approximate[q].Intersect(exactSample.Value.Truth[q]).Count();
        double recall = hits / (queries.Length * (double)Math.Min(k, Count - 1));
        if (expansion is null) { Recall = recall; RecallK = k; }
        return recall;
    }

    // Exact answers to the last recall sample: computing them is the costly half of a recall check.
    (int Seed, int K, int[] Queries, int[][] Truth)? exactSample;

    public void Dispose()
    {
        graph?.Dispose();
        normalized.Dispose();
    }
}
