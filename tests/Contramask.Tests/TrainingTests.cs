using System.IO.Compression;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Objectives;
using Contramask.Training;
using static TorchSharp.torch;

namespace Contramask.Tests;

public class TrainingTests
{
    static PretrainConfig Small(ImageDataset train, Method method, int epochs) =>
        PretrainConfig.DefaultsFor(train, method) with { Epochs = epochs, BatchSize = 64, Threads = 2, LearningRate = Fixture.ShortRunLearningRate };

    [Theory]
    [InlineData(true, 0.1, 0.886, 0.725566)]
    [InlineData(false, 0.1, 0.94, 0.8266)]
    [InlineData(true, 0.0, 0.905, 0.7695)]
    public void Sgd_matches_torch_optim_SGD_with_momentum_and_coupled_weight_decay_on_a_hand_computed_case(bool nesterov, double decay, double first, double second)
    {
        // p = 1, ∇ = 0.5 twice, lr 0.1, μ 0.9, λ 0.1. Step 1: g = 0.5 + 0.1·1 = 0.6, b = 0.6; Nesterov moves by
        // 0.1·(0.6 + 0.9·0.6) = 0.114, plain momentum by 0.1·0.6. Step 2 (Nesterov): g = 0.5 + 0.1·0.886 = 0.5886,
        // b = 0.9·0.6 + 0.5886 = 1.1286, p = 0.886 − 0.1·(0.5886 + 0.9·1.1286) = 0.725566; plain: g = 0.594,
        // b = 1.134, p = 0.94 − 0.1134 = 0.8266.
        // Without decay (Nesterov): b = 0.5, p = 1 − 0.1·(0.5 + 0.45) = 0.905; b = 0.95, p = 0.905 − 0.1·(0.5 + 0.855) =
        // 0.7695, which holds only if the buffer is a copy: were it the gradient itself, zeroing the gradient would wipe it.
        using var p = new TorchSharp.Modules.Parameter(tensor(new[] { 1.0 }));
        using var sgd = new Sgd([new ParameterGroup([p], 0.1, decay)], momentum: 0.9, nesterov: nesterov);
        foreach (var expected in new[] { first, second })
        {
            sgd.ZeroGrad();
            using (var loss = p.sum().mul(0.5)) loss.backward();
            sgd.Step();
            Assert.Equal(expected, p.item<double>(), 9);
        }
    }

    [Fact]
    public void Short_fusion_pretraining_on_digits_beats_the_random_init_encoder()
    {
        var data = DigitsDataset.Load();
        var folder = Fixture.TempFolder();
        using (var trainer = Pretrainer.Start(Small(data.Train, Method.Fusion, 20) with { BatchSize = 128 }, folder, data))
        {
            var result = trainer.Run();
            Assert.Equal(RunStatus.Finished, result.Status);
            Assert.Equal(20 * (data.Train.Count / 128), result.Steps);
        }
        var report = EncoderEvaluator.EvaluateRun(folder, data, raw: false);
        // Measured: linear 96.1% vs 93.9% random (20 epochs, batch 128, seed 42, BatchNorm recalibrated). kNN-20 read
        // 94.7% vs 92.8% on one Zen 5 machine whose kernels round differently (the same commit had passed a 2-point
        // margin on another): 1 point still fails an objective that does not learn (it stays at or below random).
        Assert.True(report.Pretrained.Knn20 >= report.RandomInit!.Knn20 + 0.01, $"kNN {report.Pretrained.Knn20:P1} vs random {report.RandomInit.Knn20:P1}");
        Assert.True(report.Pretrained.Linear >= report.RandomInit.Linear + 0.015, $"linear {report.Pretrained.Linear:P1} vs random {report.RandomInit.Linear:P1}");
        Assert.True(File.Exists(Path.Combine(folder, RunFiles.EvaluationFileName)));
        // One line per step, after the quality monitor's reading of the untrained encoder (step 0).
        var metrics = File.ReadAllLines(Path.Combine(folder, MetricsLog.FileName)).Skip(1).ToArray();
        Assert.Equal(20 * (data.Train.Count / 128), metrics.Length);
        Assert.Contains("\"loss_contrastive\":", metrics[0]);
        Assert.Contains("\"loss_reconstruction\":", metrics[0]);
    }

