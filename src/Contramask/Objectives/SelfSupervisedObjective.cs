using Contramask.Models;
using Contramask.Views;
using TorchSharp;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>The loss of one step: the total to minimize, and each named component on its own (for logging).</summary>
public sealed record LossTerms(Tensor Total, IReadOnlyDictionary<string, Tensor> Components);

/// <summary>
/// A self-supervised objective: the encoder being trained plus the heads its loss needs. It takes
/// <see cref="ViewCount"/> augmented, standardized views of a batch and returns the loss; randomness it needs
/// (masks, noise) comes from the generator it was given, so a run repeats with its seed.
/// </summary>
public abstract class SelfSupervisedObjective : nn.Module
{
    protected SelfSupervisedObjective(string name, Encoder encoder, ObjectiveOptions options, Generator generator) : base(name)
    {
        Encoder = encoder;
        Options = options;
        Generator = generator;
    }

    public Encoder Encoder { get; }
    public ObjectiveOptions Options { get; }
    protected Generator Generator { get; }

    /// <summary>How many augmented views of each sample a step needs (1 or 2).</summary>
    public abstract int ViewCount { get; }
    /// <summary>Whether the views should be strongly augmented (contrastive terms need it).</summary>
    public abstract bool WantsStrongViews { get; }

    public abstract LossTerms Loss(IReadOnlyList<Tensor> views);

    /// <summary>Whether <see cref="Loss(IReadOnlyList{Tensor}, Tensor)"/> needs the batch's labels (supervised baseline only).</summary>
    public virtual bool NeedsLabels => false;

    /// <summary>Called after each optimizer step with the run's progress (0–1): momentum targets follow their online weights here.</summary>
    public virtual void AfterStep(double progress) { }

    /// <summary>The run's progress (0–1) at the step being computed, set by <see cref="BeforeStep"/>: scheduled weights read it.</summary>
    protected double Progress { get; private set; }

    /// <summary>Called before each step's loss with the run's progress (0–1), so a resumed run continues its schedules where it was.</summary>
    public void BeforeStep(double progress) => Progress = Math.Clamp(progress, 0, 1);

    /// <summary>The fusion reconstruction weight at this step (<see cref="ObjectiveOptions.ReconstructionWeightAt"/>).</summary>
    protected double ReconstructionWeight => Options.ReconstructionWeightAt(Progress);

    /// <summary>The loss given labels; self-supervised objectives ignore them.</summary>
    public virtual LossTerms Loss(IReadOnlyList<Tensor> views, Tensor labels) => Loss(views);

    /// <summary>Builds the objective <paramref name="options"/> name around <paramref name="encoder"/>.</summary>
    /// <param name="target">A twin of <paramref name="encoder"/> for objectives with a momentum target (fusion with <see cref="FusionKind.Momentum"/>).</param>
    public static SelfSupervisedObjective Create(ObjectiveOptions options, ImageEncoder encoder, int channels, int height, int width, int patch, Generator generator,
        ImageEncoder? target = null)
    {
        options.Validate();
        options.ValidateForImages();
        return options.Method switch
        {
            Method.Contrastive => new ContrastiveObjective(encoder, options, generator),
            Method.Masked => new MaskedObjective(encoder, options, channels, height, width, patch, generator),
            Method.Fusion when options.Fusion == FusionKind.Momentum => new MomentumFusionObjective(encoder,
                target ?? throw new ArgumentException("fusion with a momentum target needs a twin of the encoder"), options, channels, height, width, patch, generator),
            Method.Fusion => new FusionObjective(encoder, options, channels, height, width, patch, generator),
            Method.Supervised => new SupervisedObjective(encoder, options, generator),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Method, "unknown method"),
        };
    }

    /// <summary>Builds the table objective <paramref name="options"/> name around a table encoder.</summary>
    /// <param name="pool">The training rows, packed: where corrupted cells take their values from.</param>
    /// <param name="target">A twin of <paramref name="encoder"/> for fusion with <see cref="FusionKind.Momentum"/>.</param>
    public static SelfSupervisedObjective CreateForTable(ObjectiveOptions options, TableEncoder encoder, Tensor? pool, Generator generator,
        TableViewOptions? views = null, TableEncoder? target = null)
    {
        options.Validate();
        views ??= new TableViewOptions();
        Tensor Pool() => pool ?? throw new ArgumentException($"{options.Method} on a table needs the training rows to draw replacement values from");
        options.ValidateForTable();
        return options.Method switch
        {
            // SCARF's corruption happens where the views are made (ModelFactory.ViewMaker), with the batch's indices.
            Method.Contrastive => new ScarfObjective(encoder, options, generator),
            // VIME as its paper has it: no noise. The fusion's two views differ by their corruption and a little noise.
            Method.Masked => new TableMaskedObjective(encoder, options, Pool(), generator),
            Method.Fusion when options.Fusion == FusionKind.Subsets => new TableSubsetFusionObjective(encoder, options, Pool(), generator),
            Method.Fusion when options.Fusion == FusionKind.Momentum => new TableMomentumFusionObjective(encoder,
                target ?? throw new ArgumentException("fusion with a momentum target needs a twin of the encoder"), options, Pool(), generator, views.NoiseStd),
            Method.Fusion => new TableFusionObjective(encoder, options, Pool(), generator, views.NoiseStd),
            Method.Supervised => new SupervisedObjective(encoder, options, generator),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Method, "unknown method"),
        };
    }

    /// <summary>CAN's noise: σ ~ U[0, σ_max] per sample, x + σ·ε. Returns the noisy images, the noise and σ.</summary>
    protected (Tensor Noisy, Tensor Noise, Tensor Level) AddNoise(Tensor images)
    {
        long n = images.shape[0];
        var level = rand(n, generator: Generator).mul_(Of(Options.NoiseStdMax)).to(images.device);
        var noise = randn(images.shape, generator: Generator).to(images.device).mul_(level.view(n, 1, 1, 1));
        return (images.add(noise, One), noise, level);
    }

    /// <summary>w₁·a + w₂·b, with held Scalars (see <see cref="Runtime.Scalars"/>).</summary>
    protected static Tensor Weighted(double w1, Tensor a, double w2, Tensor b) => a.mul(Of(w1)).add(b, Of(w2));

    protected PatchMask RandomMask(long batch, MaskedBranch branch) =>
        PatchMask.Random(batch, branch.GridHeight, branch.GridWidth, Options.MaskRatio, Generator, Encoder.parameters().First().device);
}
