using Contramask.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Contramask.Classification;

/// <summary>
/// Encoder → standardized embedding → linear head → logits. The standardization (the labelled embeddings' mean and
/// std, as the linear probe fits it) and the calibration temperature are buffers, so the saved weights are the
/// whole model: <see cref="Probabilities"/> = softmax(logits / T).
/// </summary>
public sealed class ClassifierNetwork : nn.Module<Tensor, Tensor>
{
    readonly Encoder encoder;
    readonly Linear head;
    readonly Tensor featureMean, featureStd, temperature;

    public ClassifierNetwork(Encoder encoder, int classes) : base("classifier")
    {
        this.encoder = encoder;
        head = nn.Linear(encoder.EmbeddingSize, classes);
        featureMean = zeros(1, encoder.EmbeddingSize);
        featureStd = ones(1, encoder.EmbeddingSize);
        temperature = ones(1);
        // RegisterComponents registers the three tensor fields as (persistent) buffers under their field names.
        RegisterComponents();
    }

    public Encoder Encoder => encoder;
    public Linear Head => head;
    public int Classes => (int)head.weight.shape[0];

    public double Temperature
    {
        get => temperature.item<float>();
        set { using var _ = no_grad(); using var t = value.ToScalar(); temperature.fill_(t); }
    }

    /// <summary>Logits of standardized model inputs (images normalized with the run's statistics, or packed rows).</summary>
    public override Tensor forward(Tensor inputs) => head.forward(Standardize(encoder.forward(inputs)));

    /// <summary>The head applied to embeddings the frozen encoder already made.</summary>
    public Tensor HeadOf(Tensor embeddings) => head.forward(Standardize(embeddings));

    Tensor Standardize(Tensor embeddings) => embeddings.sub(featureMean).div_(featureStd);

    /// <summary>Calibrated class probabilities.</summary>
    public Tensor Probabilities(Tensor inputs)
    {
        using var scope = NewDisposeScope();
        return forward(inputs).div(temperature).softmax(1).MoveToOuterDisposeScope();
    }

    /// <summary>Sets the standardization and the head from a fitted linear probe (mean, std: 1×D; weight: D×C; bias: C).</summary>
    public void SetHead(Tensor mean, Tensor std, Tensor weight, Tensor bias)
    {
        using var _ = no_grad();
        featureMean.copy_(mean);
        featureStd.copy_(std);
        head.weight!.copy_(weight.t());
        head.bias!.copy_(bias);
    }
}
