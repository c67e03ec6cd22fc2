using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>Parameters that share a learning rate and a weight decay.</summary>
public sealed class ParameterGroup(IReadOnlyList<Parameter> parameters, double learningRate, double weightDecay)
{
    public IReadOnlyList<Parameter> Parameters { get; } = parameters;
    /// <summary>The rate of the next step (the training loop sets it from its schedule).</summary>
    public double LearningRate { get; set; } = learningRate;
    public double WeightDecay { get; } = weightDecay;
}

/// <summary>What a training loop needs of an optimizer: its groups (to set their rates), clearing gradients and a step.</summary>
public abstract class Optimizer(IReadOnlyList<ParameterGroup> groups) : IDisposable
{
    public IReadOnlyList<ParameterGroup> Groups { get; } = groups;
    protected IEnumerable<Parameter> Parameters => Groups.SelectMany(g => g.Parameters);

    /// <summary>Clears the gradients (sets them to zero, keeping their memory for the next step).</summary>
    public void ZeroGrad()
    {
        using var _ = no_grad();
        foreach (var p in Parameters) p.grad?.zero_();
    }

    /// <summary>One update of every parameter that has a gradient.</summary>
    public abstract void Step();

    /// <summary>Frees the optimizer's state (moments, momentum buffers).</summary>
    public abstract void Dispose();
}
