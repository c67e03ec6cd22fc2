namespace Contramask.Training;

/// <summary>A snapshot after one optimizer step, for progress bars and the metrics log.</summary>
public sealed record TrainingProgress(
    long Step, long? TotalSteps, int Epoch, double LearningRate, double Loss,
    IReadOnlyDictionary<string, double> Components, double ImagesPerSecond, TimeSpan Elapsed, TimeSpan? Remaining,
    double Progress)
{
    /// <summary>The quality monitor's latest reading (taken at this step or earlier), if any.</summary>
    public QualityReading? Quality { get; init; }
    /// <summary>A warning raised at this step (the monitor saw the embeddings collapse), shown once.</summary>
    public string? Warning { get; init; }
}

public enum RunStatus { Finished, Interrupted }

/// <summary>How a pretraining call ended.</summary>
public sealed record PretrainResult(RunStatus Status, long Steps, int Epochs, TimeSpan Elapsed, double ImagesPerSecond, double FinalLoss, string RunFolder);
