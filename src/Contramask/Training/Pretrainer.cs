using System.Diagnostics;
using Contramask.Data;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Runtime;
using Contramask.Views;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>
/// The pretraining loop: shuffled batches of the training split (labels never used), random views, the
/// objective's loss, AdamW with warm-up + cosine schedule and gradient clipping, a dispose scope per step,
/// checkpoints (atomic, resumable), a metrics line per step.
/// <code>
/// using var trainer = Pretrainer.Start(config, "runs/demo");
/// var result = trainer.Run(p => Console.WriteLine(p.Loss));
/// </code>
/// </summary>
public sealed class Pretrainer : IDisposable
{
    readonly AdamW optimizer;
    readonly Generator generator;
    readonly Func<Tensor, Tensor> makeView;
    readonly Device device;
    long step;
    int epoch, batchInEpoch, badSteps;
    double elapsedBefore;
    bool finished;

    Pretrainer(PretrainConfig config, ISplits data, string runFolder)
    {
        Config = config;
        Data = data;
        RunFolder = runFolder;
        device = TorchRuntime.ParseDevice(config.Device);
        manual_seed(config.Seed);
        generator = new Generator((ulong)config.Seed);
        var encoder = ModelFactory.BuildEncoder(config, data.Train);
        Objective = ModelFactory.BuildObjective(config, encoder, data.Train, generator);
        Objective.to(device);
        ComputeType = MixedPrecision.Resolve(config.Precision, config.Encoder, device);
        MixedPrecision.Apply(Objective, ComputeType);
        optimizer = CreateOptimizer(Objective, config);
        makeView = ModelFactory.ViewMaker(config, data.Train, generator);
    }

    public PretrainConfig Config { get; }
    /// <summary>The run's data: <see cref="DataSplits"/> for images, <see cref="TableSplits"/> for tables.</summary>
    public ISplits Data { get; }
    public string RunFolder { get; }
    public SelfSupervisedObjective Objective { get; }
    public Encoder Encoder => Objective.Encoder;
    public long Step => step;
    /// <summary>The type the step's matrix products run in: null for float32, bfloat16 under mixed precision.</summary>
    public ScalarType? ComputeType { get; }
    /// <summary>Time per phase of the steps this trainer ran (see <see cref="StepPhases"/>).</summary>
    public StepPhases Phases { get; } = new();
    public int BatchSize => Math.Min(Config.BatchSize, Data.Train.Count);
    public int StepsPerEpoch => Math.Max(1, Data.Train.Count / BatchSize);

    /// <summary>Starts a new run in <paramref name="runFolder"/> (which must not hold a checkpoint yet).</summary>
    public static Pretrainer Start(PretrainConfig config, string runFolder, ISplits? data = null)
    {
        config.Validate();
        if (File.Exists(Path.Combine(runFolder, Checkpoint.FileName)))
            throw new InvalidOperationException($"{runFolder} already holds a run; resume it (--resume) or choose another output folder");
        RunFiles.EnsureWritable(runFolder);
        TorchRuntime.Initialize(config.Threads);
        data ??= DataSpec.Parse(config.Data).LoadAny();
        var train = data.Train;
        if (train.Count < 2) throw new DataFormatException(config.Data, $"the training split holds {train.Count} record(s); pretraining needs at least 2");
        if (config.Objective.Method == Method.Supervised)
        {
            if (!train.HasLabels) throw new DataFormatException(config.Data, "the supervised baseline needs labels, and this training split has none");
            config = config with { Objective = config.Objective with { Classes = train.ClassCount } };
        }
        if (config.Encoder.IsTable != train is TableDataset)
            throw new ArgumentException($"encoder {config.Encoder} does not suit {(train is TableDataset ? "a table; tables take mlp or ft-transformer" : "images; images take convnet, resnet18 or a vit")}");
        if (train is ImageDataset images)
            config = config.FittedTo(images);
        else if (train is TableDataset table)
            config = config with { Table = table.Schema };
        RunFiles.WriteAllTextAtomic(Path.Combine(runFolder, RunFiles.ConfigFileName), config.ToJson());
        return new Pretrainer(config, data, runFolder);
    }

