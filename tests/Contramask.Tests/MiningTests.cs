using System.Text.RegularExpressions;
using Contramask.Cli;
using Contramask.Mining;
using static TorchSharp.torch;

namespace Contramask.Tests;

[Collection("console")]
public class MiningTests
{
    /// <summary>Four well-separated Gaussian blobs in 16 dimensions, 30 points each, labelled by blob.</summary>
    static EmbeddingTable Blobs(int perBlob = 30, int seed = 1)
    {
        var random = new Random(seed);
        int d = 16, blobs = 4;
        var vectors = new float[blobs * perBlob * d];
        var labels = new int[blobs * perBlob];
        for (int b = 0; b < blobs; b++)
            for (int i = 0; i < perBlob; i++)
            {
                int row = b * perBlob + i;
                labels[row] = b;
                for (int j = 0; j < d; j++) vectors[row * d + j] = (j == b * 4 ? 10f : 0f) + (float)(random.NextDouble() - 0.5);
            }
        var ids = Enumerable.Range(0, labels.Length).Select(i => $"r{i}").ToArray();
        return new EmbeddingTable(ids, labels, vectors, d, ["a", "b", "c", "d"]);
    }

    [Theory]
    [InlineData("embeddings.parquet")]
    [InlineData("embeddings.npy")]
    [InlineData("embeddings.csv")]
    public void Export_round_trips(string name)
    {
        var table = Blobs();
        var path = Path.Combine(Fixture.TempFolder(), name);
        using (var writer = new EmbeddingWriter(path, table.Dimensions, table.Count))
        {
            // Two batches, as a streamed export writes them.
            for (int start = 0; start < table.Count; start += 70)
            {
                int n = Math.Min(70, table.Count - start);
                writer.Write(table.Ids[start..(start + n)], Enumerable.Range(start, n).Select(table.LabelName).ToArray(),
                    table.Vectors.AsSpan(start * table.Dimensions, n * table.Dimensions));
            }
            writer.Complete();
        }
        var back = EmbeddingReader.Read(path);
        Assert.Equal(table.Ids, back.Ids);
        Assert.Equal(table.Labels, back.Labels);
        Assert.Equal(["a", "b", "c", "d"], back.ClassNames!);
        Assert.Equal(table.Vectors, back.Vectors);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
    }

    [Fact]
    public void A_failed_export_leaves_no_file_behind()
    {
        var path = Path.Combine(Fixture.TempFolder(), "partial.parquet");
        using (var writer = new EmbeddingWriter(path, 4, 10))
            writer.Write(["a"], ["x"], new float[4]);   // disposed before Complete: as if the process failed mid-way
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void Kmeans_with_k_chosen_by_silhouette_finds_the_blobs()
    {
        var result = ClusterAnalysis.Run(Blobs(), kMin: 2, kMax: 8);
        Assert.Equal(4, result.K);
        Assert.Equal(1.0, result.Nmi!.Value, 6);
        Assert.Equal(1.0, result.Ari!.Value, 6);
        Assert.All(result.Clusters, c => Assert.Equal(30, c.Size));
        Assert.All(result.Clusters, c => Assert.Equal(1.0, c.TopLabelShare));
    }

    [Fact]
    public void Neighbours_agree_with_a_brute_force_search()
    {
        var table = Blobs(perBlob: 10);
        using var points = table.ToTensor();
        var (index, similarity) = NearestNeighbours.Find(points, 5, batchSize: 7);
        for (int q = 0; q < table.Count; q++)
        {
            var brute = Enumerable.Range(0, table.Count).Where(j => j != q).Select(j => (j, s: Cosine(table, q, j)))
                .OrderByDescending(p => p.s).Take(5).ToArray();
            Assert.Equal(brute.Select(p => p.j), index[q]);
            for (int r = 0; r < 5; r++) Assert.Equal(brute[r].s, similarity[q][r], 4);
        }
    }

    static double Cosine(EmbeddingTable t, int a, int b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int j = 0; j < t.Dimensions; j++)
        {
            double x = t.Vectors[a * t.Dimensions + j], y = t.Vectors[b * t.Dimensions + j];
            dot += x * y; na += x * x; nb += y * y;
        }
        return dot / Math.Sqrt(na * nb);
    }

