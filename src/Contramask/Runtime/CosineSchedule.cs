namespace Contramask.Runtime;

/// <summary>
/// A half cosine from one value to another over a run's progress in [0, 1] (SGDR's decay, Loshchilov &amp; Hutter 2017,
/// without restarts). One formula for every schedule that follows it: the learning rate's decay, the momentum
/// target's rise to 1, the linear probe's rate, fusion's annealed reconstruction weight.
/// </summary>
public static class CosineSchedule
{
    /// <summary><paramref name="from"/> at progress 0, <paramref name="to"/> at 1 (progress clamped to [0, 1]).</summary>
    public static double At(double progress, double from, double to) =>
        to + (from - to) * 0.5 * (1 + Math.Cos(Math.PI * Math.Clamp(progress, 0, 1)));
}
