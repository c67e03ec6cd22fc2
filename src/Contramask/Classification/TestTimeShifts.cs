using TorchSharp;
using static TorchSharp.torch;

namespace Contramask.Classification;

/// <summary>
/// Test-time augmentation by shifts: a batch of images is seen as it is and moved by a few pixels up, down, left and
/// right (edge pixels repeated into the gap), and the classifier's probabilities are averaged over the five views.
/// Averaging predictions over shifted crops is as old as deep image classifiers (Krizhevsky et al. 2012, §4.1,
/// average ten crops at test time); whether it helps a given classifier is an empirical question, so
/// <see cref="Classifier.ChooseTestTimeShift"/> decides it, and the shift, on the validation slice.
/// </summary>
public static class TestTimeShifts
{
    /// <summary>
    /// The shifts tried on the validation slice, in pixels: 0 (no test-time views, always a candidate and the winner
    /// of a tie), about 1/28 of the shorter side (1 pixel on MNIST) and about 1/14 (2 pixels), the larger at least one
    /// pixel more than the smaller. On MNIST both stay inside what fine-tuning's weak views taught the network to read
    /// (crops of 50–100%, or shifts of up to 12.5%); on images of a few pixels (8×8 digits: 2 pixels is 25%) the larger
    /// goes beyond, and the validation slice says whether it still helps.
    /// </summary>
    public static IReadOnlyList<int> Candidates(int height, int width)
    {
        int side = Math.Min(height, width);
        int small = Math.Max(1, (int)Math.Round(side / 28.0)), large = Math.Max(small + 1, (int)Math.Round(side / 14.0));
        return large < side ? [0, small, large] : small < side ? [0, small] : [0];
    }

    /// <summary>The four views of unit-range images N×C×H×W moved by <paramref name="shift"/> pixels (down, up, right, left), edges repeated.</summary>
    public static IEnumerable<Tensor> Views(Tensor images, int shift)
    {
        if (shift < 1) yield break;
        long height = images.shape[2], width = images.shape[3];
        if (shift >= Math.Min(height, width)) throw new ArgumentOutOfRangeException(nameof(shift), $"a shift of {shift} pixels does not fit {height}×{width} images");
        // padded[y + s, x + s] = image[y, x], clamped at the edges; a view moved by (dy, dx) reads padded[y + s − dy, x + s − dx].
        var padded = nn.functional.pad(images, [shift, shift, shift, shift], PaddingModes.Replicate);
        foreach (var (dy, dx) in new[] { (shift, 0), (-shift, 0), (0, shift), (0, -shift) })
            yield return padded.narrow(2, shift - dy, height).narrow(3, shift - dx, width);
    }

    /// <summary>
    /// The mean of <paramref name="probabilities"/> over the images as they are and their four shifted views; the
    /// images' own probabilities when <paramref name="shift"/> is 0.
    /// </summary>
    public static Tensor Average(Func<Tensor, Tensor> probabilities, Tensor images, int shift)
    {
        if (shift == 0) return probabilities(images);
        using var scope = NewDisposeScope();
        var sum = probabilities(images);
        int views = 1;
        foreach (var view in Views(images, shift))
        {
            sum = sum.add(probabilities(view), Runtime.Scalars.One);
            views++;
        }
        using var count = views.ToScalar();
        return sum.div(count).MoveToOuterDisposeScope();
    }
}
