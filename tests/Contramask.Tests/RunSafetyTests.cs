using Contramask.Data;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Training;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>Nothing a run has done is lost or silently changed: skipped steps, resumes, checkpoints, dead runs, crashes.</summary>
[Collection("console")]
public class RunSafetyTests
{
    static TableSplits Mixed() => DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30,val=0").LoadTable();

    static Dictionary<string, float[]> Buffers(nn.Module model) =>
        model.named_buffers().ToDictionary(b => b.name, b => b.buffer.cpu().to(ScalarType.Float32).flatten().data<float>().ToArray());

    [Fact]
    public void A_skipped_step_leaves_batchnorm_running_statistics_as_they_were()
    {
        // SCARF's projection head has BatchNorm; every row poisoned with infinity makes every step non-finite.
        var data = Mixed();
        for (int r = 0; r < data.Train.Count; r++) data.Train.Values[r * data.Train.FeatureCount] = float.PositiveInfinity;
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Contrastive) with { Epochs = 5, BatchSize = 8, Threads = 2, MaxBadSteps = 3 };
        using var trainer = Pretrainer.Start(config, Fixture.TempFolder(), data);
        var before = Buffers(trainer.Objective);
        Assert.Contains(before.Keys, k => k.EndsWith("running_mean"));
        Assert.Throws<DivergenceException>(() => trainer.Run());
        var after = Buffers(trainer.Objective);
        foreach (var (name, values) in before) Assert.True(values.SequenceEqual(after[name]), $"{name} changed by skipped steps");
    }

    [Fact]
    public void A_resumed_run_restores_batchnorm_statistics_with_the_weights()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 256).ToArray()) };
        // One thread: libtorch's CPU convolution backward is not bit-repeatable with two (docs/ENGINEERING.md).
        var config = PretrainConfig.DefaultsFor(small.Train, Method.Contrastive) with { Epochs = 2, BatchSize = 64, Threads = 1 };
        var straightFolder = Fixture.TempFolder();
        Dictionary<string, float[]> straight;
        using (var t = Pretrainer.Start(config, straightFolder, small)) { t.Run(); straight = Buffers(t.Objective); }
        var folder = Fixture.TempFolder();
        using var cancel = new CancellationTokenSource();
        using (var first = Pretrainer.Start(config, folder, small)) first.Run(p => { if (p.Step == 3) cancel.Cancel(); }, cancel.Token);
        using var resumed = Pretrainer.Resume(folder, small);
        resumed.Run();
        var after = Buffers(resumed.Objective);
        Assert.Contains(straight.Keys, k => k.EndsWith("num_batches_tracked"));
        foreach (var (name, values) in straight)
            Assert.True(values.Zip(after[name]).All(p => Math.Abs(p.First - p.Second) <= 1e-4 * (1 + Math.Abs(p.First))), $"{name} differs after resume");
    }

    [Fact]
    public void Extending_an_interrupted_run_continues_from_the_rate_it_had_reached()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 256).ToArray()) };
        var config = PretrainConfig.DefaultsFor(small.Train, Method.Masked) with { Epochs = 10, BatchSize = 64, Threads = 2 };   // 40 steps
        var folder = Fixture.TempFolder();
        var rates = new List<double>();
        using var cancel = new CancellationTokenSource();
        using (var t = Pretrainer.Start(config, folder, small)) t.Run(p => { rates.Add(p.LearningRate); if (p.Step == 20) cancel.Cancel(); }, cancel.Token);
        var extended = new List<double>();
        using (var t = Pretrainer.Resume(folder, small, adjust: c => c with { Epochs = 20 })) t.Run(p => extended.Add(p.LearningRate));
        Assert.Equal(60, extended.Count);
        // Halfway through, the rate is about half the peak; the old schedule (step 21 of 80) would jump back near it.
        double halfway = rates[^1], stepDrop = rates[^2] - rates[^1];
        Assert.InRange(halfway, config.LearningRate * 0.4, config.LearningRate * 0.6);
        // The next rate is where the old schedule would have gone next (one step's decrease), not back up.
        Assert.InRange(extended[0], halfway - 1.5 * stepDrop, halfway);
        Assert.True(extended.Zip(extended.Skip(1)).All(p => p.Second <= p.First + 1e-12), "the extended schedule must not rise");
        Assert.InRange(extended[^1], config.LearningRate * LearningRateSchedule.FinalFraction * 0.999, config.LearningRate * 0.05);
        // Lowering the peak after an extension lowers the extended schedule too (what --resume --lr does after a divergence).
        var lowered = new List<double>();
        using (var t = Pretrainer.Resume(folder, small, adjust: c => c with { Epochs = 30, LearningRate = c.LearningRate / 10 })) t.Run(p => lowered.Add(p.LearningRate));
        Assert.True(lowered[0] <= extended[^1] / 10 * 1.01, $"{lowered[0]:G3} after lowering the peak tenfold from {extended[^1]:G3}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Extending_a_finished_run_continues_the_learning_rate_without_a_jump(bool budgeted)
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 256).ToArray()) };
        var config = PretrainConfig.DefaultsFor(small.Train, Method.Masked) with
        {
            Epochs = budgeted ? 100_000 : 4, BudgetMinutes = budgeted ? 0.05 : null, BatchSize = 64, Threads = 2,
        };
        var folder = Fixture.TempFolder();
        var rates = new List<double>();
        using (var t = Pretrainer.Start(config, folder, small)) t.Run(p => rates.Add(p.LearningRate));
        double last = rates[^1];
        var extended = new List<double>();
        using (var t = Pretrainer.Resume(folder, small, adjust: c => budgeted ? c with { BudgetMinutes = 0.1 } : c with { Epochs = 8 }))
            t.Run(p => extended.Add(p.LearningRate));
        Assert.NotEmpty(extended);
        // The first rate after the extension continues from the rate reached so far: never above the last one (the
        // old schedule restarted at mid-cosine, many times higher), never below the schedule's floor.
        double floor = config.LearningRate * LearningRateSchedule.FinalFraction;
        Assert.InRange(extended[0], floor * 0.999, last * 1.001);
        Assert.True(extended.Max() <= last * 1.001, $"rate jumped from {last:G3} to {extended.Max():G3}");
        for (int i = 1; i < extended.Count; i++) Assert.True(extended[i] <= extended[i - 1] + 1e-12, "the extended schedule must not rise");
    }

    [Fact]
    public void A_new_peak_rate_alone_rescales_an_extended_schedule()
    {
        var config = new PretrainConfig { Epochs = 20, LearningRate = 1e-3, Extension = new ScheduleExtension(40, 30, 4e-4) };
        double before = LearningRateSchedule.At(config, 50, 0, stepsPerEpoch: 4);
        var lowered = LearningRateSchedule.Continue(config, config with { LearningRate = 1e-4 }, 50, 0, stepsPerEpoch: 4);
        Assert.Equal(before / 10, LearningRateSchedule.At(lowered, 50, 0, stepsPerEpoch: 4), 12);
    }

    [Fact]
    public void Checkpoint_rotation_never_takes_the_newest_checkpoint_away_and_resuming_from_a_fallback_drops_the_bad_one()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 128).ToArray()) };
        var folder = Fixture.TempFolder();
        var config = PretrainConfig.DefaultsFor(small.Train, Method.Masked) with { Epochs = 1, BatchSize = 64, Threads = 2, KeepCheckpoints = 3 };
        using (var t = Pretrainer.Start(config, folder, small)) t.Run();

        // inotify sees every rename and delete: checkpoint.zip may be replaced, never renamed away or deleted.
        var events = new List<string>();
        using (var watcher = new FileSystemWatcher(folder, "checkpoint*") { IncludeSubdirectories = false })
        {
            watcher.Renamed += (_, e) => { lock (events) events.Add($"renamed {e.OldName} -> {e.Name}"); };
            watcher.Deleted += (_, e) => { lock (events) events.Add($"deleted {e.Name}"); };
            watcher.EnableRaisingEvents = true;
            for (int epochs = 2; epochs <= 4; epochs++)
                using (var t = Pretrainer.Resume(folder, small, adjust: c => c with { Epochs = epochs })) t.Run();
            Thread.Sleep(500);
        }
        lock (events)
        {
            Assert.Contains(events, e => e.EndsWith("-> checkpoint.zip"));
            Assert.DoesNotContain(events, e => e.StartsWith("renamed checkpoint.zip ") || e == "deleted checkpoint.zip");
        }
        Assert.Equal(8, Checkpoint.ReadState(folder).State.Step);
        Assert.Equal(6, StateOf(folder, Checkpoint.PreviousFileName));

        // The newest is damaged: resuming uses the previous one, and its next checkpoint must not keep the damaged
        // file as a fallback in place of the good one.
        File.WriteAllBytes(Path.Combine(folder, Checkpoint.FileName), [1, 2, 3]);
        using (var t = Pretrainer.Resume(folder, small, warn: _ => { }, adjust: c => c with { Epochs = 5 })) t.Run();
        Assert.Equal(10, StateOf(folder, Checkpoint.FileName));
        Assert.Equal(6, StateOf(folder, Checkpoint.PreviousFileName));
        Assert.Equal(4, StateOf(folder, "checkpoint.prev2.zip"));
    }

    static long StateOf(string folder, string file)
    {
        var probe = Fixture.TempFolder();
        File.Copy(Path.Combine(folder, file), Path.Combine(probe, Checkpoint.FileName));
        return Checkpoint.ReadState(probe).State.Step;
    }

    [Fact]
    public void A_folder_holding_a_killed_run_is_refused_until_resumed_or_overwritten_and_its_torn_metrics_line_is_skipped()
    {
        // What kill -9 before the first checkpoint leaves: a config, steps logged, a torn last line, no checkpoint.
        var run = Path.Combine(Fixture.TempFolder(), "run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, RunFiles.ConfigFileName), "{}");
        File.WriteAllText(Path.Combine(run, MetricsLog.FileName), "{\"step\":1,\"loss\":2.5}\n{\"step\":2,\"loss\":2.4}\n{\"step\":3,\"lo");
        var (code, _, error) = CliTests.Run("pretrain", "--data", "digits", "--epochs", "1", "--out", run, "--quiet", "--no-eval");
        Assert.Equal(Cli.CliApp.BadInputExitCode, code);
        Assert.Contains("already holds a run", error);
        Assert.Contains("--overwrite", error);
        (code, _, error) = CliTests.Run("pretrain", "--out", run, "--resume", "--quiet");
        Assert.Equal(Cli.CliApp.BadInputExitCode, code);
        Assert.Contains("before its first checkpoint", error);
        var warnings = new List<string>();
        Assert.Equal(2, MetricsLog.Read(Path.Combine(run, MetricsLog.FileName), warnings.Add).Count);
        Assert.Contains("line 3", Assert.Single(warnings));

        (code, _, error) = CliTests.Run("pretrain", "--data", "digits", "--epochs", "1", "--batch-size", "256", "--out", run, "--quiet", "--no-eval", "--overwrite", "--threads", "2");
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(Path.Combine(run, MetricsLog.FileName));
        // The old run's lines are gone: the new run's begin with the monitor's step-0 reading, then one per step.
        Assert.Equal(Enumerable.Range(0, lines.Length).Select(i => $"{{\"step\":{i},"), lines.Select(l => l[..(l.IndexOf(',') + 1)]));
        (code, _, error) = CliTests.Run("mine", "--run", run, "--no-map", "--quiet", "--k", "3");
        Assert.True(code == 0, error);
    }

    [Fact]
    public void A_resumed_run_logs_each_step_once_even_after_a_crash_lost_its_last_steps()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 256).ToArray()) };
        var config = PretrainConfig.DefaultsFor(small.Train, Method.Masked) with { Epochs = 3, BatchSize = 64, Threads = 2 };
        var folder = Fixture.TempFolder();
        using var cancel = new CancellationTokenSource();
        using (var t = Pretrainer.Start(config, folder, small)) t.Run(p => { if (p.Step == 5) cancel.Cancel(); }, cancel.Token);
        // Steps 6 and 7 logged after that checkpoint, then a torn line: what a crash leaves behind.
        var metrics = Path.Combine(folder, MetricsLog.FileName);
        File.AppendAllText(metrics, "{\"step\":6,\"loss\":1}\n{\"step\":7,\"loss\":1}\n{\"step\":8,");
        using (var t = Pretrainer.Resume(folder, small)) t.Run();
        var steps = MetricsLog.Read(metrics).Select(l => l.GetProperty("step").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(0, 13).Select(i => (long)i), steps); // step 0: the monitor's reading of the untrained encoder
    }

    [Fact]
    public void An_unexpected_error_in_a_step_writes_its_report_to_the_run_folder_and_leaves_the_run_resumable()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 256).ToArray()) };
        var config = PretrainConfig.DefaultsFor(small.Train, Method.Contrastive) with { Epochs = 3, BatchSize = 64, Threads = 2, CheckpointMinutes = 1e-6 };
        var folder = Fixture.TempFolder();
        using (var t = Pretrainer.Start(config, folder, small))
        {
            var error = Assert.Throws<TrainingFailedException>(() => t.Run(p => { if (p.Step == 6) throw new InvalidCastException("a defect"); }));
            Assert.Contains("step 7", error.Message);
            Assert.Contains("a defect", error.Message);
            Assert.Contains("--resume", error.Message);
            Assert.DoesNotContain("   at ", error.Message);
            var log = File.ReadAllText(Path.Combine(folder, RunFiles.ErrorLogFileName));
            Assert.Contains("InvalidCastException", log);
            Assert.Contains("   at ", log);   // the trace is in the log, not on the terminal
        }
        // The error came after step 6's report, before its checkpoint: the run continues from step 5.
        using var resumed = Pretrainer.Resume(folder, small);
        Assert.Equal(5, resumed.Step);
        Assert.Equal(RunStatus.Finished, resumed.Run().Status);
        Assert.Equal(1, new PretrainConfig().CheckpointMinutes);   // by default at most about a minute of work is lost
    }
}
