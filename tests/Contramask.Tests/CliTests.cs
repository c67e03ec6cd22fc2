using Contramask.Cli;

namespace Contramask.Tests;

[Collection("console")]
public class CliTests
{
    /// <summary>Runs the command in-process and captures its output (tests using it share the "console" collection).</summary>
    internal static (int Code, string Out, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var (oldOut, oldError) = (Console.Out, Console.Error);
        Console.SetOut(output);
        Console.SetError(error);
        try { return (CliApp.Run(args), output.ToString(), error.ToString()); }
        finally { Console.SetOut(oldOut); Console.SetError(oldError); }
    }

    [Theory]
    [InlineData("pretrain --data mnist:x", "unknown data kind 'mnist'")]
    [InlineData("pretrain --data idx:/no/such/folder", "/no/such/folder: folder not found")]
    [InlineData("pretrain --method jepa", "unknown method 'jepa'")]
    [InlineData("pretrain --encoder vgg", "unknown encoder 'vgg'")]
    [InlineData("pretrain --lr -1 --epochs 1", "learning rate -1 is out of range")]
    [InlineData("pretrain --mask-ratio 1.5", "mask ratio 1.5 is out of range")]
    [InlineData("evaluate --run /no/such/run", "no checkpoint")]
    [InlineData("benchmark --finetune 1%,0%", "--finetune 0%: expected a percentage")]
    [InlineData("benchmark --finetune --finetune-steps 0", "--finetune-steps 0 is out of range")]
    [InlineData("benchmark --seeds 0", "--seeds 0 is out of range: expected 1 to 100")]
    [InlineData("benchmark --contrastive-weight -1", "--contrastive-weight -1 is out of range: expected 0 to 100")]
    [InlineData("benchmark --methods masked --reconstruction-weight 2", "set fusion's objective: add fusion to --methods")]
    [InlineData("benchmark --encoders vit-mini --decoder-depth 0", "decoder depth 0 is out of range: expected 1 to 16")]
    [InlineData("benchmark --decoder-depth 1", "--decoder-depth sizes a ViT's MAE decoder")]
    [InlineData("benchmark --decoder-width 6", "decoder width 6 must be a multiple of 4")]
    [InlineData("benchmark --data csv:rows.csv --decoder-depth 1", "--decoder-depth and --decoder-width size an image pixel decoder")]
    [InlineData("benchmark --reconstruction-weight 101", "--reconstruction-weight 101 is out of range: expected 0 to 100")]
    [InlineData("benchmark --contrastive-weight 0 --reconstruction-weight 0", "leaves fusion nothing to learn")]
    [InlineData("benchmark --finetune-steps 50", "--finetune-steps sets the steps of --finetune's classifiers: add --finetune")]
    [InlineData("benchmark --data digits,val=0 --finetune", "has none; keep the data spec's val= above 0")]
    [InlineData("finetune --run /no/such/run --out /tmp/unused --mode blur", "unknown mode 'blur'; expected probe, full or semi")]
    [InlineData("finetune --run /no/such/run --out /tmp/unused --weak-view blur", "unknown weak view 'blur'; expected crop or shift")]
    [InlineData("finetune --run /no/such/run --out /tmp/unused --strong-view blur", "unknown strong view 'blur'; expected contrastive or affine")]
    [InlineData("finetune --run /no/such/run --out /tmp/unused --teacher /tmp --student-view blur", "unknown student view 'blur'; expected strong or weak")]
    [InlineData("finetune --run /no/such/run --out /tmp/unused --student-view weak", "--student-view sets how a student of --teacher sees its records: add --teacher")]
    [InlineData("finetune --run /no/such/run --out /tmp/unused --mode semi --teacher /tmp", "--teacher trains a student end to end on true and pseudo-labels: use it with --mode full")]
    [InlineData("mine --run /no/such/run --label-evidence 1", "unknown label evidence '1'; expected probe, neighbours or both")]
    [InlineData("select --run /no/such/run --strategy 2", "unknown strategy '2'; expected typical, coreset, balanced or random")]
    [InlineData("finetune --run /no/such/run --out /tmp/unused --patience 0", "patience 0 must be at least 1")]
    [InlineData("finetune --run /no/such/run --out /tmp/unused --cutout 2", "cutout 2 is out of range")]
    [InlineData("finetune --run /no/such/run --out /tmp/unused --unlabelled-ratio 0", "unlabelled ratio 0 is out of range")]
    public void Bad_input_gives_one_clear_line_and_exit_code_2(string commandLine, string expected)
    {
        var (code, _, error) = Run(commandLine.Split(' '));
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("   at ", error); // no stack trace
    }

