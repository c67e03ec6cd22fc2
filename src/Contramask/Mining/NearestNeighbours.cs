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
        batchSize = (int)Math.Max(1, Math.Min(batchSize, MaxBatchElements / n));
        using var scope = NewDisposeScope();
        var normalized = F.normalize(points.to_type(ScalarType.Float32), dim: 1);
        var queryIndex = queries?.ToArray() ?? Enumerable.Range(0, (int)n).ToArray();
        var index = new int[queryIndex.Length][];
        var similarity = new float[queryIndex.Length][];
        for (int start = 0; start < queryIndex.Length; start += batchSize)
        {
            using var batchScope = NewDisposeScope();
            int count = Math.Min(batchSize, queryIndex.Length - start);
            var rows = tensor(queryIndex.AsSpan(start, count).ToArray().Select(i => (long)i).ToArray());
            var sims = normalized.index_select(0, rows).matmul(normalized.T);
            // Exclude each query itself.
            sims.scatter_(1, rows.unsqueeze(1), full(count, 1, Of(double.NegativeInfinity)));
            var (values, indices) = sims.topk(k, dim: 1);
            var v = values.data<float>().ToArray();
            var ix = indices.data<long>().ToArray();
            for (int q = 0; q < count; q++)
            {
                index[start + q] = ix.AsSpan(q * k, k).ToArray().Select(i => (int)i).ToArray();
                similarity[start + q] = v.AsSpan(q * k, k).ToArray();
            }
        }
        return (index, similarity);
    }
}
