using Contramask.Runtime;

namespace Contramask.Training;

/// <summary>
/// Linear warm-up then cosine decay (Loshchilov &amp; Hutter 2017, SGDR, without restarts), as a function of
/// training progress in [0, 1]: steps done / total steps, or elapsed / budget when a wall-clock budget is set,
/// which fits the schedule to the budget whatever the speed of the machine.
/// </summary>
public static class LearningRateSchedule
{
    public const double FinalFraction = 0.01;

    public static double At(double progress, double peak, double warmupFraction, double finalFraction = FinalFraction)
    {
        progress = Math.Clamp(progress, 0, 1);
        if (warmupFraction > 0 && progress < warmupFraction)
            return peak * Math.Max(progress / warmupFraction, 1e-3);
        double t = warmupFraction >= 1 ? 1 : (progress - warmupFraction) / (1 - warmupFraction);
        return CosineSchedule.At(t, peak, peak * finalFraction);
    }

    /// <summary>
    /// The rate of a run at a position (steps done, seconds elapsed): the schedule above over the run's length or
    /// budget; after an extension (a resume with more epochs or minutes), a cosine from the rate reached when it
    /// was extended down to the same floor at the new end, so the rate never jumps back up.
    /// </summary>
    public static double At(PretrainConfig config, long step, double elapsedSeconds, int stepsPerEpoch)
    {
        var (position, total) = Position(config, step, elapsedSeconds, stepsPerEpoch);
        if (config.Extension is { } e)
        {
            double start = config.BudgetMinutes is null ? e.Step : e.ElapsedSeconds;
            if (position >= start)
                return CosineSchedule.At((position - start) / Math.Max(1e-9, total - start), e.LearningRate, config.LearningRate * FinalFraction);
        }
        return At(position / Math.Max(1e-9, total), config.LearningRate, config.WarmupFraction);
    }

    /// <summary>Where a run stands and where it ends, in steps (epoch-limited runs) or seconds (budgeted runs).</summary>
    public static (double Position, double Total) Position(PretrainConfig config, long step, double elapsedSeconds, int stepsPerEpoch) =>
        config.BudgetMinutes is double minutes ? (elapsedSeconds, minutes * 60) : (step, (double)config.Epochs * stepsPerEpoch);

    /// <summary>
    /// The config to continue a run with after its length, budget or peak rate changed (<paramref name="changed"/>),
    /// from where <paramref name="before"/> stood: when the length or budget changed, the schedule is extended from
    /// the rate reached so far (scaled if the peak rate changed too); a new peak rate alone rescales the schedule.
    /// </summary>
    public static PretrainConfig Continue(PretrainConfig before, PretrainConfig changed, long step, double elapsedSeconds, int stepsPerEpoch)
    {
        bool extended = changed.Epochs != before.Epochs || changed.BudgetMinutes != before.BudgetMinutes;
        // A new peak rate alone rescales the schedule, an extension's starting rate included.
        if (!extended) return before.Extension is { } e && changed.LearningRate != before.LearningRate
            ? changed with { Extension = e with { LearningRate = e.LearningRate * changed.LearningRate / before.LearningRate } }
            : changed;
        double rate = At(before, step, elapsedSeconds, stepsPerEpoch) * changed.LearningRate / before.LearningRate;
        return changed with { Extension = new ScheduleExtension(step, elapsedSeconds, rate) };
    }
}

/// <summary>Where a run was extended (step and elapsed seconds) and the learning rate it had reached there.</summary>
public sealed record ScheduleExtension(long Step, double ElapsedSeconds, double LearningRate);