    /// <summary>Continues the run in <paramref name="runFolder"/> from its newest good checkpoint.</summary>
    public static Pretrainer Resume(string runFolder, ISplits? data = null, Action<string>? warn = null, Func<PretrainConfig, PretrainConfig>? adjust = null)
    {
        var (state, path) = Checkpoint.ReadState(runFolder, warn);
        var config = adjust is null ? state.Config : adjust(state.Config);
        config.Validate();
        TorchRuntime.Initialize(config.Threads);
        data ??= DataSpec.Parse(config.Data).LoadAny(config.Table);
        var trainer = new Pretrainer(config, data, runFolder);
        Checkpoint.LoadInto(path, trainer.Objective, trainer.optimizer);
        trainer.step = state.Step;
        trainer.epoch = state.Epoch;
        trainer.batchInEpoch = state.BatchInEpoch;
        trainer.elapsedBefore = state.ElapsedSeconds;
        trainer.finished = state.Finished && adjust is null;
        if (state.GeneratorState.Length > 0)
            trainer.generator.set_state(tensor(Convert.FromBase64String(state.GeneratorState)));
        return trainer;
    }

    static AdamW CreateOptimizer(nn.Module model, PretrainConfig config)
    {
        // Weight decay on weight matrices and kernels only, not on biases, norms or mask tokens (as MAE and CAN do).
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        foreach (var (name, p) in model.named_parameters())
            (p.dim() >= 2 && !name.Contains("mask") ? decay : noDecay).Add(p);
        var groups = new List<AdamW.ParamGroup>
        {
            new(decay, config.LearningRate, 0.9, 0.95, 1e-8, config.WeightDecay, false, false),
            new(noDecay, config.LearningRate, 0.9, 0.95, 1e-8, 0.0, false, false),
        };
        return optim.AdamW(groups, config.LearningRate, 0.9, 0.95, 1e-8, config.WeightDecay);
    }

    /// <summary>
    /// Trains until the epochs are done or the budget is spent; on cancellation it saves a checkpoint and returns
    /// <see cref="RunStatus.Interrupted"/>. Call again after <see cref="Resume"/> to continue.
    /// </summary>
    public PretrainResult Run(Action<TrainingProgress>? onProgress = null, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        double Elapsed() => elapsedBefore + clock.Elapsed.TotalSeconds;
        long totalSteps = (long)Config.Epochs * StepsPerEpoch;
        double? budget = Config.BudgetMinutes * 60;
        var lastCheckpoint = clock.Elapsed;
        double lastLoss = double.NaN, imagesPerSecond = 0;
        long imagesThisCall = 0;
        var stepClock = new Stopwatch();
        double smoothedStepSeconds = 0;
        using var log = new MetricsLog(RunFolder);
        int[] order = EpochOrder(epoch);
        var status = RunStatus.Finished;

        Objective.train();
        while (!finished)
        {
            if (Done(totalSteps, budget, Elapsed())) { finished = true; break; }
            if (cancel.IsCancellationRequested) { status = RunStatus.Interrupted; break; }
            if (batchInEpoch >= StepsPerEpoch) { epoch++; batchInEpoch = 0; order = EpochOrder(epoch); }

            stepClock.Restart();
            double progress = budget is double b ? Elapsed() / b : (double)step / totalSteps;
            double lr = LearningRateSchedule.At(progress, Config.LearningRate, Config.WarmupFraction);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;

            Dictionary<string, double> components;
            using (var scope = NewDisposeScope())
            {
                Phases.Begin();
                var indices = order.AsSpan(batchInEpoch * BatchSize, BatchSize);
                var inputs = Data.Train.Inputs(indices).to(device);
                Phases.End(StepPhases.Phase.Data);
                var views = new List<Tensor>();
                for (int v = 0; v < Objective.ViewCount; v++)
                    views.Add(makeView(inputs));
                Phases.End(StepPhases.Phase.Views);
                optimizer.zero_grad();
                var loss = Objective.NeedsLabels ? Objective.Loss(views, Data.Train.LabelBatch(indices).to(device)) : Objective.Loss(views);
                double stepLoss = loss.Total.item<float>();
                components = loss.Components.ToDictionary(c => c.Key, c => (double)c.Value.item<float>());
                Phases.End(StepPhases.Phase.Forward);
                // Divergence guard: a non-finite loss or gradient never reaches the weights or the optimizer's moments.
                bool finite = double.IsFinite(stepLoss);
                if (finite)
                {
                    loss.Total.backward();
                    double norm = nn.utils.clip_grad_norm_(Objective.parameters(), Config.ClipNorm > 0 ? Config.ClipNorm : double.PositiveInfinity);
                    finite = double.IsFinite(norm);
                }
                Phases.End(StepPhases.Phase.Backward);
                if (finite)
                {
                    optimizer.step();
                    lastLoss = stepLoss;
                    badSteps = 0;
                }
                else
                {
                    optimizer.zero_grad();
                    components["skipped"] = 1;
                    if (++badSteps >= Config.MaxBadSteps)
                        throw new DivergenceException(RunFolder, step + 1, badSteps, Config.LearningRate);
                }
                Phases.End(StepPhases.Phase.Optimizer);
                Phases.StepDone();
            }
            if (Config.LowMemory) TorchRuntime.ReleaseFreedMemory();
            step++; batchInEpoch++; imagesThisCall += BatchSize;
            double stepSeconds = stepClock.Elapsed.TotalSeconds;
            smoothedStepSeconds = smoothedStepSeconds == 0 ? stepSeconds : 0.9 * smoothedStepSeconds + 0.1 * stepSeconds;
            imagesPerSecond = imagesThisCall / Math.Max(1e-9, clock.Elapsed.TotalSeconds);

            TimeSpan? remaining = budget is double bb ? TimeSpan.FromSeconds(Math.Max(0, bb - Elapsed()))
                : TimeSpan.FromSeconds((totalSteps - step) * smoothedStepSeconds);
            var report = new TrainingProgress(step, budget is null ? totalSteps : null, epoch, lr, lastLoss, components,
                imagesPerSecond, TimeSpan.FromSeconds(Elapsed()), remaining,
                Math.Clamp(budget is double b3 ? Elapsed() / b3 : (double)step / totalSteps, 0, 1));
            log.Write(report);
            onProgress?.Invoke(report);

            if (clock.Elapsed - lastCheckpoint > TimeSpan.FromMinutes(Config.CheckpointMinutes))
            {
                log.Flush();
                SaveCheckpoint(Elapsed());
                lastCheckpoint = clock.Elapsed;
            }
        }
        log.Flush();
        SaveCheckpoint(Elapsed());
        Objective.eval();
        return new PretrainResult(status, step, epoch + (batchInEpoch >= StepsPerEpoch ? 1 : 0), TimeSpan.FromSeconds(Elapsed()),
            imagesPerSecond, lastLoss, RunFolder);
    }

