using System.Text.Json;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Objectives;
using Contramask.Training;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Tests;

public class QualityMonitorTests
{
    [Fact]
    public void RankMe_and_spread_tell_collapsed_embeddings_from_spread_ones()
    {
        using var g = new Generator(5);
        using var spread = randn(500, 32, generator: g);
        using var point = ones(500, 32).add_(randn(500, 32, generator: g).mul_(Of(1e-4)), One);
        using var line = randn(500, 1, generator: g).matmul(randn(1, 32, generator: g));
        var healthy = new QualityReading(1, 0, null, RepresentationHealth.RankMe(spread), RepresentationHealth.NormalizedStd(spread), 32, 0);
        var collapsed = new QualityReading(1, 0, null, RepresentationHealth.RankMe(point), RepresentationHealth.NormalizedStd(point), 32, 0);
        var oneDimension = new QualityReading(1, 0, null, RepresentationHealth.RankMe(line), RepresentationHealth.NormalizedStd(line), 32, 0);
        // Gaussian embeddings use nearly all 32 dimensions, and their normalized std is ≈ 1/√d.
        Assert.InRange(healthy.RankMe, 28, 32);
        Assert.InRange(healthy.SpreadRatio, 0.9, 1.1);
        Assert.False(healthy.Collapsed(2));
        // Everything at one point: nothing spread (RankMe's singular values are those of one repeated row).
        Assert.True(collapsed.SpreadRatio < 0.01, $"spread {collapsed.SpreadRatio}");
        Assert.True(collapsed.Collapsed(2));
        // All on one line through the origin: spread (two antipodal points) but one dimension.
        Assert.InRange(oneDimension.RankMe, 1, 1.01);
        Assert.True(oneDimension.Collapsed(2));
    }

    [Fact]
    public void A_run_reads_its_quality_at_step_zero_and_each_tenth_and_logs_it_without_counting_the_time()
    {
        var data = DataSpec.Parse("digits").Load(); // with its validation slice
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Contrastive) with { Epochs = 4, BatchSize = 64, Threads = 2, MonitorChecks = 4, MonitorShare = double.PositiveInfinity, LearningRate = Fixture.ShortRunLearningRate };
        // τ 0.2: at the CNN default of 0.5 the digits' kNN-20 needs more than these 80 steps to move, and this test
        // is about the monitor, not the temperature.
        config = config with { Objective = config.Objective with { Temperature = 0.2 } };
        var folder = Fixture.TempFolder();
        var seen = new List<TrainingProgress>();
        using var trainer = Pretrainer.Start(config, folder, data);
        var wall = System.Diagnostics.Stopwatch.StartNew();
        var result = trainer.Run(seen.Add);
        double wallSeconds = wall.Elapsed.TotalSeconds;
        long steps = 4 * (data.Train.Count / 64);
        Assert.Equal(steps, result.Steps);

        // Step 0 (the untrained encoder), then at 1/4, 2/4, 3/4 and the last step.
        Assert.Equal([0, steps / 4, steps / 2, 3 * steps / 4, steps], trainer.Readings.Select(r => r.Step));
        foreach (var r in trainer.Readings)
        {
            Assert.InRange(r.Knn20!.Value, 0.1, 1.0);
            Assert.InRange(r.RankMe, 2, 128);
            Assert.False(r.Collapsed(config.CollapseRank));
        }
        // Contrastive learning on the digits: the validation kNN-20 rises from the untrained encoder's.
        Assert.True(trainer.Readings[^1].Knn20 > trainer.Readings[0].Knn20 + 0.01, $"kNN-20 {trainer.Readings[0].Knn20:P1} → {trainer.Readings[^1].Knn20:P1}");

