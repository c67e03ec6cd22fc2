using System.Text.Json;
using System.Text.Json.Serialization;
using Contramask.Data;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Views;

namespace Contramask.Training;

/// <summary>
/// Everything that defines a pretraining run; saved as <c>config.json</c> and inside each checkpoint, so a run
/// can be resumed or evaluated without the original command line.
/// </summary>
public sealed record PretrainConfig
{
    /// <summary>Data spec (see <see cref="DataSpec"/>); paths are stored absolute.</summary>
    public string Data { get; init; } = "digits";
    public EncoderOptions Encoder { get; init; } = new();
    public ObjectiveOptions Objective { get; init; } = new();
    /// <summary>Random views of images.</summary>
    public AugmentationOptions Augmentation { get; init; } = new();
    /// <summary>Random views of table rows.</summary>
    public TableViewOptions TableViews { get; init; } = new();
    /// <summary>Passes over the training split; with a budget, the most it may run.</summary>
    public int Epochs { get; init; } = 20;
    /// <summary>Wall-clock limit in minutes; the learning-rate schedule then follows elapsed time.</summary>
    public double? BudgetMinutes { get; init; }
    public int BatchSize { get; init; } = 256;
    /// <summary>Peak AdamW learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 0.05;
    /// <summary>Fraction of the run spent in linear warm-up before the cosine decay.</summary>
    public double WarmupFraction { get; init; } = 0.05;
    /// <summary>Gradient clipping by global norm; 0 disables it.</summary>
    public double ClipNorm { get; init; } = 3.0;
    public int Seed { get; init; } = 42;
    /// <summary>Minutes between checkpoints: a crash loses at most about this much work.</summary>
    public double CheckpointMinutes { get; init; } = 1;
    /// <summary>How many checkpoints to keep (the newest and its predecessors), as fallbacks for a corrupt newest one.</summary>
    public int KeepCheckpoints { get; init; } = 2;
    /// <summary>Divergence guard: a step with a non-finite loss or gradient is skipped; this many in a row stop the run.</summary>
    public int MaxBadSteps { get; init; } = 10;
    public int Threads { get; init; }
    /// <summary>Number format of the step's matrix products: auto picks mixed bfloat16 for ViTs on CPUs with native bfloat16.</summary>
    public Precision Precision { get; init; } = Precision.Auto;
    /// <summary>Return freed memory to the system after every step: lower peak memory, slower small CNNs (docs/PERFORMANCE.md).</summary>
    public bool LowMemory { get; init; }
    public string Device { get; init; } = "cpu";
    /// <summary>Patch side of masks and ViT tokens, resolved from the image size when the run starts.</summary>
    public int Patch { get; init; }
    /// <summary>Per-channel statistics of the training images, filled in when the run starts.</summary>
    public ImageNormalization? Normalization { get; init; }
    /// <summary>Tables: the schema fitted on the training rows when the run starts, reused to encode any later data.</summary>
    public TableSchema? Table { get; init; }
    /// <summary>
    /// After a masked or fused objective on a CNN, re-estimate BatchNorm's statistics on clean training images
    /// (see <see cref="BatchNormRecalibration"/>).
    /// </summary>
    public bool RecalibrateBatchNorm { get; init; } = true;
    /// <summary>Live quality monitor: readings per run (kNN-20 on the validation slice, RankMe, spread; see <see cref="QualityMonitor"/>), 0 = off.</summary>
    public int MonitorChecks { get; init; } = 10;
    /// <summary>
    /// Most of the training time the monitor may take: a due reading (not the last) is skipped when the readings so far
    /// plus one more would exceed this share of the training time so far. Short runs then read less often.
    /// Values above 1 let the monitor take longer than training; <see cref="double.PositiveInfinity"/> never skips a
    /// reading (what tests that count readings need: on a slow machine one reading can outlast a few small steps).
    /// </summary>
    public double MonitorShare { get; init; } = 0.05;
    /// <summary>A monitor reading with RankMe below this (or a spread ratio below <see cref="QualityMonitor.MinSpreadRatio"/>) counts as collapse.</summary>
    public double CollapseRank { get; init; } = 2.0;
    /// <summary>On collapse, save a checkpoint and stop (<see cref="CollapseException"/>) instead of only warning.</summary>
    public bool StopOnCollapse { get; init; }
    /// <summary>Set when a resume extended the run: where, and the learning rate it had reached (see <see cref="LearningRateSchedule"/>).</summary>
    public ScheduleExtension? Extension { get; init; }

