namespace Contramask.Training;

/// <summary>A snapshot after one optimizer step, for progress bars and the metrics log.</summary>
public sealed record TrainingProgress(
    long Step, long? TotalSteps, int Epoch, double LearningRate, double Loss,
    IReadOnlyDictionary<string, double> Components, double ImagesPerSecond, TimeSpan Elapsed, TimeSpan? Remaining,
    double Progress);

public enum RunStatus { Finished, Interrupted }

/// <summary>How a pretraining call ended.</summary>
public sealed record PretrainResult(RunStatus Status, long Steps, int Epochs, TimeSpan Elapsed, double ImagesPerSecond, double FinalLoss, string RunFolder);
