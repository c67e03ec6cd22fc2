using static TorchSharp.torch;

namespace Contramask.Mining;

/// <summary>
/// Barnes-Hut t-SNE (van der Maaten 2014, "Accelerating t-SNE using tree-based algorithms", JMLR 15): the input
/// affinities only over each point's 3·perplexity nearest neighbours (sparse P), and the repulsion of far groups of
/// points approximated by their centre of mass in a quadtree (θ = 0.5 on the cell's full side, scikit-learn's
/// convention; the reference code's half-width makes it coarser), so a map of n points costs O(n log n) per
/// iteration instead of O(n²): tens of thousands of points where exact t-SNE (<see cref="Tsne"/>) stops at a few
/// thousand. The optimizer is the exact one's (momentum, early exaggeration 12 for 250 iterations, gains, the "auto"
/// learning rate); the gradient is eq. 5 of the paper: 4 (Σ pᵢⱼ qᵢⱼZ (yᵢ − yⱼ) − Σ (qᵢⱼZ)² (yᵢ − yⱼ) / Z).
/// </summary>
public static class BarnesHutTsne
{
    public const double Theta = 0.5;

    /// <param name="points">n×D, compared by Euclidean distance (L2-normalize first for cosine).</param>
    public static float[,] Embed(Tensor points, double perplexity = 30, int iterations = 1000, int seed = 0, int threads = 0)
    {
        int n = (int)points.shape[0];
        if (n < 4) throw new ArgumentException("t-SNE needs at least 4 points");
        threads = threads > 0 ? threads : Math.Max(1, get_num_threads());
        perplexity = Math.Min(perplexity, (n - 1) / 3.0);
        var (rows, columns, values) = JointProbabilities(points, perplexity, threads);

        var random = new Random(seed);
        var y = new double[2 * n];
        for (int i = 0; i < y.Length; i++) y[i] = 1e-4 * Gaussian(random);
        var update = new double[2 * n];
        var gains = Enumerable.Repeat(1.0, 2 * n).ToArray();
        var gradient = new double[2 * n];
        double learningRate = Math.Max(n / 12.0 / 4, 50);   // the "auto" rate of Belkina et al. 2019
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        var tree = new QuadTree(n);
        var repulsion = new double[2 * n];
        var normalizer = new double[n];
        for (int t = 0; t < iterations; t++)
        {
            double exaggeration = t < 250 ? 12 : 1, momentum = t < 250 ? 0.5 : 0.8;
            tree.Build(y);
            Parallel.For(0, n, options, i =>
            {
                var (fx, fy, z) = tree.Repulsion(y[2 * i], y[2 * i + 1], i);
                repulsion[2 * i] = fx; repulsion[2 * i + 1] = fy; normalizer[i] = z;
            });
            double zSum = normalizer.Sum();
            Parallel.For(0, n, options, i =>
            {
                double ax = 0, ay = 0, xi = y[2 * i], yi = y[2 * i + 1];
                for (int e = rows[i]; e < rows[i + 1]; e++)
                {
                    int j = columns[e];
                    double dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
                    double q = 1 / (1 + dx * dx + dy * dy);
                    ax += values[e] * q * dx; ay += values[e] * q * dy;
                }
                gradient[2 * i] = 4 * (exaggeration * ax - repulsion[2 * i] / zSum);
                gradient[2 * i + 1] = 4 * (exaggeration * ay - repulsion[2 * i + 1] / zSum);
            });
            double meanX = 0, meanY = 0;
            for (int k = 0; k < 2 * n; k++)
            {
                // Gains grow where the gradient changes sign against the last update, shrink where it keeps it.
                gains[k] = Math.Sign(gradient[k]) == Math.Sign(update[k]) ? Math.Max(0.01, gains[k] * 0.8) : gains[k] + 0.2;
                update[k] = momentum * update[k] - learningRate * gains[k] * gradient[k];
                y[k] += update[k];
                if (k % 2 == 0) meanX += y[k]; else meanY += y[k];
            }
            meanX /= n; meanY /= n;
            for (int i = 0; i < n; i++) { y[2 * i] -= meanX; y[2 * i + 1] -= meanY; }
        }
        var result = new float[n, 2];
        for (int i = 0; i < n; i++) { result[i, 0] = (float)y[2 * i]; result[i, 1] = (float)y[2 * i + 1]; }
        return result;
    }

