using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Mining;

/// <summary>How <see cref="NearDuplicates.Find"/> decides; every field has a default.</summary>
public sealed record DuplicateOptions
{
    /// <summary>Nearest neighbours (by embedding cosine) checked per record: the candidate pairs.</summary>
    public int Candidates { get; init; } = 10;
    /// <summary>Pairs at or above this similarity are duplicates; null derives it from the data (see <see cref="NearDuplicates"/>).</summary>
    public double? Threshold { get; init; }
    /// <summary>The data rule's margin: how many robust standard deviations (log scale) below the typical nearest pair.</summary>
    public double Deviations { get; init; } = 6;
    /// <summary>Images: the translation, in pixels, under which two images still count as the same.</summary>
    public int MaxShift { get; init; } = 1;

    public void Validate()
    {
        if (Candidates is < 1 or > 100) throw new ArgumentOutOfRangeException(null, $"duplicate candidates {Candidates} is out of range: expected 1 to 100");
        if (Threshold is double t && (t <= 0 || t > 1)) throw new ArgumentOutOfRangeException(null, $"duplicate threshold {t} is out of range: expected a similarity in (0, 1]");
        if (Deviations is <= 0 or > 50) throw new ArgumentOutOfRangeException(null, $"duplicate deviations {Deviations} is out of range: expected (0, 50]");
        if (MaxShift is < 0 or > 8) throw new ArgumentOutOfRangeException(null, $"duplicate max shift {MaxShift} is out of range: expected 0 to 8 pixels");
    }
}

/// <summary>Two records judged duplicates: their rows, their record-level similarity, their embeddings' cosine, and whether they are identical.</summary>
public sealed record DuplicatePair(int A, int B, double Similarity, double EmbeddingSimilarity, bool Exact);

/// <summary>Records joined by duplicate pairs (transitively), smallest row first; Exact when every pair found in it is identical.</summary>
public sealed record DuplicateGroup(int Group, int[] Members, bool Exact, double MinSimilarity);

/// <summary>What was compared (<see cref="Measure"/>), the threshold used and how it was chosen, the pairs and their groups.</summary>
public sealed record DuplicateResult(string Measure, double Threshold, string Rule, IReadOnlyList<DuplicatePair> Pairs, IReadOnlyList<DuplicateGroup> Groups)
{
    /// <summary>Nearest neighbours per record that were candidates, and the distinct candidate pairs checked.</summary>
    public int Candidates { get; init; }
    public int CandidatePairs { get; init; }
    public int RecordsInGroups => Groups.Sum(g => g.Members.Length);
}

