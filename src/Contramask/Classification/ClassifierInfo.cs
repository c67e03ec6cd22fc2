using System.Text.Json.Serialization;
using Contramask.Training;

namespace Contramask.Classification;

/// <summary>What a model's inputs must look like: images C×H×W (unit range before the run's normalization) or table rows of the run's schema.</summary>
public sealed record InputShape(string Kind, int Channels = 0, int Height = 0, int Width = 0)
{
    public const string Image = "image";
    public const string Table = "table";

    public override string ToString() => Kind == Image ? $"{Channels}×{Height}×{Width} images" : "table rows";

    /// <summary>The shape of a record set's model inputs.</summary>
    public static InputShape Of(Data.IRecordSet records) => records switch
    {
        Data.ImageDataset images => new InputShape(Image, images.Channels, images.Height, images.Width),
        Data.TableDataset => new InputShape(Table),
        _ => throw new ArgumentException($"no model input shape for {records.GetType().Name}"),
    };
}

/// <summary>
/// <c>classifier.json</c>: everything a classifier folder needs besides its weights (<c>model.bin</c>): the encoder's
/// configuration (the pretraining run's, with its image normalization or table schema), the class names, how it was
/// trained, and its scores on the validation slice (which chose it) and the test split (read once, to publish).
/// </summary>
public sealed record ClassifierInfo
{
    public int Format { get; init; } = 1;
    public required string Mode { get; init; }
    /// <summary>The run folder whose encoder it started from.</summary>
    public required string Run { get; init; }
    public required IReadOnlyList<string> Classes { get; init; }
    public required InputShape Input { get; init; }
    /// <summary>The pretraining run's configuration: encoder, image normalization or table schema, data spec.</summary>
    public required PretrainConfig Encoder { get; init; }
    public required string Labels { get; init; }
    public int LabelledCount { get; init; }
    public int UnlabelledCount { get; init; }
    /// <summary>A student's teacher and the records it pseudo-labelled (<see cref="ClassifierOptions.Teacher"/>); null without one.</summary>
    public TeacherSummary? Teacher { get; init; }
    /// <summary>The probe's L2 penalty, chosen on the validation slice (none from scratch: no probe head).</summary>
    public double? ProbeL2 { get; init; }
    /// <summary>Softmax temperature fitted on the validation slice (<see cref="TemperatureScaling"/>); 1 for an ensemble, whose members each have theirs.</summary>
    public double Temperature { get; init; } = 1;
    /// <summary>End-to-end training (full, semi); null for a probe, and for an ensemble, whose members each have one.</summary>
    public FineTuneResult? FineTune { get; init; }
    /// <summary>An ensemble's members (<see cref="ClassifierOptions.Members"/> above 1), their weights in
    /// <see cref="Classifier.MemberWeightsFileName"/>; null for a single classifier. <see cref="Validation"/> and
    /// <see cref="Test"/> then score the ensemble's averaged probabilities.</summary>
    public IReadOnlyList<ClassifierMember>? Members { get; init; }
    /// <summary>Images: predictions average the network's probabilities over the image and its views moved by this
    /// many pixels (<see cref="TestTimeShifts"/>); 0 = the image alone. Chosen on the validation slice
    /// (<see cref="Classifier.ChooseTestTimeShift"/>); <see cref="Validation"/> and <see cref="Test"/> score the choice.</summary>
    public int TestTimeShift { get; init; }
    /// <summary>The shifts tried on the validation slice and how each scored there; null when none were tried.</summary>
    public IReadOnlyList<TestTimeCheck>? TestTimeChecks { get; init; }
    /// <summary>The data spec finetune read its labels and validation slice from when not the run's (<c>--data</c>);
    /// null: the run's (<see cref="PretrainConfig.Data"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Data { get; init; }
    public required ClassifierOptions Options { get; init; }
    public required ClassifierScores Validation { get; init; }
    public ClassifierScores? Test { get; init; }
    public double Seconds { get; init; }
    public Runtime.MachineInfo? Machine { get; init; }
    public string Written { get; init; } = "";
}

/// <summary>One classifier of an ensemble: its seed, how it trained, and its own scores.</summary>
public sealed record ClassifierMember
{
    public int Seed { get; init; }
    public double? ProbeL2 { get; init; }
    public double Temperature { get; init; } = 1;
    public FineTuneResult? FineTune { get; init; }
    public required ClassifierScores Validation { get; init; }
    public ClassifierScores? Test { get; init; }
    public double Seconds { get; init; }
    /// <summary>For a member joined from another classifier (<see cref="Classifier.Combine"/>): that classifier's
    /// folder, the run whose encoder it started from, and how it trained; null for a member trained with the ensemble.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Source { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Run { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Mode { get; init; }
}

/// <summary>One test-time shift scored on the validation slice.</summary>
public sealed record TestTimeCheck
{
    /// <summary>Pixels (0 = the image alone).</summary>
    public int Shift { get; init; }
    public double Accuracy { get; init; }
    public double NegativeLogLikelihood { get; init; }
}
