namespace Contramask.Training;

/// <summary>
/// Linear warm-up then cosine decay (Loshchilov &amp; Hutter 2017, SGDR, without restarts), as a function of
/// training progress in [0, 1]: steps done / total steps, or elapsed / budget when a wall-clock budget is set,
/// which fits the schedule to the budget whatever the speed of the machine.
/// </summary>
public static class LearningRateSchedule
{
    public static double At(double progress, double peak, double warmupFraction, double finalFraction = 0.01)
    {
        progress = Math.Clamp(progress, 0, 1);
        if (warmupFraction > 0 && progress < warmupFraction)
            return peak * Math.Max(progress / warmupFraction, 1e-3);
        double t = warmupFraction >= 1 ? 1 : (progress - warmupFraction) / (1 - warmupFraction);
        double floor = peak * finalFraction;
        return floor + (peak - floor) * 0.5 * (1 + Math.Cos(Math.PI * t));
    }
}
