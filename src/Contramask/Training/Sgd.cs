using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>
/// Stochastic gradient descent with momentum, computed as PyTorch's <c>torch.optim.SGD</c> does (dampening 0):
/// g ← ∇ + λ·p (L2 weight decay coupled to the gradient, unlike AdamW's); b ← μ·b + g (b = g at the first step);
/// with Nesterov momentum (Sutskever et al. 2013, in PyTorch's form) p ← p − lr·(g + μ·b), without it p ← p − lr·b.
/// FixMatch trains so (Sohn et al. 2020; google-research/fixmatch, fixmatch.py: Nesterov momentum 0.9, lr 0.03,
/// 5e-4 × ½Σw² over convolution and dense kernels only, whose gradient is the λ·p here).
/// </summary>
public sealed class Sgd : Optimizer
{
    readonly Scalar momentumScalar;
    readonly bool nesterov;
    readonly Dictionary<Parameter, Tensor> buffers = new(ReferenceEqualityComparer.Instance);

    public Sgd(IReadOnlyList<ParameterGroup> groups, double momentum = 0.9, bool nesterov = true) : base(groups)
    {
        if (momentum is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(momentum), $"momentum {momentum} is out of range: expected [0, 1)");
        if (nesterov && momentum == 0) throw new ArgumentException("Nesterov momentum needs a momentum above 0", nameof(nesterov));
        momentumScalar = Of(momentum); this.nesterov = nesterov;
    }

    public override void Step()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var group in Groups)
        {
            using var decay = Fresh(group.WeightDecay);
            using var step = Fresh(-group.LearningRate);
            foreach (var p in group.Parameters)
            {
                if (p.grad is not { } gradient) continue;
                var g = group.WeightDecay != 0 ? gradient.add(p, decay) : gradient;
                if (!buffers.TryGetValue(p, out var buffer))
                    buffers[p] = buffer = g.detach().clone().DetachFromDisposeScope();
                else buffer.mul_(momentumScalar).add_(g, One);
                var direction = nesterov ? g.add(buffer, momentumScalar) : buffer;
                p.add_(direction, step);
            }
        }
    }

    public override void Dispose()
    {
        foreach (var buffer in buffers.Values) buffer.Dispose();
        buffers.Clear();
    }
}
