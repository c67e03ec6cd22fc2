using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Training;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Tests;

public class MomentumFusionTests
{
    [Fact]
    public void The_momentum_rises_from_its_base_to_one_on_a_cosine()
    {
        Assert.Equal(0.996, MomentumTarget.MomentumAt(0.996, 0), 12);
        Assert.Equal(0.998, MomentumTarget.MomentumAt(0.996, 0.5), 12);
        Assert.Equal(1.0, MomentumTarget.MomentumAt(0.996, 1), 12);
    }

    [Theory]
    [InlineData("convnet")]
    [InlineData("vit-mini")]
    public void Momentum_fusion_learns_and_its_target_follows_the_online_weights_by_ema_without_gradients(string encoderName)
    {
        using var g = new Generator(4);
        manual_seed(4);
        var encoderOptions = EncoderOptions.FromName(encoderName);
        var encoder = encoderOptions.Build(1, 8, 8);
        var target = encoderOptions.Build(1, 8, 8);
        var options = ObjectiveOptions.ForMethod(Method.Fusion, encoderOptions.IsVit) with { Fusion = FusionKind.Momentum, TargetMomentum = 0.9, Temperature = ObjectiveOptions.ForMethod(Method.Fusion, encoderOptions.IsVit, FusionKind.Momentum).Temperature };
        using var objective = SelfSupervisedObjective.Create(options, encoder, 1, 8, 8, 2, g, target);
        Assert.IsType<MomentumFusionObjective>(objective);
        var views = Enumerable.Range(0, 2).Select(_ => randn(16, 1, 8, 8, generator: g)).ToList();
        LearnsWithTargetFollowingByEma(objective, encoder, target, views, g, ["contrastive", "reconstruction"], encoderName);
    }

    /// <summary>
    /// Shared by the image and table momentum objectives (the target at momentum 0.9): the target (encoder and
    /// projector) starts as an exact copy of the online modules, takes no gradient and is not the optimizer's; after
    /// each of 15 steps on fixed views it is ξ ← 0.9·ξ + 0.1·θ; the loss, with its named terms, falls by 3%.
    /// </summary>
    internal static void LearnsWithTargetFollowingByEma(SelfSupervisedObjective objective, Encoder encoder, Encoder target,
        IReadOnlyList<Tensor> views, Generator g, string[] terms, string label)
    {
        // The EMA pairs: encoder with target encoder and projector with target projector (the predictor has no twin).
        Tensor[] Named(string prefix) => objective.named_parameters().Where(p => p.name.StartsWith(prefix)).Select(p => (Tensor)p.parameter).ToArray();
        var online = encoder.parameters().Concat(Named("projection.")).ToArray();
        var twins = target.parameters().Concat(Named("targetProjection.")).ToArray();
        Assert.Equal(online.Length, twins.Length);
        Assert.True(Named("projection.").Length > 0);
        foreach (var (o, t) in online.Zip(twins))
        {
            Assert.True(Tensors.Same(o, t));
            Assert.False(t.requires_grad);
        }
        var (decay, noDecay) = WeightDecayGroups.Split(objective);
        var trained = new HashSet<Tensor>(decay.Concat(noDecay), ReferenceEqualityComparer.Instance);
        Assert.DoesNotContain(twins, p => trained.Contains(p));
        Assert.Contains(encoder.parameters(), p => trained.Contains(p));

        double LossNow() { using var scope = NewDisposeScope(); g.manual_seed(11); return objective.Loss(views).Total.item<float>(); }
        double before = LossNow();
        using var optimizer = new AdamW([new(decay, 1e-3, 0.05), new(noDecay, 1e-3, 0)], beta2: 0.95);
        for (int step = 0; step < 15; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.ZeroGrad();
            g.manual_seed(11);
            var loss = objective.Loss(views);
            Assert.Equal(terms, loss.Components.Keys.Order());
            loss.Total.backward();
            Assert.All(twins, p => Assert.Null(p.grad));
            var targetBefore = twins.Select(p => p.clone()).ToList();
            optimizer.Step();
            // After the step: ξ ← m·ξ + (1 − m)·θ with m at progress 0 = 0.9.
            objective.AfterStep(0);
            foreach (var ((o, t), old) in online.Zip(twins).Zip(targetBefore))
                Assert.True(t.allclose(old.mul(Of(0.9)).add(o.mul(Of(0.1)), One), rtol: 1e-5, atol: 1e-6));
        }
        double after = LossNow();
        Assert.True(after < before * 0.97, $"{label}: loss {before:F4} → {after:F4}");
    }

