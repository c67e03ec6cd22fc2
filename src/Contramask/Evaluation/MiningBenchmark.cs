using Contramask.Data;
using Contramask.Mining;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>How well near-duplicates were found among planted copies: pairs found, planted pairs recovered, per kind of change.</summary>
public sealed record DuplicateScores(string Mode, int Records, int Planted, int PairsFound, int TruePairs, double Precision, double Recall,
    double Threshold, string Rule, IReadOnlyDictionary<string, double> RecallByChange, double Seconds);

/// <summary>
/// How well label issues were found among randomly flipped labels: precision of the top-ranked (as many as were
/// flipped), precision and recall of everything flagged.
/// </summary>
public sealed record LabelIssueScores(string Evidence, int Records, int Flipped, int Flagged, double PrecisionAtFlipped, double Precision, double Recall,
    double SuggestedLabelAccuracy, double OutOfSampleAccuracy, double Seconds);

/// <summary>A label-selection strategy's linear-probe accuracy per seed, on the validation slice and the test split.</summary>
public sealed record SelectionScores(string Strategy, int Labels, IReadOnlyList<int> Seeds, IReadOnlyList<double> ValidationAccuracy, IReadOnlyList<double> TestAccuracy,
    IReadOnlyList<int> ClassesCovered, double Seconds)
{
    public double MeanValidation => ValidationAccuracy.Average();
    public double MeanTest => TestAccuracy.Count == 0 ? double.NaN : TestAccuracy.Average();
}