    static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>
    /// Sparse P (CSR): each point's k = ⌊3·perplexity⌋ nearest neighbours, p_j|i ∝ exp(−βᵢ dᵢⱼ²) with βᵢ bisected so that
    /// the entropy is log(perplexity), then P = (P_cond + P_condᵀ) / 2n.
    /// </summary>
    static (int[] Rows, int[] Columns, double[] Values) JointProbabilities(Tensor points, double perplexity, int threads)
    {
        int n = (int)points.shape[0];
        int k = Math.Min(n - 1, (int)(3 * perplexity));
        int[][] neighbours;
        double[][] distances;
        using (var scope = NewDisposeScope())
        {
            // Centred: distances do not change, and ‖x‖² − 2x·y in float32 loses less to rounding (as the reference zero-means).
            var x = points.to_type(ScalarType.Float32);
            x = x.sub(x.mean([0], keepdim: true));
            var squaredNorms = x.mul(x).sum(1).to_type(ScalarType.Float64).data<double>().ToArray();
            // Nearest by Euclidean distance: for rows of equal norm (normalized embeddings) the cosine order is the same;
            // in general, rank by ‖xⱼ‖² − 2 xᵢ·xⱼ, which NearestNeighbours' cosine does not give, so compute it here.
            (neighbours, distances) = EuclideanNeighbours(x, squaredNorms, k);
        }
        double target = Math.Log(perplexity);
        var conditional = new double[n][];
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            var d = distances[i];
            double beta = 1, low = double.NegativeInfinity, high = double.PositiveInfinity;
            var p = new double[d.Length];
            for (int step = 0; step < 200; step++)
            {
                double sum = 0, weighted = 0;
                // Shift by the nearest distance for numerical range; it cancels in the normalization.
                for (int j = 0; j < d.Length; j++) { p[j] = Math.Exp(-beta * (d[j] - d[0])); sum += p[j]; weighted += p[j] * (d[j] - d[0]); }
                double entropy = Math.Log(sum) + beta * weighted / sum;
                for (int j = 0; j < d.Length; j++) p[j] /= sum;
                if (Math.Abs(entropy - target) < 1e-5) break;
                if (entropy > target) { low = beta; beta = double.IsPositiveInfinity(high) ? beta * 2 : (beta + high) / 2; }
                else { high = beta; beta = double.IsNegativeInfinity(low) ? beta / 2 : (beta + low) / 2; }
            }
            conditional[i] = p;
        });
        // Symmetrize: every (i, j) and (j, i) entry gets p_j|i / 2n; duplicates are merged per row.
        var lists = new List<(int Column, double Value)>[n];
        for (int i = 0; i < n; i++) lists[i] = new List<(int, double)>(2 * k);
        for (int i = 0; i < n; i++)
            for (int e = 0; e < neighbours[i].Length; e++)
            {
                int j = neighbours[i][e];
                double v = conditional[i][e] / (2.0 * n);
                lists[i].Add((j, v));
                lists[j].Add((i, v));
            }
        var rows = new int[n + 1];
        var columns = new List<int>(2 * n * k);
        var values = new List<double>(2 * n * k);
        for (int i = 0; i < n; i++)
        {
            foreach (var group in lists[i].GroupBy(e => e.Column).OrderBy(g => g.Key))
            {
                columns.Add(group.Key);
                values.Add(group.Sum(e => e.Value));
            }
            rows[i + 1] = columns.Count;
            lists[i] = null!;
        }
        return (rows, columns.ToArray(), values.ToArray());
    }

    /// <summary>Each row's k nearest other rows by squared Euclidean distance, nearest first.</summary>
    static (int[][] Index, double[][] Squared) EuclideanNeighbours(Tensor x, double[] squaredNorms, int k)
    {
        int n = (int)x.shape[0];
        using var norms = tensor(squaredNorms.Select(v => (float)v).ToArray()).unsqueeze(0);
        // ‖xⱼ‖² − 2 xᵢ·xⱼ ranks like ‖xᵢ − xⱼ‖² for a fixed i; adding ‖xᵢ‖² back gives the distance.
        var (index, scores) = NearestNeighbours.Best(Enumerable.Range(0, n).ToArray(), n, k,
            rows => norms.sub(x.index_select(0, rows).matmul(x.T).mul(Runtime.Scalars.Of(2.0))), largest: false);
        return (Enumerable.Range(0, n).Select(i => index.AsSpan(i * k, k).ToArray().Select(j => (int)j).ToArray()).ToArray(),
            Enumerable.Range(0, n).Select(i => scores.AsSpan(i * k, k).ToArray().Select(v => Math.Max(0, v + squaredNorms[i])).ToArray()).ToArray());
    }

    /// <summary>
    /// A point-region quadtree over the 2-D map with each cell's point count and centre of mass: the repulsion on a
    /// point from a cell whose side / distance is below θ is taken as that of its count at its centre of mass.
    /// </summary>
    sealed class QuadTree
    {
        struct Node
        {
            public double MinX, MinY, Side, MassX, MassY;
            public int Count, FirstChild, Point;   // FirstChild −1: a leaf; Point: the one point a leaf of count 1 holds
        }

        Node[] nodes;
        int used;
        readonly int[] leafOf;   // the leaf each point was placed in (piles of identical points share one)
        const int MaxDepth = 48;   // identical points share a leaf below this depth

        public QuadTree(int n)
        {
            nodes = new Node[Math.Max(1024, 4 * n)];
            leafOf = new int[n];
        }

        /// <summary>Rebuilds the tree over the current map (the node array is reused from iteration to iteration).</summary>
        public void Build(double[] y)
        {
            int n = leafOf.Length;
            double x0 = double.MaxValue, y0 = double.MaxValue, x1 = double.MinValue, y1 = double.MinValue;
            for (int i = 0; i < n; i++)
            {
                x0 = Math.Min(x0, y[2 * i]); x1 = Math.Max(x1, y[2 * i]);
                y0 = Math.Min(y0, y[2 * i + 1]); y1 = Math.Max(y1, y[2 * i + 1]);
            }
            double size = Math.Max(x1 - x0, y1 - y0) * 1.0001 + 1e-12;
            used = 0;
            AddNode(x0, y0, size);
            for (int i = 0; i < n; i++) Insert(i, y[2 * i], y[2 * i + 1], y);
            for (int k = 0; k < used; k++)
            {
                ref var node = ref nodes[k];
                if (node.Count > 0) { node.MassX /= node.Count; node.MassY /= node.Count; }
            }
        }

        int AddNode(double x, double y, double side)
        {
            if (used == nodes.Length) Array.Resize(ref nodes, 2 * nodes.Length);
            nodes[used] = new Node { MinX = x, MinY = y, Side = side, FirstChild = -1, Point = -1 };
            return used++;
        }

        void Insert(int i, double px, double py, double[] y)
        {
            int at = 0;
            for (int depth = 0; ; depth++)
            {
                nodes[at].Count++; nodes[at].MassX += px; nodes[at].MassY += py;
                if (nodes[at].FirstChild < 0)
                {
                    if (nodes[at].Count == 1) { nodes[at].Point = i; leafOf[i] = at; return; }
                    if (depth >= MaxDepth) { leafOf[i] = at; return; }   // a pile of (nearly) identical points: counted, not split further
                    // Split: the point living here moves down into its child, then this one goes on down.
                    int resident = nodes[at].Point;
                    nodes[at].Point = -1;
                    double half = nodes[at].Side / 2, minX = nodes[at].MinX, minY = nodes[at].MinY;
                    int first = used;
                    for (int c = 0; c < 4; c++) AddNode(minX + (c & 1) * half, minY + (c >> 1) * half, half);
                    nodes[at].FirstChild = first;
                    if (resident >= 0)
                    {
                        int home = first + Quadrant(at, y[2 * resident], y[2 * resident + 1]);
                        ref var child = ref nodes[home];
                        child.Count = 1; child.MassX = y[2 * resident]; child.MassY = y[2 * resident + 1]; child.Point = resident;
                        leafOf[resident] = home;
                    }
                }
                at = nodes[at].FirstChild + Quadrant(at, px, py);
            }
        }

        int Quadrant(int at, double px, double py)
        {
            double half = nodes[at].Side / 2;
            return (px >= nodes[at].MinX + half ? 1 : 0) + (py >= nodes[at].MinY + half ? 2 : 0);
        }

        /// <summary>Σⱼ (qᵢⱼZ)² (yᵢ − yⱼ) and Σⱼ qᵢⱼZ over all j ≠ i, with qᵢⱼZ = 1 / (1 + ‖yᵢ − yⱼ‖²), far cells approximated.</summary>
        public (double Fx, double Fy, double Z) Repulsion(double px, double py, int self)
        {
            double fx = 0, fy = 0, z = 0;
            var all = nodes;
            Span<int> stack = stackalloc int[4 * MaxDepth + 8];
            int top = 0;
            stack[top++] = 0;
            while (top > 0)
            {
                int id = stack[--top];
                ref readonly var node = ref all[id];
                int m = node.Count;
                if (m == 0) continue;
                bool leaf = node.FirstChild < 0;
                // The leaf holding this point: only the others in it (identical points piled at the deepest level).
                if (leaf && leafOf[self] == id && --m == 0) continue;
                double dx = px - node.MassX, dy = py - node.MassY, d2 = dx * dx + dy * dy;
                if (leaf || node.Side * node.Side < Theta * Theta * d2)
                {
                    double q = 1 / (1 + d2), mq = m * q;
                    z += mq;
                    fx += mq * q * dx; fy += mq * q * dy;
                    continue;
                }
                int first = node.FirstChild;
                stack[top++] = first; stack[top++] = first + 1; stack[top++] = first + 2; stack[top++] = first + 3;
            }
            return (fx, fy, z);
        }
    }
}