    [Fact]
    public void A_momentum_fusion_run_checkpoints_its_target_and_loads_its_online_encoder_back()
    {
        var data = DataSpec.Parse("digits").Load();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion) with
        {
            Epochs = 3, BatchSize = 128, Threads = 2, MonitorChecks = 2, MonitorShare = double.PositiveInfinity,
            Objective = ObjectiveOptions.ForMethod(Method.Fusion, vit: false, FusionKind.Momentum),
        };
        var folder = Fixture.TempFolder();
        using var trainer = Pretrainer.Start(config, folder, data);
        Assert.Equal(RunStatus.Finished, trainer.Run().Status);
        Assert.Equal(3, trainer.Readings.Count);
        var (state, path) = Checkpoint.ReadState(folder);
        Assert.Equal(FusionKind.Momentum, state.Config.Objective.Fusion);
        // The checkpoint holds the target too; the encoder loaded back is the online one, BatchNorm recalibrated.
        using var loaded = EncoderEvaluator.LoadEncoder(path, state.Config, data.Train);
        foreach (var ((name, p), (_, q)) in trainer.Encoder.state_dict().Zip(loaded.state_dict()))
            Assert.True(p.to(ScalarType.Float64).allclose(q.to(ScalarType.Float64)), $"{name} differs after loading");
        var report = EncoderEvaluator.EvaluateRun(folder, data, raw: false, randomInit: false, split: EncoderEvaluator.Validation);
        Assert.InRange(report.Pretrained.Knn20, 0.5, 1.0);

        // Extended from its checkpoint, the target still takes no gradient and stays out of the optimizer.
        using var resumed = Pretrainer.Resume(folder, data, adjust: c => c with { Epochs = 4 });
        var targets = resumed.Objective.named_parameters().Where(p => p.name.StartsWith("targetEncoder.") || p.name.StartsWith("targetProjection.")).ToList();
        Assert.NotEmpty(targets);
        Assert.All(targets, p => Assert.False(p.parameter.requires_grad, p.name));
        var (decay, noDecay) = WeightDecayGroups.Split(resumed.Objective);
        var trained = new HashSet<Tensor>(decay.Concat(noDecay), ReferenceEqualityComparer.Instance);
        Assert.DoesNotContain(targets, p => trained.Contains(p.parameter));
        Assert.Equal(RunStatus.Finished, resumed.Run().Status);
    }
}

