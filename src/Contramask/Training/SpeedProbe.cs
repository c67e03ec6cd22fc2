using System.Diagnostics;
using System.Text.Json;
using Contramask.Data;
using Contramask.Objectives;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>What <see cref="SpeedProbe.Measure"/> saw over its timed steps.</summary>
public sealed record SpeedReport(
    int BatchSize, int Steps, double ImagesPerSecond, double MedianStepSeconds, double PureStepSeconds,
    IReadOnlyDictionary<string, double> PhaseSecondsPerStep, double PeakRssMb, double FinalLoss, string Precision);

/// <summary>
/// Pretraining throughput of a recipe, measured through the real training loop (<see cref="Pretrainer"/>): data,
/// views and masks included. Warm-up steps are run first and not counted (allocator and kernel caches fill up).
/// <code>
/// var report = SpeedProbe.Measure(config, SpeedProbe.SyntheticImages(4096, 3, 32, 32), warmupSteps: 5, steps: 20);
/// </code>
/// </summary>
public static class SpeedProbe
{
    public static SpeedReport Measure(PretrainConfig config, ISplits data, int warmupSteps, int steps)
    {
        // The clock starts at the end of the last warm-up step, so there must be one.
        if (warmupSteps < 1 || steps < 1) throw new ArgumentOutOfRangeException(null, $"warm-up {warmupSteps} and steps {steps}: expected at least 1 of each");
        string folder = Path.Combine(Path.GetTempPath(), "contramask-speed-" + Guid.NewGuid().ToString("N"));
        try
        {
            // A run long enough never to end by itself; the probe stops it. No quality readings: they would add to the peak memory measured.
            using var trainer = Pretrainer.Start(config with { Epochs = 100_000, BudgetMinutes = null, CheckpointMinutes = 1440, KeepCheckpoints = 1, MonitorChecks = 0 }, folder, data);
            var stepSeconds = new List<double>();
            using var stop = new CancellationTokenSource();
            long last = 0, firstTimed = 0;
            double loss = double.NaN;
            trainer.Run(p =>
            {
                long now = Stopwatch.GetTimestamp();
                if (p.Step == warmupSteps) { firstTimed = now; trainer.Phases.Reset(); }
                else if (p.Step > warmupSteps) stepSeconds.Add(Stopwatch.GetElapsedTime(last, now).TotalSeconds);
                last = now;
                loss = p.Loss;
                if (p.Step >= warmupSteps + steps) stop.Cancel();
            }, stop.Token);
            double total = Stopwatch.GetElapsedTime(firstTimed, last).TotalSeconds;
            var phases = trainer.Phases.Totals.ToDictionary(p => p.Key, p => p.Value / trainer.Phases.Steps);
            double pure = phases["forward"] + phases["backward"] + phases["optimizer"];
            stepSeconds.Sort();
            return new SpeedReport(trainer.BatchSize, stepSeconds.Count, trainer.BatchSize * stepSeconds.Count / total,
                stepSeconds[stepSeconds.Count / 2], pure, phases, PeakRssMb(), loss, trainer.ComputeType == ScalarType.BFloat16 ? "bf16" : "fp32");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Random images (uniform bytes) of a given shape: speed does not depend on what the pixels show.</summary>
    public static DataSplits SyntheticImages(int count, int channels, int height, int width, int seed = 0)
    {
        var pixels = new byte[(long)count * channels * height * width];
        new Random(seed).NextBytes(pixels);
        return new DataSplits(new ImageDataset(pixels, count, channels, height, width, source: $"synthetic {count}×{channels}×{height}×{width}"), null);
    }

    /// <summary>The process's peak resident memory (VmHWM) in MiB; the current working set where /proc is absent.</summary>
    public static double PeakRssMb()
    {
        const string status = "/proc/self/status";
        if (File.Exists(status))
            foreach (var line in File.ReadLines(status))
                if (line.StartsWith("VmHWM:"))
                    return double.Parse(line[6..].Trim().Split(' ')[0]) / 1024;
        return Environment.WorkingSet / (1024.0 * 1024);
    }

    /// <summary>Achieved fp32 matrix-multiply rate (GFLOP/s) for n×n · n×n on this machine's threads: the step's ceiling.</summary>
    public static double MatmulGflops(int n = 2048, int repeats = 10)
    {
        using var scope = NewDisposeScope();
        var a = randn(n, n);
        var b = randn(n, n);
        for (int i = 0; i < 2; i++) a.matmul(b).Dispose();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < repeats; i++) a.matmul(b).Dispose();
        return 2.0 * n * n * n * repeats / clock.Elapsed.TotalSeconds / 1e9;
    }

    /// <summary>
    /// Writes what an independent implementation needs to recompute one loss of this recipe: every parameter
    /// (float32, raw little-endian), the views of one batch, the patch mask the objective draws, and the loss this
    /// library computes for them (train mode). <c>bench/pytorch_reference.py check</c> reads it.
    /// </summary>
    public static double WriteLossCheck(PretrainConfig config, ISplits data, string folder, int seed = 7)
    {
        var images = data.Train as ImageDataset
            ?? throw new ArgumentException("the loss check covers image recipes only (the PyTorch reference has no table models)");
        config.Validate();
        Directory.CreateDirectory(folder);
        manual_seed(seed);
        using var viewGenerator = new Generator((ulong)seed);
        using var objectiveGenerator = new Generator((ulong)seed + 1);
        using var maskGenerator = new Generator((ulong)seed + 1);
        config = config.FittedTo(images);
        int patch = config.Patch;
        var encoder = ModelFactory.BuildEncoder(config, images);
        using var objective = ModelFactory.BuildObjective(config, encoder, images, objectiveGenerator);
        objective.train();
        var makeView = ModelFactory.ViewMaker(config, images, viewGenerator);
        int batch = Math.Min(config.BatchSize, images.Count);
        var manifest = new List<object>();
        void Write(string name, Tensor t)
        {
            var file = name + ".bin";
            using var c = t.detach().contiguous().cpu();
            using var stored = c.dtype == ScalarType.Int64 ? c.alias() : c.to_type(ScalarType.Float32);
            File.WriteAllBytes(Path.Combine(folder, file), stored.bytes.ToArray());
            manifest.Add(new { name, file, dtype = c.dtype == ScalarType.Int64 ? "int64" : "float32", shape = c.shape });
        }
        using var scope = NewDisposeScope();
        foreach (var (name, p) in objective.named_parameters()) Write("param." + name, p);
        var indices = Enumerable.Range(0, batch).ToArray();
        var inputs = images.Inputs(indices);
        var views = Enumerable.Range(0, objective.ViewCount).Select(v => makeView(inputs, indices, v)).ToList();
        for (int v = 0; v < views.Count; v++) Write($"view{v}", views[v]);
        if (config.Objective.Method is Method.Masked or Method.Fusion)
        {
            // The objective's first random draw is its mask: the same seed gives the same mask here.
            long masked = config.Objective.Method == Method.Fusion && config.Objective.MaskedViews == 2 ? 2L * batch : batch;
            int grid = images.Height / patch, gridW = images.Width / patch;
            using var mask = PatchMask.Random(masked, grid, gridW, config.Objective.MaskRatio, maskGenerator);
            Write("mask.keep", mask.KeepIndices);
            Write("mask.restore", mask.RestoreIndices);
        }
        var loss = objective.Loss(views);
        double value = loss.Total.item<float>();
        var info = new
        {
            encoder = config.Encoder, objective = config.Objective, patch, loss = value,
            components = loss.Components.ToDictionary(c => c.Key, c => (double)c.Value.item<float>()), tensors = manifest,
        };
        File.WriteAllText(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(info, PretrainConfig.Json));
        return value;
    }
}
