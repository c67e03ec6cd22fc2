using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>A clustering: the cluster of each point, the centres, and the within-cluster sum of squares.</summary>
public sealed record Clustering(int[] Assignments, float[,] Centres, double Inertia);

/// <summary>
/// k-means (Lloyd 1982) with k-means++ seeding (Arthur &amp; Vassilvitskii 2007) and several restarts, keeping
/// the one with the lowest inertia. Distances are computed on tensors, batched; seeded, so it repeats.
/// </summary>
public static class KMeans
{
    public static Clustering Fit(Tensor points, int k, int restarts = 5, int maxIterations = 100, int seed = 0)
    {
        long n = points.shape[0];
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), $"k = {k} must be between 1 and the number of points ({n})");
        using var scope = NewDisposeScope();
        var x = points.to_type(ScalarType.Float32).cpu();
        var random = new Random(seed);
        Clustering? best = null;
        for (int r = 0; r < restarts; r++)
        {
            using var restartScope = NewDisposeScope();
            var centres = PlusPlusInit(x, k, random);
            Tensor assignment = zeros(n, ScalarType.Int64);
            double inertia = double.MaxValue;
            for (int iteration = 0; iteration < maxIterations; iteration++)
            {
                var distances = cdist(x, centres).pow_(Of(2L));
                var (minimum, nearest) = distances.min(1L, false);
                double newInertia = minimum.sum().item<float>();
                bool unchanged = iteration > 0 && nearest.equal(assignment).all().item<bool>();
                assignment = nearest;
                inertia = newInertia;
                if (unchanged) break;
                // New centres: mean of members; an empty cluster takes the point farthest from its centre.
                var sums = zeros(k, x.shape[1]).index_add_(0, assignment, x, One);
                var counts = bincount(assignment, minlength: k).to_type(ScalarType.Float32);
                centres = sums / counts.clamp_min(Of(1.0)).unsqueeze(1);
                var empty = counts.eq(Of(0.0)).nonzero();
                for (long e = 0; e < empty.shape[0]; e++)
                {
                    long farthest = minimum.argmax().item<long>();
                    centres[empty[e, 0].item<long>()] = x[farthest];
                    minimum[farthest].fill_(Of(0.0));
                }
            }
            if (best is null || inertia < best.Inertia)
            {
                var c = centres.data<float>().ToArray();
                var grid = new float[k, x.shape[1]];
                Buffer.BlockCopy(c, 0, grid, 0, c.Length * sizeof(float));
                best = new Clustering(assignment.data<long>().ToArray().Select(a => (int)a).ToArray(), grid, inertia);
            }
        }
        return best!;
    }

    /// <summary>k-means++: each next centre drawn with probability proportional to its squared distance to the nearest centre so far.</summary>
    static Tensor PlusPlusInit(Tensor x, int k, Random random)
    {
        long n = x.shape[0];
        var chosen = new List<long> { random.NextInt64(n) };
        var nearest = cdist(x, x[chosen[0]].unsqueeze(0)).pow_(Of(2L)).squeeze(1);
        for (int c = 1; c < k; c++)
        {
            var weights = nearest.data<float>().ToArray();
            double total = weights.Sum(w => (double)w), target = random.NextDouble() * total, running = 0;
            long pick = n - 1;
            for (long i = 0; i < n; i++)
            {
                running += weights[i];
                if (running >= target && weights[i] > 0) { pick = i; break; }
            }
            chosen.Add(pick);
            nearest = minimum(nearest, cdist(x, x[pick].unsqueeze(0)).pow_(Of(2L)).squeeze(1));
        }
        return x.index_select(0, tensor(chosen.ToArray()));
    }
}