    /// <summary>
    /// This run with fusion <paramref name="kind"/>, and the mask and decoder settings that kind brings: for image fusion
    /// <see cref="ObjectiveOptions.ForMethod"/>'s (on a ViT, CAN keeps its two views at 0.5 and its decoder at width 128;
    /// only layered fusion takes <see cref="ObjectiveOptions.ImageTemperature"/>),
    /// for a table the number of masked views (<see cref="ObjectiveOptions.ForTableMethod"/>: momentum masks one);
    /// options given on top win.
    /// </summary>
    public PretrainConfig WithFusion(FusionKind kind)
    {
        if (Objective.Method != Method.Fusion) return this with { Objective = Objective with { Fusion = kind } };
        if (Encoder.IsTable) return this with { Objective = Objective with { Fusion = kind, MaskedViews = ObjectiveOptions.ForTableMethod(Method.Fusion, kind).MaskedViews } };
        var own = ObjectiveOptions.ForMethod(Method.Fusion, Encoder.IsVit, kind);
        return this with
        {
            Objective = Objective with { Fusion = kind, MaskRatio = own.MaskRatio, MaskedViews = own.MaskedViews, DecoderDim = own.DecoderDim, DecoderDepth = own.DecoderDepth, Temperature = own.Temperature },
        };
    }

    /// <summary>The settings a run fixes from its training images: the patch side and the normalization statistics.</summary>
    public PretrainConfig FittedTo(ImageDataset images)
    {
        int patch = Encoder.PatchFor(images.Height, images.Width);
        return this with
        {
            Patch = patch,
            Encoder = Encoder with { Patch = patch },
            Normalization = Normalization ?? ImageNormalization.FromDataset(images),
        };
    }