    /// <summary>With a budget the run ends when the time is spent (or, earlier, when the epochs are done).</summary>
    bool Done(long totalSteps, double? budget, double elapsed) =>
        step >= totalSteps || budget is double b && elapsed >= b;

    /// <summary>The shuffled order of an epoch depends only on the seed and the epoch, so a resumed run sees the same batches.</summary>
    int[] EpochOrder(int epochIndex)
    {
        var order = Enumerable.Range(0, Data.Train.Count).ToArray();
        new Random(unchecked(Config.Seed * 1_000_003 + epochIndex) & int.MaxValue).Shuffle(order);
        return order;
    }

    void SaveCheckpoint(double elapsedSeconds)
    {
        using var state = generator.get_state();
        var checkpoint = new CheckpointState
        {
            Step = step, Epoch = epoch, BatchInEpoch = batchInEpoch, ElapsedSeconds = elapsedSeconds, Finished = finished,
            Config = Config, GeneratorState = Convert.ToBase64String(state.data<byte>().ToArray()),
        };
        Checkpoint.Save(RunFolder, checkpoint, Objective, optimizer, Config.KeepCheckpoints);
    }

    public void Dispose()
    {
        optimizer.Dispose();
        Objective.Dispose();
        generator.Dispose();
    }
}

/// <summary>
/// The run produced non-finite losses or gradients for <c>MaxBadSteps</c> steps in a row. None of them was applied,
/// and the last checkpoint on disk is the last good state; the message says how to continue.
/// </summary>
public sealed class DivergenceException(string runFolder, long step, int badSteps, double learningRate)
    : InvalidOperationException($"training diverged: {badSteps} steps in a row up to step {step} had a non-finite loss or gradient and were skipped. " +
        (File.Exists(Path.Combine(runFolder, Checkpoint.FileName))
            ? $"The last good checkpoint is {Path.Combine(runFolder, Checkpoint.FileName)}; continue with a lower learning rate: contramask pretrain --out {runFolder} --resume --lr {learningRate / 10:G3}"
            : $"No checkpoint was written yet; start again with a lower learning rate (--lr {learningRate / 10:G3}) or check the data for NaN or infinite values"))
{
    public long Step { get; } = step;
}
