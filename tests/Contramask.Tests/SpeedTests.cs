using System.Text.Json;
using Contramask.Cli;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Training;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>Mixed precision, the speed probe and the loss-check export behind bench/speed.sh (issue #6).</summary>
[Collection("console")]
public class SpeedTests
{
    static PretrainConfig TinyConfig(Method method, string encoder, Precision precision = Precision.Fp32) =>
        PretrainConfig.DefaultsFor(SpeedProbe.SyntheticImages(64, 1, 8, 8).Train, method, encoder) with
        {
            BatchSize = 16, Threads = 2, Precision = precision,
            Encoder = EncoderOptions.FromName(encoder) with { Dim = 32, Depth = 2, Heads = 2 },
            Objective = ObjectiveOptions.ForMethod(method, encoder.StartsWith("vit")) with { DecoderDim = 16, DecoderDepth = 1, DecoderHeads = 2, ProjectionHidden = 32, ProjectionOutput = 16 },
        };

    [Theory]
    [InlineData(9)]    // written-out bfloat16 attention
    [InlineData(TransformerBlock.MaxTokensForWrittenOutAttention + 1)] // the fused float32 kernel
    public void Mixed_precision_keeps_float32_weights_and_gradients_and_nearly_the_same_loss(int tokens)
    {
        manual_seed(1);
        using var block = new TransformerBlock(32, 2);
        using var x = randn(4, tokens, 32);
        using var full = block.forward(x);
        block.ComputeType = ScalarType.BFloat16;
        using var mixed = block.forward(x);
        Assert.Equal(ScalarType.Float32, mixed.dtype); // the residual stream stays float32
        double relative = (mixed - full).norm().item<float>() / full.norm().item<float>();
        Assert.InRange(relative, 1e-6, 2e-2); // bfloat16 products: different, but close (8-bit mantissa)
        mixed.sum().backward();
        foreach (var p in block.parameters())
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.NotNull(p.grad);
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
        }
    }

    [Fact]
    public void Precision_auto_is_bf16_for_image_encoders_only_on_cpus_with_native_bf16_and_explicit_choices_win()
    {
        var native = MixedPrecision.CpuHasNativeBFloat16() ? ScalarType.BFloat16 : (ScalarType?)null;
        foreach (var image in new[] { "convnet", "resnet18", "vit-tiny" })
            Assert.Equal(native, MixedPrecision.Resolve(Precision.Auto, EncoderOptions.FromName(image), CPU));
        foreach (var table in new[] { "mlp", "ft-transformer" })
            Assert.Null(MixedPrecision.Resolve(Precision.Auto, EncoderOptions.FromName(table), CPU));
        Assert.Null(MixedPrecision.Resolve(Precision.Fp32, EncoderOptions.FromName("vit-tiny"), CPU));
        Assert.Null(MixedPrecision.Resolve(Precision.Fp32, EncoderOptions.FromName("convnet"), CPU));
        Assert.Equal(ScalarType.BFloat16, MixedPrecision.Resolve(Precision.Bf16, EncoderOptions.FromName("convnet"), CPU));
    }

    [Theory]
    [InlineData("convnet")]
    [InlineData("resnet18")]
    public void Mixed_precision_cnns_convolve_in_bf16_return_float32_maps_and_keep_float32_weights(string kind)
    {
        manual_seed(3);
        using ConvEncoder encoder = kind == "convnet" ? new ConvNet(3) : new ResNet18(3, width: 0.25);
        encoder.train();
        using var x = randn(8, 3, 16, 16);
        using var full = encoder.FeatureMap(x);
        MixedPrecision.Apply(encoder, ScalarType.BFloat16);
        // Every convolution must be reached: a block left in float32 would receive bfloat16 and fail, or hide a slow path.
        Assert.Contains((IMixedPrecisionModule)encoder, MixedPrecision.Modules(encoder));
        Assert.All(MixedPrecision.Modules(encoder), m => Assert.Equal(ScalarType.BFloat16, m.ComputeType));
        using var mixed = encoder.FeatureMap(x);
        Assert.Equal(ScalarType.Float32, mixed.dtype);
        Assert.Equal(full.shape, mixed.shape);
        double relative = (mixed - full).norm().item<float>() / full.norm().item<float>();
        Assert.InRange(relative, 1e-6, 5e-2); // bfloat16 convolutions: different, but close
        mixed.sum().backward();
        foreach (var p in encoder.parameters())
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.NotNull(p.grad);
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
        }
    }

    [Fact]
    public void A_bf16_vit_fusion_run_trains_and_its_checkpoint_loads_in_float32()
    {
        var folder = Path.Combine(Fixture.TempFolder(), "run");
        var data = SpeedProbe.SyntheticImages(64, 1, 8, 8);
        var config = TinyConfig(Method.Fusion, "vit-mini", Precision.Bf16) with { Epochs = 2 };
        using (var trainer = Pretrainer.Start(config, folder, data))
        {
            Assert.Equal(ScalarType.BFloat16, trainer.ComputeType);
            var result = trainer.Run();
            Assert.True(double.IsFinite(result.FinalLoss));
            Assert.Equal(8, result.Steps);
        }
        var (state, path) = Checkpoint.ReadState(folder);
        Assert.Equal(Precision.Bf16, state.Config.Precision);
        using var encoder = Evaluation.EncoderEvaluator.LoadEncoder(path, state.Config, data.Train);
        Assert.All(encoder.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void A_bf16_convnet_fusion_run_trains_recalibrates_batch_norm_in_float32_and_reloads_in_float32()
    {
        var folder = Path.Combine(Fixture.TempFolder(), "run");
        var data = SpeedProbe.SyntheticImages(64, 1, 8, 8);
        var config = TinyConfig(Method.Fusion, "convnet", Precision.Bf16) with { Epochs = 2, RecalibrateBatchNorm = true };
        using (var trainer = Pretrainer.Start(config, folder, data))
        {
            Assert.Equal(ScalarType.BFloat16, trainer.ComputeType);
            var result = trainer.Run();
            Assert.True(double.IsFinite(result.FinalLoss));
            // Recalibration switched the encoder to float32 for its pass and back afterwards.
            Assert.All(MixedPrecision.Modules(trainer.Encoder), m => Assert.Equal(ScalarType.BFloat16, m.ComputeType));
        }
        var (state, path) = Checkpoint.ReadState(folder);
        using var encoder = Evaluation.EncoderEvaluator.LoadEncoder(path, state.Config, data.Train);
        Assert.All(encoder.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(encoder.buffers(), b => Assert.True(b.dtype is ScalarType.Float32 or ScalarType.Int64));

        // The saved running statistics are those of a float32 pass over the training images: recalibrating the
        // reloaded float32 encoder with the same seed reproduces them.
        var saved = encoder.modules().OfType<BatchNorm>().SelectMany(n => n.buffers()).Where(b => b.dtype == ScalarType.Float32).Select(b => b.clone()).ToList();
        BatchNormRecalibration.Run(encoder, data.Train, ModelFactory.Standardizer(state.Config, data.Train, CPU), state.Config.Seed);
        var again = encoder.modules().OfType<BatchNorm>().SelectMany(n => n.buffers()).Where(b => b.dtype == ScalarType.Float32).ToList();
        for (int i = 0; i < saved.Count; i++) Assert.True(saved[i].allclose(again[i], rtol: 1e-5, atol: 1e-6), $"running statistic {i} differs");
    }

    [Fact]
    public void Low_memory_mode_gives_the_same_training_as_the_default()
    {
        var data = SpeedProbe.SyntheticImages(64, 1, 8, 8);
        double FinalLoss(bool lowMemory)
        {
            var folder = Path.Combine(Fixture.TempFolder(), "run");
            using var trainer = Pretrainer.Start(TinyConfig(Method.Contrastive, "convnet") with { Epochs = 2, LowMemory = lowMemory }, folder, data);
            return trainer.Run().FinalLoss;
        }
        double normal = FinalLoss(false), low = FinalLoss(true);
        Assert.True(double.IsFinite(low));
        Assert.Equal(normal, low); // returning freed memory to the system changes no arithmetic
    }

    [Fact]
    public void Speed_probe_times_the_real_loop_and_leaves_nothing_behind()
    {
        var before = Directory.GetDirectories(Path.GetTempPath(), "contramask-speed-*").Length;
        var report = SpeedProbe.Measure(TinyConfig(Method.Contrastive, "convnet"), SpeedProbe.SyntheticImages(64, 1, 8, 8), warmupSteps: 1, steps: 3);
        Assert.Equal(3, report.Steps);
        Assert.Equal(16, report.BatchSize);
        Assert.True(report.ImagesPerSecond > 0);
        Assert.Equal(StepPhases.Names, report.PhaseSecondsPerStep.Keys);
        Assert.True(report.PureStepSeconds <= report.PhaseSecondsPerStep.Values.Sum() + 1e-9);
        Assert.True(report.PeakRssMb > 50);
        Assert.Equal("fp32", report.Precision);
        Assert.Equal(before, Directory.GetDirectories(Path.GetTempPath(), "contramask-speed-*").Length);
    }

    [Fact]
    public void Loss_check_writes_every_parameter_the_views_the_mask_and_the_loss()
    {
        var folder = Fixture.TempFolder();
        double loss = SpeedProbe.WriteLossCheck(TinyConfig(Method.Fusion, "vit-mini"), SpeedProbe.SyntheticImages(64, 1, 8, 8), folder);
        Assert.True(double.IsFinite(loss) && loss > 0);
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "manifest.json")));
        Assert.Equal(loss, manifest.RootElement.GetProperty("loss").GetDouble(), 6);
        var names = manifest.RootElement.GetProperty("tensors").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToList();
        Assert.Contains("view0", names);
        Assert.Contains("view1", names);
        Assert.Contains("mask.keep", names);
        Assert.Contains(names, n => n.EndsWith("maskToken"));
        foreach (var t in manifest.RootElement.GetProperty("tensors").EnumerateArray())
        {
            long count = t.GetProperty("shape").EnumerateArray().Aggregate(1L, (a, d) => a * d.GetInt64());
            Assert.Equal(count * (t.GetProperty("dtype").GetString() == "int64" ? 8 : 4), new FileInfo(Path.Combine(folder, t.GetProperty("file").GetString()!)).Length);
        }
    }

    static (int Code, string Out, string Error) Run(params string[] args) => CliTests.Run(args);

    [Fact]
    public void Speed_command_prints_one_json_line()
    {
        var (code, output, error) = Run("speed", "--method", "contrastive", "--encoder", "convnet", "--input", "8x8x1", "--batch-size", "16",
            "--warmup", "1", "--steps", "2", "--threads", "2", "--json");
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output.Trim().Split('\n').Last());
        Assert.Equal("contramask", json.RootElement.GetProperty("implementation").GetString());
        Assert.True(json.RootElement.GetProperty("images_per_s").GetDouble() > 0);
    }

    [Theory]
    [InlineData("", "layered", 1)]
    [InlineData("--fusion,can", "can", 2)]   // what bench/speed.sh passes: the fusion bench/pytorch_reference.py implements
    public void Speed_fusion_option_picks_the_fusion_its_loss_check_writes(string options, string fusion, int maskedViews)
    {
        var folder = Path.Combine(Fixture.TempFolder(), "check");
        var (code, _, error) = Run(["speed", "--method", "fusion", .. options.Split(',', StringSplitOptions.RemoveEmptyEntries),
            "--encoder", "vit-mini", "--input", "8x8x1", "--batch-size", "8", "--threads", "2", "--loss-check", folder]);
        Assert.True(code == 0, error);
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "manifest.json")));
        var objective = manifest.RootElement.GetProperty("objective");
        Assert.Equal(fusion, objective.GetProperty("fusion").GetString());
        Assert.Equal(maskedViews, objective.GetProperty("masked_views").GetInt32());
        var keep = manifest.RootElement.GetProperty("tensors").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "mask.keep");
        Assert.Equal(8 * maskedViews, keep.GetProperty("shape")[0].GetInt32());   // one mask row per masked image
    }

    [Theory]
    [InlineData("speed --input 2x8x1", "input shape 2x8x1")]
    [InlineData("speed --steps 0", "steps 0 is out of range")]
    [InlineData("speed --precision fp8", "unknown precision 'fp8'")]
    public void Speed_command_rejects_bad_options(string commandLine, string expected)
    {
        var (code, _, error) = Run(commandLine.Split(' '));
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains(expected, error);
    }
}
