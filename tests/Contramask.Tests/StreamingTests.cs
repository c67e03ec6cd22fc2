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
    }
}
