using System.Text.Json;
using Contramask.Classification;
using Contramask.Data;
using Contramask.Evaluation;

namespace Contramask.Tests;

[Collection("console")]
public class BenchmarkFinetuneTests
{
    [Fact]
    public void Benchmark_finetune_trains_full_semi_scratch_and_lightgbm_on_the_same_labels_and_writes_them_with_the_table()
    {
        var folder = Fixture.TempFolder();
        string spec = $"csv:{Fixture.Path("tables", "digits.csv")},header=no,label=column65";
        string[] args = ["benchmark", "--data", spec, "--budget", "0.02", "--methods", "contrastive", "--baselines", "none",
            "--finetune", "10%,all", "--finetune-steps", "40", "--out", folder, "--threads", "2", "--quiet"];
        var (code, output, error) = CliTests.Run(args);
        Assert.True(code == 0, error);
        Assert.Contains("## Classifiers from labels", output);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, Benchmark.JsonFileName)));
        var root = json.RootElement;
        Assert.Equal(["10%", "all"], root.GetProperty("plan").GetProperty("finetune_labels").EnumerateArray().Select(e => e.GetString()));
        var entries = root.GetProperty("classifiers").EnumerateArray()
            .Select(e => (Method: e.GetProperty("method").GetString(), Mode: e.GetProperty("mode").GetString(), Labels: e.GetProperty("labels").GetString(),
                Labelled: e.GetProperty("labelled").GetInt32(), Val: e.GetProperty("val_accuracy").GetDouble(), Test: e.GetProperty("test_accuracy").GetDouble()))
            .ToList();
        // Trees first (they need no pretraining), then the run's fine-tunes (no semi with all labels: nothing is left
        // unlabelled), then the encoder from scratch.
        Assert.Equal(
            [("lightgbm", "trees", "10%"), ("lightgbm", "trees", "all"), ("contrastive", "full", "10%"), ("contrastive", "semi", "10%"),
             ("contrastive", "full", "all"), ("scratch", "full", "10%"), ("scratch", "full", "all")],
            entries.Select(e => (e.Method, e.Mode, e.Labels)));
        // Every entry of a budget learns from the same number of labelled records: 10% of each class of the training split.
        var train = DataSpec.Parse(spec).LoadTable().Train;
        Assert.All(entries.Where(e => e.Labels == "10%"), e => Assert.Equal(LabelBudget.Parse("10%").Choose(train.Labels!, 42).Length, e.Labelled));
        Assert.All(entries.Where(e => e.Labels == "all"), e => Assert.Equal(train.Count, e.Labelled));
        // … and the same records: the fingerprint of the benchmark's seeded draw (42), not only its size.
        var fingerprints = root.GetProperty("classifiers").EnumerateArray()
            .Select(e => (Labels: e.GetProperty("labels").GetString(), Print: e.GetProperty("labelled_fingerprint").GetString())).ToList();
        Assert.All(fingerprints.Where(f => f.Labels == "10%"), f => Assert.Equal(ClassifierBenchmark.Fingerprint(LabelBudget.Parse("10%").Choose(train.Labels!, 42)), f.Print));
        Assert.NotEqual(ClassifierBenchmark.Fingerprint(LabelBudget.Parse("10%").Choose(train.Labels!, 42)), ClassifierBenchmark.Fingerprint(LabelBudget.Parse("10%").Choose(train.Labels!, 7)));
        Assert.All(entries, e => Assert.InRange(e.Test, 0.3, 1.0));
        // All labels: the trees reach what boosted trees reach on these features (97% validation in GradientBoostedTreesTests).
        Assert.True(entries.Single(e => e.Method == "lightgbm" && e.Labels == "all").Val > 0.95);

        // Each fine-tuned classifier is kept, ready for predict.
        using (var classifier = Classifier.Load(Path.Combine(folder, "contrastive-mlp", "classifiers", "semi-10pct")))
            Assert.Equal("semi", classifier.Info.Mode);
        var markdown = File.ReadAllText(Path.Combine(folder, Benchmark.MarkdownFileName));
        Assert.Contains("### Classifiers, test split", markdown);
        Assert.Contains("| lightgbm | raw features | trees |", markdown);

        // Run again: the same commit, CPU and plan reuse every finished entry (a dirty build never does: its commit
        // cannot tell which code trained them), so no entry is written anew.
        var stored = Directory.GetFiles(folder, "benchmark-record.json", SearchOption.AllDirectories).Where(f => !f.EndsWith(Path.Combine("contrastive-mlp", "benchmark-record.json")))
            .ToDictionary(f => f, File.GetLastWriteTimeUtc);
        Assert.Equal(7, stored.Count);
        var (again, _, againError) = CliTests.Run(args);
        Assert.True(again == 0, againError);
        string commit = Runtime.MachineInfo.BuildCommit;
        if (!commit.EndsWith("-dirty") && commit != "unknown")
            Assert.All(stored, f => Assert.Equal(f.Value, File.GetLastWriteTimeUtc(f.Key)));
    }

    [Fact]
    public void A_finished_entry_is_reused_only_when_reuse_is_allowed_and_its_provenance_matches()
    {
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "digits.csv")},header=no,label=column65").LoadTable();
        var plan = new BenchmarkPlan { FinetuneLabels = [LabelBudget.Parse("20%")], Threads = 2 };
        var folder = Fixture.TempFolder();
        var record = Path.Combine(folder, "lightgbm", "20pct", "benchmark-record.json");
        var log = new List<string>();
        ClassifierBenchmark.Context Context(string provenance, bool reusable) => new(data, plan, provenance, reusable, log.Add);

        var first = Assert.Single(ClassifierBenchmark.Trees(Context("commit a", reusable: true), folder));
        var written = File.GetLastWriteTimeUtc(record);
        var again = Assert.Single(ClassifierBenchmark.Trees(Context("commit a", reusable: true), folder));
        Assert.Equal(first, again);
        Assert.Equal(written, File.GetLastWriteTimeUtc(record));
        Assert.Single(log, l => l.Contains("reusing the finished entry"));

        // A dirty build (not reusable) and another provenance both train again.
        log.Clear();
        ClassifierBenchmark.Trees(Context("commit a", reusable: false), folder).ToList();
        ClassifierBenchmark.Trees(Context("commit b", reusable: true), folder).ToList();
        Assert.DoesNotContain(log, l => l.Contains("reusing"));
        Assert.Equal(2, log.Count(l => l.StartsWith("lightgbm: 20% labels")));
    }
}
