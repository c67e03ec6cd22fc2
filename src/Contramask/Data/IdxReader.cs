using System.IO.Compression;

namespace Contramask.Data;

/// <summary>
/// Reads IDX files (LeCun's format for MNIST, Fashion-MNIST, KMNIST, EMNIST), raw or gzipped.
/// Layout: two zero bytes, a type byte (0x08 = unsigned byte), a dimension count, then each dimension as a
/// big-endian int32, then the data. Images are N×H×W, labels are N.
/// </summary>
public static class IdxReader
{
    const byte UnsignedByte = 0x08;
    /// <summary>Refuse declared sizes beyond this before allocating, so a corrupt header cannot ask for terabytes.</summary>
    const long MaxBytes = 1L << 31;

    /// <summary>Reads one IDX file: its dimensions and its bytes.</summary>
    public static (int[] Dims, byte[] Data) ReadFile(string path)
    {
        if (!File.Exists(path)) throw new DataFormatException(path, "file not found");
        using var file = File.OpenRead(path);
        bool gzipped = file.Length >= 2 && file.ReadByte() == 0x1f && file.ReadByte() == 0x8b;
        file.Position = 0;
        using Stream stream = gzipped ? new GZipStream(file, CompressionMode.Decompress) : file;
        try
        {
            var header = ReadExactly(stream, 4, path, "the 4-byte header");
            if (header[0] != 0 || header[1] != 0)
                throw new DataFormatException(path, $"not an IDX file: magic number starts 0x{header[0]:x2}{header[1]:x2}, expected 0x0000");
            if (header[2] != UnsignedByte)
                throw new DataFormatException(path, $"IDX element type 0x{header[2]:x2} is not supported (expected 0x08, unsigned byte)");
            int rank = header[3];
            if (rank is < 1 or > 4)
                throw new DataFormatException(path, $"IDX file declares {rank} dimensions, expected 1 (labels) or 3 (images)");
            var dimBytes = ReadExactly(stream, 4 * rank, path, "the dimension sizes");
            var dims = new int[rank];
            long total = 1;
            for (int i = 0; i < rank; i++)
            {
                dims[i] = (dimBytes[4 * i] << 24) | (dimBytes[4 * i + 1] << 16) | (dimBytes[4 * i + 2] << 8) | dimBytes[4 * i + 3];
                if (dims[i] < 0) throw new DataFormatException(path, $"dimension {i} is negative ({dims[i]})");
                total *= dims[i];
                if (total > MaxBytes)
                    throw new DataFormatException(path, $"declared size {string.Join("×", dims.Take(i + 1))}… exceeds {MaxBytes:N0} bytes; the header is corrupt or the file is too large for memory");
            }
            if (!gzipped && file.Length - 4 - 4 * rank < total)
                throw new DataFormatException(path, $"truncated: header declares {total:N0} data bytes, file holds {file.Length - 4 - 4 * rank:N0}");
            var data = ReadExactly(stream, (int)total, path, $"{total:N0} data bytes ({string.Join("×", dims)})");
            return (dims, data);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, $"corrupt gzip stream ({e.Message})", e);
        }
    }

    /// <summary>Reads an image file (N×H×W) and, if given, its label file (N) into a dataset.</summary>
    public static ImageDataset ReadImages(string imagesPath, string? labelsPath, string source)
    {
        var (dims, pixels) = ReadFile(imagesPath);
        if (dims.Length != 3)
            throw new DataFormatException(imagesPath, $"expected an image file with 3 dimensions (N×H×W), found {dims.Length}: {string.Join("×", dims)}");
        if (dims[1] == 0 || dims[2] == 0)
            throw new DataFormatException(imagesPath, $"images of size {dims[1]}×{dims[2]}");
        int[]? labels = null;
        if (labelsPath is not null)
        {
            var (labelDims, labelBytes) = ReadFile(labelsPath);
            if (labelDims.Length != 1)
                throw new DataFormatException(labelsPath, $"expected a label file with 1 dimension, found {labelDims.Length}: {string.Join("×", labelDims)}");
            if (labelDims[0] != dims[0])
                throw new DataFormatException(labelsPath, $"holds {labelDims[0]} labels but {imagesPath} holds {dims[0]} images");
            labels = labelBytes.Select(b => (int)b).ToArray();
        }
        return new ImageDataset(pixels, dims[0], 1, dims[1], dims[2], labels, source: source);
    }

    /// <summary>
    /// Finds and reads the train and test pair in a folder: files named like <c>train-images-idx3-ubyte[.gz]</c> and
    /// <c>t10k-images-idx3-ubyte[.gz]</c> (or <c>test-images…</c>), optionally behind a prefix such as
    /// <c>emnist-balanced-</c>; labels beside them (<c>…-labels-idx1-ubyte</c>) are used when present.
    /// </summary>
    public static DataSplits ReadFolder(string folder, string prefix = "")
    {
        if (!Directory.Exists(folder)) throw new DataFormatException(folder, "folder not found");
        string? trainImages = Find(folder, prefix, "train-images-idx3-ubyte");
        if (trainImages is null)
            throw new DataFormatException(folder, $"no '{prefix}train-images-idx3-ubyte' or '{prefix}train-images-idx3-ubyte.gz' in this folder");
        string? testImages = Find(folder, prefix, "t10k-images-idx3-ubyte") ?? Find(folder, prefix, "test-images-idx3-ubyte");
        var train = ReadImages(trainImages, LabelsFor(trainImages), "train");
        var test = testImages is null ? null : ReadImages(testImages, LabelsFor(testImages), "test");
        if (test is not null && (test.Height != train.Height || test.Width != train.Width))
            throw new DataFormatException(testImages!, $"test images are {test.Height}×{test.Width}, train images {train.Height}×{train.Width}");
        return new DataSplits(train, test);
    }

    static string? Find(string folder, string prefix, string name)
    {
        foreach (var candidate in new[] { prefix + name, prefix + name + ".gz", prefix + name.Replace("-idx3-ubyte", ".idx3-ubyte") })
        {
            var path = Path.Combine(folder, candidate);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    static string? LabelsFor(string imagesPath)
    {
        var path = imagesPath.Replace("images-idx3-ubyte", "labels-idx1-ubyte").Replace("images.idx3-ubyte", "labels.idx1-ubyte");
        return File.Exists(path) ? path : null;
    }

    static byte[] ReadExactly(Stream stream, int count, string path, string what)
    {
        var buffer = new byte[count];
        int read = 0;
        while (read < count)
        {
            int n = stream.Read(buffer, read, count - read);
            if (n == 0) throw new DataFormatException(path, $"truncated: ended after {read:N0} of {count:N0} bytes of {what}");
            read += n;
        }
        return buffer;
    }
}
