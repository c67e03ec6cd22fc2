using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Mining;

/// <summary>The k nearest records of each query by cosine similarity (itself excluded), batched matrix products.</summary>
public static class NearestNeighbours
{
    /// <summary>Similarities held at once: 1,024 queries × 1,000,000 records would be 4 GB.</summary>
    public const long MaxBatchElements = 64L << 20;

    /// <param name="points">N×D embeddings.</param>
    /// <param name="queries">Indices of the query records; null queries every record.</param>
    /// <param name="batchSize">Queries per matrix product, at most; fewer when the records are many, so that one
    /// batch's similarity matrix stays under <see cref="MaxBatchElements"/> (256 MB).</param>
    /// <returns>For each query, its neighbours' indices and cosine similarities, most similar first.</returns>
    public static (int[][] Index, float[][] Similarity) Find(Tensor points, int k, IReadOnlyList<int>? queries = null, int batchSize = 1024)
    {
        long n = points.shape[0];
        if (n < 2) throw new ArgumentException("neighbours need at least 2 records");
        k = (int)Math.Min(k, n - 1);
        using var scope = NewDisposeScope();
        var normalized = F.normalize(points.to_type(ScalarType.Float32), dim: 1);
        var queryIndex = queries?.ToArray() ?? Enumerable.Range(0, (int)n).ToArray();
        var (index, similarity) = Best(queryIndex, n, k, rows => normalized.index_select(0, rows).matmul(normalized.T), largest: true, batchSize);
        return (Enumerable.Range(0, queryIndex.Length).Select(q => index.AsSpan(q * k, k).ToArray().Select(i => (int)i).ToArray()).ToArray(),
            Enumerable.Range(0, queryIndex.Length).Select(q => similarity.AsSpan(q * k, k).ToArray()).ToArray());
    }

    /// <summary>
    /// For each query row, the k other rows with the largest (or smallest) score, best first, computed batch by batch:
    /// <paramref name="scores"/> maps a batch of query rows (int64) to their count×n scores, at most
    /// <see cref="MaxBatchElements"/> of them at once; each query's own row is left out. The answers come flat, k per
    /// query. Cosine neighbours, t-SNE's Euclidean neighbours and the map's label vote all search this way.
    /// </summary>
    public static (long[] Index, float[] Score) Best(int[] queries, long n, int k, Func<Tensor, Tensor> scores, bool largest, int batchSize = 1024)
    {
        batchSize = (int)Math.Max(1, Math.Min(batchSize, MaxBatchElements / n));
        var index = new long[(long)queries.Length * k];
        var score = new float[index.Length];
        for (int start = 0; start < queries.Length; start += batchSize)
        {
            using var batchScope = NewDisposeScope();
            int count = Math.Min(batchSize, queries.Length - start);
            var rows = tensor(queries.AsSpan(start, count).ToArray().Select(i => (long)i).ToArray());
            var batch = scores(rows);
            // Exclude each query itself.
            batch.scatter_(1, rows.unsqueeze(1), full(count, 1, Of(largest ? double.NegativeInfinity : double.PositiveInfinity)));
            var (values, indices) = batch.topk(k, dim: 1, largest: largest);
            Array.Copy(indices.data<long>().ToArray(), 0, index, (long)start * k, (long)count * k);
            Array.Copy(values.data<float>().ToArray(), 0, score, (long)start * k, (long)count * k);
        }
        return (index, score);
    }
}
