using Contramask.Mining;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>The approximate (HNSW) neighbour index against exact search, on points small enough to check every answer.</summary>
public class NeighbourIndexTests
{
    /// <summary>3,000 points in 32 dimensions around 30 centres, seeded.</summary>
    static Tensor Clustered()
    {
        var generator = new Generator(7);
        var centres = randn(30, 32, generator: generator);
        var assignment = randint(0, 30, [3000], generator: generator);
        return centres.index_select(0, assignment) + randn(3000, 32, generator: generator).mul(Runtime.Scalars.Of(0.3));
    }

    [Fact]
    public void Above_the_exact_limit_an_hnsw_index_answers_with_high_recall_and_never_returns_the_query()
    {
        using var scope = NewDisposeScope();
        var points = Clustered();
        using var approximate = NeighbourIndex.Build(points, new NeighbourSearchOptions { ExactUpTo = 1000, RecallSample = 500 });
        using var exact = NeighbourIndex.Build(points);
        Assert.True(approximate.Approximate);
        Assert.False(exact.Approximate);
        Assert.True(approximate.Recall >= 0.95, $"recall@10 {approximate.Recall}");
        Assert.True(approximate.EveryRecordRecall >= 0.9, $"every-record recall@10 {approximate.EveryRecordRecall}");
        Assert.Null(exact.EveryRecordRecall);

        var (index, similarity) = approximate.Find(10);
        var (truth, _) = exact.Find(10);
        double hits = Enumerable.Range(0, 3000).Sum(q => index[q].Intersect(truth[q]).Count());
        Assert.True(hits / 30000 >= 0.95, $"recall over every record {hits / 30000:F3}");
        Assert.All(Enumerable.Range(0, 3000), q => Assert.DoesNotContain(q, index[q]));
        Assert.All(similarity, s => Assert.Equal(s.OrderDescending(), s));
    }

    [Fact]
    public void The_every_record_pass_searches_at_its_own_breadth_and_queries_at_theirs()
    {
        using var scope = NewDisposeScope();
        // A breadth of 1 for the every-record pass finds clearly fewer true neighbours than 256 for queries.
        using var approximate = NeighbourIndex.Build(Clustered(), new NeighbourSearchOptions { ExactUpTo = 1000, RecallSample = 300, ExpansionEveryRecord = 1, Connectivity = 4, ExpansionAdd = 8 });
        Assert.True(approximate.EveryRecordRecall < approximate.Recall - 0.05, $"every-record {approximate.EveryRecordRecall} vs queries {approximate.Recall}");
        var (all, _) = approximate.Find(10);
        var sample = Enumerable.Range(0, 300).Select(i => i * 10).ToArray();
        var (queried, _) = approximate.Find(10, sample);
        Assert.Contains(sample.Select((q, n) => (q, n)), p => !all[p.q].SequenceEqual(queried[p.n]));
    }

    [Fact]
    public void A_smaller_k_after_a_larger_one_is_the_prefix_of_the_same_answer()
    {
        using var scope = NewDisposeScope();
        using var approximate = NeighbourIndex.Build(Clustered(), new NeighbourSearchOptions { ExactUpTo = 1000, RecallSample = 100 });
        var (ten, _) = approximate.Find(10);
        var (five, _) = approximate.Find(5);
        Assert.All(Enumerable.Range(0, ten.Length), q => Assert.Equal(ten[q][..5], five[q]));
        var (some, _) = approximate.Find(5, [3, 7]);
        Assert.Equal(five[3], some[0]);
    }
}

/// <summary><c>mining-benchmark --embeddings</c>: the approximate index scored on a file, per search breadth.</summary>
[Collection("console")]
public class ApproximateSearchBenchmarkTests
{
    [Fact]
    public void Scores_recall_and_speed_for_each_search_breadth()
    {
        var folder = Fixture.TempFolder();
        var path = Path.Combine(folder, "points.csv");
        var random = new Random(2);
        using (var writer = new EmbeddingWriter(path, 8, 600))
        {
            var vectors = Enumerable.Range(0, 600 * 8).Select(_ => (float)random.NextDouble()).ToArray();
            writer.Write(Enumerable.Range(0, 600).Select(i => $"p{i}").ToArray(), new string?[600], vectors);
            writer.Complete();
        }
        var json = Path.Combine(folder, "ann.json");
        var (code, _, error) = CliTests.Run("mining-benchmark", "--embeddings", path, "--queries", "200", "--ef", "16,64", "--out", json);
        Assert.True(code == 0, error);
        using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        var rows = document.RootElement.GetProperty("approximate_search").GetProperty("by_ef");
        Assert.Equal(2, rows.GetArrayLength());
        // A wider search finds at least as many of the true neighbours (and here nearly all).
        Assert.True(rows[1].GetProperty("recall_at_10").GetDouble() >= rows[0].GetProperty("recall_at_10").GetDouble());
        Assert.True(rows[1].GetProperty("recall_at_10").GetDouble() >= 0.95);
    }
}
