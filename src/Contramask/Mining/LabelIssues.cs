using Contramask.Evaluation;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Mining;

/// <summary>Where the out-of-sample class probabilities that confident learning judges labels by come from.</summary>
public enum LabelEvidence
{
    /// <summary>A linear probe on the embeddings, cross-validated: each record predicted by a probe that never saw it.</summary>
    Probe,
    /// <summary>The record's neighbourhood: a similarity-weighted vote of its k nearest records' labels, itself excluded.</summary>
    Neighbours,
    /// <summary>The mean of both.</summary>
    Both,
}

/// <summary>How <see cref="LabelIssues.Find"/> decides; every field has a default.</summary>
public sealed record LabelIssueOptions
{
    /// <summary>Both won on MNIST's validation slice in three of three seeds (docs/MINING.md).</summary>
    public LabelEvidence Evidence { get; init; } = LabelEvidence.Both;
    /// <summary>Cross-validation folds for the probe (cleanlab's default: 5).</summary>
    public int Folds { get; init; } = 5;
    /// <summary>Neighbours voting in <see cref="LabelEvidence.Neighbours"/> (weights exp(cosine / 0.1), as the kNN protocol).</summary>
    public int Neighbours { get; init; } = 20;
    public int Seed { get; init; }

    public void Validate()
    {
        if (Folds is < 2 or > 20) throw new ArgumentOutOfRangeException(null, $"label-issue folds {Folds} is out of range: expected 2 to 20");
        if (Neighbours is < 1 or > 1000) throw new ArgumentOutOfRangeException(null, $"label-issue neighbours {Neighbours} is out of range: expected 1 to 1000");
    }
}

/// <summary>A record whose label looks wrong: its given and suggested class, and p(given), the rank score (lowest first).</summary>
public sealed record LabelIssue(int Rank, int Row, int Given, int Suggested, double GivenProbability, double SuggestedProbability);

/// <summary>The ranked issues, the calibrated confident joint (rows: given label, columns: likely true label) and the evidence used.</summary>
public sealed record LabelIssueResult(IReadOnlyList<LabelIssue> Issues, int[,] ConfidentJoint, LabelEvidence Evidence, double OutOfSampleAccuracy);

/// <summary>
/// Label errors by confident learning (Northcutt, Jiang &amp; Chuang 2021, JAIR 70), as cleanlab's
/// <c>find_label_issues</c> does by default ("prune by noise rate"):
/// <list type="number">
/// <item>out-of-sample probabilities p (see <see cref="LabelEvidence"/>);</item>
/// <item>per-class thresholds t_k = mean p_k over the records labelled k; a record's likely true class is the one
/// class whose p reaches its threshold, the argmax of p when several do, none when none do;</item>
/// <item>the confident joint C[given, likely] of those counts, diagonal at least 1, each row rescaled to its class
/// count and rounded keeping row totals (calibration, §3.1 of the paper);</item>
/// <item>for each given class k and other class j, the C[k, j] records labelled k with the largest margin p_j − p_k
/// are issues (at least one record is kept per class);</item>
/// <item>a record whose argmax p is its given label (ties to the given label) is not an issue.</item>
/// </list>
/// Issues are ranked by self-confidence p(given), lowest first (cleanlab's default ranking); the suggested label is
/// argmax p.
/// </summary>
public static class LabelIssues
{
    /// <param name="index">Neighbour search over <paramref name="embeddings"/> for the neighbour vote (default: exact search).</param>
    public static LabelIssueResult Find(Tensor embeddings, int[] labels, int classes, LabelIssueOptions? options = null, Action<string>? progress = null,
        NeighbourIndex? index = null)
    {
        options ??= new LabelIssueOptions();
        options.Validate();
        int n = labels.Length;
        if (embeddings.shape[0] != n) throw new ArgumentException($"{labels.Length} labels for {embeddings.shape[0]} embeddings");
        if (labels.Any(l => l < 0 || l >= classes)) throw new ArgumentException($"label issues need a label in 0..{classes - 1} for every record");
        if (classes < 2) throw new ArgumentException("label issues need at least two classes");
        var p = Probabilities(embeddings, labels, classes, options, progress, index);
        return FromProbabilities(p, labels, classes) with { Evidence = options.Evidence };
    }

