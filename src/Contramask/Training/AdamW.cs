using Contramask.Data;
using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter 2019, "Decoupled weight decay regularization"), computed as PyTorch's
/// <c>torch.optim.AdamW</c> does (Kingma &amp; Ba 2015 moments with bias correction; decay applied to the weights,
/// not the gradient): p ← p·(1 − lr·λ); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε). With λ = 0 it is Adam.
/// It replaces TorchSharp's own, whose step converts numbers to temporary Scalars for every parameter
/// (<see cref="Runtime.Scalars"/>): here every number is a Scalar held for the whole step.
/// </summary>
public sealed class AdamW : Optimizer
{
    sealed class State(Tensor average, Tensor squares)
    {
        public long Step;
        public Tensor Average { get; } = average;
        public Tensor Squares { get; } = squares;
    }

    readonly double beta1, beta2, epsilon;
    readonly Scalar beta1Scalar, beta2Scalar, oneMinusBeta1, oneMinusBeta2, epsilonScalar;
    readonly Dictionary<Parameter, State> states = new(ReferenceEqualityComparer.Instance);

    public AdamW(IReadOnlyList<ParameterGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) : base(groups)
    {
        this.beta1 = beta1; this.beta2 = beta2; this.epsilon = epsilon;
        beta1Scalar = Of(beta1); beta2Scalar = Of(beta2);
        oneMinusBeta1 = Of(1 - beta1); oneMinusBeta2 = Of(1 - beta2); epsilonScalar = Of(epsilon);
    }

    public override void Step()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var group in Groups)
        {
            using var decay = Fresh(1 - group.LearningRate * group.WeightDecay);
            foreach (var p in group.Parameters)
            {
                var grad = p.grad;
                if (grad is null) continue;
                var state = StateOf(p);
                state.Step++;
                double correction1 = 1 - Math.Pow(beta1, state.Step), correction2 = 1 - Math.Pow(beta2, state.Step);
                using var stepSize = Fresh(-group.LearningRate / correction1);
                using var root = Fresh(Math.Sqrt(correction2));
                if (group.WeightDecay != 0) p.mul_(decay);
                state.Average.mul_(beta1Scalar).add_(grad, oneMinusBeta1);
                state.Squares.mul_(beta2Scalar).addcmul_(grad, grad, oneMinusBeta2);
                var denominator = state.Squares.sqrt().div_(root).add_(epsilonScalar, One);
                p.addcdiv_(state.Average, denominator, stepSize);
            }
        }
    }

    State StateOf(Parameter p)
    {
        if (!states.TryGetValue(p, out var state))
        {
            state = new State(zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
            states[p] = state;
        }
        return state;
    }

    const string Magic = "contramask-adamw-1";

    /// <summary>Step counts and both moments of every parameter, in parameter order.</summary>
    public void Save(BinaryWriter writer)
    {
        var all = Parameters.ToList();
        writer.Write(Magic);
        writer.Write(all.Count);
        foreach (var p in all)
        {
            var state = StateOf(p);
            writer.Write(state.Step);
            state.Average.Save(writer);
            state.Squares.Save(writer);
        }
    }

    /// <summary>Restores what <see cref="Save"/> wrote for the same parameters; anything else is refused with the reason.</summary>
    public void Load(BinaryReader reader, string source)
    {
        var all = Parameters.ToList();
        string magic;
        try { magic = reader.ReadString(); }
        catch (EndOfStreamException) { magic = ""; }
        if (magic != Magic)
            throw new DataFormatException(source, "its optimizer state was written by an earlier Contramask (TorchSharp's AdamW); " +
                "the weights can still be evaluated, embedded and mined, but the run cannot be resumed");
        int count = reader.ReadInt32();
        if (count != all.Count) throw new DataFormatException(source, $"optimizer state for {count} parameters, the model has {all.Count}");
        using var _ = no_grad();
        foreach (var p in all)
        {
            var state = StateOf(p);
            state.Step = reader.ReadInt64();
            state.Average.Load(reader);
            state.Squares.Load(reader);
        }
    }

    public override void Dispose()
    {
        foreach (var state in states.Values) { state.Average.Dispose(); state.Squares.Dispose(); }
        states.Clear();
    }
}