        var lines = MetricsLog.Read(Path.Combine(folder, MetricsLog.FileName));
        var logged = lines.Where(l => l.TryGetProperty("rankme", out _)).ToList();
        Assert.Equal(trainer.Readings.Select(r => r.Step), logged.Select(l => l.GetProperty("step").GetInt64()));
        Assert.All(logged, l => Assert.True(l.TryGetProperty("val_knn20", out _) && l.TryGetProperty("embedding_std", out _) && l.TryGetProperty("monitor_s", out _)));
        // Training time excludes the readings: training time plus the readings' cost is what the run took.
        double monitorSeconds = trainer.Readings.Sum(r => r.Seconds);
        Assert.True(monitorSeconds > 0.05, $"readings took {monitorSeconds:F3} s");
        Assert.InRange(wallSeconds - (result.Elapsed.TotalSeconds + monitorSeconds), -0.02, 0.5);
        Assert.InRange(lines[^1].GetProperty("elapsed_s").GetDouble(), 0, result.Elapsed.TotalSeconds);
        // The progress line carries the latest reading.
        Assert.Equal(steps, seen[^1].Quality!.Step);
        Assert.Null(seen[^1].Warning);
    }

    [Fact]
    public void Readings_keep_within_their_share_of_the_training_time_except_the_first_and_last()
    {
        var data = DataSpec.Parse("digits").Load();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Contrastive) with { Epochs = 4, BatchSize = 64, Threads = 2, MonitorChecks = 4, MonitorShare = 1e-6 };
        using var trainer = Pretrainer.Start(config, Fixture.TempFolder(), data);
        var result = trainer.Run();
        Assert.Equal([0, result.Steps], trainer.Readings.Select(r => r.Step));
    }

    [Fact]
    public void A_reading_of_a_masked_batchnorm_cnn_leaves_its_statistics_and_mode_as_they_were()
    {
        var data = DataSpec.Parse("digits").Load();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion) with { Threads = 2 };
        using var g = new Generator(1);
        using var encoder = ModelFactory.BuildEncoder(config, data.Train);
        encoder.train();
        var before = encoder.buffers().Select(b => b.clone()).ToList();
        using var monitor = new QualityMonitor(encoder, config, data, maskedBatchNorm: true);
        var reading = monitor.Check(0, 0);
        Assert.True(encoder.training);
        foreach (var (b, old) in encoder.buffers().Zip(before)) Assert.True(Tensors.Same(b, old));
        Assert.InRange(reading.Knn20!.Value, 0.2, 1.0);
    }

    [Fact]
    public void A_resume_may_change_the_monitor_settings_and_a_finished_run_stays_finished()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 256).ToArray()) };
        var config = PretrainConfig.DefaultsFor(small.Train, Method.Contrastive) with { Epochs = 1, BatchSize = 64, Threads = 2 };
        var folder = Fixture.TempFolder();
        using (var trainer = Pretrainer.Start(config, folder, small)) trainer.Run();
        using (var resumed = Pretrainer.Resume(folder, small, monitor: c => c with { MonitorChecks = 3, StopOnCollapse = true, CollapseRank = 1.5 }))
        {
            Assert.Equal((3, true, 1.5), (resumed.Config.MonitorChecks, resumed.Config.StopOnCollapse, resumed.Config.CollapseRank));
            var result = resumed.Run();
            Assert.Equal(4, result.Steps);
            Assert.Empty(resumed.Readings);
        }
        Assert.Contains("\"monitor_checks\": 3", File.ReadAllText(Path.Combine(folder, RunFiles.ConfigFileName)));
        Assert.Throws<ArgumentException>(() => Pretrainer.Resume(folder, small, monitor: c => c with { LearningRate = 1 }));
    }

    [Fact]
    public void Monitor_zero_takes_no_readings()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 256).ToArray()) };
        var config = PretrainConfig.DefaultsFor(small.Train, Method.Masked) with { Epochs = 1, BatchSize = 64, Threads = 2, MonitorChecks = 0 };
        var folder = Fixture.TempFolder();
        using var trainer = Pretrainer.Start(config, folder, small);
        trainer.Run();
        Assert.Empty(trainer.Readings);
        Assert.DoesNotContain(File.ReadAllLines(Path.Combine(folder, MetricsLog.FileName)), l => l.Contains("rankme"));
    }

    /// <summary>An encoder whose weights are all zero maps every image to the same point: a real collapse, end to end.</summary>
    static Pretrainer CollapsedRun(string folder, DataSplits data, bool stop)
    {
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Contrastive) with
        {
            Epochs = 2, BatchSize = 64, Threads = 2, MonitorChecks = 2, MonitorShare = double.PositiveInfinity, StopOnCollapse = stop, LearningRate = 1e-12, WeightDecay = 0,
        };
        var trainer = Pretrainer.Start(config, folder, data);
        using var _ = no_grad();
        foreach (var p in trainer.Encoder.parameters()) p.zero_();
        return trainer;
    }

    [Fact]
    public void A_collapsing_run_warns_at_each_reading_after_the_first_and_finishes()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 512).ToArray()) };
        var folder = Fixture.TempFolder();
        var warnings = new List<string>();
        using var trainer = CollapsedRun(folder, small, stop: false);
        var result = trainer.Run(p => { if (p.Warning is not null) warnings.Add(p.Warning); });
        Assert.Equal(RunStatus.Finished, result.Status);
        Assert.Equal(3, trainer.Readings.Count);
        Assert.All(trainer.Readings, r => Assert.True(r.Collapsed(trainer.Config.CollapseRank), $"step {r.Step}: RankMe {r.RankMe}, spread {r.SpreadRatio}"));
        // The untrained encoder's reading is not judged; the two after training steps are.
        Assert.Equal(2, warnings.Count);
        Assert.All(warnings, w => Assert.Contains("collapsing", w));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(folder, MetricsLog.FileName)).Count(l => l.Contains("\"collapse\":1")));
    }

    [Fact]
    public void Stop_on_collapse_saves_a_checkpoint_and_stops_with_a_message_that_says_how_to_go_on()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 512).ToArray()) };
        var folder = Fixture.TempFolder();
        using (var trainer = CollapsedRun(folder, small, stop: true))
        {
            var error = Assert.Throws<CollapseException>(() => trainer.Run());
            Assert.Equal(8, error.Reading.Step); // half of 2 epochs × 8 steps
            Assert.Contains(folder, error.Message);
            Assert.Contains("--resume --lr", error.Message);
        }
        var (state, _) = Checkpoint.ReadState(folder);
        Assert.Equal(8, state.Step);
        Assert.False(state.Finished);
    }

    [Fact]
    public void Time_to_accuracy_is_the_first_reading_at_contrastive_onlys_final_one()
    {
        static BenchmarkRecord Run(string method, params (double, double)[] curve) =>
            new("digits", method, "convnet", 60, 10, 1, 100, null, new ProtocolScores { Name = method }) { Curve = curve.Select(p => new QualityPoint(p.Item1, p.Item2)).ToList() };
        var contrastive = Run("contrastive", (0, 0.5), (1, 0.8), (2, 0.90));
        var fusion = Run("fusion", (0, 0.5), (0.5, 0.85), (1.2, 0.91), (2, 0.93));
        var masked = Run("masked", (0, 0.5), (1, 0.7), (2, 0.89));
        var raw = new BenchmarkRecord("digits", "raw", "pixels", 0, 0, 0, 0, null, new ProtocolScores { Name = "raw" });
        var minutes = Benchmark.MinutesToContrastive([raw, contrastive, masked, fusion]);
        Assert.Equal(2, minutes[contrastive]);
        Assert.Equal(1.2, minutes[fusion]);
        Assert.Null(minutes[masked]);
        Assert.False(minutes.ContainsKey(raw));
        var json = fusion.ToJson(minutes[fusion]);
        Assert.Equal(1.2, json["minutes_to_contrastive_knn20"]!.GetValue<double>());
        Assert.Equal(4, json["val_knn20_over_time"]!.AsArray().Count);
    }
}
