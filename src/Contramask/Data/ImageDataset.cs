using TorchSharp;
using static TorchSharp.torch;

namespace Contramask.Data;

/// <summary>
/// Images held in memory as uint8 N×C×H×W (row-major, one contiguous array), with optional integer labels and a
/// record id per image (a file path, or "source:index"). Pixels stay bytes until a batch is drawn: MNIST's 60,000
/// images are 47 MB as bytes, four times that as floats.
/// </summary>
public sealed class ImageDataset : IRecordSet
{
    public ImageDataset(byte[] pixels, int count, int channels, int height, int width,
        int[]? labels = null, IReadOnlyList<string>? classNames = null, IReadOnlyList<string>? recordIds = null,
        string source = "")
    {
        if (count < 0 || channels is not (1 or 3) || height <= 0 || width <= 0)
            throw new ArgumentException($"invalid image shape {count}×{channels}×{height}×{width} (channels must be 1 or 3)");
        if ((long)count * channels * height * width != pixels.LongLength)
            throw new ArgumentException($"pixel buffer holds {pixels.LongLength} bytes, expected {count}×{channels}×{height}×{width}");
        if (labels is not null && labels.Length != count)
            throw new ArgumentException($"{labels.Length} labels for {count} images");
        if (recordIds is not null && recordIds.Count != count)
            throw new ArgumentException($"{recordIds.Count} record ids for {count} images");
        Pixels = pixels; Count = count; Channels = channels; Height = height; Width = width;
        Labels = labels; ClassNames = classNames; RecordIds = recordIds; Source = source;
    }

    public byte[] Pixels { get; }
    public int Count { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int[]? Labels { get; }
    public IReadOnlyList<string>? ClassNames { get; }
    /// <summary>Per-record ids (file paths for folders); null means "Source:index".</summary>
    public IReadOnlyList<string>? RecordIds { get; }
    public string Source { get; }

    public int ImageBytes => Channels * Height * Width;
    public bool HasLabels => Labels is not null;
    public int ClassCount => ClassNames?.Count ?? (Labels is { Length: > 0 } l ? l.Max() + 1 : 0);

    public string RecordId(int index) => RecordIds?[index] ?? $"{Source}:{index}";

    /// <summary>The images at <paramref name="indices"/> as a uint8 tensor N×C×H×W (one block copy per image).</summary>
    public Tensor Batch(ReadOnlySpan<int> indices)
    {
        int size = ImageBytes;
        var buffer = new byte[indices.Length * size];
        for (int i = 0; i < indices.Length; i++)
            Buffer.BlockCopy(Pixels, indices[i] * size, buffer, i * size, size);
        return tensor(buffer, new long[] { indices.Length, Channels, Height, Width });
    }

    /// <summary>The images at <paramref name="indices"/> as floats in [0, 1].</summary>
    public Tensor Inputs(ReadOnlySpan<int> indices) => Views.ImageNormalization.ToUnit(Batch(indices));

    /// <summary>Labels at <paramref name="indices"/> as int64; throws if the dataset has none.</summary>
    public Tensor LabelBatch(ReadOnlySpan<int> indices) => RecordSets.LabelBatch(this, indices);

    /// <summary>A new dataset with the records at <paramref name="indices"/>, in that order.</summary>
    public ImageDataset Subset(IReadOnlyList<int> indices, string? source = null)
    {
        int size = ImageBytes;
        var pixels = new byte[(long)indices.Count * size];
        for (int i = 0; i < indices.Count; i++)
            Buffer.BlockCopy(Pixels, indices[i] * size, pixels, i * size, size);
        var labels = Labels is null ? null : indices.Select(i => Labels[i]).ToArray();
        var ids = indices.Select(RecordId).ToArray();
        return new ImageDataset(pixels, indices.Count, Channels, Height, Width, labels, ClassNames, ids, source ?? Source);
    }

    /// <summary>Splits off a random <paramref name="testFraction"/> of the records (seeded, so repeatable).</summary>
    public (ImageDataset Train, ImageDataset Test) SplitRandom(double testFraction, int seed)
    {
        if (testFraction <= 0 || testFraction >= 1) throw new ArgumentOutOfRangeException(nameof(testFraction), "must be in (0, 1)");
        var order = Enumerable.Range(0, Count).ToArray();
        new Random(seed).Shuffle(order);
        int testCount = Math.Max(1, (int)Math.Round(Count * testFraction));
        var test = order[..testCount].Order().ToArray();
        var train = order[testCount..].Order().ToArray();
        return (Subset(train, Source + "/train"), Subset(test, Source + "/test"));
    }

    /// <summary>The same images with 1 or 3 channels (grey = ITU-R BT.601 luma; grey to RGB repeats the plane).</summary>
    public ImageDataset WithChannels(int channels)
    {
        if (channels == Channels) return this;
        int plane = Height * Width;
        var result = new byte[(long)Count * channels * plane];
        for (int n = 0; n < Count; n++)
        {
            int src = n * Channels * plane, dst = n * channels * plane;
            if (channels == 3)
                for (int c = 0; c < 3; c++) Buffer.BlockCopy(Pixels, src, result, dst + c * plane, plane);
            else
                for (int p = 0; p < plane; p++)
                    result[dst + p] = (byte)Math.Round(0.299 * Pixels[src + p] + 0.587 * Pixels[src + plane + p] + 0.114 * Pixels[src + 2 * plane + p]);
        }
        return new ImageDataset(result, Count, channels, Height, Width, Labels, ClassNames, RecordIds, Source);
    }

    public override string ToString() =>
        $"{Source}: {Count} images {Channels}×{Height}×{Width}" + (HasLabels ? $", {ClassCount} classes" : ", unlabeled");
}

/// <summary>Image splits: a training split (pretraining sees it without labels), optional test and validation splits.</summary>
public sealed record DataSplits(ImageDataset Train, ImageDataset? Test, ImageDataset? Validation = null) : ISplits
{
    IRecordSet ISplits.Train => Train;
    IRecordSet? ISplits.Test => Test;
    IRecordSet? ISplits.Validation => Validation;
}
