using Contramask.Data;
using Contramask.Objectives;
using Contramask.Training;

namespace Contramask.Tests;

/// <summary>
/// The InfoNCE temperature a run starts from: 0.5 for images' contrastive-only and layered fusion runs, CNN and ViT
/// (chosen on MNIST's validation slice, docs/TUNING.md), 0.2 where it was not re-measured (tables, the named image
/// fusion variants), whichever way the fusion kind is reached.
/// </summary>
public class TemperatureDefaultsTests
{
    static readonly IRecordSet Digits = DataSpec.Parse("digits").Load().Train;

    [Theory]
    [InlineData("convnet", Method.Contrastive, null, 0.5)]
    [InlineData("convnet", Method.Fusion, null, 0.5)]                    // layered, the CNN default
    [InlineData("convnet", Method.Fusion, FusionKind.Layered, 0.5)]
    [InlineData("convnet", Method.Fusion, FusionKind.Can, 0.2)]
    [InlineData("convnet", Method.Fusion, FusionKind.Momentum, 0.2)]
    [InlineData("resnet18", Method.Contrastive, null, 0.5)]
    [InlineData("vit-mini", Method.Contrastive, null, 0.5)]
    [InlineData("vit-mini", Method.Fusion, null, 0.5)]                   // layered, the ViT default
    [InlineData("vit-tiny", Method.Fusion, FusionKind.Layered, 0.5)]
    [InlineData("vit-mini", Method.Fusion, FusionKind.Can, 0.2)]
    [InlineData("vit-mini", Method.Fusion, FusionKind.Momentum, 0.2)]
    public void A_run_starts_from_its_encoders_and_fusion_kinds_temperature(string encoder, Method method, FusionKind? kind, double temperature)
    {
        var config = PretrainConfig.DefaultsFor(Digits, method, encoder);
        if (kind is FusionKind k) config = config.WithFusion(k);
        Assert.Equal(temperature, config.Objective.Temperature);
    }

    [Fact]
    public void Switching_a_cnn_run_back_to_layered_fusion_restores_its_temperature_and_tables_keep_theirs()
    {
        var images = PretrainConfig.DefaultsFor(Digits, Method.Fusion, "convnet");
        Assert.Equal(0.5, images.WithFusion(FusionKind.Can).WithFusion(FusionKind.Layered).Objective.Temperature);
        var vit = PretrainConfig.DefaultsFor(Digits, Method.Fusion, "vit-mini");
        Assert.Equal(0.5, vit.WithFusion(FusionKind.Momentum).WithFusion(FusionKind.Layered).Objective.Temperature);
        var table = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},split=30,label=label,id=id").LoadAny().Train;
        Assert.Equal(0.2, PretrainConfig.DefaultsFor(table, Method.Contrastive, "mlp").Objective.Temperature);
        Assert.Equal(0.2, PretrainConfig.DefaultsFor(table, Method.Fusion, "mlp").Objective.Temperature);
    }
}