    [Fact]
    public void Bad_idx_file_names_the_file()
    {
        var folder = Fixture.TempFolder();
        File.Copy(Fixture.Path("bad", "wrong-magic-idx3-ubyte"), Path.Combine(folder, "train-images-idx3-ubyte"));
        var (code, _, error) = Run("pretrain", "--data", $"idx:{folder}", "--out", Path.Combine(folder, "run"));
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains(Path.Combine(folder, "train-images-idx3-ubyte"), error);
        Assert.Contains("magic number", error);
        Assert.False(Directory.Exists(Path.Combine(folder, "run")));
    }

    [Fact]
    public void Pretrain_then_evaluate_a_tiny_run_from_the_command_line()
    {
        var folder = Path.Combine(Fixture.TempFolder(), "run");
        var (code, output, error) = Run("pretrain", "--data", $"idx:{Fixture.Path("idx")}", "--method", "masked", "--epochs", "2",
            "--batch-size", "16", "--out", folder, "--quiet", "--threads", "2");
        Assert.True(code == 0, error);
        Assert.Contains("Finished: 6 steps", output);   // 58 of the 64 training images: 6 are the validation slice
        Assert.Contains("pretrained", output);
        (code, output, error) = Run("evaluate", "--run", folder);
        Assert.True(code == 0, error);
        Assert.Contains("random-init", output);
        Assert.True(File.Exists(Path.Combine(folder, "evaluation.json")));
        (code, _, error) = Run("pretrain", "--out", folder, "--data", $"idx:{Fixture.Path("idx")}");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("--resume", error);
    }

    [Fact]
    public void Pretrain_resume_and_evaluate_a_table_from_the_command_line()
    {
        var folder = Path.Combine(Fixture.TempFolder(), "table-run");
        var csv = Fixture.Path("tables", "mixed.csv");
        var (code, output, error) = Run("pretrain", "--data", $"csv:{csv},split=30", "--label", "label", "--id", "id", "--method", "fusion",
            "--epochs", "2", "--batch-size", "8", "--out", folder, "--quiet", "--threads", "2");
        Assert.True(code == 0, error);
        Assert.Contains("Finished: 6 steps", output);
        // The fitted schema is kept with the run.
        var config = Contramask.Training.PretrainConfig.FromJson(File.ReadAllText(Path.Combine(folder, "config.json")), "config.json");
        Assert.Equal("5 features (2 numeric, 3 categorical), label 'label' with 2 classes", config.Table!.ToString());
        (code, output, error) = Run("pretrain", "--out", folder, "--resume", "--epochs", "3", "--quiet");
        Assert.True(code == 0, error);
        Assert.Contains("Finished: 9 steps", output);
        (code, output, error) = Run("evaluate", "--run", folder);
        Assert.True(code == 0, error);
        Assert.Contains("raw features", output);
    }

    [Fact]
    public void Benchmark_weights_change_fusion_only_and_are_recorded()
    {
        var folder = Path.Combine(Fixture.TempFolder(), "bench");
        var csv = Fixture.Path("tables", "mixed.csv");
        var (code, output, error) = Run("benchmark", "--data", $"csv:{csv},label=label,id=id,split=30", "--methods", "contrastive,fusion",
            "--baselines", "none", "--budget", "0.01", "--contrastive-weight", "0.03", "--out", folder, "--quiet", "--threads", "2");
        Assert.True(code == 0, error);
        Assert.Contains("Set for this benchmark: fusion contrastive weight 0.03.", output);
        Objectives.ObjectiveOptions Objective(string run) =>
            Contramask.Training.PretrainConfig.FromJson(File.ReadAllText(Path.Combine(folder, run, "config.json")), "config.json").Objective;
        Assert.Equal(0.03, Objective("fusion-mlp").WeightContrastive);
        Assert.Equal(new Objectives.ObjectiveOptions().WeightReconstruction, Objective("fusion-mlp").WeightReconstruction);
        Assert.Equal(new Objectives.ObjectiveOptions().WeightContrastive, Objective("contrastive-mlp").WeightContrastive);
        Assert.Contains("fusion contrastive weight 0.03", File.ReadAllText(Path.Combine(folder, "benchmark.json")));
    }

