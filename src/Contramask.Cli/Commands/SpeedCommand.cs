using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Contramask.Data;
using Contramask.Runtime;
using Contramask.Training;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask speed</c>: pretraining throughput of one recipe on this machine (<see cref="SpeedProbe"/>).</summary>
public static class SpeedCommand
{
    static readonly Option<string> MethodOption = new("--method") { Description = "contrastive | masked | fusion", DefaultValueFactory = _ => "fusion" };
    static readonly Option<string?> FusionOption = new("--fusion") { Description = "Fusion kind: can | momentum | layered on images, can | layered | momentum | subsets on tables (default: pretrain's); bench/speed.sh passes can, the fusion bench/pytorch_reference.py implements" };
    static readonly Option<string> EncoderOption = new("--encoder") { Description = "convnet | resnet18 | vit-mini | vit-tiny | vit-small", DefaultValueFactory = _ => "convnet" };
    static readonly Option<string> Input = new("--input") { Description = "Synthetic image shape HxWxC (28x28x1 MNIST-sized, 32x32x3 CIFAR-sized), or a data spec (idx:DIR, …)", DefaultValueFactory = _ => "28x28x1" };
    static readonly Option<int> BatchSize = new("--batch-size") { DefaultValueFactory = _ => 256 };
    static readonly Option<int> Warmup = new("--warmup") { Description = "Steps run before the clock starts", DefaultValueFactory = _ => 3 };
    static readonly Option<int> Steps = new("--steps") { Description = "Timed steps", DefaultValueFactory = _ => 10 };
    static readonly Option<int> Threads = new("--threads") { Description = "CPU threads (0 = all cores)", DefaultValueFactory = _ => 0 };
    static readonly Option<string> PrecisionOption = new("--precision") { Description = "auto | fp32 | bf16", DefaultValueFactory = _ => "auto" };
    static readonly Option<bool> LowMemory = new("--low-memory") { Description = "Return freed memory to the system after every step (as pretrain --low-memory)" };
    static readonly Option<bool> Peak = new("--matmul-peak") { Description = "Also measure this machine's fp32 matmul rate (GFLOP/s)" };
    static readonly Option<string?> LossCheck = new("--loss-check") { Description = "Instead of timing, write weights, one batch of views, the mask and the loss to this folder (for bench/pytorch_reference.py check)" };
    static readonly Option<bool> Onnx = new("--onnx") { Description = "Instead of pretraining: the encoder's embedding speed in TorchSharp and in ONNX Runtime (its export), side by side, at batch 1 and --batch-size" };
    static readonly Option<bool> Json = new("--json") { Description = "One JSON line (per batch size with --onnx) instead of text" };

