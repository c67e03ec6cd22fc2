using Contramask.Cli;
using Contramask.Data;
using Contramask.Mining;

namespace Contramask.Tests;

/// <summary><c>embed --data folder:DIR</c> streams: images decoded in a bounded pipeline, the same embeddings as in memory.</summary>
[Collection("console")]
public class StreamingTests(ExportRunFixture run) : IClassFixture<ExportRunFixture>
{
    /// <summary><paramref name="copies"/> copies of each fixture image, in class folders, in a new folder.</summary>
    static string ManyImages(int copies)
    {
        var folder = Fixture.TempFolder();
        foreach (var file in Directory.GetFiles(Fixture.Path("folder"), "*.png", SearchOption.AllDirectories))
        {
            var classFolder = Path.Combine(folder, Path.GetFileName(Path.GetDirectoryName(file))!);
            Directory.CreateDirectory(classFolder);
            for (int c = 0; c < copies; c++) File.Copy(file, Path.Combine(classFolder, $"{Path.GetFileNameWithoutExtension(file)}-{c:D3}.png"));
        }
        return folder;
    }

    [Fact]
    public void A_streamed_folder_embeds_to_what_the_in_memory_reader_gives()
    {
        var folder = Fixture.Path("folder");
        var streamed = Path.Combine(Fixture.TempFolder(), "streamed.npy");
        Assert.Equal(0, CliApp.Run(["embed", "--run", run.Folder, "--data", $"folder:{folder},size=8", "--out", streamed, "--quiet"]));
        var table = EmbeddingReader.Read(streamed);

        var images = ImageFolderReader.Read(folder, new ImageFolderOptions(Size: 8));
        var expected = EmbeddingExport.Embed(run.Folder, images);
        Assert.Equal(expected.Ids, table.Ids);   // file order: class folder by class folder
        Assert.Equal(expected.Labels.Select(expected.LabelName), table.Labels.Select(table.LabelName));
        Assert.Equal(expected.Vectors.Length, table.Vectors.Length);
        for (int i = 0; i < table.Vectors.Length; i++) Assert.Equal(expected.Vectors[i], table.Vectors[i], 4);
    }

    [Fact]
    public void The_pipeline_decodes_only_a_few_chunks_ahead_of_its_consumer()
    {
        var stream = ImageFolderStream.Open(ManyImages(40), size: 8);   // 480 images
        Assert.Equal(480, stream.Count);
        int seen = 0;
        foreach (var chunk in stream.Chunks(channels: 1, chunkSize: 8))
        {
            Assert.Equal((1, 8, 8), (chunk.Channels, chunk.Height, chunk.Width));
            if (seen++ == 0)
            {
                Thread.Sleep(500);   // a slow consumer: the producer must wait, not decode all 60 chunks
                // 4 waiting in the queue, 1 decoded and blocked on the full queue, 1 in the consumer's hand.
                Assert.InRange(stream.ChunksDecoded, 1, 6);
            }
        }
        Assert.Equal(60, seen);
        Assert.Equal(60, stream.ChunksDecoded);
    }

    [Fact]
    public void Stopping_early_stops_the_decoding()
    {
        var stream = ImageFolderStream.Open(ManyImages(40), size: 8);
        var first = stream.Chunks(channels: 1, chunkSize: 8).First();
        Assert.Equal(8, first.Count);
        int decoded = stream.ChunksDecoded;
        Thread.Sleep(300);
        Assert.Equal(decoded, stream.ChunksDecoded);
        Assert.InRange(decoded, 1, 6);
    }

