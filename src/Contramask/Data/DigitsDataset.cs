using System.IO.Compression;

namespace Contramask.Data;

/// <summary>
/// The 8×8 handwritten digits (UCI "Optical Recognition of Handwritten Digits", as shipped by scikit-learn,
/// BSD-3-Clause; see THIRD-PARTY-NOTICES.md), embedded in the library so the demo needs no files.
/// 1,797 rows of 64 values 0–16 and a label 0–9, scaled here to 0–255. There is no standard split: a seeded
/// random 20% (seed 0) is the test split.
/// </summary>
public static class DigitsDataset
{
    public const string ResourceName = "Contramask.digits.csv.gz";

    public static DataSplits Load()
    {
        var all = LoadAll();
        var (train, test) = all.SplitRandom(0.2, seed: 0);
        return new DataSplits(train, test);
    }

    public static ImageDataset LoadAll()
    {
        using var resource = typeof(DigitsDataset).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing from the Contramask assembly");
        using var reader = new StreamReader(new GZipStream(resource, CompressionMode.Decompress));
        var pixels = new List<byte>();
        var labels = new List<int>();
        string? line;
        int lineNumber = 0;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Length == 0) continue;
            var fields = line.Split(',');
            if (fields.Length != 65)
                throw new DataFormatException($"{ResourceName} line {lineNumber}", $"{fields.Length} fields, expected 65");
            for (int i = 0; i < 64; i++)
                pixels.Add((byte)Math.Round(double.Parse(fields[i], System.Globalization.CultureInfo.InvariantCulture) * 255 / 16));
            labels.Add((int)double.Parse(fields[64], System.Globalization.CultureInfo.InvariantCulture));
        }
        var names = Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray();
        return new ImageDataset(pixels.ToArray(), labels.Count, 1, 8, 8, labels.ToArray(), names, source: "digits");
    }
}
