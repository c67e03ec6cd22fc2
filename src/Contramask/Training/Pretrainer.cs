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
    readonly ViewMaker makeView;
    readonly Device device;
    readonly BufferSnapshot buffers;
    readonly QualityMonitor? monitor;
    long step;
    int epoch, batchInEpoch, badSteps;
    double elapsedBefore;
    bool finished;
    /// <summary>Checkpoints found unreadable when this run was resumed: never kept as fallbacks.</summary>
    IReadOnlyList<string> unreadableCheckpoints = [];

    /// <param name="weightsFrom">A checkpoint whose weights are loaded before the model moves to its device and before
    /// the optimizer and buffer snapshot take hold of its tensors (loading replaces a moved module's tensors).</param>
    Pretrainer(PretrainConfig config, ISplits data, string runFolder, string? weightsFrom = null)
    {
        Config = config;
        Data = data;
        RunFolder = runFolder;
        device = TorchRuntime.ParseDevice(config.Device);
        manual_seed(config.Seed);
        generator = new Generator((ulong)config.Seed);
        var encoder = ModelFactory.BuildEncoder(config, data.Train);
        Objective = ModelFactory.BuildObjective(config, encoder, data.Train, generator);
        if (weightsFrom is not null) Checkpoint.LoadInto(weightsFrom, Objective, null);
        Objective.to(device);
        ComputeType = MixedPrecision.Resolve(config.Precision, config.Encoder, device);
        MixedPrecision.Apply(Objective, ComputeType);
        optimizer = CreateOptimizer(Objective, config);
        makeView = ModelFactory.ViewMaker(config, data.Train, generator);
        buffers = new BufferSnapshot(Objective);
        // Batch statistics where evaluation will see recalibrated ones (masked inputs on a BatchNorm CNN), else as evaluation.
        if (config.MonitorChecks > 0)
            monitor = new QualityMonitor(Objective.Encoder, config, data, config.RecalibrateBatchNorm && BatchNormRecalibration.Applies(Objective));
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
    /// <summary>The quality monitor's readings taken by this trainer (also in <c>metrics.jsonl</c>).</summary>
    public IReadOnlyList<QualityReading> Readings => readings;
    readonly List<QualityReading> readings = [];
    public int BatchSize => Math.Min(Config.BatchSize, Data.Train.Count);
    public int StepsPerEpoch => Math.Max(1, Data.Train.Count / BatchSize);

    /// <summary>
    /// Starts a new run in <paramref name="runFolder"/>. A folder that holds another run (finished, interrupted or
    /// killed before its first checkpoint) is refused, unless <paramref name="overwrite"/> deletes that run first.
    /// </summary>
    public static Pretrainer Start(PretrainConfig config, string runFolder, ISplits? data = null, bool overwrite = false)
    {
        config.Validate();
        var existing = RunFiles.ExistingRunFiles(runFolder);
        if (existing.Count > 0 && !overwrite) throw new RunFolderInUseException(runFolder, existing);
        if (existing.Count > 0) RunFiles.DeleteRun(runFolder);
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
        // The validation fraction is written into the run's data spec, so the run reloads exactly its training split.
        // (A label that is not a data spec, such as the speed probe's synthetic "28x28x1", is kept as it is.)
        if (DataSpec.TryParse(config.Data) is { } recorded)
        {
            if (!recorded.Options.ContainsKey("val") && data.Validation is null) recorded = recorded.With("val", "0");
            config = config with { Data = recorded.WithValidationPinned().ToString() };
        }
        if (train is ImageDataset images)
            config = config.FittedTo(images);
        else if (train is TableDataset table)
            config = config with { Table = table.Schema };
        RunFiles.WriteAllTextAtomic(Path.Combine(runFolder, RunFiles.ConfigFileName), config.ToJson());
        return new Pretrainer(config, data, runFolder);
    }

    /// <summary>
    /// Continues the run in <paramref name="runFolder"/> from its newest good checkpoint. <paramref name="adjust"/> may
    /// extend it (more epochs or minutes: the learning rate continues from where it was, see
    /// <see cref="LearningRateSchedule.Continue"/>) or lower its peak learning rate after a divergence.
    /// </summary>
    /// <param name="monitor">Changes to the quality monitor's settings only (readings, collapse threshold, stop on collapse): they
    /// leave the schedule, and a finished run finished.</param>
    public static Pretrainer Resume(string runFolder, ISplits? data = null, Action<string>? warn = null, Func<PretrainConfig, PretrainConfig>? adjust = null,
        Func<PretrainConfig, PretrainConfig>? monitor = null)
    {
        if (!Directory.Exists(runFolder)) throw new DataFormatException(runFolder, "no such run folder to resume");
        if (!File.Exists(Path.Combine(runFolder, RunFiles.ConfigFileName)) && !Directory.EnumerateFiles(runFolder).Any(f => Path.GetFileName(f).StartsWith("checkpoint", StringComparison.Ordinal)))
            throw new DataFormatException(runFolder, "no run to resume here (no config.json, no checkpoint)");
        var existing = RunFiles.ExistingRunFiles(runFolder);
        if (!existing.Any(f => Path.GetFileName(f).StartsWith("checkpoint", StringComparison.Ordinal) && f.EndsWith(".zip", StringComparison.Ordinal)))
            throw new DataFormatException(runFolder, "this run was stopped before its first checkpoint, so there is nothing to resume; " +
                $"start it again with --overwrite (contramask pretrain … --out {runFolder} --overwrite)");
        var (state, path, unreadable) = Checkpoint.Read(runFolder, warn);
        var config = state.Config;
        config.Validate();
        TorchRuntime.Initialize(config.Threads);
        data ??= DataSpec.ForRun(config.Data, state.Format).LoadAny(config.Table);
        if (adjust is not null)
        {
            int stepsPerEpoch = Math.Max(1, data.Train.Count / Math.Min(config.BatchSize, data.Train.Count));
            config = LearningRateSchedule.Continue(config, adjust(config), state.Step, state.ElapsedSeconds, stepsPerEpoch);
            config.Validate();
        }
        if (monitor is not null)
        {
            var before = config;
            config = monitor(config);
            if (config with { MonitorChecks = before.MonitorChecks, CollapseRank = before.CollapseRank, StopOnCollapse = before.StopOnCollapse } != before)
                throw new ArgumentException("a resume's monitor settings may change only the readings, the collapse rank and stop-on-collapse");
            config.Validate();
        }
        var trainer = new Pretrainer(config, data, runFolder, weightsFrom: path);
        Checkpoint.LoadOptimizer(path, trainer.optimizer);
        trainer.step = state.Step;
        trainer.epoch = state.Epoch;
        trainer.batchInEpoch = state.BatchInEpoch;
        trainer.elapsedBefore = state.ElapsedSeconds;
        trainer.finished = state.Finished && adjust is null;
        trainer.unreadableCheckpoints = unreadable;
        if (state.GeneratorState.Length > 0)
            trainer.generator.set_state(tensor(Convert.FromBase64String(state.GeneratorState)));
        if (adjust is not null || monitor is not null) RunFiles.WriteAllTextAtomic(Path.Combine(runFolder, RunFiles.ConfigFileName), config.ToJson());
        return trainer;
    }

    static AdamW CreateOptimizer(nn.Module model, PretrainConfig config)
    {
        var (decay, noDecay) = WeightDecayGroups.Split(model);
        return new AdamW([new(decay, config.LearningRate, config.WeightDecay), new(noDecay, config.LearningRate, 0)], beta1: 0.9, beta2: 0.95);
    }

    /// <summary>
    /// Trains until the epochs are done or the budget is spent; on cancellation it saves a checkpoint and returns
    /// <see cref="RunStatus.Interrupted"/>. Call again after <see cref="Resume"/> to continue. An unexpected error
    /// inside a step is written with its full trace to <c>error.log</c> in the run folder and rethrown as a
    /// <see cref="TrainingFailedException"/>; the last checkpoint stays as it was (it is the state to resume from).
    /// </summary>
    public PretrainResult Run(Action<TrainingProgress>? onProgress = null, CancellationToken cancel = default)
    {
        try { return RunSteps(onProgress, cancel); }
        // Divergence, a full disk or an unwritable folder already say what happened and what to do.
        catch (Exception e) when (e is not (DivergenceException or CollapseException or OperationCanceledException or OutOfMemoryException or IOException or UnauthorizedAccessException))
        {
            throw TrainingFailedException.Record(RunFolder, step, e);
        }
    }

    PretrainResult RunSteps(Action<TrainingProgress>? onProgress, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        // Training time: the monitor's readings are not counted, so they neither shorten a budget nor skew time-to-accuracy.
        double monitorSeconds = 0;
        double Elapsed() => elapsedBefore + clock.Elapsed.TotalSeconds - monitorSeconds;
        long totalSteps = (long)Config.Epochs * StepsPerEpoch;
        double? budget = Config.BudgetMinutes * 60;
        double Fraction() => Math.Max((double)step / totalSteps, budget is double bf ? Elapsed() / bf : 0);
        // Readings at 1/N, 2/N, … N/N of the run (N = MonitorChecks), and one of the untrained encoder at step 0.
        int nextReading = (int)Math.Floor(Fraction() * Config.MonitorChecks) + 1;
        bool ReadingDue() => nextReading <= Config.MonitorChecks && Fraction() >= (double)nextReading / Config.MonitorChecks;
        QualityReading? latest = null;
        QualityReading Read()
        {
            var reading = monitor!.Check(step, Elapsed());
            monitorSeconds += reading.Seconds;
            readings.Add(reading);
            return latest = reading;
        }
        var lastCheckpoint = clock.Elapsed;
        double lastLoss = double.NaN, imagesPerSecond = 0;
        long imagesThisCall = 0;
        var stepClock = new Stopwatch();
        double smoothedStepSeconds = 0;
        using var log = new MetricsLog(RunFolder, keepSteps: step);
        int[] order = EpochOrder(epoch);
        var status = RunStatus.Finished;
        bool wasFinished = finished;

        if (monitor is not null && step == 0 && !finished) log.WriteReading(Read());
        Objective.train();
        while (!finished)
        {
            if (Done(totalSteps, budget, Elapsed())) { finished = true; break; }
            if (cancel.IsCancellationRequested) { status = RunStatus.Interrupted; break; }
            if (batchInEpoch >= StepsPerEpoch) { epoch++; batchInEpoch = 0; order = EpochOrder(epoch); }

            stepClock.Restart();
            double lr = LearningRateSchedule.At(Config, step, Elapsed(), StepsPerEpoch);
            foreach (var group in optimizer.Groups) group.LearningRate = lr;

            Dictionary<string, double> components;
            using (var scope = NewDisposeScope())
            {
                Phases.Begin();
                var indices = order[(batchInEpoch * BatchSize)..((batchInEpoch + 1) * BatchSize)];
                var inputs = Data.Train.Inputs(indices).to(device);
                Phases.End(StepPhases.Phase.Data);
                var views = new List<Tensor>();
                for (int v = 0; v < Objective.ViewCount; v++)
                    views.Add(makeView(inputs, indices, v));
                Phases.End(StepPhases.Phase.Views);
                optimizer.ZeroGrad();
                // BatchNorm updates its running statistics in the forward pass: keep them to undo a skipped step.
                buffers.Take();
                Objective.BeforeStep(Fraction());
                var loss = Objective.NeedsLabels ? Objective.Loss(views, Data.Train.LabelBatch(indices).to(device)) : Objective.Loss(views);
                double stepLoss = loss.Total.item<float>();
                components = loss.Components.ToDictionary(c => c.Key, c => (double)c.Value.item<float>());
                Phases.End(StepPhases.Phase.Forward);
                // Divergence guard: a non-finite loss or gradient never reaches the weights, the optimizer's moments
                // or the normalization statistics.
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
                    optimizer.Step();
                    Objective.AfterStep(Math.Min(1, Fraction()));
                    lastLoss = stepLoss;
                    badSteps = 0;
                }
                else
                {
                    optimizer.ZeroGrad();
                    buffers.Restore();
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
            imagesPerSecond = imagesThisCall / Math.Max(1e-9, clock.Elapsed.TotalSeconds - monitorSeconds);

            TimeSpan? remaining = budget is double bb ? TimeSpan.FromSeconds(Math.Max(0, bb - Elapsed()))
                : TimeSpan.FromSeconds((totalSteps - step) * smoothedStepSeconds);
            string? warning = null;
            bool stopOnCollapse = false;
            if (monitor is not null && ReadingDue())
            {
                while (ReadingDue()) nextReading++;
                // Within its share of the training time (the last reading is always taken: it closes the curve).
                bool last = Fraction() >= 1;
                double cost = latest?.Seconds ?? 0;
                if (last || monitorSeconds + cost <= Config.MonitorShare * Elapsed())
                {
                    var reading = Read();
                    bool collapsed = reading.Collapsed(Config.CollapseRank);
                    // A collapse at the last reading only warns: the run is done, and stopping would skip its final save.
                    stopOnCollapse = collapsed && Config.StopOnCollapse && !last;
                    if (collapsed)
                        warning = $"the embeddings are collapsing at step {step}: RankMe {reading.RankMe:F2}, spread {reading.SpreadRatio:F3} of a healthy one" +
                            (stopOnCollapse ? "; stopping (--stop-on-collapse)" : Config.StopOnCollapse ? "" : " (--stop-on-collapse would stop here)");
                }
            }
            var report = new TrainingProgress(step, budget is null ? totalSteps : null, epoch, lr, lastLoss, components,
                imagesPerSecond, TimeSpan.FromSeconds(Elapsed()), remaining,
                Math.Clamp(budget is double b3 ? Elapsed() / b3 : (double)step / totalSteps, 0, 1)) { Quality = latest, Warning = warning };
            log.Write(report);
            onProgress?.Invoke(report);
            if (stopOnCollapse)
            {
                log.Flush();
                SaveCheckpoint(Elapsed());
                throw new CollapseException(RunFolder, latest!, Config.CollapseRank, Config.LearningRate);
            }

            if (clock.Elapsed - lastCheckpoint > TimeSpan.FromMinutes(Config.CheckpointMinutes))
            {
                log.Flush();
                SaveCheckpoint(Elapsed());
                lastCheckpoint = clock.Elapsed;
            }
        }
        // The last reading closes the curve even when the budget ran out between a step and its reading.
        if (monitor is not null && finished && !wasFinished && latest?.Step != step) log.WriteReading(Read());
        log.Flush();
        // A run finished before this call is left as it is (no second save pushing a real fallback out); BatchNorm is
        // recalibrated once, when a call completes the run (an interrupted run saves at once).
        if (!wasFinished)
        {
            if (status == RunStatus.Finished && Config.RecalibrateBatchNorm && BatchNormRecalibration.Applies(Objective))
                BatchNormRecalibration.Run(Encoder, Data.Train, ModelFactory.Standardizer(Config, Data.Train, device), Config.Seed);
            SaveCheckpoint(Elapsed());
        }
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
        Checkpoint.Save(RunFolder, checkpoint, Objective, optimizer, Config.KeepCheckpoints, unreadableCheckpoints);
        unreadableCheckpoints = [];
    }

    public void Dispose()
    {
        buffers.Dispose();
        monitor?.Dispose();
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

/// <summary>The output folder already holds another run; the message says how to resume it or start over.</summary>
public sealed class RunFolderInUseException(string runFolder, IReadOnlyList<string> files) : InvalidOperationException(
    $"{runFolder} already holds a run ({string.Join(", ", files.Select(Path.GetFileName).Take(4))}); " +
    (files.Any(f => Path.GetFileName(f).StartsWith("checkpoint", StringComparison.Ordinal))
        ? $"continue it with --resume, or start over with --overwrite (deletes that run), or choose another --out"
        : "it stopped before its first checkpoint, so it cannot be resumed: start over with --overwrite (deletes that run), or choose another --out"));

/// <summary>
/// An unexpected error inside a training step. Its full report is in the run folder's <c>error.log</c>; the last
/// checkpoint on disk is untouched, and the message says how to continue from it.
/// </summary>
public sealed class TrainingFailedException : Exception
{
    TrainingFailedException(string message, Exception inner) : base(message, inner) { }

    public string? LogFile { get; private init; }

    /// <summary>Writes the error with its trace to <c>error.log</c> (appending) and makes the one-line message.</summary>
    public static TrainingFailedException Record(string runFolder, long step, Exception error)
    {
        string? logFile = Path.Combine(runFolder, RunFiles.ErrorLogFileName);
        try { File.AppendAllText(logFile, $"{DateTime.UtcNow:O} step {step + 1}: {error}\n\n"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { logFile = null; }
        string first = error.Message.Split('\n', 2)[0].Trim();
        bool resumable = File.Exists(Path.Combine(runFolder, Checkpoint.FileName));
        string message = $"training stopped at step {step + 1} by an unexpected error: {first}" +
            (logFile is null ? "" : $" (full report in {logFile})") + ". " +
            (resumable ? $"The last checkpoint is intact; continue with: contramask pretrain --out {runFolder} --resume"
                       : $"No checkpoint had been written yet; start again with --overwrite");
        return new TrainingFailedException(message, error) { LogFile = logFile };
    }
}