    [Fact]
    public void Predict_streams_a_folder_and_predicts_as_the_loaded_path_does()
    {
        var folder = ManyImages(2);
        var streamed = Path.Combine(Fixture.TempFolder(), "streamed.csv");
        var loaded = Path.Combine(Fixture.TempFolder(), "loaded.csv");
        var (code, _, error) = CliTests.Run("predict", "--model", run.ClassifierFolder, "--data", $"folder:{folder},size=8", "--out", streamed, "--quiet");
        Assert.True(code == 0, error);
        // limit= reads the folder into memory (the path predict took before streaming), with a seeded train/test split.
        (code, _, error) = CliTests.Run("predict", "--model", run.ClassifierFolder, "--data", $"folder:{folder},size=8,limit=1000", "--out", loaded, "--quiet");
        Assert.True(code == 0, error);
        var a = File.ReadAllLines(streamed);
        var b = File.ReadAllLines(loaded);
        Assert.Equal(a[0], b[0]);
        Assert.Equal(25, a.Length);   // header + 24 images
        // Same records, same predicted class, same confidence (batches differ in size, so up to float rounding).
        var header = a[0].Split(',');
        int predicted = Array.IndexOf(header, "predicted"), confidence = Array.IndexOf(header, "confidence");
        var byId = b.Skip(1).Select(l => l.Split(',')).ToDictionary(f => f[0]);
        Assert.All(a.Skip(1).Select(l => l.Split(',')), f =>
        {
            Assert.Equal(byId[f[0]][predicted], f[predicted]);
            Assert.Equal(double.Parse(byId[f[0]][confidence], System.Globalization.CultureInfo.InvariantCulture), double.Parse(f[confidence], System.Globalization.CultureInfo.InvariantCulture), 5);
        });

        (code, _, error) = CliTests.Run("predict", "--model", run.ClassifierFolder, "--data", $"folder:{folder}", "--out", streamed, "--quiet");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("size=8", error);   // 28×28 files for an 8×8 model: the error says what to add
    }

    /// <summary>A 1-epoch fusion run on <paramref name="csv"/> (the mixed fixture: label and id columns, 30 training rows).</summary>
    static string TableRun(string csv)
    {
        var runFolder = Path.Combine(Fixture.TempFolder(), "run");
        var (code, _, error) = CliTests.Run("pretrain", "--data", $"csv:{csv},split=30,val=0.2", "--label", "label", "--id", "id", "--method", "fusion",
            "--epochs", "1", "--batch-size", "8", "--out", runFolder, "--quiet", "--threads", "2", "--monitor", "0", "--no-eval");
        Assert.True(code == 0, error);
        return runFolder;
    }

    [Fact]
    public void A_csv_file_is_read_in_chunks_that_together_are_the_whole_file()
    {
        var csv = Fixture.Path("tables", "mixed.csv");
        var format = new CsvFormat();
        var whole = CsvTableReader.Read(csv, format);
        var chunks = CsvTableReader.ReadChunks(csv, format, 7).ToList();
        Assert.Equal(6, chunks.Count);   // 40 rows: 5 × 7 + 5
        Assert.All(chunks, c => Assert.Equal(whole.Columns, c.Columns));
        Assert.Equal(whole.Rows.SelectMany(r => r), chunks.SelectMany(c => c.Rows).SelectMany(r => r));
        Assert.Equal(whole.Lines, chunks.SelectMany(c => c.Lines));

        // A ragged row far into the file is reported with its line when the reading reaches it.
        var ragged = Path.Combine(Fixture.TempFolder(), "ragged.csv");
        File.WriteAllLines(ragged, File.ReadAllLines(csv).Take(30).Append("r99,1,2").Concat(File.ReadAllLines(csv).Skip(30)));
        var error = Assert.Throws<DataFormatException>(() => CsvTableReader.ReadChunks(ragged, format, 7).ToList());
        Assert.Contains("line 31", error.Message);
        Assert.Contains("ragged.csv", error.Message);
    }

