using SkiaSharp;

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
    static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"];
    /// <summary>Refuse images with more pixels than this before decoding (decompression bombs).</summary>
    public const long MaxPixels = 64L * 1024 * 1024;

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
            throw new DataFormatException(folder, $"no image files ({string.Join(", ", Extensions)}) found");

        var decoded = new Rgb?[files.Count];
        var errors = new DataFormatException?[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            try { decoded[i] = Decode(files[i].Path, options.Size); }
            catch (DataFormatException e) { errors[i] = e; }
        });
        var keep = new List<int>();
        for (int i = 0; i < files.Count; i++)
        {
            if (errors[i] is null) { keep.Add(i); continue; }
            if (!options.SkipBadImages) throw new DataFormatException(files[i].Path, errors[i]!.Problem + " (add ,skipbad to the data spec to leave such files out)");
            skipped?.Add(errors[i]!.Message);
        }
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

    static string[] ImageFiles(string folder) =>
        Directory.GetFiles(folder).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToArray();

    /// <summary>Decodes one file to interleaved RGB (alpha composited over black), resized and center-cropped if asked.</summary>
    static Rgb Decode(string path, int? size)
    {
        if (new FileInfo(path).Length == 0) throw new DataFormatException(path, "empty file (0 bytes)");
        using var codec = SKCodec.Create(path, out var result);
        if (codec is null) throw new DataFormatException(path, $"cannot decode as an image ({result})");
        var info = codec.Info;
        if ((long)info.Width * info.Height > MaxPixels)
            throw new DataFormatException(path, $"image is {info.Width}×{info.Height}, above the {MaxPixels:N0}-pixel limit");
        using var bitmap = new SKBitmap(new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var status = codec.GetPixels(bitmap.Info, bitmap.GetPixels());
        if (status != SKCodecResult.Success)
            throw new DataFormatException(path, $"cannot decode as an image ({status})");
        if (size is not int side) return Rgb.From(bitmap);
        double scale = (double)side / Math.Min(info.Width, info.Height);
        int w = Math.Max(side, (int)Math.Round(info.Width * scale)), h = Math.Max(side, (int)Math.Round(info.Height * scale));
        using var resized = bitmap.Resize(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul), new SKSamplingOptions(SKCubicResampler.Mitchell));
        using var cropped = new SKBitmap(side, side, SKColorType.Rgba8888, SKAlphaType.Premul);
        resized.ExtractSubset(cropped, SKRectI.Create((w - side) / 2, (h - side) / 2, side, side));
        return Rgb.From(cropped);
    }

    /// <summary>Interleaved RGB bytes of one decoded image.</summary>
    sealed class Rgb(byte[] rgb, int width, int height)
    {
        public int Width => width;
        public int Height => height;
        public bool IsGrey { get; } = CheckGrey(rgb);

        public static Rgb From(SKBitmap bitmap)
        {
            var rgba = bitmap.GetPixelSpan();
            int count = bitmap.Width * bitmap.Height;
            var rgb = new byte[count * 3];
            for (int p = 0; p < count; p++)
            {
                rgb[3 * p] = rgba[4 * p]; rgb[3 * p + 1] = rgba[4 * p + 1]; rgb[3 * p + 2] = rgba[4 * p + 2];
            }
            return new Rgb(rgb, bitmap.Width, bitmap.Height);
        }

        static bool CheckGrey(byte[] rgb)
        {
            for (int p = 0; p < rgb.Length; p += 3)
                if (rgb[p] != rgb[p + 1] || rgb[p] != rgb[p + 2]) return false;
            return true;
        }

        /// <summary>Writes planar C×H×W bytes (grey = BT.601 luma) at <paramref name="offset"/>.</summary>
        public void CopyPlanes(byte[] target, int offset, int channels)
        {
            int count = width * height;
            for (int p = 0; p < count; p++)
            {
                if (channels == 1)
                    target[offset + p] = (byte)Math.Round(0.299 * rgb[3 * p] + 0.587 * rgb[3 * p + 1] + 0.114 * rgb[3 * p + 2]);
                else
                    for (int c = 0; c < 3; c++) target[offset + c * count + p] = rgb[3 * p + c];
            }
        }
    }
}
