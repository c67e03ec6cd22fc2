using Contramask.Data;

namespace Contramask.Evaluation;

/// <summary>A record copied into a data set as a near-duplicate: the copy's index, its original's, and how it was changed.</summary>
public sealed record InjectedDuplicate(int Copy, int Original, string Change);

/// <summary>
/// Known faults put into real data so that mining's answers can be scored against ground truth: near-duplicate
/// copies of images (shifted by one pixel, or brightness ±10%) and labels flipped at random to another class.
/// </summary>
public static class InjectedFaults
{
    /// <summary>
    /// <paramref name="data"/> followed by <paramref name="count"/> altered copies of distinct random records, half
    /// shifted by one pixel (a random direction, the edge filled with the nearest row or column) and half with their
    /// brightness scaled by 0.9 or 1.1 (clipped to 0–255). Copies take their original's label and the id "ORIGINAL~copy".
    /// </summary>
    public static (ImageDataset Data, IReadOnlyList<InjectedDuplicate> Duplicates) NearDuplicates(ImageDataset data, int count, int seed)
    {
        if (count < 1 || count > data.Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"{count} near-duplicates for {data.Count} records: expected 1 to {data.Count}");
        var random = new Random(seed);
        var originals = Enumerable.Range(0, data.Count).ToArray();
        random.Shuffle(originals);
        int size = data.ImageBytes, total = data.Count + count;
        var pixels = new byte[(long)total * size];
        Buffer.BlockCopy(data.Pixels, 0, pixels, 0, data.Pixels.Length);
        var labels = data.Labels is null ? null : new int[total];
        data.Labels?.CopyTo(labels!, 0);
        var ids = Enumerable.Range(0, data.Count).Select(data.RecordId).ToList();
        var duplicates = new List<InjectedDuplicate>();
        for (int n = 0; n < count; n++)
        {
            int original = originals[n], copy = data.Count + n;
            var source = data.Pixels.AsSpan(original * size, size);
            var target = pixels.AsSpan((int)((long)copy * size), size);
            string change;
            if (n % 2 == 0)
            {
                var (dy, dx) = random.Next(4) switch { 0 => (1, 0), 1 => (-1, 0), 2 => (0, 1), _ => (0, -1) };
                Shift(source, target, data.Channels, data.Height, data.Width, dy, dx);
                change = $"shift {dy:+0;-0;0},{dx:+0;-0;0}";
            }
            else
            {
                double factor = random.Next(2) == 0 ? 0.9 : 1.1;
                for (int i = 0; i < size; i++) target[i] = (byte)Math.Clamp(Math.Round(source[i] * factor), 0, 255);
                change = $"brightness ×{factor:0.0}";
            }
            if (labels is not null) labels[copy] = data.Labels![original];
            ids.Add(data.RecordId(original) + "~copy");
            duplicates.Add(new InjectedDuplicate(copy, original, change));
        }
        var result = new ImageDataset(pixels, total, data.Channels, data.Height, data.Width, labels, data.ClassNames, ids, data.Source + "+duplicates");
        return (result, duplicates);
    }

    /// <summary>Moves the image by (dy, dx) pixels; the row or column left empty repeats the nearest edge.</summary>
    static void Shift(ReadOnlySpan<byte> source, Span<byte> target, int channels, int height, int width, int dy, int dx)
    {
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    int sy = Math.Clamp(y - dy, 0, height - 1), sx = Math.Clamp(x - dx, 0, width - 1);
                    target[(c * height + y) * width + x] = source[(c * height + sy) * width + sx];
                }
    }

    /// <summary>
    /// A copy of <paramref name="labels"/> with round(fraction · N) distinct records' labels changed to another class
    /// drawn uniformly; returns the flipped indices too (sorted).
    /// </summary>
    public static (int[] Labels, int[] Flipped) FlipLabels(int[] labels, int classes, double fraction, int seed)
    {
        if (fraction is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(fraction), $"fraction {fraction} must lie in (0, 1)");
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), "flipping labels needs at least 2 classes");
        var random = new Random(seed);
        var order = Enumerable.Range(0, labels.Length).ToArray();
        random.Shuffle(order);
        var flipped = order[..(int)Math.Round(fraction * labels.Length)].Order().ToArray();
        var noisy = (int[])labels.Clone();
        foreach (var i in flipped)
            noisy[i] = (labels[i] + 1 + random.Next(classes - 1)) % classes;
        return (noisy, flipped);
    }
}
