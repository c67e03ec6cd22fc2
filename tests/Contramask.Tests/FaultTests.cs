using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Contramask.Cli;
using Contramask.Data;
using Contramask.Training;
using SkiaSharp;

namespace Contramask.Tests;

/// <summary>
/// Issue #7 in one place: every kind of hostile input gives one clear error naming the file, a full disk loses no
/// checkpoint and leaves no partial file, and every numeric option is range-checked with the allowed range.
/// </summary>
[Collection("console")]
public class FaultTests
{
    static (int Code, string Out, string Error) Run(params string[] args) => CliTests.Run(args);

    // ------------------------------------------------------------------------------------------ hostile inputs

    /// <summary>Each case: a name, a builder that writes the bad input into a folder and returns its data spec, and the expected message.</summary>
    public static readonly (string Name, Func<string, string> Build, string Expected)[] Corpus =
    [
        ("IDX with a wrong magic number", f => Idx(f, File.ReadAllBytes(Fixture.Path("bad", "wrong-magic-idx3-ubyte"))), "magic number"),
        ("truncated IDX", f => Idx(f, File.ReadAllBytes(Fixture.Path("bad", "truncated-idx3-ubyte"))), "truncated"),
        ("truncated gzip IDX", f => Idx(f, File.ReadAllBytes(Fixture.Path("bad", "truncated-idx3-ubyte.gz")), ".gz"), "truncated"),
        ("IDX claiming 1e12 pixels", f => Idx(f, File.ReadAllBytes(Fixture.Path("bad", "absurd-dims-idx3-ubyte"))), "exceeds"),
        ("zero-byte IDX", f => Idx(f, []), "truncated"),
        ("truncated CIFAR batch", f => Cifar(f), "3073-byte CIFAR records"),
        ("zero-byte PNG", f => Image(f, "empty.png", []), "empty file (0 bytes)"),
        ("text file named .png", f => Image(f, "note.png", Encoding.UTF8.GetBytes("this is not an image at all\n")), "cannot decode as an image"),
        ("truncated PNG", f => Image(f, "cut.png", File.ReadAllBytes(Fixture.Path("badimages", "cls", "truncated.png"))), "cut.png"),
        ("truncated JPEG", f => Image(f, "cut.jpg", Encode(SKEncodedImageFormat.Jpeg)[..200]), "cut.jpg"),
        ("decompression bomb (100,000² PNG header)", f => Image(f, "bomb.png", PngBomb(100_000, 100_000)), "pixel limit"),
        ("empty image folder", f => "folder:" + Directory.CreateDirectory(Path.Combine(f, "nothing")).FullName, "no image files"),
        ("CSV with a ragged row", f => Copy(f, Fixture.Path("tables", "ragged.csv"), "ragged.csv", "csv", ",label=label"), "line 7: 6 fields, expected 7"),
        ("CSV in Latin-1", f => Copy(f, Fixture.Path("tables", "latin1.csv"), "latin1.csv", "csv"), "not valid UTF-8"),
        ("CSV in UTF-16 without a byte-order mark", f => Csv(f, "utf16.csv", Encoding.Unicode.GetBytes("a,b\n1,2\n3,4\n")), "line 1: NUL characters"),
        ("CSV with a 3-MiB field", f => Csv(f, "huge.csv", Encoding.UTF8.GetBytes("a,b\n1,2\n3,\"" + new string('x', 3 << 20) + "\"\n")), "longer than"),
        ("CSV label with one class", f => Copy(f, Fixture.Path("tables", "one-class.csv"), "one-class.csv", "csv", ",label=label"), "single class"),
        ("empty CSV", f => Copy(f, Fixture.Path("tables", "empty.csv"), "empty.csv", "csv"), "the file is empty"),
        ("CSV with text in a number column", f => Copy(f, Fixture.Path("tables", "not-a-number.csv"), "not-a-number.csv", "csv", ",label=label"), "is not a number"),
    ];

    public static IEnumerable<object[]> CorpusNames => Corpus.Select(c => new object[] { c.Name });