    [Fact]
    public void Decoder_options_size_the_vit_fusion_decoder()
    {
        var folder = Path.Combine(Fixture.TempFolder(), "decoder");
        var (code, _, error) = Run("pretrain", "--data", $"idx:{Fixture.Path("idx")}", "--method", "fusion", "--encoder", "vit-mini",
            "--decoder-depth", "1", "--decoder-width", "96", "--epochs", "1", "--batch-size", "8", "--out", folder, "--quiet", "--threads", "2", "--no-eval");
        Assert.True(code == 0, error);
        var config = Contramask.Training.PretrainConfig.FromJson(File.ReadAllText(Path.Combine(folder, "config.json")), "config.json");
        Assert.Equal((1, 96), (config.Objective.DecoderDepth, config.Objective.DecoderDim));
        // The objective built from that configuration has one decoder block at width 96 (the default: two at 64).
        using var g = new TorchSharp.torch.Generator(1);
        using var encoder = (config.Encoder with { Patch = 2 }).Build(1, 8, 8);
        using var objective = Objectives.SelfSupervisedObjective.Create(config.Objective, encoder, 1, 8, 8, 2, g);
        var shapes = objective.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Contains(shapes.Keys, k => k.Contains("decoderBlocks.0.", StringComparison.Ordinal));
        Assert.DoesNotContain(shapes.Keys, k => k.Contains("decoderBlocks.1.", StringComparison.Ordinal));
        Assert.Equal(96, shapes.Single(p => p.Key.EndsWith("decoderEmbedding.weight", StringComparison.Ordinal)).Value[0]);
    }

    [Fact]
    public void A_vit_fusion_run_saved_with_the_old_decoder_width_resumes_with_it()
    {
        // Runs saved before the layered ViT decoder narrowed to 64 hold a width-128 decoder: a resume (and evaluation,
        // export) rebuilds the objective from the run's own configuration, so the weights still fit.
        var folder = Path.Combine(Fixture.TempFolder(), "old-decoder");
        var (code, first, error) = Run("pretrain", "--data", $"idx:{Fixture.Path("idx")}", "--method", "fusion", "--encoder", "vit-mini",
            "--decoder-width", "128", "--epochs", "1", "--batch-size", "8", "--out", folder, "--quiet", "--threads", "2", "--no-eval");
        Assert.True(code == 0, error);
        (code, var second, error) = Run("pretrain", "--out", folder, "--resume", "--epochs", "2", "--quiet", "--no-eval");
        Assert.True(code == 0, error);
        static int Steps(string output) => int.Parse(System.Text.RegularExpressions.Regex.Match(output, @"Finished: (\d+) steps").Groups[1].Value);
        Assert.Equal(2 * Steps(first), Steps(second));
        var config = Contramask.Training.PretrainConfig.FromJson(File.ReadAllText(Path.Combine(folder, "config.json")), "config.json");
        Assert.Equal(128, config.Objective.DecoderDim);
    }

    [Fact]
    public void Benchmark_decoder_width_reaches_the_fusion_run_only()
    {
        var folder = Path.Combine(Fixture.TempFolder(), "bench-decoder");
        var (code, output, error) = Run("benchmark", "--data", "digits", "--encoders", "vit-mini", "--methods", "masked,fusion",
            "--baselines", "none", "--budget", "0.01", "--decoder-width", "32", "--decoder-depth", "1", "--out", folder, "--quiet", "--threads", "2");
        Assert.True(code == 0, error);
        Assert.Contains("Set for this benchmark: fusion decoder depth 1, fusion decoder width 32.", output);
        Objectives.ObjectiveOptions Objective(string run) =>
            Contramask.Training.PretrainConfig.FromJson(File.ReadAllText(Path.Combine(folder, run, "config.json")), "config.json").Objective;
        Assert.Equal((1, 32), (Objective("fusion-vit-mini").DecoderDepth, Objective("fusion-vit-mini").DecoderDim));
        var masked = Objectives.ObjectiveOptions.ForMethod(Objectives.Method.Masked, vit: true);
        Assert.Equal((masked.DecoderDepth, masked.DecoderDim), (Objective("masked-vit-mini").DecoderDepth, Objective("masked-vit-mini").DecoderDim));
    }

