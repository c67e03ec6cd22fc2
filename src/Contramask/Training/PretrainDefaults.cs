using System.Globalization;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Views;

namespace Contramask.Training;

/// <summary>
/// The numbers <c>pretrain</c> starts from when an option is not given, in one place: <see cref="PretrainConfig.DefaultsFor(Data.ImageDataset, Method, string)"/>
/// applies them, and <see cref="Describe"/> states them in words for <c>--help</c> and the README's option table
/// (a test checks the README against it), so the documentation cannot drift from the code. Each value's origin,
/// where it was chosen by measurement, is docs/TUNING.md (validation slice only).
/// </summary>
public static class PretrainDefaults
{
    /// <summary>The embedded 8×8 digits: what a run without --data trains on.</summary>
    public const string Data = "digits";
    public const string MethodName = "fusion";
    public const int BatchSize = 256;
    /// <summary>Short runs on small data get about this many steps (epochs from 1 to 200).</summary>
    public const int TargetSteps = 1000;
    public const double ImageWeightDecay = 0.05;
    public const double TableWeightDecay = 1e-5;

    /// <summary>
    /// Peak learning rate for an encoder and method. On MNIST's validation slice (ConvNet; docs/TUNING.md) 6e-3 and 3e-3
    /// tie for contrastive and fusion at 3 minutes, well above 1e-3; at 10 minutes 1.2e-2 beats 6e-3 side by side
    /// (fusion on all six probes, +0.19 linear; contrastive-only +0.25 linear, +1.3 kNN-20 at 1%); masked modeling
    /// gains from 3e-3 (+0.7 linear, +1.0 with 1% of the labels over 1e-3). ViT-mini at 10 minutes: contrastive and
    /// fusion gain on every probe from 5e-4 to 1e-3, 2e-3 and 4e-3 (8e-3 lost); masked (MAE) from 5e-4 to 1e-3 (the
    /// only step tried). Tables, the supervised baseline and the ViT's supervised rate (the papers' 5e-4) were not
    /// swept.
    /// </summary>
    public static double LearningRate(EncoderOptions encoder, Method method) =>
        encoder.IsTable ? 1e-3 : encoder.IsVit ? method switch
        {
            Method.Contrastive or Method.Fusion => 4e-3,
            Method.Masked => 1e-3,
            _ => 5e-4,
        } : method switch
        {
            Method.Contrastive or Method.Fusion => 1.2e-2,
            Method.Masked => 3e-3,
            _ => 1e-3,
        };

    public static double WeightDecay(EncoderOptions encoder) => encoder.IsTable ? TableWeightDecay : ImageWeightDecay;

    /// <summary>
    /// The temperature row in words, refusing to describe a split of values it does not name (a new default that
    /// breaks this pattern must be worded here, not silently misdescribed).
    /// </summary>
    static string TemperatureDefault()
    {
        static double Of(ObjectiveOptions options) => options.Temperature;
        double cnn = Of(ObjectiveOptions.ForMethod(Method.Contrastive, vit: false)), cnnFusion = Of(ObjectiveOptions.ForMethod(Method.Fusion, vit: false));
        double cnnCan = Of(ObjectiveOptions.ForMethod(Method.Fusion, vit: false, FusionKind.Can)), cnnMomentum = Of(ObjectiveOptions.ForMethod(Method.Fusion, vit: false, FusionKind.Momentum));
        double vit = Of(ObjectiveOptions.ForMethod(Method.Contrastive, vit: true)), vitFusion = Of(ObjectiveOptions.ForMethod(Method.Fusion, vit: true));
        double table = Of(ObjectiveOptions.ForTableMethod(Method.Contrastive)), tableFusion = Of(ObjectiveOptions.ForTableMethod(Method.Fusion));
        double vitCan = Of(ObjectiveOptions.ForMethod(Method.Fusion, vit: true, FusionKind.Can)), vitMomentum = Of(ObjectiveOptions.ForMethod(Method.Fusion, vit: true, FusionKind.Momentum));
        if (cnnFusion != cnn || vit != cnn || vitFusion != cnn || cnnMomentum != cnnCan || vitCan != cnnCan || vitMomentum != cnnCan || tableFusion != table)
            throw new InvalidOperationException("the temperature defaults no longer follow the pattern PretrainDefaults describes");
        return $"images (CNN and ViT) {N(cnn)} contrastive and fusion (`--fusion can`/`momentum`: {N(cnnCan)}); tables {N(table)}";
    }

