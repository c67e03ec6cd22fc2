using Contramask.Models;
using Contramask.Objectives;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>A fused objective on one untrained encoder and a fixed pair of random views; one term's gradients at a time.</summary>
internal sealed class FusionUnderTest : IDisposable
{
    readonly Generator generator;
    readonly ImageEncoder encoder;
    readonly SelfSupervisedObjective objective;
    readonly List<Tensor> views;

    /// <param name="maskedViews">The kind's own setting when null.</param>
    public FusionUnderTest(string encoderName, int side, int patch, FusionKind kind, ulong seed, int? maskedViews = null)
    {
        generator = new Generator(seed);
        manual_seed((long)seed);
        encoder = EncoderOptions.FromName(encoderName).Build(1, side, side);
        bool vit = encoder is VisionTransformer;
        // The kind's own temperature (a CNN's layered fusion 0.5, its can and momentum 0.2), the rest as the tests set it.
        var options = ObjectiveOptions.ForMethod(Method.Fusion, vit) with { Fusion = kind, Temperature = ObjectiveOptions.ForMethod(Method.Fusion, vit, kind).Temperature };
        if (maskedViews is int count) options = options with { MaskedViews = count };
        objective = SelfSupervisedObjective.Create(options, encoder, 1, side, side, patch, generator);
        views = Enumerable.Range(0, 2).Select(_ => randn(8, 1, side, side, generator: generator)).ToList();
    }

    /// <summary>The loss of the fixed views; each call draws new masks.</summary>
    public LossTerms Loss() => objective.Loss(views);

    /// <summary>Clears every gradient, then back-propagates the named loss term alone.</summary>
    public void Backward(string term)
    {
        foreach (var p in objective.parameters()) p.grad?.zero_();
        Loss().Components[term].backward();
    }

    /// <summary>Total absolute gradient of the encoder's parameters whose names start with <paramref name="prefix"/>.</summary>
    public double GradientOf(string prefix) => encoder.named_parameters().Where(p => p.name.StartsWith(prefix))
        .Sum(p => p.parameter.grad is { } grad ? grad.abs().sum().item<float>() : 0);

    public void Dispose()
    {
        objective.Dispose();
        foreach (var view in views) view.Dispose();
        generator.Dispose();
    }
}
