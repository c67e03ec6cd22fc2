using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Mining;

/// <summary>
/// Mean silhouette (Rousseeuw 1987): for each point, (b − a) / max(a, b) with a its mean distance to its own
/// cluster and b the smallest mean distance to another cluster; Euclidean distances. Used to choose k.
/// </summary>
public static class Silhouette
{
    public static double Mean(Tensor points, int[] assignments)
    {
        using var scope = NewDisposeScope();
        int k = assignments.Max() + 1;
        if (k < 2) return 0;
        var distances = cdist(points, points);
        var labels = tensor(assignments.Select(a => (long)a).ToArray());
        var oneHot = nn.functional.one_hot(labels, k).to_type(ScalarType.Float32);
        var sums = distances.matmul(oneHot);                 // N×k: sum of distances to each cluster
        var counts = oneHot.sum(dim: 0);                     // k (a bare 0 would pick the dtype overload)
        var own = sums.gather(1, labels.unsqueeze(1)).squeeze(1);
        var ownCount = counts.index_select(0, labels);
        var a = own / (ownCount - Of(1.0)).clamp_min(Of(1.0));
        var meanOther = sums / counts.unsqueeze(0).clamp_min(Of(1.0));
        meanOther = meanOther.scatter(1, labels.unsqueeze(1), full(points.shape[0], 1, Of(double.PositiveInfinity)));
        meanOther = meanOther.masked_fill(counts.eq(Of(0.0)).unsqueeze(0), Of(double.PositiveInfinity));
        var b = meanOther.min(1).values;
        var s = (b - a) / maximum(a, b).clamp_min(Of(1e-12));
        // A point alone in its cluster has silhouette 0 by definition.
        s = s.masked_fill(ownCount.le(Of(1.0)), Of(0.0));
        return s.mean().item<float>();
    }
}
