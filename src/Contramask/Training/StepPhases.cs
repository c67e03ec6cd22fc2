using System.Diagnostics;

namespace Contramask.Training;

/// <summary>
/// Where a training step's time goes, summed over the steps of a run: reading the batch, making the random views,
/// the forward pass with the loss, the backward pass (with gradient clipping) and the optimizer update.
/// On a CPU every op runs synchronously, so wall-clock time between phase boundaries is each phase's cost.
/// </summary>
public sealed class StepPhases
{
    /// <summary>The phases in step order; <see cref="Totals"/> names them in lower case.</summary>
    public enum Phase { Data, Views, Forward, Backward, Optimizer }

    public static readonly string[] Names = Enum.GetNames<Phase>().Select(n => n.ToLowerInvariant()).ToArray();
    readonly double[] seconds = new double[Names.Length];
    long last;

    public long Steps { get; private set; }

    /// <summary>Seconds per phase, summed over all recorded steps.</summary>
    public IReadOnlyDictionary<string, double> Totals => Names.Select((n, i) => (n, seconds[i])).ToDictionary(p => p.n, p => p.Item2);

    internal void Begin() => last = Stopwatch.GetTimestamp();

    /// <summary>Ends <paramref name="phase"/>: the time since the previous boundary is its cost.</summary>
    internal void End(Phase phase)
    {
        long now = Stopwatch.GetTimestamp();
        seconds[(int)phase] += Stopwatch.GetElapsedTime(last, now).TotalSeconds;
        last = now;
    }

    internal void StepDone() => Steps++;

    public void Reset() { Array.Clear(seconds); Steps = 0; }
}
