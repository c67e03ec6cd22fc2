using Contramask.Data;
using Contramask.Training;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Classification;

/// <summary>
/// The random views fine-tuning trains on, from model inputs (unit-range images or packed rows) of training records
/// to what the encoder takes. Weak: pretraining's light views (random resized crop from half the image, flips for
/// colour) or FixMatch's shifts (<see cref="WeakView"/>); rows as they are. Strong (semi-supervised, and a student of a teacher):
/// pretraining's contrastive views (crop, jitter, blur, noise) or shape distortions (<see cref="StrongView"/>),
/// ending with Cutout; SCARF corruption of 30% of a
/// row's features from other training rows.
/// </summary>
public sealed class ClassifierViews : IDisposable
{
    readonly Func<Tensor, int[], Tensor> weak, strong;
    readonly Tensor? donors;

    ClassifierViews(Func<Tensor, int[], Tensor> weak, Func<Tensor, int[], Tensor> strong, Tensor? donors = null)
    {
        this.weak = weak; this.strong = strong; this.donors = donors;
    }

    /// <summary>Share of a row's features the strong table view replaces (SCARF's 0.6 is for learning from scratch; milder here).</summary>
    public const double TableStrongCorruption = 0.3;

    /// <param name="standardize">The fine-tuned network's input standardization (<see cref="ModelFactory.Standardizer"/>), applied after each view.</param>
    /// <param name="options">Its weak view, strong view and Cutout choose the image views; tables have one pair of views.</param>
    public static ClassifierViews For(PretrainConfig config, IRecordSet train, Generator generator, Func<Tensor, Tensor> standardize, ClassifierOptions options)
    {
        if (train is TableDataset rows)
        {
            var pool = rows.Batch(Enumerable.Range(0, rows.Count).ToArray()).DetachFromDisposeScope();
            var corruption = new RowCorruption(ModelFactory.Layout(config, train), generator, pool);
            return new((x, _) => standardize(x), (x, indices) => standardize(corruption.CorruptExactly(x, TableStrongCorruption, indices)), pool);
        }
        int channels = ((ImageDataset)train).Channels;
        var light = new ImageAugmenter(options.WeakView == WeakView.Shift ? AugmentationOptions.Shift(channels) : AugmentationOptions.Light(channels), generator);
        var strongOptions = options.StrongView == StrongView.Affine ? AugmentationOptions.Affine(channels) : AugmentationOptions.Contrastive(channels);
        var heavy = new ImageAugmenter(strongOptions with { CutoutMax = options.Cutout, CutoutFill = options.CutoutFill }, generator);
        return new((x, _) => standardize(light.Augment(x)), (x, _) => standardize(heavy.Augment(x)));
    }

    /// <param name="indices">The records' positions in the training split (a table's donors are never the row itself).</param>
    public Tensor Weak(Tensor inputs, int[] indices) => weak(inputs, indices);
    public Tensor Strong(Tensor inputs, int[] indices) => strong(inputs, indices);

    public void Dispose() => donors?.Dispose();
}