    /// <summary>Confident learning on given out-of-sample probabilities (N×K), as cleanlab's find_label_issues takes pred_probs.</summary>
    public static LabelIssueResult FromProbabilities(double[,] p, int[] labels, int classes)
    {
        int n = labels.Length;
        if (p.GetLength(0) != n || p.GetLength(1) != classes) throw new ArgumentException($"probabilities {p.GetLength(0)}×{p.GetLength(1)} for {n} labels of {classes} classes");
        int correct = 0;
        for (int i = 0; i < n; i++) if (ArgMax(p, i, classes, -1) == labels[i]) correct++;
        var joint = ConfidentJoint(p, labels, classes);
        var flagged = PruneByNoiseRate(p, labels, classes, joint);
        var issues = flagged
            .Where(i => ArgMax(p, i, classes, labels[i]) != labels[i])
            .OrderBy(i => p[i, labels[i]]).ThenBy(i => i)
            .Select((i, r) =>
            {
                int suggested = ArgMax(p, i, classes, -1);
                return new LabelIssue(r + 1, i, labels[i], suggested, p[i, labels[i]], p[i, suggested]);
            }).ToList();
        return new LabelIssueResult(issues, joint, LabelEvidence.Probe, (double)correct / n);
    }

    /// <summary>Out-of-sample class probabilities, N×K.</summary>
    public static double[,] Probabilities(Tensor embeddings, int[] labels, int classes, LabelIssueOptions options, Action<string>? progress = null,
        NeighbourIndex? index = null)
    {
        using var scope = NewDisposeScope();
        var x = embeddings.to_type(ScalarType.Float32);
        Tensor? probe = null, neighbours = null;
        if (options.Evidence is LabelEvidence.Probe or LabelEvidence.Both)
            probe = CrossValidatedProbe(x, labels, classes, options.Folds, options.Seed, progress);
        if (options.Evidence is LabelEvidence.Neighbours or LabelEvidence.Both)
        {
            progress?.Invoke($"label issues: votes of each record's {options.Neighbours} nearest neighbours");
            neighbours = NeighbourVotes(index?.Find(options.Neighbours) ?? NearestNeighbours.Find(x, options.Neighbours), labels, classes);
        }
        var combined = probe is not null && neighbours is not null ? probe.add(neighbours, One).mul(Of(0.5)) : probe ?? neighbours!;
        var flat = combined.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        var result = new double[labels.Length, classes];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(double));
        return result;
    }

    /// <summary>Stratified k-fold: each fold predicted by a probe fitted on the others (L2 chosen once, on the first fold's training part).</summary>
    static Tensor CrossValidatedProbe(Tensor x, int[] labels, int classes, int folds, int seed, Action<string>? progress)
    {
        var fold = FewLabelSplit.StratifiedFolds(labels, folds, seed);
        var result = zeros(labels.Length, classes);
        double? l2 = null;
        for (int f = 0; f < folds; f++)
        {
            using var scope = NewDisposeScope();
            progress?.Invoke($"label issues: linear probe, fold {f + 1} of {folds}");
            var trainRows = Enumerable.Range(0, labels.Length).Where(i => fold[i] != f).ToArray();
            var heldRows = Enumerable.Range(0, labels.Length).Where(i => fold[i] == f).ToArray();
            var trainX = x.index_select(0, tensor(trainRows.Select(i => (long)i).ToArray()));
            var trainY = trainRows.Select(i => (long)labels[i]).ToArray();
            LinearProbe probe;
            if (l2 is null)
            {
                var (selected, chosen) = LinearProbe.FitSelectingL2(trainX, trainY, classes, seed);
                probe = selected;
                l2 = chosen;
            }
            else probe = LinearProbe.Fit(trainX, trainY, classes, l2.Value, seed: seed);
            using (probe)
            {
                var held = tensor(heldRows.Select(i => (long)i).ToArray());
                result.index_copy_(0, held, probe.Probabilities(x.index_select(0, held)));
            }
        }
        return result;
    }

    /// <summary>Each record's label distribution among its k nearest others, weighted by exp(cosine / 0.1).</summary>
    static Tensor NeighbourVotes((int[][] Index, float[][] Similarity) neighbours, int[] labels, int classes)
    {
        var (index, similarity) = neighbours;
        var votes = new float[labels.Length * classes];
        for (int i = 0; i < labels.Length; i++)
        {
            var w = similarity[i].Select(s => Math.Exp(s / 0.1)).ToArray();
            double total = w.Sum();
            for (int r = 0; r < index[i].Length; r++) votes[i * classes + labels[index[i][r]]] += (float)(w[r] / total);
        }
        return tensor(votes, new long[] { labels.Length, classes });
    }

    static int ArgMax(double[,] p, int i, int classes, int favoured)
    {
        int best = 0;
        double bestValue = double.NegativeInfinity;
        for (int k = 0; k < classes; k++)
        {
            double v = p[i, k] + (k == favoured ? 1e-6 : 0);
            if (v > bestValue) { bestValue = v; best = k; }
        }
        return best;
    }

    /// <summary>The calibrated confident joint (rows: given label, columns: likely true label).</summary>
    public static int[,] ConfidentJoint(double[,] p, int[] labels, int classes)
    {
        int n = labels.Length;
        var count = new int[classes];
        var threshold = new double[classes];
        foreach (var l in labels) count[l]++;
        for (int i = 0; i < n; i++) threshold[labels[i]] += p[i, labels[i]];
        for (int k = 0; k < classes; k++) threshold[k] = count[k] == 0 ? 2 : Math.Max(threshold[k] / count[k], 2e-6);
        var joint = new double[classes, classes];
        for (int i = 0; i < n; i++)
        {
            int confident = 0, only = -1;
            for (int k = 0; k < classes; k++)
                if (p[i, k] >= threshold[k] - 1e-6) { confident++; only = k; }
            if (confident == 0) continue;
            joint[labels[i], confident == 1 ? only : ArgMax(p, i, classes, -1)]++;
        }
        for (int k = 0; k < classes; k++) joint[k, k] = Math.Max(joint[k, k], 1);
        // Calibration: each row rescaled to its class's count, then rounded keeping the row total.
        var calibrated = new int[classes, classes];
        for (int g = 0; g < classes; g++)
        {
            double rowSum = 0;
            for (int k = 0; k < classes; k++) rowSum += joint[g, k];
            var row = Enumerable.Range(0, classes).Select(k => joint[g, k] / Math.Max(rowSum, 1e-100) * count[g]).ToArray();
            var rounded = RoundKeepingTotal(row);
            for (int k = 0; k < classes; k++) calibrated[g, k] = rounded[k];
        }
        return calibrated;
    }

    /// <summary>Rounds each value, then moves the difference to the row total onto the values with the largest remainders.</summary>
    static int[] RoundKeepingTotal(double[] row)
    {
        var rounded = row.Select(v => (int)Math.Round(v, MidpointRounding.ToEven)).ToArray();
        int difference = (int)Math.Round(row.Sum(), MidpointRounding.ToEven) - rounded.Sum();
        // Ties as cleanlab's round_preserving_row_totals breaks them (a stable argsort, reversed): +1 to the last of
        // equal remainders, −1 to the first.
        if (difference > 0)
            foreach (var k in Enumerable.Range(0, row.Length).OrderByDescending(k => row[k] - rounded[k]).ThenByDescending(k => k).Take(difference)) rounded[k]++;
        else if (difference < 0)
            foreach (var k in Enumerable.Range(0, row.Length).OrderBy(k => row[k] - rounded[k]).ThenBy(k => k).Take(-difference)) rounded[k]--;
        return rounded;
    }

    /// <summary>For each given class k and other class j, the joint[k, j] records labelled k with the largest p_j − p_k.</summary>
    static HashSet<int> PruneByNoiseRate(double[,] p, int[] labels, int classes, int[,] joint)
    {
        var flagged = new HashSet<int>();
        for (int k = 0; k < classes; k++)
        {
            var members = Enumerable.Range(0, labels.Length).Where(i => labels[i] == k).ToArray();
            if (members.Length <= 1) continue;
            // Keep at least one record of the class (cleanlab's _keep_at_least_n_per_class with n = 1): when the
            // diagonal is 0, every nonzero off-diagonal count gives up one.
            var prune = Enumerable.Range(0, classes).Select(j => j == k ? 0 : joint[k, j]).ToArray();
            if (joint[k, k] < 1)
                for (int j = 0; j < classes; j++) if (prune[j] > 0) prune[j]--;
            for (int j = 0; j < classes; j++)
            {
                if (prune[j] == 0) continue;
                foreach (var i in members.OrderByDescending(i => p[i, j] - p[i, k]).ThenBy(i => i).Take(prune[j])) flagged.Add(i);
            }
        }
        return flagged;
    }
}