/// <summary>
/// Near-duplicates in two stages. Candidates: each record's nearest neighbours by embedding cosine (a duplicate is
/// among them: the encoder maps a record and its slightly changed copy close together). Check: the candidate pair is
/// compared on the records themselves when they are at hand — images by the Pearson correlation of their pixels,
/// the best over shifts of up to <see cref="DuplicateOptions.MaxShift"/> pixels (so a copy that is brighter, darker
/// or moved by a pixel scores ≈ 1); table rows by exp(−RMS difference) of their standardized inputs — and on the
/// embeddings' cosine otherwise. Why check at all: a self-supervised encoder is trained to be invariant to small
/// changes, so a digit's nearest distinct neighbour is often as close in embedding space as a shifted copy of it
/// (measured on MNIST, docs/MINING.md); the records themselves tell the two apart.
/// <para>
/// Threshold from the data (default): every record's best candidate dissimilarity d = 1 − similarity, on a log scale,
/// has a typical value (the median) and spread (1.4826 × the median absolute deviation) over the data set — the
/// distance to the nearest <i>distinct</i> record, since most records have no duplicate. A pair is a duplicate when
/// its d lies <see cref="DuplicateOptions.Deviations"/> robust standard deviations below that median: far closer than
/// distinct records of this data come. Robust while fewer than half the records have a duplicate. Identical records
/// are duplicates at any threshold.
/// </para>
/// </summary>
public static class NearDuplicates
{
    /// <param name="index">Neighbour search over <paramref name="embeddings"/> to take the candidates from (default: exact search).</param>
    public static DuplicateResult Find(Tensor embeddings, RecordLookup? records, DuplicateOptions? options = null, Action<string>? progress = null,
        NeighbourIndex? index = null)
    {
        options ??= new DuplicateOptions();
        options.Validate();
        long n = embeddings.shape[0];
        if (records is not null && records.Count != n)
            throw new ArgumentException($"{records.Count} records for {n} embeddings");
        var (neighbours, cosines) = index?.Find(options.Candidates) ?? NearestNeighbours.Find(embeddings, options.Candidates);

        var candidates = new Dictionary<(int, int), float>();
        for (int i = 0; i < n; i++)
            for (int r = 0; r < neighbours[i].Length; r++)
            {
                int j = neighbours[i][r];
                candidates.TryAdd(i < j ? (i, j) : (j, i), cosines[i][r]);
            }
        var pairs = candidates.Keys.ToArray();
        string measure;
        double[] similarity;
        bool[] exact;
        if (records is null)
        {
            measure = "embedding cosine";
            (similarity, exact) = EmbeddingSimilarity(embeddings, pairs);
        }
        else
        {
            measure = records.AreImages ? $"pixel correlation (Pearson r, best over shifts of up to {options.MaxShift} px)" : "row similarity (exp(−RMS difference of standardized inputs))";
            progress?.Invoke($"duplicates: checking {pairs.Length:N0} candidate pairs on the records");
            (similarity, exact) = RecordSimilarity(records, pairs, options.MaxShift);
        }

        double threshold;
        string rule;
        if (options.Threshold is double given)
        {
            threshold = given;
            rule = "given";
        }
        else
            (threshold, rule) = FromData(pairs, similarity, (int)n, options.Deviations);

        var found = new List<DuplicatePair>();
        for (int p = 0; p < pairs.Length; p++)
            if (exact[p] || similarity[p] >= threshold)
                found.Add(new DuplicatePair(pairs[p].Item1, pairs[p].Item2, similarity[p], candidates[pairs[p]], exact[p]));
        found.Sort((a, b) => (a.A, a.B).CompareTo((b.A, b.B)));
        return new DuplicateResult(measure, threshold, rule, found, Groups(found, (int)n)) { Candidates = options.Candidates, CandidatePairs = pairs.Length };
    }

    /// <summary>The data rule (see the class summary): 1 − exp(median − deviations × robust σ) of ln(1 − best similarity).</summary>
    static (double Threshold, string Rule) FromData((int, int)[] pairs, double[] similarity, int n, double deviations)
    {
        var best = new double[n];
        Array.Fill(best, double.NaN);
        for (int p = 0; p < pairs.Length; p++)
        {
            var (a, b) = pairs[p];
            if (!(best[a] >= similarity[p])) best[a] = similarity[p];
            if (!(best[b] >= similarity[p])) best[b] = similarity[p];
        }
        var logs = best.Where(s => !double.IsNaN(s)).Select(s => Math.Log(Math.Max(1 - s, 1e-9))).Order().ToArray();
        double median = Median(logs);
        // Floored: when most records share one value (e.g. coarse table columns) the spread would vanish and the
        // threshold fall onto that value, calling half the data duplicates.
        double sigma = Math.Max(1.4826 * Median(logs.Select(l => Math.Abs(l - median)).Order().ToArray()), 0.1);
        double threshold = 1 - Math.Exp(median - deviations * sigma);
        return (threshold, $"from the data: 1 − exp(median − {deviations:0.##}·σ) of ln(1 − best similarity) over {logs.Length:N0} records (median {median:F2}, robust σ {sigma:F2})");
    }

    static double Median(double[] sorted) => sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;

    static (double[] Similarity, bool[] Exact) EmbeddingSimilarity(Tensor embeddings, (int, int)[] pairs, int batch = 65536)
    {
        var similarity = new double[pairs.Length];
        var exact = new bool[pairs.Length];
        for (int start = 0; start < pairs.Length; start += batch)
        {
            using var scope = NewDisposeScope();
            int count = Math.Min(batch, pairs.Length - start);
            var a = embeddings.index_select(0, tensor(pairs.Skip(start).Take(count).Select(p => (long)p.Item1).ToArray())).to_type(ScalarType.Float32);
            var b = embeddings.index_select(0, tensor(pairs.Skip(start).Take(count).Select(p => (long)p.Item2).ToArray())).to_type(ScalarType.Float32);
            var cos = nn.functional.cosine_similarity(a, b, dim: 1).data<float>().ToArray();
            var same = a.eq(b).all(1).data<bool>().ToArray();
            for (int k = 0; k < count; k++) { similarity[start + k] = cos[k]; exact[start + k] = same[k]; }
        }
        return (similarity, exact);
    }

