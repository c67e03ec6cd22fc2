using System.Globalization;
using System.Text;
using System.Text.Json;
using Contramask.Data;
using Contramask.Training;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Mining;

/// <summary>What <see cref="Miner.Run"/> computes; every field has a sensible default.</summary>
public sealed record MiningOptions
{
    /// <summary>Number of clusters; null chooses k in [KMin, KMax] by silhouette.</summary>
    public int? K { get; init; }
    public int KMin { get; init; } = 2;
    public int KMax { get; init; } = 15;
    /// <summary>Most central records listed (and shown) per cluster.</summary>
    public int Central { get; init; } = 8;
    public int Neighbours { get; init; } = 10;
    /// <summary>Record ids whose neighbours are wanted; null with <see cref="AllNeighbours"/> false lists none.</summary>
    public IReadOnlyList<string>? NeighbourIds { get; init; }
    public bool AllNeighbours { get; init; }
    /// <summary>k of the outlier score (mean cosine distance to the k nearest neighbours).</summary>
    public int OutlierK { get; init; } = 10;
    public int TopOutliers { get; init; } = 20;
    /// <summary>Records placed on the t-SNE map (a seeded sample when there are more): exact t-SNE up to
    /// <see cref="ExactMapLimit"/>, Barnes-Hut above (<see cref="BarnesHutTsne"/>).</summary>
    public int MapSample { get; init; } = 2000;
    public const int ExactMapLimit = 2000;
    public bool Map { get; init; } = true;
    /// <summary>Write <c>explorer.html</c>, the interactive map (<see cref="Mining.Explorer"/>); needs the map.</summary>
    public bool Explorer { get; init; } = true;
    /// <summary>Find near-duplicate groups (<see cref="NearDuplicates"/>); their settings in <see cref="DuplicateSettings"/>.</summary>
    public bool Duplicates { get; init; }
    public DuplicateOptions DuplicateSettings { get; init; } = new();
    /// <summary>Rank records whose label looks wrong (<see cref="LabelIssues"/>); needs labels.</summary>
    public bool LabelIssues { get; init; }
    public LabelIssueOptions LabelIssueSettings { get; init; } = new();
    /// <summary>Exact neighbour search up to a size, an HNSW index above it (<see cref="NeighbourIndex"/>).</summary>
    public NeighbourSearchOptions Search { get; init; } = new();
    public int Seed { get; init; }

    public void Validate()
    {
        if (K is int k && k < 2) throw new ArgumentOutOfRangeException(null, $"k {k} is out of range: expected at least 2");
        if (KMin < 2 || KMax < KMin || KMax > 200) throw new ArgumentOutOfRangeException(null, $"k range {KMin}..{KMax} is out of range: expected 2 ≤ min ≤ max ≤ 200");
        if (Neighbours is < 1 or > 1000) throw new ArgumentOutOfRangeException(null, $"neighbours {Neighbours} is out of range: expected 1 to 1000");
        if (OutlierK is < 1 or > 1000) throw new ArgumentOutOfRangeException(null, $"outlier k {OutlierK} is out of range: expected 1 to 1000");
        if (TopOutliers is < 1 or > 100_000) throw new ArgumentOutOfRangeException(null, $"top outliers {TopOutliers} is out of range: expected 1 to 100000");
        if (MapSample is < 10 or > 200_000) throw new ArgumentOutOfRangeException(null, $"map sample {MapSample} is out of range: expected 10 to 200000");
        DuplicateSettings.Validate();
        LabelIssueSettings.Validate();
    }
}

public sealed record OutlierRecord(int Rank, string Id, string Label, double Score);

/// <summary>What mining found, and the files it wrote (paths relative to its output folder).</summary>
public sealed record MiningResult(int Records, int Dimensions, ClusterResult Clusters, IReadOnlyList<OutlierRecord> Outliers,
    double? MapKnnAccuracy, IReadOnlyList<string> Files)
{
    /// <summary>Near-duplicate groups, when asked for (<see cref="MiningOptions.Duplicates"/>).</summary>
    public DuplicateResult? Duplicates { get; init; }
    /// <summary>Recall@10 of the approximate neighbour index against exact search on a sample; null when search was exact.</summary>
    public double? ApproximateRecall { get; init; }
    /// <summary>Records whose label looks wrong, when asked for (<see cref="MiningOptions.LabelIssues"/>).</summary>
    public LabelIssueResult? LabelIssues { get; init; }
}

