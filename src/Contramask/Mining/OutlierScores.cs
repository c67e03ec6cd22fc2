namespace Contramask.Mining;

/// <summary>
/// Distance-based outlier score (Angiulli &amp; Pizzuti 2002): the mean cosine distance of a record to its k nearest
/// neighbours. Points in dense regions score low; isolated points high. Ranked highest first.
/// </summary>
public static class OutlierScores
{
    public static double[] Compute(TorchSharp.torch.Tensor points, int k = 10)
    {
        using var index = NeighbourIndex.Build(points);
        return Compute(index, k);
    }

    public static double[] Compute(NeighbourIndex index, int k = 10)
    {
        var (_, similarity) = index.Find(k);
        return similarity.Select(s => s.Average(v => 1.0 - v)).ToArray();
    }

    /// <summary>Record indices by descending score.</summary>
    public static int[] Rank(double[] scores) => Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i).ToArray();
}
