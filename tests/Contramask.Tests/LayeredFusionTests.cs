using Contramask.Models;
using Contramask.Objectives;
using Contramask.Training;
using static TorchSharp.torch;

namespace Contramask.Tests;

public class LayeredFusionTests
{
    [Theory]
    [InlineData("convnet", false)]
    [InlineData("convnet", true)]
    [InlineData("resnet18", false)]
    [InlineData("resnet18", true)]
    public void Stage_maps_end_with_the_feature_map_and_have_the_stated_widths(string encoderName, bool bf16)
    {
        manual_seed(3);
        // ResNet-18 at width 0.25: narrower blocks give NaN gradients in libtorch (docs/ENGINEERING.md).
        var options = EncoderOptions.FromName(encoderName);
        var encoder = (ConvEncoder)(encoderName == "resnet18" ? options with { Width = 0.25 } : options).Build(1, 16, 16);
        if (bf16) MixedPrecision.Apply(encoder, ScalarType.BFloat16);
        encoder.eval();
        using var images = randn(4, 1, 16, 16);
        using var map = encoder.FeatureMap(images);
        var stages = encoder.StageMaps(images);
        Assert.Equal(encoder.StageWidths.Count, stages.Count);
        Assert.True(stages.Count >= 3);
        for (int s = 0; s < stages.Count; s++)
        {
            Assert.Equal(encoder.StageWidths[s], (int)stages[s].shape[1]);
            Assert.Equal(ScalarType.Float32, stages[s].dtype);
        }
        Assert.True(stages[^1].allclose(map, rtol: 1e-5, atol: 1e-6));
        // Each stage is at most the resolution of the one before.
        for (int s = 1; s < stages.Count; s++) Assert.True(stages[s].shape[2] <= stages[s - 1].shape[2]);
        foreach (var stage in stages) stage.Dispose();
    }

    [Theory]
    [InlineData(FusionKind.Can, true)]
    [InlineData(FusionKind.Layered, false)]
    public void Layered_fusion_reconstructs_from_the_lower_stages_so_the_top_block_learns_only_from_contrast(FusionKind kind, bool topGetsReconstruction)
    {
        using var fusion = new FusionUnderTest("convnet", 16, 4, kind, seed: 5);
        using var scope = NewDisposeScope();
        fusion.Backward("reconstruction");
        // named_parameters: layers.0 (first block) … layers.4 (last block: conv, BatchNorm).
        double GradientOf(string block) => fusion.GradientOf(block);
        Assert.True(GradientOf("layers.0.") > 0);
        Assert.True(GradientOf("layers.2.") > 0);
        Assert.Equal(topGetsReconstruction, GradientOf("layers.4.") > 0);
    }

    [Fact]
    public void Layered_fusion_learns()
    {
        using var g = new Generator(6);
        manual_seed(6);
        var encoder = EncoderOptions.FromName("convnet").Build(1, 16, 16);
        var options = ObjectiveOptions.ForMethod(Method.Fusion, vit: false) with { Fusion = FusionKind.Layered };
        using var objective = SelfSupervisedObjective.Create(options, encoder, 1, 16, 16, 4, g);
        var views = Enumerable.Range(0, 2).Select(_ => randn(16, 1, 16, 16, generator: g)).ToList();
        (double Total, double Reconstruction) LossNow()
        {
            using var scope = NewDisposeScope();
            g.manual_seed(11);
            var loss = objective.Loss(views);
            return (loss.Total.item<float>(), loss.Components["reconstruction"].item<float>());
        }
        var before = LossNow();
        var (decay, noDecay) = WeightDecayGroups.Split(objective);
        using var optimizer = new AdamW([new(decay, 1e-3, 0.05), new(noDecay, 1e-3, 0)], beta2: 0.95);
        for (int step = 0; step < 15; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.ZeroGrad();
            g.manual_seed(11);
            objective.Loss(views).Total.backward();
            optimizer.Step();
        }
        var after = LossNow();
        Assert.True(after.Total < before.Total * 0.95, $"total {before.Total:F4} → {after.Total:F4}");
        // Both terms learn, not only the contrastive one.
        Assert.True(after.Reconstruction < before.Reconstruction * 0.95, $"reconstruction {before.Reconstruction:F4} → {after.Reconstruction:F4}");
    }

    [Theory]
    [InlineData(FusionKind.Can, true)]
    [InlineData(FusionKind.Layered, false)]
    public void Layered_fusion_on_a_vit_decodes_the_middle_block_so_the_upper_blocks_learn_only_from_contrast(FusionKind kind, bool upperGetReconstruction)
    {
        using var fusion = new FusionUnderTest("vit-mini", 8, 2, kind, seed: 7);
        using var scope = NewDisposeScope();
        fusion.Backward("reconstruction");
        double GradientOf(string prefix) => fusion.GradientOf(prefix);
        // vit-mini has four blocks: the layered decoder reads the output of the second.
        Assert.True(GradientOf("blocks.0.") > 0);
        Assert.True(GradientOf("blocks.1.") > 0);
        Assert.Equal(upperGetReconstruction, GradientOf("blocks.2.") > 0);
        Assert.Equal(upperGetReconstruction, GradientOf("blocks.3.") > 0);

        // The contrastive term still reads the last block's normed tokens.
        fusion.Backward("contrastive");
        Assert.True(GradientOf("blocks.3.") > 0);
        Assert.True(GradientOf("norm.") > 0);
    }
}