/// <summary>
/// Turns embeddings into answers: clusters (with their central records), nearest neighbours, ranked outliers and a
/// 2-D t-SNE map, written as CSV and PNG files (contact sheets when the records are images) into one folder.
/// <code>
/// var table = EmbeddingReader.Read("mnist.parquet");
/// var result = Miner.Run(table, "runs/mnist/mining", new MiningOptions { K = 10 });
/// </code>
/// </summary>
public static class Miner
{
    /// <param name="records">Row i of <paramref name="table"/> → its record (contact sheets of images, near-duplicates
    /// checked on the records); null when only the embeddings are at hand.</param>
    public static MiningResult Run(EmbeddingTable table, string outFolder, MiningOptions options, RecordLookup? records = null,
        Action<string>? progress = null)
    {
        if (records is not null && records.Count != table.Count)
            throw new ArgumentException($"{records.Count} records for {table.Count} embeddings");
        Func<int, (ImageDataset Images, int Index)>? images = records is { AreImages: true } ? records.Image : null;
        options.Validate();
        if (table.Count < 3) throw new ArgumentException($"mining needs at least 3 records, got {table.Count}");
        if (options.LabelIssues && !table.HasLabels)
            throw new ArgumentException($"label issues need a label on every record; {table.Labels.Count(l => l < 0):N0} of {table.Count:N0} have none");
        RunFiles.EnsureWritable(outFolder);
        var files = new List<string>();
        using var scope = NewDisposeScope();
        var points = table.ToTensor();
        using var neighbourIndex = NeighbourIndex.Build(points, options.Search with { Seed = options.Seed }, progress);
        if (neighbourIndex.Approximate)
            progress?.Invoke($"neighbours: approximate search, recall@{neighbourIndex.RecallK} against exact on {options.Search.RecallSample:N0} queries: {neighbourIndex.Recall:F4} (ef {options.Search.ExpansionSearch}, queries), {neighbourIndex.EveryRecordRecall:F4} (ef {options.Search.ExpansionEveryRecord}, the every-record pass)");

        progress?.Invoke("clusters: k-means" + (options.K is null ? $", choosing k in {options.KMin}..{options.KMax} by silhouette" : $" with k = {options.K}"));
        var clusters = ClusterAnalysis.Run(table, options.K, options.KMin, options.KMax, options.Central, options.Seed, neighbourIndex.Normalized);
        files.Add(WriteCsv(outFolder, "clusters.csv", "id,label,cluster", Enumerable.Range(0, table.Count).Select(i => $"{CsvText.Field(table.Ids[i])},{CsvText.Field(table.LabelName(i))},{clusters.Assignments[i]}")));
        if (images is not null)
            files.Add(Relative(outFolder, ContactSheet.Write(clusters.Clusters.Select(c => c.Central.Select(images).ToArray()).ToList(), Path.Combine(outFolder, "clusters-central.png"))));

        progress?.Invoke($"outliers: mean cosine distance to the {options.OutlierK} nearest neighbours");
        var scores = OutlierScores.Compute(neighbourIndex, options.OutlierK);
        var ranked = OutlierScores.Rank(scores);
        var outliers = ranked.Take(options.TopOutliers).Select((i, r) => new OutlierRecord(r + 1, table.Ids[i], table.LabelName(i), scores[i])).ToList();
        files.Add(WriteCsv(outFolder, "outliers.csv", "rank,id,label,score", ranked.Select((i, r) => $"{r + 1},{CsvText.Field(table.Ids[i])},{CsvText.Field(table.LabelName(i))},{scores[i].ToString("R", CultureInfo.InvariantCulture)}")));
        if (images is not null)
        {
            var top = ranked.Take(options.TopOutliers).Select(images).ToArray();
            var rows = top.Chunk(10).ToList();
            files.Add(Relative(outFolder, ContactSheet.Write(rows, Path.Combine(outFolder, "outliers.png"))));
        }

        var queries = options.AllNeighbours ? Enumerable.Range(0, table.Count).ToList() : ResolveIds(table, options.NeighbourIds);
        if (queries.Count > 0)
        {
            progress?.Invoke($"neighbours: the {options.Neighbours} nearest of {queries.Count} record(s)");
            var (index, similarity) = neighbourIndex.Find(options.Neighbours, queries);
            var lines = queries.SelectMany((q, n) => index[n].Select((j, r) =>
                $"{CsvText.Field(table.Ids[q])},{r + 1},{CsvText.Field(table.Ids[j])},{CsvText.Field(table.LabelName(j))},{similarity[n][r].ToString("R", CultureInfo.InvariantCulture)}"));
            files.Add(WriteCsv(outFolder, "neighbours.csv", "id,rank,neighbour_id,neighbour_label,similarity", lines));
        }

        DuplicateResult? duplicates = null;
        if (options.Duplicates)
        {
            progress?.Invoke($"duplicates: the {options.DuplicateSettings.Candidates} nearest neighbours of every record as candidates");
            duplicates = NearDuplicates.Find(points, records, options.DuplicateSettings, progress, neighbourIndex);
            var pairsByRecord = duplicates.Pairs.SelectMany(p => new[] { (Row: p.A, p.Similarity), (Row: p.B, p.Similarity) })
                .GroupBy(x => x.Row).ToDictionary(g => g.Key, g => g.Max(x => x.Similarity));
            files.Add(WriteCsv(outFolder, "duplicates.csv", "group,size,exact,id,label,best_similarity", duplicates.Groups.SelectMany(g => g.Members.Select(m =>
                $"{g.Group},{g.Members.Length},{(g.Exact ? "true" : "false")},{CsvText.Field(table.Ids[m])},{CsvText.Field(table.LabelName(m))},{pairsByRecord[m].ToString("R", CultureInfo.InvariantCulture)}"))));
            if (images is not null && duplicates.Groups.Count > 0)
                files.Add(Relative(outFolder, ContactSheet.Write(duplicates.Groups.Take(20).Select(g => g.Members.Take(10).Select(images).ToArray()).ToList(),
                    Path.Combine(outFolder, "duplicates.png"))));
        }

        LabelIssueResult? labelIssues = null;
        if (options.LabelIssues)
        {
            int classes = Math.Max(table.Labels.Max() + 1, table.ClassNames?.Count ?? 0);
            labelIssues = Mining.LabelIssues.Find(points, table.Labels, classes, options.LabelIssueSettings, progress, neighbourIndex);
            files.Add(WriteCsv(outFolder, "label-issues.csv", "rank,id,given_label,suggested_label,given_probability,suggested_probability", labelIssues.Issues.Select(i =>
                $"{i.Rank},{CsvText.Field(table.Ids[i.Row])},{CsvText.Field(table.ClassName(i.Given))},{CsvText.Field(table.ClassName(i.Suggested))},{i.GivenProbability.ToString("R", CultureInfo.InvariantCulture)},{i.SuggestedProbability.ToString("R", CultureInfo.InvariantCulture)}")));
            if (images is not null && labelIssues.Issues.Count > 0)
                files.Add(Relative(outFolder, ContactSheet.Write(labelIssues.Issues.Take(40).Select(i => images(i.Row)).Chunk(10).ToList(), Path.Combine(outFolder, "label-issues.png"))));
        }

        double? mapKnn = null;
        if (options.Map)
        {
            var sample = Enumerable.Range(0, table.Count).ToArray();
            new Random(options.Seed).Shuffle(sample);
            sample = sample[..Math.Min(options.MapSample, sample.Length)].Order().ToArray();
            bool exact = sample.Length <= MiningOptions.ExactMapLimit;
            progress?.Invoke($"map: {(exact ? "exact" : "Barnes-Hut")} t-SNE of {sample.Length:N0} records");
            var selected = F.normalize(points.index_select(0, tensor(sample.Select(i => (long)i).ToArray())), dim: 1);
            var map = exact ? Tsne.Embed(selected, seed: options.Seed) : BarnesHutTsne.Embed(selected, seed: options.Seed);
            files.Add(WriteCsv(outFolder, "map.csv", "id,x,y,label,cluster", sample.Select((i, s) =>
                $"{CsvText.Field(table.Ids[i])},{map[s, 0].ToString("R", CultureInfo.InvariantCulture)},{map[s, 1].ToString("R", CultureInfo.InvariantCulture)},{CsvText.Field(table.LabelName(i))},{clusters.Assignments[i]}")));
            var clusterNames = Enumerable.Range(0, clusters.K).Select(c => $"cluster {c}").ToList();
            files.Add(Relative(outFolder, Plots.Map(map, sample.Select(i => clusters.Assignments[i]).ToArray(), clusterNames, "t-SNE map, coloured by cluster", Path.Combine(outFolder, "map-clusters.png"))));
            if (table.HasLabels)
            {
                var names = Enumerable.Range(0, table.Labels.Max() + 1).Select(l => table.ClassNames is { } n && l < n.Count ? n[l] : l.ToString(CultureInfo.InvariantCulture)).ToList();
                files.Add(Relative(outFolder, Plots.Map(map, sample.Select(i => table.Labels[i]).ToArray(), names, "t-SNE map, coloured by label", Path.Combine(outFolder, "map-labels.png"))));
                mapKnn = MapSeparation(map, sample.Select(i => table.Labels[i]).ToArray());
            }
            if (options.Explorer)
            {
                progress?.Invoke("explorer: explorer.html");
                Mining.Explorer.Write(new ExplorerContent(table, sample, map, clusters, scores, ranked.Take(Mining.Explorer.PanelOutliers).ToArray(),
                    duplicates, labelIssues, neighbourIndex, records), Path.Combine(outFolder, "explorer.html"));
                files.Add("explorer.html");
            }
        }
        var result = new MiningResult(table.Count, table.Dimensions, clusters, outliers, mapKnn, files)
        {
            Duplicates = duplicates, LabelIssues = labelIssues, ApproximateRecall = neighbourIndex.Recall,
        };
        var json = JsonSerializer.Serialize(new
        {
            records = table.Count, dimensions = table.Dimensions, k = clusters.K, nmi = clusters.Nmi, ari = clusters.Ari,
            silhouette_by_k = clusters.SilhouetteByK.ToDictionary(p => p.Key.ToString(CultureInfo.InvariantCulture), p => p.Value),
            clusters = clusters.Clusters.Select(c => new { cluster = c.Cluster, size = c.Size, central = c.Central.Select(i => table.Ids[i]), top_label = c.TopLabel, top_label_share = c.TopLabelShare }),
            outliers = outliers.Select(o => new { rank = o.Rank, id = o.Id, label = o.Label, score = o.Score }),
            map_knn_accuracy = mapKnn,
            neighbour_search = new { approximate = neighbourIndex.Approximate, recall_k = neighbourIndex.RecallK, recall = neighbourIndex.Recall, every_record_recall = neighbourIndex.EveryRecordRecall,
                expansion_search = neighbourIndex.Approximate ? options.Search.ExpansionSearch : (int?)null, expansion_every_record = neighbourIndex.Approximate ? options.Search.ExpansionEveryRecord : (int?)null, recall_sample = neighbourIndex.Approximate ? options.Search.RecallSample : 0 },
            duplicates = duplicates is null ? null : new
            {
                measure = duplicates.Measure, threshold = duplicates.Threshold, rule = duplicates.Rule, groups = duplicates.Groups.Count,
                records_in_groups = duplicates.RecordsInGroups, pairs = duplicates.Pairs.Count, exact_groups = duplicates.Groups.Count(g => g.Exact),
                largest = duplicates.Groups.Take(20).Select(g => new { group = g.Group, exact = g.Exact, min_similarity = g.MinSimilarity, ids = g.Members.Take(50).Select(m => table.Ids[m]) }),
            },
            label_issues = labelIssues is null ? null : new
            {
                evidence = labelIssues.Evidence.ToString().ToLowerInvariant(), flagged = labelIssues.Issues.Count, out_of_sample_accuracy = labelIssues.OutOfSampleAccuracy,
                top = labelIssues.Issues.Take(20).Select(i => new { rank = i.Rank, id = table.Ids[i.Row], given = table.LabelName(i.Row), suggested = i.Suggested, given_probability = i.GivenProbability }),
            },
            files,
        }, new JsonSerializerOptions { WriteIndented = true });
        RunFiles.WriteAllTextAtomic(Path.Combine(outFolder, "mining.json"), json);
        return result with { Files = [.. files, "mining.json"] };
    }

