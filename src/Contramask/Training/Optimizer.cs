using TorchSharp.Modules;

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
public interface IOptimizer : IDisposable
{
    IReadOnlyList<ParameterGroup> Groups { get; }
    /// <summary>Clears the gradients (sets them to zero, keeping their memory for the next step).</summary>
    void ZeroGrad();
    /// <summary>One update of every parameter that has a gradient.</summary>
    void Step();
}