    [Fact]
    public void A_streamed_table_embeds_every_row_as_the_loaded_path_does()
    {
        var csv = Fixture.Path("tables", "mixed.csv");
        var runFolder = TableRun(csv);
        var streamed = Path.Combine(Fixture.TempFolder(), "streamed.parquet");
        var loaded = Path.Combine(Fixture.TempFolder(), "loaded.parquet");
        var (code, _, error) = CliTests.Run("embed", "--run", runFolder, "--data", $"csv:{csv}", "--out", streamed, "--quiet");
        Assert.True(code == 0, error);
        // limit= reads the file into memory and splits it (train, validation, test): the path embed took before.
        (code, _, error) = CliTests.Run("embed", "--run", runFolder, "--data", $"csv:{csv},limit=1000", "--out", loaded, "--quiet");
        Assert.True(code == 0, error);
        var a = EmbeddingReader.Read(streamed);
        var b = EmbeddingReader.Read(loaded);
        Assert.Equal(File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')[0]), a.Ids);   // every row, in file order
        var rowOf = b.Ids.Select((id, row) => (id, row)).ToDictionary(p => p.id, p => p.row);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(b.LabelName(rowOf[a.Ids[i]]), a.LabelName(i));
            for (int d = 0; d < a.Dimensions; d++) Assert.Equal(b.Vectors[rowOf[a.Ids[i]] * b.Dimensions + d], a.Vectors[i * a.Dimensions + d], 4);
        }
    }

    [Fact]
    public void Images_left_on_disk_decode_to_the_pixels_the_reader_holds()
    {
        var loaded = ImageFolderReader.Read(Fixture.Path("folder"), new ImageFolderOptions(Size: 8));
        var files = new ImageFiles(Enumerable.Range(0, loaded.Count).Select(loaded.RecordId).ToArray(), loaded.Labels, loaded.ClassNames, 1, 8, 8, 8, "folder");
        var rows = new[] { 5, 0, 11, 5 };
        Assert.True(Tensors.Same(loaded.Inputs(rows), files.Inputs(rows)));
        var one = files.Decode([7]);
        Assert.Equal(loaded.Pixels.AsSpan(7 * 64, 64).ToArray(), one.Pixels);
        Assert.Equal(loaded.RecordId(7), one.RecordId(0));
    }