/// <summary>
/// Mining's answers scored against ground truth planted in real data (<see cref="InjectedFaults"/>): near-duplicate
/// copies and flipped labels. A pair found that was not planted counts against precision even if the two records
/// happen to be real duplicates of each other, so precision is a lower bound.
/// </summary>
public static class MiningBenchmark
{
    /// <summary>
    /// Plants <paramref name="count"/> near-duplicates in <paramref name="data"/>, embeds everything with the run's
    /// encoder and finds duplicates with default settings, both checked on the records and from the embeddings alone.
    /// </summary>
    public static IReadOnlyList<DuplicateScores> Duplicates(string runFolder, ImageDataset data, int count, int seed, Action<string>? progress = null)
    {
        var (planted, copies) = InjectedFaults.NearDuplicates(data, count, seed);
        progress?.Invoke($"duplicates: {count} near-duplicates planted among {data.Count:N0} records of {data.Source}; embedding {planted.Count:N0} records");
        var table = EmbeddingExport.Embed(runFolder, planted);
        var truth = copies.ToDictionary(c => (c.Original, c.Copy), c => c.Change.Split(' ')[0]);
        var results = new List<DuplicateScores>();
        using var scope = NewDisposeScope();
        var points = table.ToTensor();
        foreach (var records in new[] { new RecordLookup([planted]), null })
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var found = NearDuplicates.Find(points, records);
            double seconds = started.Elapsed.TotalSeconds;
            var pairs = found.Pairs.Select(p => (p.A, p.B)).ToHashSet();
            int hits = pairs.Count(truth.ContainsKey);
            var byChange = truth.GroupBy(t => t.Value).ToDictionary(g => g.Key, g => (double)g.Count(t => pairs.Contains(t.Key)) / g.Count());
            results.Add(new DuplicateScores(records is null ? "embeddings only" : "checked on the records", planted.Count, count, pairs.Count, hits,
                pairs.Count == 0 ? 0 : (double)hits / pairs.Count, (double)hits / count, found.Threshold, found.Rule, byChange, seconds));
            progress?.Invoke($"  {results[^1].Mode}: precision {results[^1].Precision:F4}, recall {results[^1].Recall:F4} at {found.Threshold:F5}");
        }
        return results;
    }

    /// <summary>
    /// Flips <paramref name="fraction"/> of <paramref name="data"/>'s labels at random, embeds the records with the
    /// run's encoder and finds label issues with each kind of evidence; the true labels score the answers.
    /// </summary>
    public static IReadOnlyList<LabelIssueScores> LabelIssues(string runFolder, IRecordSet data, double fraction, int seed,
        IReadOnlyList<LabelEvidence>? evidence = null, Action<string>? progress = null)
    {
        var labels = data.Labels ?? throw new ArgumentException($"{data.Source} has no labels to flip");
        int classes = data.ClassCount;
        var (noisy, flipped) = InjectedFaults.FlipLabels(labels, classes, fraction, seed);
        var flippedSet = flipped.ToHashSet();
        progress?.Invoke($"label issues: {flipped.Length:N0} of {labels.Length:N0} labels of {data.Source} flipped; embedding");
        var table = EmbeddingExport.Embed(runFolder, data);
        var results = new List<LabelIssueScores>();
        using var scope = NewDisposeScope();
        var points = table.ToTensor();
        foreach (var kind in evidence ?? [LabelEvidence.Probe, LabelEvidence.Neighbours, LabelEvidence.Both])
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var found = Mining.LabelIssues.Find(points, noisy, classes, new LabelIssueOptions { Evidence = kind, Seed = seed });
            double seconds = started.Elapsed.TotalSeconds;
            int hitsTop = found.Issues.Take(flipped.Length).Count(i => flippedSet.Contains(i.Row));
            int hits = found.Issues.Count(i => flippedSet.Contains(i.Row));
            int suggestedRight = found.Issues.Count(i => flippedSet.Contains(i.Row) && i.Suggested == labels[i.Row]);
            results.Add(new LabelIssueScores(kind.ToString().ToLowerInvariant(), labels.Length, flipped.Length, found.Issues.Count,
                (double)hitsTop / Math.Min(flipped.Length, Math.Max(1, found.Issues.Count)), (double)hits / Math.Max(1, found.Issues.Count), (double)hits / flipped.Length,
                (double)suggestedRight / Math.Max(1, hits), found.OutOfSampleAccuracy, seconds));
            var r = results[^1];
            progress?.Invoke($"  {r.Evidence}: {r.Flagged:N0} flagged, precision of the top {flipped.Length:N0} {r.PrecisionAtFlipped:F4}, precision {r.Precision:F4}, recall {r.Recall:F4} ({seconds:F0} s)");
        }
        return results;
    }

    /// <summary>
    /// Picks <paramref name="count"/> records of the training split with each strategy (and seed), labels them from
    /// the data, fits a linear probe on their embeddings (L2 chosen on the validation slice) and scores it on the
    /// validation slice and, when present, the test split.
    /// </summary>
    public static IReadOnlyList<SelectionScores> Selection(string runFolder, ISplits data, int count, IReadOnlyList<int> seeds,
        IReadOnlyList<SelectionStrategy>? strategies = null, bool scoreTest = true, Action<string>? progress = null, bool standardizeByPool = true)
    {
        if (!scoreTest) data = new RecordSplits(data.Train, data.Validation);
        var validation = data.Validation ?? throw new ArgumentException("label selection is scored on the validation slice: keep the data spec's val= above 0");
        var trainLabels = data.Train.Labels ?? throw new ArgumentException($"{data.Train.Source} has no labels to score selections with");
        progress?.Invoke($"select: embedding {data.Train.Count:N0} training, {validation.Count:N0} validation and {data.Test?.Count ?? 0:N0} test records");
        var (config, splits, encoder) = EmbeddingExport.Load(runFolder, data);
        Tensor Embed(IRecordSet part)
        {
            var table = EmbeddingExport.Compute(encoder, config, new RecordSplits(part));
            return table.ToTensor();
        }
        using var scope = NewDisposeScope();
        Tensor pool, validationX;
        Tensor? testX = null;
        using (encoder)
        {
            pool = Embed(data.Train);
            validationX = Embed(validation);
            if (data.Test is { HasLabels: true } test) testX = Embed(test);
        }
        int classes = Math.Max(data.Train.ClassCount, validation.ClassCount);
        var validationY = validation.Labels!.Select(l => (long)l).ToArray();
        var testY = data.Test?.Labels?.Select(l => (long)l).ToArray();
        var results = new List<SelectionScores>();
        foreach (var strategy in strategies ?? [SelectionStrategy.Random, SelectionStrategy.Typical, SelectionStrategy.Coreset, SelectionStrategy.Balanced])
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var validationScores = new List<double>();
            var testScores = new List<double>();
            var covered = new List<int>();
            foreach (var seed in seeds)
            {
                using var seedScope = NewDisposeScope();
                var picks = LabelSelection.Select(pool, count, new SelectionOptions { Strategy = strategy, Seed = seed }).Select(p => p.Row).ToArray();
                var x = pool.index_select(0, tensor(picks.Select(r => (long)r).ToArray()));
                var y = picks.Select(r => (long)trainLabels[r]).ToArray();
                covered.Add(y.Distinct().Count());
                double bestValidation = -1, bestTest = double.NaN;
                foreach (var l2 in (double[])[1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1])
                {
                    using var probe = LinearProbe.Fit(x, y, classes, l2, seed: seed, standardizeBy: standardizeByPool ? pool : null);
                    double accuracy = probe.Accuracy(validationX, validationY);
                    if (accuracy > bestValidation)
                    {
                        bestValidation = accuracy;
                        bestTest = testX is null ? double.NaN : probe.Accuracy(testX, testY!);
                    }
                }
                validationScores.Add(bestValidation);
                if (testX is not null) testScores.Add(bestTest);
            }
            results.Add(new SelectionScores(strategy.ToString().ToLowerInvariant(), count, seeds, validationScores, testScores, covered, started.Elapsed.TotalSeconds));
            progress?.Invoke($"  {results[^1].Strategy}: validation {100 * results[^1].MeanValidation:F2}%" + (testX is null ? "" : $", test {100 * results[^1].MeanTest:F2}%") + $" (mean of {seeds.Count} seeds; classes covered {string.Join("/", covered)})");
        }
        return results;
    }

    /// <summary>
    /// The approximate neighbour index on the embeddings of <paramref name="table"/>: build time, then for each search
    /// breadth (ef) its recall@10 against exact search and its queries per second, on <paramref name="queries"/>
    /// random records.
    /// </summary>
    public static object ApproximateSearch(EmbeddingTable table, int queries, IReadOnlyList<int> expansions, int seed, Action<string>? progress = null)
    {
        using var scope = NewDisposeScope();
        var started = System.Diagnostics.Stopwatch.StartNew();
        using var index = NeighbourIndex.Build(table.ToTensor(), new NeighbourSearchOptions { ExactUpTo = 0, RecallSample = 10, Seed = seed }, progress);
        double buildSeconds = started.Elapsed.TotalSeconds;
        progress?.Invoke($"approximate search: index of {table.Count:N0} built in {buildSeconds:F0} s");
        var rows = new List<object>();
        foreach (var ef in expansions)
        {
            index.SetExpansionSearch(ef);
            var random = new Random(seed);
            var sample = Enumerable.Range(0, table.Count).OrderBy(_ => random.Next()).Take(Math.Min(queries, table.Count)).ToArray();
            var timer = System.Diagnostics.Stopwatch.StartNew();
            index.Find(10, sample);
            double perSecond = sample.Length / timer.Elapsed.TotalSeconds;
            double recall = index.MeasureRecall(10, queries, seed);
            rows.Add(new { ef, recall_at_10 = recall, queries = sample.Length, queries_per_second = perSecond });
            progress?.Invoke($"  ef {ef}: recall@10 {recall:F4} on {sample.Length:N0} queries, {perSecond:F0} queries/s");
        }
        return new { records = table.Count, dimensions = table.Dimensions, build_seconds = buildSeconds, connectivity = new NeighbourSearchOptions().Connectivity, expansion_add = new NeighbourSearchOptions().ExpansionAdd, by_ef = rows };
    }
}