    [Theory]
    [InlineData("vit-mini", "", 0.25, 1, 64)]                          // layered: one view masked lightly beside a clean one, a narrow decoder
    [InlineData("vit-mini", "--fusion,layered", 0.25, 1, 64)]
    [InlineData("vit-mini", "--fusion,can", 0.5, 2, 128)]              // CAN's own settings: both views masked at 0.5
    [InlineData("vit-mini", "--fusion,momentum", 0.5, 1, 128)]         // one online view, masked as when it was measured
    [InlineData("vit-mini", "--fusion,can,--masked-views,1", 0.5, 1, 128)] // an option given wins over the kind's default
    [InlineData("vit-mini", "--fusion,can,--mask-ratio,0.3", 0.3, 2, 128)]
    [InlineData("vit-mini", "--decoder-width,32", 0.25, 1, 32)]
    [InlineData("convnet", "--fusion,can", 0.25, 1, 128)]              // a CNN's settings do not depend on the kind
    [InlineData("convnet", "--fusion,momentum", 0.25, 1, 128)]
    [InlineData("mlp", "--fusion,can", 0.3, 2, 128)]                   // nor do a table's (VIME's 0.3)
    [InlineData("mlp", "--fusion,momentum", 0.3, 1, 128)]              // but a table's momentum masks its one online view
    public void A_fusion_kind_brings_its_own_mask_settings_on_a_vit_and_a_tables_momentum_its_one_masked_view(string encoder, string options, double maskRatio, int maskedViews, int decoderWidth)
    {
        var folder = Path.Combine(Fixture.TempFolder(), "fusion-kind");
        string[] data = encoder == "mlp"
            ? ["--data", $"csv:{Fixture.Path("tables", "mixed.csv")},split=30", "--label", "label", "--id", "id"]
            : ["--data", $"idx:{Fixture.Path("idx")}"];
        var (code, _, error) = Run(["pretrain", .. data, "--method", "fusion", "--encoder", encoder,
            "--epochs", "1", "--batch-size", "8", "--out", folder, "--quiet", "--threads", "2", "--no-eval",
            .. options.Split(',', StringSplitOptions.RemoveEmptyEntries)]);
        Assert.True(code == 0, error);
        var config = Contramask.Training.PretrainConfig.FromJson(File.ReadAllText(Path.Combine(folder, "config.json")), "config.json");
        Assert.Equal(maskRatio, config.Objective.MaskRatio);
        Assert.Equal(maskedViews, config.Objective.MaskedViews);
        Assert.Equal(decoderWidth, config.Objective.DecoderDim);
    }

    [Theory]
    [InlineData("mixed.csv", "--label,nosuch", "label column 'nosuch' does not exist")]
    [InlineData("mixed.csv", "--encoder,convnet", "encoder 'convnet' is for images")]
    [InlineData("mixed.csv", "--method,fusion,--fusion,momentum,--masked-views,2", "--fusion momentum masks the online view")]
    [InlineData("mixed.csv", "--method,fusion,--masked-views,0", "--masked-views 0 is for images")]
    [InlineData("mixed.csv", "--method,fusion,--decoder-width,64", "--decoder-width is for images")]
    [InlineData("mixed.csv", "--patch,4,--width,2", "--patch, --width are for images")]
    [InlineData(null, "--label,label", "--label applies to tables")]
    public void Bad_table_options_give_one_clear_line(string? table, string options, string expected)
    {
        var data = table is null ? "digits" : $"csv:{Fixture.Path("tables", table)}";
        var run = Path.Combine(Fixture.TempFolder(), "r");
        var args = new List<string> { "pretrain", "--data", data, "--epochs", "1", "--out", run };
        args.AddRange(options.Split(','));
        var (code, _, error) = Run([.. args]);
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("   at ", error);
        // Refused before the run folder is written: a retry with a fixed option finds no run in the way.
        Assert.False(File.Exists(Path.Combine(run, "config.json")), "a refused run left its config.json behind");
    }
}