    [Theory]
    [MemberData(nameof(CorpusNames))]
    public void Each_hostile_input_gives_one_clear_error_naming_its_file(string name)
    {
        var (_, build, expected) = Corpus.Single(c => c.Name == name);
        var folder = Fixture.TempFolder();
        var spec = build(folder);
        var error = Assert.Throws<DataFormatException>(() => DataSpec.Parse(spec).LoadAny());
        Assert.Contains(expected, error.Message);
        Assert.StartsWith(folder, error.File); // the message names the file (or folder) at fault
        // And through the command line: exit code 2, one line, no stack trace, no run folder left behind.
        var run = Path.Combine(folder, "run");
        var (code, _, stderr) = Run("pretrain", "--data", spec, "--out", run, "--quiet");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains(expected, stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(File.Exists(Path.Combine(run, Checkpoint.FileName)));
    }

    [Fact]
    public void Every_corpus_case_fails_in_its_own_way()
    {
        // A case that failed with another case's message would test nothing new (or fail for the wrong reason).
        var messages = Corpus.Select(c =>
        {
            var folder = Fixture.TempFolder();
            var error = Assert.Throws<DataFormatException>(() => DataSpec.Parse(c.Build(folder)).LoadAny());
            return error.Message.Replace(folder, "FOLDER");
        }).ToList();
        var repeated = messages.GroupBy(m => m).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(repeated.Count == 0, "cases with the same error: " + string.Join(" | ", repeated));
    }

    [Fact]
    public void A_folder_with_a_few_bad_images_can_skip_them_and_say_which()
    {
        var folder = Fixture.TempFolder();
        Image(folder, "a.png", Encode(SKEncodedImageFormat.Png));
        Image(folder, "b.png", Encode(SKEncodedImageFormat.Png));
        Image(folder, "bomb.png", PngBomb(50_000, 50_000));
        Image(folder, "cut.jpg", Encode(SKEncodedImageFormat.Jpeg)[..150]);
        var skipped = new List<string>();
        var splits = DataSpec.Parse($"folder:{folder},skipbad").LoadAny(skipped: skipped);
        Assert.Equal(2, splits.Train.Count);
        Assert.Equal(2, skipped.Count);
        Assert.Contains(skipped, s => s.Contains("bomb.png") && s.Contains("pixel limit"));
        Assert.Contains(skipped, s => s.Contains("cut.jpg"));
    }

    [Fact]
    public void A_utf16_csv_with_a_byte_order_mark_is_read_as_utf16()
    {
        var path = Path.Combine(Fixture.TempFolder(), "utf16.csv");
        File.WriteAllBytes(path, Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("a,b\n1,2\n3,4\n5,6\n")).ToArray());
        var table = DataSpec.Parse($"csv:{path}").LoadTable();
        Assert.Equal(["a", "b"], table.Train.Schema.Features.Select(f => f.Name));
    }

    static string Cifar(string folder)
    {
        // All five training batches present, the first cut short.
        for (int i = 1; i <= 5; i++) File.Copy(Fixture.Path("bad", "cifar-truncated.bin"), Path.Combine(folder, $"data_batch_{i}.bin"));
        return $"cifar:{folder}";
    }

    static string Idx(string folder, byte[] bytes, string suffix = "")
    {
        File.WriteAllBytes(Path.Combine(folder, "train-images-idx3-ubyte" + suffix), bytes);
        return $"idx:{folder}";
    }

    static string Copy(string folder, string source, string name, string kind, string options = "")
    {
        File.Copy(source, Path.Combine(folder, name));
        return kind == "csv" ? $"csv:{Path.Combine(folder, name)}{options}" : $"{kind}:{folder}";
    }

    static string Csv(string folder, string name, byte[] bytes)
    {
        File.WriteAllBytes(Path.Combine(folder, name), bytes);
        return $"csv:{Path.Combine(folder, name)}";
    }

    static string Image(string folder, string name, byte[] bytes)
    {
        File.WriteAllBytes(Path.Combine(folder, name), bytes);
        return $"folder:{folder}";
    }

