using System.Threading.Channels;

namespace Contramask.Data;

/// <summary>
/// Every image of a folder as a sequence of small <see cref="ImageDataset"/> chunks, decoded in a bounded background
/// pipeline: a producer decodes the next chunks (in parallel) while the caller works on the current one, and at most
/// <see cref="ChunksAhead"/> decoded chunks wait at any time, so memory stays the same for a thousand images or ten
/// million. The files are those <see cref="ImageFolderReader"/> reads (same layouts, same class names, same ids: the
/// file paths), in file order: the training folder, then the test folder, or class by class, or flat.
/// <code>
/// var stream = ImageFolderStream.Open("photos", size: 64);
/// foreach (var chunk in stream.Chunks(channels: 3)) Use(chunk);   // chunk.Count ≤ 512 images
/// </code>
/// </summary>
public sealed class ImageFolderStream
{
    /// <summary>Decoded chunks waiting for the consumer, at most.</summary>
    public const int ChunksAhead = 4;

    readonly (string Path, int Label)[] files;
    readonly int? size;
    readonly bool skipBad;
    (int Height, int Width)? expected;

    ImageFolderStream((string, int)[] files, IReadOnlyList<string>? classNames, int? size, bool skipBad, string source)
    {
        this.files = files; ClassNames = classNames; this.size = size; this.skipBad = skipBad; Source = source;
        if (size is int side) expected = (side, side);
    }

    /// <summary>Images listed (before any undecodable file is left out).</summary>
    public int Count => files.Length;
    public IReadOnlyList<string>? ClassNames { get; }
    public string Source { get; }
    /// <summary>Chunks decoded so far (by the background producer): at most <see cref="ChunksAhead"/> + 2 ahead of the consumer.</summary>
    public int ChunksDecoded => chunksDecoded;
    int chunksDecoded;

    /// <summary>Files left out as undecodable (with <c>skipBad</c>), each with its reason; filled while streaming (by the
    /// one producer task), read when the streaming is over.</summary>
    public List<string> Skipped { get; } = [];

    /// <param name="size">Resize and center-crop to size×size (as <c>folder:DIR,size=N</c>); null keeps the images'
    /// size, which must then be the same for all (that of the first).</param>
    public static ImageFolderStream Open(string root, int? size = null, bool skipBad = false)
    {
        if (!Directory.Exists(root)) throw new DataFormatException(root, "folder not found");
        string train = Path.Combine(root, "train"), test = Path.Combine(root, "test");
        List<(string, int)> files;
        IReadOnlyList<string>? classes;
        if (Directory.Exists(train) && Directory.Exists(test))
        {
            (files, classes) = ImageFolderReader.List(train, null);
            var (testFiles, _) = ImageFolderReader.List(test, classes);
            files.AddRange(testFiles);
        }
        else (files, classes) = ImageFolderReader.List(root, null);
        return new ImageFolderStream(files.ToArray(), classes, size, skipBad, Path.GetFileName(Path.TrimEndingDirectorySeparator(root)));
    }

    /// <summary>The first decodable image: the size every image will have, and whether it is grey.</summary>
    public DecodedImage First()
    {
        foreach (var (path, _) in files)
        {
            // The reader's rule for a bad file: stop with the skipbad hint, or pass over it (it is reported when streamed).
            var (images, kept) = ImageFolderReader.Decode([path], size, skipBad, skipped: null);
            if (kept.Count > 0) return images[0]!;
        }
        throw new DataFormatException(files[0].Path, "no image of the folder could be decoded");
    }

    /// <summary>The images in chunks of up to <paramref name="chunkSize"/>, converted to <paramref name="channels"/>
    /// (1 grey, 3 RGB), decoded ahead on <paramref name="threads"/> threads.</summary>
    public IEnumerable<ImageDataset> Chunks(int channels, int chunkSize = 512, int threads = 2)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), "1 or 3");
        var queue = Channel.CreateBounded<ImageDataset>(new BoundedChannelOptions(ChunksAhead) { SingleReader = true, SingleWriter = true });
        using var cancel = new CancellationTokenSource();
        var producer = Task.Run(async () =>
        {
            try
            {
                for (int start = 0; start < files.Length && !cancel.IsCancellationRequested; start += chunkSize)
                {
                    var chunk = Decode(start, Math.Min(chunkSize, files.Length - start), channels, threads);
                    Interlocked.Increment(ref chunksDecoded);
                    if (chunk is not null) await queue.Writer.WriteAsync(chunk, cancel.Token);
                }
                queue.Writer.Complete();
            }
            catch (OperationCanceledException) { queue.Writer.TryComplete(); }
            catch (Exception e) { queue.Writer.TryComplete(e); }
        });
        try
        {
            while (true)
            {
                ImageDataset chunk;
                try
                {
                    if (!queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) break;
                    if (!queue.Reader.TryRead(out chunk!)) continue;
                }
                catch (ChannelClosedException e) when (e.InnerException is not null)
                {
                    // The producer's error (a bad file), as itself rather than wrapped.
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
                    throw;
                }
                yield return chunk;
            }
        }
        finally
        {
            // The consumer stopped early (an error, a break): stop decoding and let the producer finish.
            cancel.Cancel();
            try { producer.Wait(); } catch (AggregateException) { }
        }
    }

    /// <summary>Files [start, start + count) decoded to one dataset; null when every one was skipped.</summary>
    ImageDataset? Decode(int start, int count, int channels, int threads)
    {
        var (decoded, kept) = ImageFolderReader.Decode(files[start..(start + count)].Select(f => f.Path).ToArray(), size, skipBad, Skipped, threads);
        foreach (var i in kept)
        {
            var image = decoded[i]!;
            expected ??= (image.Height, image.Width);
            if ((image.Height, image.Width) != expected.Value)
                throw new DataFormatException(files[start + i].Path,
                    $"is {image.Width}×{image.Height}, expected {expected.Value.Width}×{expected.Value.Height}; give a size (e.g. folder:DIR,size={expected.Value.Height}) to resize all images");
        }
        if (kept.Count == 0) return null;
        var (height, width) = expected!.Value;
        int bytes = channels * height * width;
        var pixels = new byte[(long)kept.Count * bytes];
        for (int n = 0; n < kept.Count; n++) decoded[kept[n]]!.CopyPlanes(pixels, n * bytes, channels);
        var labels = ClassNames is null ? null : kept.Select(i => files[start + i].Label).ToArray();
        return new ImageDataset(pixels, kept.Count, channels, height, width, labels, ClassNames, kept.Select(i => files[start + i].Path).ToArray(), Source);
    }
}
