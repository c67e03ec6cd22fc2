namespace Contramask.Evaluation;

/// <summary>
/// Agreement between a clustering and the true labels, both invariant to how clusters are numbered.
/// NMI: mutual information over the arithmetic mean of the two entropies (Strehl &amp; Ghosh 2002; scikit-learn's
/// default). ARI: the Rand index adjusted for chance (Hubert &amp; Arabie 1985): 1 for identical partitions, ≈0 for random.
/// </summary>
public static class ClusteringMetrics
{
    public static double NormalizedMutualInformation(IReadOnlyList<int> labels, IReadOnlyList<int> clusters)
    {
        var (table, rows, cols, n) = Contingency(labels, clusters);
        double hRows = Entropy(rows, n), hCols = Entropy(cols, n);
        if (hRows == 0 && hCols == 0) return 1.0;
        double mi = 0;
        foreach (var ((r, c), count) in table)
            mi += count / n * Math.Log(count * n / ((double)rows[r] * cols[c]));
        double denominator = (hRows + hCols) / 2;
        return denominator <= 0 ? 0 : Math.Clamp(mi / denominator, 0, 1);
    }

    public static double AdjustedRandIndex(IReadOnlyList<int> labels, IReadOnlyList<int> clusters)
    {
        var (table, rows, cols, n) = Contingency(labels, clusters);
        static double Pairs(double m) => m * (m - 1) / 2;
        double sumCells = table.Values.Sum(v => Pairs(v));
        double sumRows = rows.Values.Sum(v => Pairs(v));
        double sumCols = cols.Values.Sum(v => Pairs(v));
        double expected = sumRows * sumCols / Pairs(n);
        double maximum = (sumRows + sumCols) / 2;
        if (maximum == expected) return 1.0;
        return (sumCells - expected) / (maximum - expected);
    }

    static (Dictionary<(int, int), int> Table, Dictionary<int, int> Rows, Dictionary<int, int> Cols, double N) Contingency(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"{a.Count} labels but {b.Count} cluster assignments");
        var table = new Dictionary<(int, int), int>();
        var rows = new Dictionary<int, int>();
        var cols = new Dictionary<int, int>();
        for (int i = 0; i < a.Count; i++)
        {
            table[(a[i], b[i])] = table.GetValueOrDefault((a[i], b[i])) + 1;
            rows[a[i]] = rows.GetValueOrDefault(a[i]) + 1;
            cols[b[i]] = cols.GetValueOrDefault(b[i]) + 1;
        }
        return (table, rows, cols, a.Count);
    }

    static double Entropy(Dictionary<int, int> counts, double n) =>
        -counts.Values.Sum(c => c / n * Math.Log(c / n));
}