    /// <summary>6e-3, 1e-5, 0.05, 0.3, 1: as the docs write them.</summary>
    static string N(double v) => v is > 0 and < 0.01 ? v.ToString("0.##e-0", CultureInfo.InvariantCulture) : v.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>The default of each <c>pretrain</c> option that has one, in words, keyed by the option's name.</summary>
    public static IReadOnlyDictionary<string, string> Describe()
    {
        var config = new PretrainConfig();
        var cnn = EncoderOptions.FromName("convnet");
        var vit = EncoderOptions.FromName("vit-tiny");
        var mlp = EncoderOptions.FromName("mlp");
        var cnnMasked = ObjectiveOptions.ForMethod(Method.Masked, vit: false);
        var vitMasked = ObjectiveOptions.ForMethod(Method.Masked, vit: true);
        var cnnFusion = ObjectiveOptions.ForMethod(Method.Fusion, vit: false);
        var vitFusion = ObjectiveOptions.ForMethod(Method.Fusion, vit: true);
        var vitCan = ObjectiveOptions.ForMethod(Method.Fusion, vit: true, FusionKind.Can);
        var vitMomentum = ObjectiveOptions.ForMethod(Method.Fusion, vit: true, FusionKind.Momentum);
        var tableMasked = ObjectiveOptions.ForTableMethod(Method.Masked);
        var tableFusion = ObjectiveOptions.ForTableMethod(Method.Fusion);
        return new Dictionary<string, string>
        {
            ["--data"] = $"`{Data}`",
            ["--method"] = $"`{MethodName}`",
            ["--encoder"] = "`convnet` / `mlp`",
            ["--out"] = "`runs/METHOD-ENCODER`",
            ["--epochs"] = $"≈{TargetSteps:N0} steps",
            ["--batch-size"] = $"{BatchSize} (half the training split if smaller)",
            ["--lr"] = $"CNN: {N(LearningRate(cnn, Method.Contrastive))} contrastive and fusion, {N(LearningRate(cnn, Method.Masked))} masked, {N(LearningRate(cnn, Method.Supervised))} supervised; ViT {N(LearningRate(vit, Method.Contrastive))} contrastive and fusion, {N(LearningRate(vit, Method.Masked))} masked, {N(LearningRate(vit, Method.Supervised))} supervised; tables {N(LearningRate(mlp, Method.Fusion))}",
            ["--weight-decay"] = $"images {N(ImageWeightDecay)}, tables {N(TableWeightDecay)}",
            ["--temperature"] = TemperatureDefault(),
            ["--mask-ratio"] = $"masked: {N(vitMasked.MaskRatio)} ViT / {N(cnnMasked.MaskRatio)} CNN; fusion: {N(vitFusion.MaskRatio)} ViT / {N(cnnFusion.MaskRatio)} CNN (a ViT with `--fusion can`: CAN's {N(vitCan.MaskRatio)}, `momentum`: {N(vitMomentum.MaskRatio)}); tables {N(tableMasked.MaskRatio)} (fusion {N(tableFusion.MaskRatio)})",
            ["--corruption-rate"] = N(TableViewOptions.ForContrastive().CorruptionRate),
            ["--contrastive-weight"] = $"images {N(cnnFusion.WeightContrastive)}, tables {N(tableFusion.WeightContrastive)}",
            ["--reconstruction-weight"] = N(cnnFusion.WeightReconstruction),
            ["--noise-weight"] = $"{N(cnnFusion.WeightNoise)} (off)",
            ["--masked-views"] = $"ViT {vitFusion.MaskedViews}, CNN {cnnFusion.MaskedViews}, tables {tableFusion.MaskedViews} (a ViT with `--fusion can`: CAN's {vitCan.MaskedViews}; a table with `--fusion momentum`: {ObjectiveOptions.ForTableMethod(Method.Fusion, FusionKind.Momentum).MaskedViews})",
            ["--fusion"] = (cnnFusion.Fusion == vitFusion.Fusion ? $"`{cnnFusion.Fusion.ToString().ToLowerInvariant()}`"
                : $"CNN `{cnnFusion.Fusion.ToString().ToLowerInvariant()}`, ViT `{vitFusion.Fusion.ToString().ToLowerInvariant()}`")
                + $", tables `{tableFusion.Fusion.ToString().ToLowerInvariant()}`",
            ["--decoder-depth"] = new[] { vitMasked, vitCan, vitMomentum }.All(o => o.DecoderDepth == vitFusion.DecoderDepth)
                ? vitFusion.DecoderDepth.ToString(CultureInfo.InvariantCulture)
                : $"masked {vitMasked.DecoderDepth}, fusion {vitFusion.DecoderDepth} (`--fusion can`: {vitCan.DecoderDepth}, `momentum`: {vitMomentum.DecoderDepth})",
            ["--decoder-width"] = $"ViT: masked {vitMasked.DecoderDim}, fusion {vitFusion.DecoderDim} (`--fusion can`: {vitCan.DecoderDim}, `momentum`: {vitMomentum.DecoderDim}); CNN {cnnFusion.DecoderDim}",
            ["--target-momentum"] = N(cnnFusion.TargetMomentum),
            ["--crop-scale-min"] = $"{N(AugmentationOptions.Contrastive(1).CropScaleMin)} (masked {N(AugmentationOptions.Light(1).CropScaleMin)})",
            ["--patch"] = "from the image size",
            ["--width"] = N(cnn.Width),
            ["--seed"] = config.Seed.ToString(CultureInfo.InvariantCulture),
            ["--threads"] = $"{config.Threads} (all cores)",
            ["--device"] = $"`{config.Device}`",
            ["--precision"] = "`auto`",
            ["--keep-checkpoints"] = config.KeepCheckpoints.ToString(CultureInfo.InvariantCulture),
            ["--monitor"] = config.MonitorChecks.ToString(CultureInfo.InvariantCulture),
            ["--collapse-rank"] = N(config.CollapseRank),
        };
    }
}
