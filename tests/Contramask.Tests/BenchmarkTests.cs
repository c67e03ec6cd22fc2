using System.Text.Json;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Objectives;

namespace Contramask.Tests;

public class BenchmarkTests
{
    [Fact]
    public void Benchmark_runs_end_to_end_on_the_digits_and_writes_valid_json()
    {
        var data = DigitsDataset.Load();
        var folder = Fixture.TempFolder();
        var plan = new BenchmarkPlan { BudgetMinutes = 0.05, Methods = [Method.Contrastive, Method.Masked, Method.Fusion], Threads = 2 };
        var records = Benchmark.Run(data, "digits", plan, folder);
        Assert.Equal(["raw", "random", "contrastive", "masked", "fusion", "supervised"], records.Select(r => r.Method));

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, Benchmark.JsonFileName)));
        Assert.Equal(6, json.RootElement.GetArrayLength());
        string[] fields = ["dataset", "method", "encoder", "budget_s", "epochs", "images_per_s", "linear", "knn20", "knn200",
            "linear_1pct", "linear_10pct", "knn20_1pct", "nmi", "ari"];
        foreach (var record in json.RootElement.EnumerateArray())
            foreach (var field in fields)
                Assert.True(record.TryGetProperty(field, out _), $"record {record.GetProperty("method")} lacks {field}");
        var fusion = json.RootElement.EnumerateArray().Single(r => r.GetProperty("method").GetString() == "fusion");
        Assert.InRange(fusion.GetProperty("budget_s").GetDouble(), 2.5, 30);
        Assert.True(fusion.GetProperty("epochs").GetDouble() > 0);
        Assert.InRange(fusion.GetProperty("linear").GetDouble(), 0.5, 1.0);
        Assert.Contains("| fusion | convnet |", File.ReadAllText(Path.Combine(folder, Benchmark.MarkdownFileName)));

        // A second call reuses the finished runs instead of training again.
        var again = Benchmark.Run(data, "digits", plan with { Baselines = [] }, folder);
        Assert.Equal(records.Where(r => r.Method is "contrastive" or "masked" or "fusion").Select(r => r.Scores.Linear), again.Select(r => r.Scores.Linear));
    }
}
