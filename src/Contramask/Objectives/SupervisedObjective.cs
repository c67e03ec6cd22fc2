using Contramask.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Objectives;

/// <summary>
/// The ceiling baseline, not a self-supervised method: the same encoder with a linear classifier, trained with
/// cross-entropy on all labels, on lightly augmented views, for the same budget. Its frozen encoder is then
/// evaluated with the same protocol as the self-supervised ones.
/// </summary>
public sealed class SupervisedObjective : SelfSupervisedObjective
{
    readonly Linear classifier;

    public SupervisedObjective(Encoder encoder, ObjectiveOptions options, Generator generator)
        : base("supervised", encoder, options, generator)
    {
        if (options.Classes < 2) throw new ArgumentException($"the supervised baseline needs labelled data with at least 2 classes (got {options.Classes})");
        classifier = nn.Linear(encoder.EmbeddingSize, options.Classes);
        RegisterComponents();
    }

    public override int ViewCount => 1;
    public override bool WantsStrongViews => false;
    public override bool NeedsLabels => true;

    public override LossTerms Loss(IReadOnlyList<Tensor> views) =>
        throw new InvalidOperationException("the supervised baseline needs labels");

    public override LossTerms Loss(IReadOnlyList<Tensor> views, Tensor labels)
    {
        var loss = F.cross_entropy(classifier.forward(Encoder.forward(views[0])), labels);
        return new LossTerms(loss, new Dictionary<string, Tensor> { ["cross_entropy"] = loss });
    }
}
