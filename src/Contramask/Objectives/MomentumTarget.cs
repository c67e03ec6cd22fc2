using Contramask.Runtime;
using TorchSharp;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// A momentum (EMA) target: frozen copies of online modules that follow them slowly, ξ ← m·ξ + (1 − m)·θ after
/// each optimizer step, with m rising from m₀ to 1 on a cosine over the run (BYOL, Grill et al. 2020, §3.2 and
/// App. J; iBOT's <c>cosine_scheduler</c> from 0.996). The building block of BYOL, MoCo, CMAE, MSN, iBOT and
/// data2vec. The target modules belong to the objective (so checkpoints, devices and mixed precision reach them)
/// but take no gradient, and the optimizer never sees them (<see cref="Training.WeightDecayGroups"/> skips
/// parameters that need no gradient).
/// </summary>
public sealed class MomentumTarget
{
    readonly nn.Module[] online, target;

    /// <param name="online">The modules trained by the optimizer.</param>
    /// <param name="target">Twins of <paramref name="online"/> (same architecture); they start as exact copies.</param>
    public MomentumTarget(nn.Module[] online, nn.Module[] target, double baseMomentum)
    {
        if (online.Length != target.Length) throw new ArgumentException("every online module needs one target twin");
        if (baseMomentum is < 0 or > 1 || double.IsNaN(baseMomentum)) throw new ArgumentOutOfRangeException(nameof(baseMomentum), $"momentum {baseMomentum} must be in [0, 1]");
        this.online = online;
        this.target = target;
        BaseMomentum = baseMomentum;
        using var _ = no_grad();
        foreach (var (o, t) in Pairs())
        {
            t.copy_(o);
            t.requires_grad_(false);
        }
    }

    public double BaseMomentum { get; }

    /// <summary>m at a point of the run (0 = start, 1 = end): 1 − (1 − m₀)·(cos(π·progress) + 1)/2.</summary>
    public static double MomentumAt(double baseMomentum, double progress) => CosineSchedule.At(progress, baseMomentum, 1);

    /// <summary>Moves every target parameter towards its online twin: ξ ← m·ξ + (1 − m)·θ.</summary>
    public void Update(double progress)
    {
        double m = MomentumAt(BaseMomentum, progress);
        using var keep = Fresh(m);
        using var take = Fresh(1 - m);
        using var _ = no_grad();
        foreach (var (o, t) in Pairs()) t.mul_(keep).add_(o, take);
    }

    /// <summary>Pairs looked up at each use: loading a checkpoint or moving to a device may replace the tensors.</summary>
    IEnumerable<(Tensor Online, Tensor Target)> Pairs()
    {
        for (int i = 0; i < online.Length; i++)
        {
            var o = online[i].parameters().ToArray();
            var t = target[i].parameters().ToArray();
            if (o.Length != t.Length) throw new InvalidOperationException($"target module {i} has {t.Length} parameters, its online twin {o.Length}");
            for (int j = 0; j < o.Length; j++) yield return (o[j], t[j]);
        }
    }
}