    /// <summary>A real 16×16 image, encoded.</summary>
    static byte[] Encode(SKEncodedImageFormat format)
    {
        using var bitmap = new SKBitmap(16, 16);
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++)
                bitmap.SetPixel(x, y, new SKColor((byte)(x * 16), (byte)(y * 16), 128));
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, 90);
        return data.ToArray();
    }

    /// <summary>A PNG whose header declares width×height (a few bytes that would decode to gigabytes).</summary>
    static byte[] PngBomb(int width, int height)
    {
        var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth; colour type 0 (grey), default compression, filter, no interlace
        Chunk(png, "IHDR", header);
        var deflated = new MemoryStream();
        using (var z = new ZLibStream(deflated, CompressionLevel.SmallestSize, leaveOpen: true))
            z.Write(new byte[1 << 16]); // the first rows of zeros; the rest is "missing"
        Chunk(png, "IDAT", deflated.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    static void Chunk(Stream png, string type, byte[] data)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        png.Write(length);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        png.Write(typed);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        png.Write(crc);
    }

    /// <summary>The CRC-32 a PNG chunk carries (ISO 3309 polynomial, bit-reversed), so decoders read past the header.</summary>
    static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }

    // -------------------------------------------------------------------------------------------- full disk

    /// <summary>
    /// A real "No space left on device" from the kernel: the temporary file a write goes to is made a link to
    /// /dev/full, so every flush fails with ENOSPC exactly as on a full disk.
    /// </summary>
    static void FillDiskAt(string temporaryPath) => File.CreateSymbolicLink(temporaryPath, "/dev/full");

    [Fact]
    public void A_full_disk_at_checkpoint_time_keeps_the_previous_checkpoint_and_leaves_no_partial_file()
    {
        if (!File.Exists("/dev/full")) return; // Linux only
        var run = Path.Combine(Fixture.TempFolder(), "run");
        var data = $"idx:{Fixture.Path("idx")}";
        var (code, _, error) = Run("pretrain", "--data", data, "--method", "contrastive", "--epochs", "1", "--batch-size", "16", "--out", run, "--quiet", "--no-eval", "--threads", "2");
        Assert.True(code == 0, error);
        long stepBefore = Checkpoint.ReadState(run).State.Step;
        var checkpoint = Path.Combine(run, Checkpoint.FileName);
        byte[] before = File.ReadAllBytes(checkpoint);

        FillDiskAt(checkpoint + ".tmp");
        (code, _, error) = Run("pretrain", "--out", run, "--resume", "--epochs", "2", "--quiet", "--no-eval");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("No space left on device", error);
        Assert.DoesNotContain("   at ", error);
        Assert.Equal(before, File.ReadAllBytes(checkpoint)); // untouched, still the last good state
        Assert.Equal(stepBefore, Checkpoint.ReadState(run).State.Step);
        Assert.Empty(Directory.GetFiles(run, "*.tmp"));

        // Space again: the run resumes from that checkpoint.
        (code, var output, error) = Run("pretrain", "--out", run, "--resume", "--epochs", "2", "--quiet", "--no-eval");
        Assert.True(code == 0, error);
        Assert.True(Checkpoint.ReadState(run).State.Step > stepBefore);

        // The same for an embeddings export and the run's config: no partial output file.
        var embeddings = Path.Combine(run, "embeddings.parquet");
        FillDiskAt(embeddings + ".tmp");
        (code, _, error) = Run("embed", "--run", run, "--out", embeddings, "--quiet");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("No space left on device", error);
        Assert.False(File.Exists(embeddings));
        Assert.Empty(Directory.GetFiles(run, "*.tmp"));

        var config = Path.Combine(run, RunFiles.ConfigFileName);
        string configBefore = File.ReadAllText(config);
        FillDiskAt(config + ".tmp");
        Assert.Throws<IOException>(() => RunFiles.WriteAllTextAtomic(config, "{}"));
        Assert.Equal(configBefore, File.ReadAllText(config));
        Assert.False(File.Exists(config + ".tmp"));
    }

    [Fact]
    public void An_output_path_that_cannot_be_a_folder_fails_before_training()
    {
        var file = Path.Combine(Fixture.TempFolder(), "a-file");
        File.WriteAllText(file, "x");
        var (code, _, error) = Run("pretrain", "--out", Path.Combine(file, "run"), "--epochs", "1", "--quiet");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("output folder is not writable", error);
    }

    // ----------------------------------------------------------------------------------------- option ranges

    [Theory]
    [InlineData("pretrain --epochs 0", "epochs 0 is out of range: expected 1 to 100000")]
    [InlineData("pretrain --budget 100000", "budget 100000 minutes is out of range: expected (0, 43200]")]
    [InlineData("pretrain --batch-size 1", "batch size 1 is out of range: expected 2 to 65536")]
    [InlineData("pretrain --lr 11", "learning rate 11 is out of range: expected (0, 10]")]
    [InlineData("pretrain --weight-decay 11", "weight decay 11 is out of range: expected [0, 10]")]
    [InlineData("pretrain --temperature 0", "temperature 0 is out of range: expected (0, 10]")]
    [InlineData("pretrain --mask-ratio 1", "mask ratio 1 is out of range: expected [0, 1)")]
    [InlineData("pretrain --contrastive-weight 1001", "contrastive weight 1001 is out of range: expected [0, 1000]")]
    [InlineData("pretrain --reconstruction-weight 1001", "reconstruction weight 1001 is out of range: expected [0, 1000]")]
    [InlineData("pretrain --contrastive-weight NaN", "contrastive weight NaN is out of range: expected [0, 1000]")]
    [InlineData("pretrain --noise-weight 2", "noise weight 2 is out of range: expected [0, 1]")]
    [InlineData("pretrain --decoder-depth 0", "decoder depth 0 is out of range: expected 1 to 16")]
    [InlineData("pretrain --decoder-width 6", "decoder width 6 must be a multiple of 4")]
    [InlineData("pretrain --masked-views 3", "masked views 3 is out of range: expected 0, 1 or 2")]
    [InlineData("pretrain --corruption-rate 1", "corruption rate 1 is out of range: expected [0, 1)")]
    [InlineData("pretrain --crop-scale-min 0", "must satisfy 0 < min ≤ max ≤ 1")]
    [InlineData("pretrain --patch 65", "patch 65 is out of range: expected 1 to 64")]
    [InlineData("pretrain --width 9", "encoder width 9 is out of range: expected (0, 8]")]
    [InlineData("pretrain --threads 2000", "threads 2000 is out of range: expected 0 (all cores) to 1024")]
    [InlineData("pretrain --keep-checkpoints 0", "keep checkpoints 0 is out of range: expected 1 to 20")]
    [InlineData("benchmark --budget 0", "budget 0 minutes is out of range: expected (0, 1440]")]
    [InlineData("speed --warmup 0", "warm-up 0 is out of range: expected 1 to 10000")]
    [InlineData("speed --steps 0", "steps 0 is out of range: expected 1 to 100000")]
    [InlineData("speed --batch-size 1", "batch size 1 is out of range: expected 2 to 65536")]
    [InlineData("speed --onnx --batch-size 0", "batch size 0 is out of range: expected 1 to 65536 with --onnx")]
    [InlineData("mine --embeddings e.csv --k 1", "k 1 is out of range: expected at least 2")]
    [InlineData("mine --embeddings e.csv --k-min 5 --k-max 3", "expected 2 ≤ min ≤ max ≤ 200")]
    [InlineData("mine --embeddings e.csv --neighbours 0", "neighbours 0 is out of range: expected 1 to 1000")]
    [InlineData("mine --embeddings e.csv --outliers 0", "top outliers 0 is out of range: expected 1 to 100000")]
    [InlineData("mine --embeddings e.csv --map-sample 5", "map sample 5 is out of range: expected 10 to 20000")]
    [InlineData("demo --epochs 0", "epochs 0 is out of range")]
    public void Every_numeric_option_is_range_checked_with_the_allowed_range(string commandLine, string expected)
    {
        var folder = Fixture.TempFolder();
        var args = commandLine.Split(' ').Concat(commandLine.StartsWith("pretrain") || commandLine.StartsWith("demo") ? ["--out", Path.Combine(folder, "run")] : []).ToArray();
        var (code, _, error) = Run(args);
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains(expected, error);
        Assert.False(Directory.Exists(Path.Combine(folder, "run")) && Directory.EnumerateFiles(Path.Combine(folder, "run")).Any());
    }
}