    [Fact]
    public void Mine_streams_a_folder_and_reads_back_only_the_images_its_answers_need()
    {
        var folder = ManyImages(3);   // every fixture image three times: 12 groups of identical files
        var outFolder = Path.Combine(Fixture.TempFolder(), "mining");
        var (code, output, error) = CliTests.Run("mine", "--run", run.Folder, "--data", $"folder:{folder},size=8", "--k", "3", "--map-sample", "20",
            "--duplicates", "--out", outFolder);
        Assert.True(code == 0, error);
        Assert.Contains("streamed from disk", File.ReadAllText(Path.Combine(run.Folder, "report.md")));
        using var mining = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outFolder, "mining.json")));
        var duplicates = mining.RootElement.GetProperty("duplicates");
        Assert.Contains("pixel correlation", duplicates.GetProperty("measure").GetString());   // checked on pixels read back from the files
        Assert.Equal(12, duplicates.GetProperty("exact_groups").GetInt32());
        Assert.Equal(36, duplicates.GetProperty("records_in_groups").GetInt32());
        Assert.Equal(37, File.ReadAllLines(Path.Combine(outFolder, "clusters.csv")).Length);   // header + every file
        Assert.True(File.Exists(Path.Combine(outFolder, "clusters-central.png")));
        Assert.Contains("data:image/png;base64,", File.ReadAllText(Path.Combine(outFolder, "explorer.html")));
    }

    [Fact]
    public void Above_the_pixel_budget_mining_reads_the_images_back_from_disk_with_the_same_answers()
    {
        var spec = DataSpec.Parse($"folder:{ManyImages(3)},size=8");
        var (kept, inMemory) = EmbeddingExport.ComputeStreamed(run.Folder, spec);
        var (table, onDisk) = EmbeddingExport.ComputeStreamed(run.Folder, spec, pixelBudget: 0);
        Assert.True(inMemory.Locate(0).Part is ImageDataset);
        Assert.True(onDisk.Locate(0).Part is ImageFiles);
        Assert.Equal(kept.Ids, table.Ids);
        var a = Miner.Run(kept, Fixture.TempFolder(), new MiningOptions { K = 3, MapSample = 20, Duplicates = true }, inMemory);
        var b = Miner.Run(table, Fixture.TempFolder(), new MiningOptions { K = 3, MapSample = 20, Duplicates = true }, onDisk);
        Assert.Equal(12, b.Duplicates!.Groups.Count(g => g.Exact));
        Assert.Equal(a.Duplicates!.Groups.Select(g => g.Members), b.Duplicates.Groups.Select(g => g.Members));
    }

    [Fact]
    public void Mine_streams_a_table_run_with_its_labels()
    {
        var csv = Fixture.Path("tables", "mixed.csv");
        var runFolder = TableRun(csv);
        var (code, _, error) = CliTests.Run("mine", "--run", runFolder, "--k", "2", "--map-sample", "20", "--duplicates", "--quiet");
        Assert.True(code == 0, error);
        // --no-stream loads the file with its splits instead: the same rows, in split order.
        (code, _, error) = CliTests.Run("mine", "--run", runFolder, "--k", "2", "--map-sample", "20", "--no-stream", "--quiet", "--out", Path.Combine(runFolder, "loaded"));
        Assert.True(code == 0, error);
        Assert.Equal(clustersOf(Path.Combine(runFolder, "mining")).Order(), clustersOf(Path.Combine(runFolder, "loaded")).Order());
        Assert.NotEqual(clustersOf(Path.Combine(runFolder, "mining")), clustersOf(Path.Combine(runFolder, "loaded")));
        static IEnumerable<string> clustersOf(string folder) => File.ReadAllLines(Path.Combine(folder, "clusters.csv")).Skip(1).Select(l => l.Split(',')[0]);
        var clusters = File.ReadAllLines(Path.Combine(runFolder, "mining", "clusters.csv"));
        Assert.Equal(41, clusters.Length);   // every row of the file (all splits), in file order
        Assert.Equal(File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')[0]), clusters.Skip(1).Select(l => l.Split(',')[0]));
        Assert.All(clusters.Skip(1), l => Assert.Contains(l.Split(',')[1], new[] { "yes", "no" }));
        Assert.Contains("row similarity", File.ReadAllText(Path.Combine(runFolder, "mining", "mining.json")));
    }

    [Fact]
    public void A_bad_image_stops_the_export_naming_the_file_or_is_skipped_with_skipbad()
    {
        var folder = ManyImages(3);
        File.Copy(Fixture.Path("badimages", "cls", "truncated.png"), Path.Combine(folder, "digit7", "zz-cut.png"));
        var output = Path.Combine(Fixture.TempFolder(), "out.npy");
        var (code, _, error) = CliTests.Run("embed", "--run", run.Folder, "--data", $"folder:{folder},size=8", "--out", output, "--quiet");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("zz-cut.png", error);
        Assert.Contains("skipbad", error);
        Assert.DoesNotContain("   at ", error);
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(output)!, "*.tmp"));

        (code, var printed, error) = CliTests.Run("embed", "--run", run.Folder, "--data", $"folder:{folder},size=8,skipbad", "--out", output);
        Assert.True(code == 0, error);
        Assert.Contains("zz-cut.png", printed + error);
        var table = EmbeddingReader.Read(output);   // the .npy header holds the count written, not the files listed
        Assert.Equal(36, table.Count);
        Assert.DoesNotContain(table.Ids, id => id.EndsWith("zz-cut.png"));

        // A bad file first in the folder (the one that sets the images' size) is refused the same way, or passed over.
        File.Copy(Fixture.Path("badimages", "cls", "truncated.png"), Path.Combine(folder, "digit0", "aa-cut.png"));
        (code, _, error) = CliTests.Run("embed", "--run", run.Folder, "--data", $"folder:{folder},size=8", "--out", output, "--quiet");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("aa-cut.png", error);
        Assert.Contains("skipbad", error);
        (code, _, error) = CliTests.Run("embed", "--run", run.Folder, "--data", $"folder:{folder},size=8,skipbad", "--out", output, "--quiet");
        Assert.True(code == 0, error);
        Assert.Equal(36, EmbeddingReader.Read(output).Count);
    }
}