    public void Validate()
    {
        Encoder.Validate();
        Objective.Validate();
        if (Encoder.IsTable) Objective.ValidateForTable();
        else Objective.ValidateForImages();
        // Checked here too, before a run writes anything: the objective would refuse it only once built.
        if (Encoder.IsTable && Objective is { Method: Method.Fusion, Fusion: FusionKind.Layered } && !(Encoder.Kind == "mlp" && Encoder.Depth >= 2))
            throw ObjectiveOptions.LayeredTableNeedsResidualMlp(Encoder.Kind);
        Augmentation.Validate();
        TableViews.Validate();
        if (Epochs is < 1 or > 100_000) throw new ArgumentOutOfRangeException(null, $"epochs {Epochs} is out of range: expected 1 to 100000");
        if (BudgetMinutes is double b && (b <= 0 || b > 60 * 24 * 30)) throw new ArgumentOutOfRangeException(null, $"budget {b} minutes is out of range: expected (0, 43200]");
        if (BatchSize is < 2 or > 65536) throw new ArgumentOutOfRangeException(null, $"batch size {BatchSize} is out of range: expected 2 to 65536");
        if (LearningRate is <= 0 or > 10) throw new ArgumentOutOfRangeException(null, $"learning rate {LearningRate} is out of range: expected (0, 10]");
        if (WeightDecay is < 0 or > 10) throw new ArgumentOutOfRangeException(null, $"weight decay {WeightDecay} is out of range: expected [0, 10]");
        if (WarmupFraction is < 0 or >= 1) throw new ArgumentOutOfRangeException(null, $"warm-up fraction {WarmupFraction} is out of range: expected [0, 1)");
        if (ClipNorm is < 0 or > 1e6) throw new ArgumentOutOfRangeException(null, $"clip norm {ClipNorm} is out of range: expected [0, 1e6] (0 = off)");
        if (CheckpointMinutes is <= 0 or > 1440) throw new ArgumentOutOfRangeException(null, $"checkpoint interval {CheckpointMinutes} minutes is out of range: expected (0, 1440]");
        if (KeepCheckpoints is < 1 or > Checkpoint.MaxKeep) throw new ArgumentOutOfRangeException(null, $"keep checkpoints {KeepCheckpoints} is out of range: expected 1 to {Checkpoint.MaxKeep}");
        if (MaxBadSteps is < 1 or > 100_000) throw new ArgumentOutOfRangeException(null, $"max bad steps {MaxBadSteps} is out of range: expected 1 to 100000");
        if (MonitorChecks is < 0 or > 1000) throw new ArgumentOutOfRangeException(null, $"monitor readings {MonitorChecks} is out of range: expected 0 (off) to 1000");
        if (MonitorShare <= 0 || double.IsNaN(MonitorShare)) throw new ArgumentOutOfRangeException(null, $"monitor share {MonitorShare} is out of range: expected a positive share of the training time (infinity: never skip a reading)");
        if (CollapseRank is < 0 or > 1e6 || double.IsNaN(CollapseRank)) throw new ArgumentOutOfRangeException(null, $"collapse rank {CollapseRank} is out of range: expected 0 to 1e6");
        if (Threads is < 0 or > 1024) throw new ArgumentOutOfRangeException(null, $"threads {Threads} is out of range: expected 0 (all cores) to 1024");
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static PretrainConfig FromJson(string json, string source) =>
        JsonSerializer.Deserialize<PretrainConfig>(json, Json) ?? throw new DataFormatException(source, "empty configuration");

    /// <summary>Defaults for images or table rows (see the two overloads).</summary>
    public static PretrainConfig DefaultsFor(IRecordSet train, Method method, string? encoderName = null) => train switch
    {
        TableDataset table => DefaultsFor(table, method, encoderName ?? "mlp"),
        ImageDataset images => DefaultsFor(images, method, encoderName ?? "convnet"),
        _ => throw new ArgumentException($"no defaults for {train.GetType().Name}"),
    };

    /// <summary>
    /// Defaults for a table: the residual MLP, SCARF-strength views for the contrastive method and light ones
    /// otherwise (masked and fused objectives corrupt inside), about a thousand steps on small data.
    /// </summary>
    public static PretrainConfig DefaultsFor(TableDataset train, Method method, string encoderName = "mlp")
    {
        var encoder = EncoderOptions.FromName(encoderName);
        if (!encoder.IsTable) throw new ArgumentException($"encoder '{encoderName}' is for images; tables take mlp or ft-transformer");
        int batch = Math.Min(PretrainDefaults.BatchSize, Math.Max(2, train.Count / 2));
        int stepsPerEpoch = Math.Max(1, train.Count / batch);
        return new PretrainConfig
        {
            Encoder = encoder,
            Objective = ObjectiveOptions.ForTableMethod(method),
            TableViews = method == Method.Contrastive ? TableViewOptions.ForContrastive() : TableViewOptions.Light(),
            BatchSize = batch,
            Epochs = Math.Clamp(PretrainDefaults.TargetSteps / stepsPerEpoch, 1, 200),
            LearningRate = PretrainDefaults.LearningRate(encoder, method),
            WeightDecay = PretrainDefaults.WeightDecay(encoder),
        };
    }

    /// <summary>
    /// Defaults for images: a small ConvNet, strong views for contrastive terms (flips only for colour),
    /// and an epoch count that gives a short run about a thousand steps on small data.
    /// </summary>
    public static PretrainConfig DefaultsFor(ImageDataset train, Method method, string encoderName = "convnet")
    {
        var encoder = EncoderOptions.FromName(encoderName);
        if (encoder.IsTable) throw new ArgumentException($"encoder '{encoderName}' is for tables; images take convnet, resnet18 or a vit");
        var objective = ObjectiveOptions.ForMethod(method, encoder.IsVit);
        int batch = Math.Min(PretrainDefaults.BatchSize, Math.Max(2, train.Count / 2));
        int stepsPerEpoch = Math.Max(1, train.Count / batch);
        int epochs = Math.Clamp(PretrainDefaults.TargetSteps / stepsPerEpoch, 1, 200);
        return new PretrainConfig
        {
            Encoder = encoder,
            Objective = objective,
            Augmentation = method is Method.Masked or Method.Supervised ? AugmentationOptions.Light(train.Channels) : AugmentationOptions.Contrastive(train.Channels),
            BatchSize = batch,
            Epochs = epochs,
            LearningRate = PretrainDefaults.LearningRate(encoder, method),
            WeightDecay = PretrainDefaults.WeightDecay(encoder),
        };
    }
}
