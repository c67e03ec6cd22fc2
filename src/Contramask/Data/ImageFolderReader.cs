namespace Contramask.Data;

/// <summary>Options for reading a folder of image files.</summary>
/// <param name="Size">Resize so the shorter side is Size, then center-crop to Size×Size; null keeps the size (all images must match).</param>
/// <param name="Channels">1 (grey), 3 (RGB), or null: grey when every image is grey, else RGB.</param>
/// <param name="SkipBadImages">Leave out files that cannot be decoded (reported in <see cref="ImageFolderReader.Skipped"/>) instead of failing.</param>
public sealed record ImageFolderOptions(int? Size = null, int? Channels = null, bool SkipBadImages = false, double TestFraction = 0.2, int Seed = 0);

/// <summary>
/// Reads image files (PNG, JPEG, BMP, WebP, GIF) with SkiaSharp. Layouts: <c>root/train/&lt;class&gt;/*</c> and
/// <c>root/test/&lt;class&gt;/*</c> (given splits); <c>root/&lt;class&gt;/*</c> (labels from folder names, a seeded
/// random test split); a flat <c>root/*</c> (unlabeled). Record ids are the file paths.
/// </summary>
public static class ImageFolderReader
{

    public static DataSplits ReadFolder(string root, ImageFolderOptions options, List<string>? skipped = null)
    {
        if (!Directory.Exists(root)) throw new DataFormatException(root, "folder not found");
        string train = Path.Combine(root, "train"), test = Path.Combine(root, "test");
        if (Directory.Exists(train) && Directory.Exists(test))
        {
            var trainSet = Read(train, options, skipped, null, "train");
            var testSet = Read(test, options with { Channels = trainSet.Channels, Size = options.Size ?? trainSet.Height }, skipped, trainSet.ClassNames, "test");
            if (testSet.Height != trainSet.Height || testSet.Width != trainSet.Width)
                throw new DataFormatException(test, $"test images are {testSet.Height}×{testSet.Width}, train images {trainSet.Height}×{trainSet.Width}; give a size to resize both");
            return new DataSplits(trainSet, testSet);
        }
        var all = Read(root, options, skipped, null, Path.GetFileName(Path.TrimEndingDirectorySeparator(root)));
        if (!all.HasLabels || all.Count < 2) return new DataSplits(all, null);
        var (trainPart, testPart) = all.SplitRandom(options.TestFraction, options.Seed);
        return new DataSplits(trainPart, testPart);
    }

    /// <summary>Reads one folder: class subfolders give labels, else its files are unlabeled.</summary>
    public static ImageDataset Read(string folder, ImageFolderOptions options, List<string>? skipped = null,
        IReadOnlyList<string>? knownClasses = null, string source = "")
    {
        var (files, classNames) = List(folder, knownClasses);
        var (decoded, keep) = Decode(files.Select(f => f.Path).ToArray(), options.Size, options.SkipBadImages, skipped);
        if (keep.Count == 0) throw new DataFormatException(folder, "no image could be decoded");

        var first = decoded[keep[0]]!;
        foreach (var i in keep)
            if (decoded[i]!.Width != first.Width || decoded[i]!.Height != first.Height)
                throw new DataFormatException(files[i].Path,
                    $"is {decoded[i]!.Width}×{decoded[i]!.Height} but {files[keep[0]].Path} is {first.Width}×{first.Height}; give a size (e.g. folder:DIR,size=32) to resize all images");
        int channels = options.Channels ?? (keep.All(i => decoded[i]!.IsGrey) ? 1 : 3);
        int plane = first.Width * first.Height;
        var pixels = new byte[(long)keep.Count * channels * plane];
        for (int n = 0; n < keep.Count; n++)
            decoded[keep[n]]!.CopyPlanes(pixels, n * channels * plane, channels);
        int[]? labels = classNames is null ? null : keep.Select(i => files[i].Label).ToArray();
        return new ImageDataset(pixels, keep.Count, channels, first.Height, first.Width, labels, classNames,
            keep.Select(i => files[i].Path).ToArray(), source);
    }

    /// <summary>
    /// Decodes <paramref name="paths"/> in parallel (<paramref name="threads"/> at most; −1: as many as the runtime
    /// likes). An undecodable file stops the reading with its error and the hint to add <c>skipbad</c>; with
    /// <paramref name="skipBad"/> it is left out and its error added to <paramref name="skipped"/>.
    /// </summary>
    /// <returns>Every file's image (null for one left out) and the positions of those kept, in order.</returns>
    public static (DecodedImage?[] Images, List<int> Kept) Decode(IReadOnlyList<string> paths, int? size, bool skipBad, List<string>? skipped, int threads = -1)
    {
        var decoded = new DecodedImage?[paths.Count];
        var errors = new DataFormatException?[paths.Count];
        Parallel.For(0, paths.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            try { decoded[i] = ImageDecoder.Decode(paths[i], size); }
            catch (DataFormatException e) { errors[i] = e; }
        });
        var kept = new List<int>(paths.Count);
        for (int i = 0; i < paths.Count; i++)
        {
            if (errors[i] is null) { kept.Add(i); continue; }
            if (!skipBad) throw new DataFormatException(paths[i], errors[i]!.Problem + " (add ,skipbad to the data spec to leave such files out)");
            skipped?.Add(errors[i]!.Message);
        }
        return (decoded, kept);
    }

    /// <summary>The image files of one folder, in the order they are read, with their labels (−1 when the folder has
    /// no class subfolders) and the class names (those of <paramref name="knownClasses"/> when given, e.g. the training
    /// folder's for the test folder).</summary>
    public static (List<(string Path, int Label)> Files, IReadOnlyList<string>? ClassNames) List(string folder, IReadOnlyList<string>? knownClasses)
    {
        var classDirs = Directory.GetDirectories(folder).Order(StringComparer.Ordinal).ToArray();
        var looseFiles = ImageFiles(folder);
        List<(string Path, int Label)> files;
        IReadOnlyList<string>? classNames = null;
        if (classDirs.Length > 0)
        {
            if (looseFiles.Length > 0)
                throw new DataFormatException(looseFiles[0], "image outside a class folder: a folder holds either class subfolders or images, not both");
            classNames = knownClasses ?? classDirs.Select(d => Path.GetFileName(d)!).ToArray();
            files = [];
            foreach (var dir in classDirs)
            {
                int label = classNames.ToList().IndexOf(Path.GetFileName(dir)!);
                if (label < 0) throw new DataFormatException(dir, $"class '{Path.GetFileName(dir)}' does not exist in the training folder");
                files.AddRange(ImageFiles(dir).Select(f => (f, label)));
            }
        }
        else files = looseFiles.Select(f => (f, -1)).ToList();
        if (files.Count == 0)
            throw new DataFormatException(folder, $"no image files ({string.Join(", ", ImageDecoder.Extensions)}) found");
        return (files, classNames);
    }

    static string[] ImageFiles(string folder) =>
        Directory.GetFiles(folder).Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToArray();
}