    [Fact]
    public void The_supervised_baseline_trains_on_images_with_their_labels()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 128).ToArray()) };
        using var trainer = Pretrainer.Start(Small(small.Train, Method.Supervised, 2), Fixture.TempFolder(), small);
        var losses = new List<double>();
        var result = trainer.Run(p => losses.Add(p.Components["cross_entropy"]));
        Assert.Equal(RunStatus.Finished, result.Status);
        Assert.Equal(4, losses.Count);
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
    }

    [Fact]
    public void A_resumed_run_continues_where_it_stopped_with_its_optimizer_state()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 256).ToArray()) };
        var config = Small(small.Train, Method.Contrastive, 4);

        // Straight: 4 epochs × 4 steps.
        var straightFolder = Fixture.TempFolder();
        using (var straight = Pretrainer.Start(config, straightFolder, small)) straight.Run();

        // Stopped after the 6th step by cancellation, then resumed.
        var folder = Fixture.TempFolder();
        using var cancel = new CancellationTokenSource();
        using (var first = Pretrainer.Start(config, folder, small))
        {
            var result = first.Run(p => { if (p.Step == 6) cancel.Cancel(); }, cancel.Token);
            Assert.Equal(RunStatus.Interrupted, result.Status);
            Assert.Equal(6, result.Steps);
        }
        using (var resumed = Pretrainer.Resume(folder, small))
        {
            Assert.Equal(6, resumed.Step);
            var result = resumed.Run();
            Assert.Equal(RunStatus.Finished, result.Status);
            Assert.Equal(16, result.Steps);
        }
        // Same data order, same views, same optimizer moments: the resumed weights match the straight run.
        using var a = LoadWeights(straightFolder, small);
        using var b = LoadWeights(folder, small);
        foreach (var ((name, p), (_, q)) in a.named_parameters().Zip(b.named_parameters()))
            Assert.True(p.allclose(q, rtol: 1e-4, atol: 1e-5), $"parameter {name} differs after resume");
        Assert.Equal(17, File.ReadAllLines(Path.Combine(folder, MetricsLog.FileName)).Length); // 16 steps and the step-0 reading
    }

    static Objectives.SelfSupervisedObjective LoadWeights(string folder, DataSplits data)
    {
        var (state, path) = Checkpoint.ReadState(folder);
        var c = state.Config;
        var objective = SelfSupervisedObjective.Create(c.Objective, c.Encoder.Build(1, 8, 8), 1, 8, 8, c.Patch, new Generator(1));
        Checkpoint.LoadInto(path, objective, null);
        return objective;
    }

    [Fact]
    public void The_last_k_checkpoints_are_kept_and_reading_falls_back_through_them()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 128).ToArray()) };
        var folder = Fixture.TempFolder();
        var config = Small(small.Train, Method.Masked, 1) with { KeepCheckpoints = 3 };
        using (var t = Pretrainer.Start(config, folder, small)) t.Run();
        for (int epochs = 2; epochs <= 4; epochs++)
            using (var t = Pretrainer.Resume(folder, small, adjust: c => c with { Epochs = epochs })) t.Run();
        var kept = Directory.GetFiles(folder, "checkpoint*.zip").Select(f => Path.GetFileName(f)!).Order().ToArray();
        Assert.Equal(["checkpoint.prev.zip", "checkpoint.prev2.zip", "checkpoint.zip"], kept);
        // Corrupt the two newest: the third (after epoch 2, step 4) is read, with a warning.
        foreach (var name in new[] { Checkpoint.FileName, Checkpoint.PreviousFileName })
            File.WriteAllBytes(Path.Combine(folder, name), [1, 2, 3]);
        var warnings = new List<string>();
        var (state, path) = Checkpoint.ReadState(folder, warnings.Add);
        Assert.EndsWith("checkpoint.prev2.zip", path);
        Assert.Equal(4, state.Step);
        Assert.Single(warnings);
    }

    [Fact]
    public void A_torn_checkpoint_falls_back_to_the_previous_one()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 128).ToArray()) };
        var folder = Fixture.TempFolder();
        using (var t = Pretrainer.Start(Small(small.Train, Method.Masked, 1), folder, small)) t.Run();
        using (var t = Pretrainer.Resume(folder, small, adjust: c => c with { Epochs = 2 })) t.Run();
        Assert.True(File.Exists(Path.Combine(folder, Checkpoint.PreviousFileName)));

        // Tear the newest checkpoint in half: reading it must fail cleanly and fall back.
        var newest = Path.Combine(folder, Checkpoint.FileName);
        var bytes = File.ReadAllBytes(newest);
        File.WriteAllBytes(newest, bytes[..(bytes.Length / 2)]);
        var warnings = new List<string>();
        var (state, path) = Checkpoint.ReadState(folder, warnings.Add);
        Assert.EndsWith(Checkpoint.PreviousFileName, path);
        Assert.Equal(2, state.Step);
        Assert.Single(warnings);
        Assert.Contains("unreadable", warnings[0]);

        File.Delete(Path.Combine(folder, Checkpoint.PreviousFileName));
        var error = Assert.Throws<DataFormatException>(() => Checkpoint.ReadState(folder));
        Assert.Contains("unreadable", error.Message);
    }

    [Fact]
    public void Starting_over_an_existing_run_is_refused()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 64).ToArray()) };
        var folder = Fixture.TempFolder();
        var config = Small(small.Train, Method.Contrastive, 1);
        using (var t = Pretrainer.Start(config, folder, small)) t.Run();
        var error = Assert.Throws<RunFolderInUseException>(() => Pretrainer.Start(config, folder, small));
        Assert.Contains("--resume", error.Message);
        Assert.Contains("--overwrite", error.Message);
    }

    [Fact]
    public void Budget_stops_the_run_and_the_schedule_warms_up_then_decays()
    {
        Assert.Equal(0.5e-3, LearningRateSchedule.At(0.05, 1e-3, 0.1), 9);
        Assert.Equal(1e-3, LearningRateSchedule.At(0.1, 1e-3, 0.1), 9);
        Assert.Equal(1e-5, LearningRateSchedule.At(1.0, 1e-3, 0.1), 9);
        Assert.True(LearningRateSchedule.At(0.6, 1e-3, 0.1) < LearningRateSchedule.At(0.4, 1e-3, 0.1));

        var data = DigitsDataset.Load();
        var folder = Fixture.TempFolder();
        var config = Small(data.Train, Method.Masked, 1000) with { BudgetMinutes = 0.05 };
        using var trainer = Pretrainer.Start(config, folder, data);
        var result = trainer.Run();
        Assert.Equal(RunStatus.Finished, result.Status);
        Assert.InRange(result.Elapsed.TotalSeconds, 3, 10);
        Assert.True(result.Steps < 1000 * trainer.StepsPerEpoch);
    }

    [Fact]
    public void Checkpoint_holds_config_state_weights_and_optimizer()
    {
        var data = DigitsDataset.Load();
        var small = data with { Train = data.Train.Subset(Enumerable.Range(0, 64).ToArray()) };
        var folder = Fixture.TempFolder();
        using (var t = Pretrainer.Start(Small(small.Train, Method.Fusion, 1) with { Data = "digits" }, folder, small)) t.Run();
        using var zip = ZipFile.OpenRead(Path.Combine(folder, Checkpoint.FileName));
        Assert.Equal(["model.bin", "optimizer.bin", "state.json"], zip.Entries.Select(e => e.Name).Order());
        var (state, _) = Checkpoint.ReadState(folder);
        Assert.Equal("digits,val=0", state.Config.Data);   // the data given had no validation slice, and the run says so
        Assert.Equal(Method.Fusion, state.Config.Objective.Method);
        Assert.NotNull(state.Config.Normalization);
        Assert.True(state.Finished);
        Assert.NotEmpty(state.GeneratorState);
        Assert.False(File.Exists(Path.Combine(folder, Checkpoint.FileName + ".tmp")));
    }
}