    [Fact]
    public void The_outlier_score_ranks_a_planted_far_point_first()
    {
        var table = Blobs();
        var vectors = table.Vectors.ToArray();
        // Row 7 of blob "a" moved to a direction no blob uses.
        for (int j = 0; j < table.Dimensions; j++) vectors[7 * table.Dimensions + j] = j == 15 ? 10f : 0.1f;
        using var points = tensor(vectors, new long[] { table.Count, table.Dimensions });
        var ranked = OutlierScores.Rank(OutlierScores.Compute(points, k: 5));
        Assert.Equal(7, ranked[0]);
    }

    [Fact]
    public void Tsne_keeps_separated_blobs_apart_in_two_dimensions()
    {
        var table = Blobs();
        using var points = table.ToTensor();
        var map = Tsne.Embed(points, perplexity: 10, iterations: 500, seed: 3);
        Assert.Equal(1.0, Miner.MapSeparation(map, table.Labels), 6);
    }

    [Fact]
    public void Barnes_hut_tsne_keeps_separated_blobs_apart_and_is_repeatable()
    {
        var table = Blobs(perBlob: 400, seed: 2);   // 1,600 points
        using var points = torch_normalize(table.ToTensor());
        var map = BarnesHutTsne.Embed(points, iterations: 400, seed: 3, threads: 2);
        Assert.Equal(1.0, Miner.MapSeparation(map, table.Labels), 6);
        Assert.DoesNotContain(map.Cast<float>(), float.IsNaN);
        Assert.Equal(map.Cast<float>(), BarnesHutTsne.Embed(points, iterations: 400, seed: 3, threads: 2).Cast<float>());
    }

    [Fact]
    public void Barnes_hut_tsne_keeps_the_neighbourhoods_of_digits_like_exact_tsne()
    {
        // The 8×8 digits' pixels: the map's 5-NN label vote must be close to exact t-SNE's on the same points.
        var digits = Contramask.Data.DigitsDataset.LoadAll();
        using var scope = NewDisposeScope();
        var points = torch_normalize(digits.Inputs(Enumerable.Range(0, 1000).ToArray()).flatten(1));
        var labels = digits.Labels!.Take(1000).ToArray();
        double exact = Miner.MapSeparation(Tsne.Embed(points, seed: 1), labels);
        double barnesHut = Miner.MapSeparation(BarnesHutTsne.Embed(points, seed: 1, threads: 2), labels);
        Assert.True(exact > 0.9, $"exact {exact}");
        Assert.True(barnesHut >= exact - 0.02, $"Barnes-Hut {barnesHut:F3} against exact {exact:F3}");
    }

    static Tensor torch_normalize(Tensor x) => TorchSharp.torch.nn.functional.normalize(x, dim: 1);

    [Fact]
    public void The_report_names_each_objective_setting_in_its_papers_words()
    {
        // The corruption rate and the mask share differ, so a row that reads the wrong setting shows it.
        Dictionary<string, string> Settings(string encoder, Objectives.ObjectiveOptions objective) => MiningReport.ObjectiveSettings(
            new Training.PretrainConfig { Encoder = Models.EncoderOptions.FromName(encoder), Objective = objective, TableViews = new() { CorruptionRate = 0.6 } })
            .ToDictionary(p => p.Setting, p => p.Value);

        var tableFusion = Settings("mlp", Objectives.ObjectiveOptions.ForTableMethod(Objectives.Method.Fusion) with { MaskRatio = 0.35 });
        Assert.Equal("0.35 of each row's features, swapped in from other rows (VIME)", tableFusion["mask probability"]);
        Assert.Equal("can, 2 masked views; weights contrastive 0.1, reconstruction 1; τ 0.2", tableFusion["fusion"]);
        Assert.False(tableFusion.ContainsKey("mask ratio"));
        Assert.False(tableFusion.ContainsKey("corruption rate"));
        Assert.Equal("0.35 of the columns, dropped as tokens (MAE)",
            Settings("ft-transformer", Objectives.ObjectiveOptions.ForTableMethod(Objectives.Method.Masked) with { MaskRatio = 0.35 })["mask ratio"]);
        Assert.StartsWith("0.35 of each subset view's features", Settings("mlp", Objectives.ObjectiveOptions.ForTableMethod(Objectives.Method.Fusion)
            with { MaskRatio = 0.35, Fusion = Objectives.FusionKind.Subsets })["swap noise"]);
        Assert.Equal("0.6 of each row's features, replaced from other rows (SCARF)",
            Settings("mlp", Objectives.ObjectiveOptions.ForTableMethod(Objectives.Method.Contrastive))["corruption rate"]);
        var imageFusion = Settings("convnet", Objectives.ObjectiveOptions.ForMethod(Objectives.Method.Fusion, vit: false));
        Assert.Equal("0.25 of the patches", imageFusion["mask ratio"]);
        Assert.StartsWith("layered, 1 masked view;", imageFusion["fusion"]);
        Assert.Equal("1×1 convolutions, hidden width 128 (SimMIM)", imageFusion["pixel decoder"]);
        var vitMasked = Settings("vit-mini", Objectives.ObjectiveOptions.ForMethod(Objectives.Method.Masked, vit: true));
        Assert.Equal(["mask ratio", "pixel decoder"], vitMasked.Keys);
        Assert.Equal("2 transformer blocks of width 128 (MAE)", vitMasked["pixel decoder"]);
        Assert.Equal("1 transformer block of width 64 (MAE)",
            Settings("vit-mini", Objectives.ObjectiveOptions.ForMethod(Objectives.Method.Fusion, vit: true) with { DecoderDepth = 1 })["pixel decoder"]);
        Assert.False(tableFusion.ContainsKey("pixel decoder"));
    }