/// <summary><c>--fusion momentum</c> on a table: a masked row's features predict the momentum target's features of the clean row.</summary>
public class TableMomentumFusionTests
{
    [Theory]
    [InlineData("mlp", new[] { "contrastive", "mask", "reconstruction" })]
    [InlineData("ft-transformer", new[] { "contrastive", "reconstruction" })]
    public void Table_momentum_fusion_learns_and_its_target_follows_the_online_weights_by_ema_without_gradients(string encoderName, string[] terms)
    {
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "digits.csv")},header=no,label=column65").LoadTable();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion, encoderName).WithFusion(FusionKind.Momentum);
        var layout = new TableLayout(data.Train.Schema);
        var encoder = config.Encoder.BuildTable(layout);
        var target = config.Encoder.BuildTable(layout);
        using var g = new Generator(4);
        manual_seed(4);
        using var pool = data.Train.Batch(Enumerable.Range(0, data.Train.Count).ToArray());
        var options = config.Objective with { TargetMomentum = 0.9 };
        using var objective = SelfSupervisedObjective.CreateForTable(options, encoder, pool, g, config.TableViews, target);
        Assert.IsType<TableMomentumFusionObjective>(objective);
        using var rows = data.Train.Batch(Enumerable.Range(0, 64).ToArray());
        MomentumFusionTests.LearnsWithTargetFollowingByEma(objective, encoder, target, [rows, rows], g, terms, encoderName);
    }

    [Fact]
    public void The_target_reads_the_second_view_the_row_left_clean()
    {
        // Same seed, so the same corruption of view 0; only the rows shown to the target differ. A target that read
        // view 0 (or a corrupted copy of it) would give the same loss both times.
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30").LoadTable();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion).WithFusion(FusionKind.Momentum);
        Assert.Equal(1, config.Objective.MaskedViews);
        // And the training loop's view 1 is the row itself: the view maker corrupts nothing for this objective.
        using (var viewRows = data.Train.Batch([0, 1, 2, 3]))
        using (var view = ModelFactory.ViewMaker(config, data.Train, new Generator(1))(viewRows, [0, 1, 2, 3], 1))
            Assert.True(view.allclose(viewRows, rtol: 0, atol: 0));
        var layout = new TableLayout(data.Train.Schema);
        using var g = new Generator(5);
        using var pool = data.Train.Batch(Enumerable.Range(0, data.Train.Count).ToArray());
        using var objective = SelfSupervisedObjective.CreateForTable(config.Objective, config.Encoder.BuildTable(layout), pool, g, config.TableViews,
            config.Encoder.BuildTable(layout));
        objective.eval();
        using var rows = data.Train.Batch(Enumerable.Range(0, 16).ToArray());
        using var reversed = data.Train.Batch(Enumerable.Range(0, 16).Reverse().ToArray());
        using var scope = NewDisposeScope();
        float Contrastive(Tensor second) { g.manual_seed(3); return objective.Loss([rows, second]).Components["contrastive"].item<float>(); }
        Assert.Equal(Contrastive(rows), Contrastive(rows));
        Assert.NotEqual(Contrastive(rows), Contrastive(reversed));
    }

    [Fact]
    public void A_table_momentum_run_checkpoints_its_target_resumes_with_it_and_refuses_two_masked_views()
    {
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30").LoadTable();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion).WithFusion(FusionKind.Momentum) with { Epochs = 3, BatchSize = 16, Threads = 2 };
        var folder = Fixture.TempFolder();
        static List<(string Name, Tensor Parameter)> Targets(SelfSupervisedObjective objective) => objective.named_parameters()
            .Where(p => p.name.StartsWith("targetEncoder.") || p.name.StartsWith("targetProjection.")).Select(p => (p.name, (Tensor)p.parameter)).ToList();
        List<(string Name, Tensor Value)> trainedTarget;
        using (var trainer = Pretrainer.Start(config, folder, data))
        {
            Assert.IsType<TableMomentumFusionObjective>(trainer.Objective);
            Assert.Equal(RunStatus.Finished, trainer.Run().Status);
            trainedTarget = Targets(trainer.Objective).Select(p => (p.Name, p.Parameter.detach().clone())).ToList();
        }
        var (state, path) = Checkpoint.ReadState(folder);
        Assert.Equal(FusionKind.Momentum, state.Config.Objective.Fusion);

        // Resumed, the target is the one saved after three epochs (not a fresh copy of the online encoder), still
        // without gradients and outside the optimizer; the encoder loaded for evaluation is the online one.
        using var resumed = Pretrainer.Resume(folder, data, adjust: c => c with { Epochs = 4 });
        var targets = Targets(resumed.Objective);
        Assert.Equal(trainedTarget.Select(p => p.Name), targets.Select(p => p.Name));
        Assert.All(targets.Zip(trainedTarget), pair => Assert.True(pair.First.Parameter.allclose(pair.Second.Value, rtol: 0, atol: 0), pair.First.Name));
        Assert.All(targets, p => Assert.False(p.Parameter.requires_grad, p.Name));
        var (decay, noDecay) = WeightDecayGroups.Split(resumed.Objective);
        var optimized = new HashSet<Tensor>(decay.Concat(noDecay), ReferenceEqualityComparer.Instance);
        Assert.DoesNotContain(targets, p => optimized.Contains(p.Parameter));
        using var loaded = EncoderEvaluator.LoadEncoder(path, state.Config, data.Train);
        var loadedParameters = loaded.parameters().ToArray();
        var targetEncoder = targets.Where(p => p.Name.StartsWith("targetEncoder.")).Select(p => p.Parameter).ToArray();
        Assert.Equal(loadedParameters.Length, targetEncoder.Length);
        Assert.Contains(loadedParameters.Zip(targetEncoder), pair => !pair.First.allclose(pair.Second));
        Assert.All(resumed.Encoder.parameters().Zip(loadedParameters), pair => Assert.True(pair.First.allclose(pair.Second)));
        Assert.Equal(RunStatus.Finished, resumed.Run().Status);

        var twoViews = config with { Objective = config.Objective with { MaskedViews = 2 } };
        var error = Assert.Throws<ArgumentException>(twoViews.Validate);
        Assert.Contains("--fusion momentum masks the online view", error.Message);
    }
}
