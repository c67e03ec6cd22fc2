using static TorchSharp.torch;

namespace Contramask.Data;

/// <summary>
/// Images that stay on disk: their paths, labels and the shape every one is decoded to, read when asked for
/// (<see cref="Inputs"/>, <see cref="Decode"/>). What mining keeps of a streamed folder: a million paths instead of a
/// million decoded images, so a contact sheet, a thumbnail or a duplicate check reads just the files it needs.
/// </summary>
public sealed class ImageFiles : IRecordSet
{
    readonly IReadOnlyList<string> paths;
    readonly int? size;

    /// <param name="size">The resize of the data spec (<c>size=N</c>), or null when the files have the shape already.</param>
    public ImageFiles(IReadOnlyList<string> paths, int[]? labels, IReadOnlyList<string>? classNames, int channels, int height, int width, int? size, string source)
    {
        if (labels is not null && labels.Length != paths.Count) throw new ArgumentException($"{labels.Length} labels for {paths.Count} files");
        this.paths = paths; this.size = size;
        Labels = labels; ClassNames = classNames; Channels = channels; Height = height; Width = width; Source = source;
    }

    public int Count => paths.Count;
    public int[]? Labels { get; }
    public IReadOnlyList<string>? ClassNames { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public string Source { get; }
    public string RecordId(int index) => paths[index];

    /// <summary>The files at <paramref name="indices"/> decoded (in parallel) as an in-memory dataset, in that order.</summary>
    public ImageDataset Decode(ReadOnlySpan<int> indices)
    {
        var rows = indices.ToArray();
        int bytes = Channels * Height * Width;
        var pixels = new byte[(long)rows.Length * bytes];
        Parallel.For(0, rows.Length, i =>
        {
            var image = ImageDecoder.Decode(paths[rows[i]], size);
            if (image.Height != Height || image.Width != Width)
                throw new DataFormatException(paths[rows[i]], $"is {image.Width}×{image.Height} now, was {Width}×{Height} when it was embedded");
            image.CopyPlanes(pixels, i * bytes, Channels);
        });
        return new ImageDataset(pixels, rows.Length, Channels, Height, Width, Labels is null ? null : rows.Select(r => Labels[r]).ToArray(),
            ClassNames, rows.Select(r => paths[r]).ToArray(), Source);
    }

    public Tensor Inputs(ReadOnlySpan<int> indices)
    {
        var decoded = Decode(indices);
        return decoded.Inputs(Enumerable.Range(0, decoded.Count).ToArray());
    }
}