    public static Command Create()
    {
        var command = new Command("speed", "Measure pretraining throughput (images/s, step time per phase, peak memory) of one recipe");
        foreach (var option in new Option[] { MethodOption, FusionOption, EncoderOption, Input, BatchSize, Warmup, Steps, Threads, PrecisionOption, LowMemory, Peak, LossCheck, Onnx, Json }) command.Add(option);
        command.SetAction(args =>
        {
            int threads = args.GetValue(Threads), warmup = args.GetValue(Warmup), steps = args.GetValue(Steps), batch = args.GetValue(BatchSize);
            if (warmup is < 1 or > 10_000) throw new ArgumentOutOfRangeException(null, $"warm-up {warmup} is out of range: expected 1 to 10000 steps");
            if (steps is < 1 or > 100_000) throw new ArgumentOutOfRangeException(null, $"steps {steps} is out of range: expected 1 to 100000");
            TorchRuntime.Initialize(threads);
            string input = args.GetValue(Input)!;
            if (args.GetValue(Onnx))
            {
                var (height, width, channels) = ParseShape(input) ?? throw new ArgumentException($"--onnx takes a synthetic image shape as --input (28x28x1), not {input}");
                // Checked before anything is timed: batch 1 is measured first and takes minutes for the larger encoders.
                if (batch is < 1 or > 65_536) throw new ArgumentOutOfRangeException(null, $"batch size {batch} is out of range: expected 1 to 65536 with --onnx");
                var machine = MachineInfo.Current(threads);
                foreach (int size in new[] { 1, batch }.Distinct())
                {
                    var row = Export.InferenceSpeed.Measure(args.GetValue(EncoderOption)!, channels, height, width, size, TorchSharp.torch.get_num_threads());
                    if (args.GetValue(Json))
                        Console.WriteLine(JsonSerializer.Serialize(new
                        {
                            encoder = row.Encoder, input = row.Input, batch = row.Batch, threads = row.Threads,
                            torchsharp_records_per_s = row.TorchRecordsPerSecond, onnxruntime_records_per_s = row.OnnxRecordsPerSecond,
                            torchsharp_median_ms = row.TorchMedianMs, onnxruntime_median_ms = row.OnnxMedianMs, throughput_ratio = row.ThroughputRatio,
                            latency_ratio = row.LatencyRatio, latency_ratio_min = row.LatencyRatioMin, latency_ratio_max = row.LatencyRatioMax, rounds = row.Rounds, torchsharp_calls = row.TorchCalls, onnxruntime_calls = row.OnnxCalls, max_difference = row.MaxDifference,
                            machine,
                        }));
                    else Cli.Info($"{row.Encoder} {row.Input}, batch {row.Batch}, {row.Threads} threads: TorchSharp {row.TorchRecordsPerSecond:F0} records/s ({row.TorchMedianMs:F2} ms), "
                        + $"ONNX Runtime {row.OnnxRecordsPerSecond:F0} records/s ({row.OnnxMedianMs:F2} ms): throughput ×{row.ThroughputRatio:F2}, latency ×{row.LatencyRatio:F2} (rounds {row.LatencyRatioMin:F2}–{row.LatencyRatioMax:F2}); max difference {row.MaxDifference:G2}");
                }
                return 0;
            }
            var data = ParseShape(input) is (int h, int w, int c) ? SpeedProbe.SyntheticImages(Math.Max(2048, 4 * batch), c, h, w) : DataSpec.Parse(input).WithFullPath().LoadAny();
            var method = PretrainCommand.ParseMethod(args.GetValue(MethodOption)!);
            var config = PretrainConfig.DefaultsFor(data.Train, method, args.GetValue(EncoderOption)!) with { BatchSize = batch, Threads = threads, Data = input, Precision = PretrainCommand.ParsePrecision(args.GetValue(PrecisionOption)!), LowMemory = args.GetValue(LowMemory) };
            if (args.GetValue(FusionOption) is string fusion) config = config.WithFusion(PretrainCommand.ParseFusion(fusion));

            if (args.GetValue(LossCheck) is string folder)
            {
                double loss = SpeedProbe.WriteLossCheck(config, data, folder);
                Cli.Info($"loss {loss.ToString("G8", CultureInfo.InvariantCulture)} for one batch; weights, views and mask written to {folder}");
                return 0;
            }
            var report = SpeedProbe.Measure(config, data, warmup, steps);
            double? peak = args.GetValue(Peak) ? SpeedProbe.MatmulGflops() : null;
            if (args.GetValue(Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    implementation = "contramask", method = method.ToString().ToLowerInvariant(), encoder = args.GetValue(EncoderOption), input,
                    threads = TorchSharp.torch.get_num_threads(), batch = report.BatchSize, steps = report.Steps, images_per_s = report.ImagesPerSecond,
                    median_step_s = report.MedianStepSeconds, pure_step_s = report.PureStepSeconds, phases_s = report.PhaseSecondsPerStep,
                    precision = report.Precision, low_memory = config.LowMemory, peak_rss_mb = report.PeakRssMb, loss = report.FinalLoss, matmul_gflops = peak,
                }));
                return 0;
            }
            Cli.Info($"{method} with {config.Encoder} on {input}, {report.Precision}, batch {report.BatchSize}, {TorchSharp.torch.get_num_threads()} threads, {report.Steps} timed steps:");
            Cli.Info($"  {report.ImagesPerSecond:F1} images/s end to end; median step {report.MedianStepSeconds * 1000:F0} ms; forward+backward+update {report.PureStepSeconds * 1000:F0} ms; peak RSS {report.PeakRssMb:F0} MB");
            Cli.Info("  per step: " + string.Join(", ", report.PhaseSecondsPerStep.Select(p => $"{p.Key} {p.Value * 1000:F1} ms")));
            if (peak is double g) Cli.Info($"  fp32 matmul peak: {g:F0} GFLOP/s");
            return 0;
        });
        return command;
    }

    /// <summary>"32x32x3" → (32, 32, 3); null when the text is not a shape.</summary>
    static (int H, int W, int C)? ParseShape(string text)
    {
        var parts = text.ToLowerInvariant().Split('x');
        if (parts.Length != 3 || !parts.All(p => int.TryParse(p, out _))) return null;
        int h = int.Parse(parts[0]), w = int.Parse(parts[1]), c = int.Parse(parts[2]);
        if (h is < 4 or > 1024 || w is < 4 or > 1024 || c is not (1 or 3))
            throw new ArgumentOutOfRangeException(null, $"input shape {text}: expected HxWxC with sides 4 to 1024 and 1 or 3 channels");
        return (h, w, c);
    }
}
