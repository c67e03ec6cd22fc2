using Contramask.Data;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Views;

/// <summary>
/// Per-channel mean and standard deviation of the training pixels (in [0, 1] units). Computed once from the
/// training split, saved with the run, and applied unchanged at evaluation time.
/// </summary>
public sealed record ImageNormalization(float[] Mean, float[] Std)
{
    public static ImageNormalization FromDataset(ImageDataset data)
    {
        int plane = data.Height * data.Width;
        var sum = new double[data.Channels];
        var sumSq = new double[data.Channels];
        for (int n = 0; n < data.Count; n++)
            for (int c = 0; c < data.Channels; c++)
            {
                int offset = (n * data.Channels + c) * plane;
                long s = 0, s2 = 0;
                for (int p = 0; p < plane; p++) { int v = data.Pixels[offset + p]; s += v; s2 += v * v; }
                sum[c] += s; sumSq[c] += s2;
            }
        double count = (double)data.Count * plane;
        var mean = sum.Select(s => (float)(s / count / 255)).ToArray();
        var std = sumSq.Select((s2, c) => (float)Math.Max(1e-3, Math.Sqrt(Math.Max(0, s2 / count / (255.0 * 255) - mean[c] * (double)mean[c])))).ToArray();
        return new ImageNormalization(mean, std);
    }

    /// <summary>uint8 N×C×H×W → float32 in [0, 1].</summary>
    public static Tensor ToUnit(Tensor bytes) => bytes.to_type(ScalarType.Float32).div_(Of(255.0));

    /// <summary>Unit-range float images → standardized per channel.</summary>
    public Tensor Apply(Tensor unitImages)
    {
        using var mean = tensor(Mean).reshape(1, Mean.Length, 1, 1).to(unitImages.device);
        using var std = tensor(Std).reshape(1, Std.Length, 1, 1).to(unitImages.device);
        return (unitImages - mean).div_(std);
    }
}