    [Fact]
    public void Embed_and_mine_a_tiny_run_and_the_report_links_only_files_that_exist()
    {
        var folder = Path.Combine(Fixture.TempFolder(), "run");
        Assert.Equal(0, CliApp.Run(["pretrain", "--data", "digits", "--method", "contrastive", "--epochs", "1", "--batch-size", "64", "--out", folder, "--quiet", "--no-eval", "--threads", "2"]));
        var parquet = Path.Combine(folder, "embeddings.parquet");
        Assert.Equal(0, CliApp.Run(["embed", "--run", folder, "--out", parquet, "--quiet"]));
        var table = EmbeddingReader.Read(parquet);
        Assert.Equal(1797, table.Count);
        Assert.Equal(128, table.Dimensions);
        Assert.True(table.HasLabels);

        Assert.Equal(0, CliApp.Run(["mine", "--run", folder, "--k", "10", "--map-sample", "300", "--neighbours-of", table.Ids[0], "--duplicates", "--label-issues", "--quiet"]));
        var report = File.ReadAllText(Path.Combine(folder, "report.md"));
        var links = Regex.Matches(report, @"\]\(([^)]+)\)").Select(m => m.Groups[1].Value).ToList();
        Assert.Contains("mining/map-labels.png", links);
        Assert.Contains("mining/clusters-central.png", links);
        Assert.Contains("mining/loss.png", links);
        Assert.All(links, link => Assert.True(File.Exists(Path.Combine(folder, link)), $"{link} is linked but missing"));
        Assert.Contains("mining/label-issues.csv", links);
        Assert.Contains("mining/duplicates.csv", links);
        var mining = File.ReadAllText(Path.Combine(folder, "mining", "mining.json"));
        Assert.Contains("\"label_issues\"", mining);
        Assert.Contains("pixel correlation", mining); // a run's records are at hand: duplicates are checked on the pixels
        var neighbours = File.ReadAllLines(Path.Combine(folder, "mining", "neighbours.csv"));
        Assert.Equal(11, neighbours.Length);   // header + 10 neighbours of one record
    }

    [Fact]
    public void Mining_an_embeddings_file_needs_no_run()
    {
        var path = Path.Combine(Fixture.TempFolder(), "blobs.csv");
        var table = Blobs();
        using (var writer = new EmbeddingWriter(path, table.Dimensions, table.Count))
        {
            writer.Write(table.Ids, Enumerable.Range(0, table.Count).Select(table.LabelName).ToArray(), table.Vectors);
            writer.Complete();
        }
        Assert.Equal(0, CliApp.Run(["mine", "--embeddings", path, "--map-sample", "100", "--quiet"]));
        var outFolder = Path.Combine(Path.GetDirectoryName(path)!, "blobs-mining");
        Assert.Contains("\"k\": 4", File.ReadAllText(Path.Combine(outFolder, "mining.json")));
        Assert.True(File.Exists(Path.Combine(outFolder, "report.md")));
        Assert.False(File.Exists(Path.Combine(outFolder, "outliers.png"))); // no images behind a plain embeddings file
    }
}
