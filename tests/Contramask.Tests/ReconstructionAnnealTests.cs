using Contramask.Models;
using Contramask.Objectives;
using Contramask.Training;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>`--anneal-reconstruction`: fusion's reconstruction weight falls to 0 on a half cosine over the run.</summary>
[Collection("console")]
public class ReconstructionAnnealTests
{
    [Fact]
    public void The_weight_falls_on_a_half_cosine_from_its_value_to_zero_and_stays_put_without_the_option()
    {
        var annealed = new ObjectiveOptions { WeightReconstruction = 2, AnnealReconstruction = true };
        Assert.Equal(2, annealed.ReconstructionWeightAt(0), 12);
        Assert.Equal(2 * (1 + Math.Cos(Math.PI * 0.25)) / 2, annealed.ReconstructionWeightAt(0.25), 12);
        Assert.Equal(1, annealed.ReconstructionWeightAt(0.5), 12);
        Assert.Equal(0, annealed.ReconstructionWeightAt(1), 12);
        Assert.Equal(0, annealed.ReconstructionWeightAt(1.5), 12);   // past the end (a budget overrun): clamped
        var constant = annealed with { AnnealReconstruction = false };
        Assert.Equal(2, constant.ReconstructionWeightAt(0.9), 12);
    }

    [Theory]
    [InlineData("convnet", FusionKind.Layered)]
    [InlineData("convnet", FusionKind.Momentum)]
    [InlineData("vit-mini", FusionKind.Layered)]
    public void The_fused_loss_weighs_reconstruction_by_the_schedule_at_the_step_being_computed(string encoderName, FusionKind kind)
    {
        using var generator = new Generator(4);
        manual_seed(4);
        var encoder = EncoderOptions.FromName(encoderName).Build(1, 16, 16);
        var target = kind == FusionKind.Momentum ? EncoderOptions.FromName(encoderName).Build(1, 16, 16) : null;
        var options = ObjectiveOptions.ForMethod(Method.Fusion, encoder is VisionTransformer, kind) with { AnnealReconstruction = true, WeightContrastive = 0.7 };
        using var objective = SelfSupervisedObjective.Create(options, encoder, 1, 16, 16, 4, generator, target);
        var views = Enumerable.Range(0, 2).Select(_ => randn(8, 1, 16, 16, generator: generator)).ToList();
        foreach (double progress in new[] { 0.0, 0.3, 1.0 })
        {
            using var scope = NewDisposeScope();
            objective.BeforeStep(progress);
            var loss = objective.Loss(views);
            double reconstruction = loss.Components["reconstruction"].item<float>();
            double contrastive = loss.Components["contrastive"].item<float>();
            Assert.True(reconstruction > 0.01, $"reconstruction term {reconstruction}");
            double expected = options.ReconstructionWeightAt(progress) * reconstruction + 0.7 * contrastive;
            Assert.Equal(expected, loss.Total.item<float>(), 4);
        }
        foreach (var view in views) view.Dispose();
    }

    [Fact]
    public void A_run_keeps_the_option_in_its_configuration_and_it_is_refused_for_a_method_without_reconstruction()
    {
        var folder = Path.Combine(Fixture.TempFolder(), "anneal");
        var (code, _, error) = CliTests.Run(["pretrain", "--data", $"idx:{Fixture.Path("idx")}", "--method", "fusion", "--anneal-reconstruction",
            "--epochs", "1", "--batch-size", "8", "--out", folder, "--quiet", "--threads", "2", "--no-eval"]);
        Assert.True(code == 0, error);
        var config = PretrainConfig.FromJson(File.ReadAllText(Path.Combine(folder, "config.json")), "config.json");
        Assert.True(config.Objective.AnnealReconstruction);

        var refused = Path.Combine(Fixture.TempFolder(), "anneal-refused");
        (code, _, error) = CliTests.Run(["pretrain", "--data", $"idx:{Fixture.Path("idx")}", "--method", "contrastive", "--anneal-reconstruction",
            "--epochs", "1", "--out", refused, "--quiet"]);
        Assert.Equal(Contramask.Cli.CliApp.BadInputExitCode, code);
        Assert.Contains("--anneal-reconstruction schedules fusion's reconstruction weight", error);
        Assert.DoesNotContain("   at ", error);
        Assert.False(File.Exists(Path.Combine(refused, "config.json")), "a refused run left its config.json behind");
    }
}