    static (double[] Similarity, bool[] Exact) RecordSimilarity(RecordLookup records, (int, int)[] pairs, int maxShift, int batch = 4096)
    {
        var similarity = new double[pairs.Length];
        var exact = new bool[pairs.Length];
        for (int start = 0; start < pairs.Length; start += batch)
        {
            using var scope = NewDisposeScope();
            int count = Math.Min(batch, pairs.Length - start);
            var a = records.Inputs(pairs.Skip(start).Take(count).Select(p => p.Item1).ToArray());
            var b = records.Inputs(pairs.Skip(start).Take(count).Select(p => p.Item2).ToArray());
            var same = a.flatten(1).eq(b.flatten(1)).all(1).data<bool>().ToArray();
            var values = (a.dim() == 4 ? ShiftedCorrelation(a, b, maxShift) : RowSimilarity(a, b)).data<float>().ToArray();
            for (int k = 0; k < count; k++) { similarity[start + k] = same[k] ? 1.0 : values[k]; exact[start + k] = same[k]; }
        }
        return (similarity, exact);
    }

    /// <summary>Per pair of N×C×H×W images: the largest Pearson r between a's interior and b shifted by up to s pixels either way.</summary>
    public static Tensor ShiftedCorrelation(Tensor a, Tensor b, int maxShift)
    {
        long h = a.shape[2], w = a.shape[3];
        int s = (int)Math.Min(maxShift, Math.Min((h - 2) / 2, (w - 2) / 2));
        if (s < 0) s = 0;
        var inner = a[.., .., s..(int)(h - s), s..(int)(w - s)].flatten(1);
        Tensor? best = null;
        for (int dy = -s; dy <= s; dy++)
            for (int dx = -s; dx <= s; dx++)
            {
                var moved = b[.., .., (s + dy)..(int)(h - s + dy), (s + dx)..(int)(w - s + dx)].flatten(1);
                var r = Pearson(inner, moved);
                best = best is null ? r : maximum(best, r);
            }
        return best!;
    }

    /// <summary>Row-wise Pearson r; 1 when both rows are constant, 0 when only one is.</summary>
    static Tensor Pearson(Tensor a, Tensor b)
    {
        var ca = a - a.mean([1], keepdim: true);
        var cb = b - b.mean([1], keepdim: true);
        var va = ca.mul(ca).sum(1);
        var vb = cb.mul(cb).sum(1);
        var r = (ca * cb).sum(1) / (va * vb).sqrt().clamp_min(Of(1e-12));
        var flatA = va.le(Of(1e-12));
        var flatB = vb.le(Of(1e-12));
        r = r.masked_fill(flatA.logical_xor(flatB), Of(0.0));
        return r.masked_fill(flatA.logical_and(flatB), Of(1.0));
    }

    /// <summary>Table rows (standardized values | missing flags): exp(−root mean square difference), 1 when identical.</summary>
    static Tensor RowSimilarity(Tensor a, Tensor b)
    {
        var difference = a - b;
        return difference.mul(difference).mean([1]).sqrt().neg().exp();
    }

    static List<DuplicateGroup> Groups(List<DuplicatePair> pairs, int n)
    {
        var parent = Enumerable.Range(0, n).ToArray();
        int Root(int x) { while (parent[x] != x) x = parent[x] = parent[parent[x]]; return x; }
        foreach (var p in pairs)
        {
            int ra = Root(p.A), rb = Root(p.B);
            if (ra != rb) parent[Math.Max(ra, rb)] = Math.Min(ra, rb);
        }
        var byRoot = pairs.GroupBy(p => Root(p.A)).ToList();
        return byRoot
            .Select(g => (Members: g.SelectMany(p => new[] { p.A, p.B }).Distinct().Order().ToArray(), Exact: g.All(p => p.Exact), Min: g.Min(p => p.Similarity)))
            .OrderByDescending(g => g.Members.Length).ThenBy(g => g.Members[0])
            .Select((g, k) => new DuplicateGroup(k + 1, g.Members, g.Exact, g.Min)).ToList();
    }
}
