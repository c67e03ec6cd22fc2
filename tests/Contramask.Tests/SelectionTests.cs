using Contramask.Classification;
using Contramask.Data;
using Contramask.Mining;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>Which records to label first: the strategies on planted structure, and select → finetune as one loop.</summary>
[Collection("console")]
public class SelectionTests(ExportRunFixture run) : IClassFixture<ExportRunFixture>
{
    /// <summary>Five tight 2-D blobs of 40 points around the vertices of a pentagon, plus one far-out point.</summary>
    static (Tensor Points, int[] Blob) Blobs(bool outlier = true)
    {
        var random = new Random(4);
        var values = new List<float>();
        var blob = new List<int>();
        for (int b = 0; b < 5; b++)
            for (int i = 0; i < 40; i++)
            {
                double angle = 2 * Math.PI * b / 5;
                values.Add((float)(10 * Math.Cos(angle) + random.NextDouble() - 0.5));
                values.Add((float)(10 * Math.Sin(angle) + random.NextDouble() - 0.5));
                values.Add(10f);
                blob.Add(b);
            }
        if (outlier)
        {
            values.AddRange([0.1f, 0.1f, -10f]); // pointing the other way
            blob.Add(-1);
        }
        return (tensor(values.ToArray(), new long[] { blob.Count, 3 }), blob.ToArray());
    }

    [Fact]
    public void Typical_picks_one_record_from_every_blob_and_never_the_outlier()
    {
        var (points, blob) = Blobs(outlier: false);
        using (points)
        {
            var picks = LabelSelection.Select(points, 5, new SelectionOptions { Strategy = SelectionStrategy.Typical });
            Assert.Equal(new[] { 0, 1, 2, 3, 4 }, picks.Select(p => blob[p.Row]).Order());
            Assert.Equal(new[] { 1, 2, 3, 4, 5 }, picks.Select(p => p.Order));
        }
        (points, blob) = Blobs();
        using (points)
            for (int seed = 0; seed < 3; seed++)
                Assert.DoesNotContain(LabelSelection.Select(points, 5, new SelectionOptions { Strategy = SelectionStrategy.Typical, Seed = seed }), p => blob[p.Row] == -1);
    }

    [Fact]
    public void Coreset_reaches_the_outlier_first_and_then_covers_the_blobs()
    {
        var (points, blob) = Blobs();
        using (points)
        {
            var picks = LabelSelection.Select(points, 6, new SelectionOptions { Strategy = SelectionStrategy.Coreset, Seed = 1 });
            Assert.Contains(picks.Take(2), p => blob[p.Row] == -1);
            Assert.Equal(6, picks.Select(p => blob[p.Row]).Distinct().Count());
        }
    }

    [Fact]
    public void Balanced_gives_every_group_the_same_share_and_random_repeats_with_its_seed()
    {
        var (points, blob) = Blobs(outlier: false);
        using (points)
        {
            var picks = LabelSelection.Select(points, 10, new SelectionOptions { Strategy = SelectionStrategy.Balanced, Clusters = 5 });
            Assert.All(picks.GroupBy(p => blob[p.Row]), g => Assert.Equal(2, g.Count()));
            Assert.Equal(10, picks.Select(p => p.Row).Distinct().Count());
            var first = LabelSelection.Select(points, 10, new SelectionOptions { Strategy = SelectionStrategy.Random, Seed = 3 }).Select(p => p.Row);
            var again = LabelSelection.Select(points, 10, new SelectionOptions { Strategy = SelectionStrategy.Random, Seed = 3 }).Select(p => p.Row);
            Assert.Equal(first, again);
        }
    }

    [Fact]
    public void Select_then_finetune_learns_from_exactly_the_picked_records()
    {
        var folder = Fixture.TempFolder();
        var list = Path.Combine(folder, "to-label.csv");
        var (code, _, error) = CliTests.Run("select", "--run", run.Folder, "--n", "30", "--out", list, "--quiet");
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(list);
        Assert.Equal("order,id,cluster,score", lines[0]);
        Assert.Equal(31, lines.Length);
        Assert.True(File.Exists(Path.ChangeExtension(list, ".png")));

        var budget = LabelBudget.Parse(list);
        var data = DataSpec.Parse("digits").Load();
        var chosen = budget.Choose(data.Train, 0);
        Assert.Equal(lines.Skip(1).Select(l => l.Split(',')[1]).Order(), chosen.Select(data.Train.RecordId).Order());

        var classifier = Path.Combine(folder, "classifier");
        (code, _, error) = CliTests.Run("finetune", "--run", run.Folder, "--labels", list, "--mode", "probe", "--out", classifier, "--quiet", "--no-test");
        Assert.True(code == 0, error);
        Assert.Contains("30 from to-label.csv", File.ReadAllText(Path.Combine(classifier, "classifier.json")));
    }

    [Fact]
    public void A_label_list_naming_unknown_records_is_refused_with_the_file_and_an_example()
    {
        var list = Path.Combine(Fixture.TempFolder(), "ids.txt");
        var train = DataSpec.Parse("digits").Load().Train;
        File.WriteAllText(list, $"{train.RecordId(0)}\nnot-a-record\n");
        var budget = LabelBudget.Parse(list);
        var error = Assert.Throws<ArgumentException>(() => budget.Choose(train, 0));
        Assert.Contains("ids.txt: 1 of 2 record ids are not in the training split", error.Message);
        Assert.Contains("'not-a-record'", error.Message);
        Assert.Throws<ArgumentException>(() => LabelBudget.Parse(Path.Combine(Fixture.TempFolder(), "missing.csv")));
        var broken = Path.Combine(Fixture.TempFolder(), "broken.csv");
        File.WriteAllText(broken, "id,note\n\"unterminated,1\n");
        Assert.Contains("broken.csv, line 2: not a CSV of record ids", Assert.Throws<ArgumentException>(() => LabelBudget.Parse(broken)).Message);
    }
}

/// <summary><c>mining-benchmark</c> end to end on the digits: planted faults in, scores out.</summary>
[Collection("console")]
public class MiningBenchmarkCommandTests(ExportRunFixture run) : IClassFixture<ExportRunFixture>
{
    [Fact]
    public void Mining_benchmark_scores_duplicates_label_issues_and_selection_into_one_json()
    {
        var json = Path.Combine(Fixture.TempFolder(), "scores.json");
        var (code, _, error) = CliTests.Run("mining-benchmark", "--run", run.Folder, "--data", "digits", "--duplicates", "20", "--duplicates-split", "val",
            "--flip-labels", "0.05", "--evidence", "neighbours", "--select", "20", "--seeds", "1", "--out", json);
        Assert.True(code == 0, error);
        using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        var root = document.RootElement;
        Assert.Equal(2, root.GetProperty("duplicates").GetProperty("scores").GetArrayLength());
        var issues = root.GetProperty("label_issues").GetProperty("scores");
        Assert.Equal("neighbours", issues[0].GetProperty("evidence").GetString());
        Assert.InRange(issues[0].GetProperty("recall").GetDouble(), 0.3, 1.0);
        Assert.Equal(4, root.GetProperty("selection").GetArrayLength());
        Assert.True(root.GetProperty("machine").GetProperty("cpu").GetString()!.Length > 0);
        (code, _, error) = CliTests.Run("mining-benchmark", "--run", run.Folder, "--data", "digits", "--duplicates-split", "train2", "--out", json);
        Assert.Equal(2, code);
        Assert.Contains("unknown split 'train2'", error);
    }
}