    /// <summary>How well the map separates the labels: leave-one-out 5-NN accuracy in the 2-D map.</summary>
    public static double MapSeparation(float[,] map, int[] labels)
    {
        using var scope = NewDisposeScope();
        int n = labels.Length;
        var flat = new float[n * 2];
        Buffer.BlockCopy(map, 0, flat, 0, flat.Length * sizeof(float));
        var points = tensor(flat, new long[] { n, 2 });
        int k = Math.Min(5, n - 1), correct = 0;
        // In row batches: the whole n×n distance matrix of a 70,000-point map would be 20 GB.
        var (nearest, _) = NearestNeighbours.Best(Enumerable.Range(0, n).ToArray(), n, k, rows => cdist(points.index_select(0, rows), points), largest: false);
        for (int i = 0; i < n; i++)
        {
            var vote = Enumerable.Range(0, k).Select(j => labels[nearest[i * k + j]]).GroupBy(l => l).MaxBy(g => g.Count())!.Key;
            if (vote == labels[i]) correct++;
        }
        return (double)correct / n;
    }

    static List<int> ResolveIds(EmbeddingTable table, IReadOnlyList<string>? ids)
    {
        if (ids is null || ids.Count == 0) return [];
        var lookup = new Dictionary<string, int>();
        for (int i = 0; i < table.Count; i++) lookup.TryAdd(table.Ids[i], i);
        return ids.Select(id => lookup.TryGetValue(id, out var i) ? i
            : throw new ArgumentException($"record id '{id}' is not among the {table.Count} records (e.g. '{table.Ids[0]}')")).ToList();
    }

    static string WriteCsv(string folder, string name, string header, IEnumerable<string> lines)
    {
        var path = Path.Combine(folder, name);
        var temporary = path + ".tmp";
        try
        {
            using (var writer = new StreamWriter(temporary, false, new UTF8Encoding(false)))
            {
                writer.WriteLine(header);
                foreach (var line in lines) writer.WriteLine(line);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            if (File.Exists(temporary)) File.Delete(temporary);
            throw;
        }
        return name;
    }

    static string Relative(string folder, string path) => Path.GetRelativePath(folder, path);
}
