namespace Contramask.Data;

/// <summary>
/// Reads the CIFAR-10 and CIFAR-100 binary versions (Krizhevsky 2009). CIFAR-10: <c>data_batch_1..5.bin</c> and
/// <c>test_batch.bin</c>, each record one label byte then 3,072 pixel bytes (R plane, G plane, B plane, 32×32).
/// CIFAR-100: <c>train.bin</c>, <c>test.bin</c>, each record a coarse and a fine label byte then the pixels;
/// the fine label is used.
/// </summary>
public static class CifarReader
{
    const int Side = 32, PixelBytes = 3 * Side * Side;

    public static DataSplits ReadFolder(string folder)
    {
        if (!Directory.Exists(folder)) throw new DataFormatException(folder, "folder not found");
        var cifar10Train = Enumerable.Range(1, 5).Select(i => Path.Combine(folder, $"data_batch_{i}.bin")).ToArray();
        if (cifar10Train.Any(File.Exists))
        {
            var missing = cifar10Train.Where(p => !File.Exists(p)).ToArray();
            if (missing.Length > 0) throw new DataFormatException(missing[0], "file not found (CIFAR-10 needs data_batch_1.bin … data_batch_5.bin)");
            var names = ReadNames(Path.Combine(folder, "batches.meta.txt"));
            var train = Read(cifar10Train, labelBytes: 1, "train", names);
            var testPath = Path.Combine(folder, "test_batch.bin");
            var test = File.Exists(testPath) ? Read([testPath], 1, "test", names) : null;
            return new DataSplits(train, test);
        }
        var cifar100Train = Path.Combine(folder, "train.bin");
        if (File.Exists(cifar100Train))
        {
            var names = ReadNames(Path.Combine(folder, "fine_label_names.txt"));
            var testPath = Path.Combine(folder, "test.bin");
            return new DataSplits(Read([cifar100Train], 2, "train", names),
                File.Exists(testPath) ? Read([testPath], 2, "test", names) : null);
        }
        throw new DataFormatException(folder, "no CIFAR binary files here (expected data_batch_1.bin … or train.bin)");
    }

    /// <summary>Reads records of <paramref name="labelBytes"/> label bytes (the last one is used) plus 3,072 pixels.</summary>
    public static ImageDataset Read(IReadOnlyList<string> files, int labelBytes, string source, IReadOnlyList<string>? classNames = null)
    {
        int record = labelBytes + PixelBytes;
        long total = 0;
        foreach (var f in files)
        {
            if (!File.Exists(f)) throw new DataFormatException(f, "file not found");
            long length = new FileInfo(f).Length;
            if (length == 0 || length % record != 0)
                throw new DataFormatException(f, $"size {length:N0} bytes is not a whole number of {record}-byte CIFAR records (truncated or not a CIFAR {(labelBytes == 1 ? "10" : "100")} file)");
            total += length / record;
        }
        var pixels = new byte[total * PixelBytes];
        var labels = new int[total];
        int n = 0;
        foreach (var f in files)
        {
            var bytes = File.ReadAllBytes(f);
            for (int offset = 0; offset < bytes.Length; offset += record, n++)
            {
                labels[n] = bytes[offset + labelBytes - 1];
                Buffer.BlockCopy(bytes, offset + labelBytes, pixels, n * PixelBytes, PixelBytes);
            }
        }
        return new ImageDataset(pixels, (int)total, 3, Side, Side, labels, classNames, source: source);
    }

    static IReadOnlyList<string>? ReadNames(string path) =>
        File.Exists(path) ? File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray() : null;
}
