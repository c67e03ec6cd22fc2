using Contramask.Cli;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Mining;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>Near-duplicates on the 8×8 digits with known copies planted by <see cref="InjectedFaults"/>.</summary>
[Collection("console")]
public class DuplicateTests(ExportRunFixture run) : IClassFixture<ExportRunFixture>
{
    /// <summary>The embeddings of a 1-epoch contrastive ConvNet on the digits (the candidates' source, as in <c>mine --run</c>).</summary>
    Tensor EncoderEmbeddings(ImageDataset data) => EmbeddingExport.Embed(run.Folder, data).ToTensor();

    /// <summary>Raw pixels stand in for an encoder's embedding: the candidates then come from pixel cosine.</summary>
    static Tensor PixelEmbeddings(ImageDataset data) => data.Inputs(Enumerable.Range(0, data.Count).ToArray()).flatten(1);


    [Fact]
    public void Planted_copies_are_copies_of_their_original()
    {
        var digits = DigitsDataset.LoadAll();
        var (data, duplicates) = InjectedFaults.NearDuplicates(digits, 20, 1);
        Assert.Equal(digits.Count + 20, data.Count);
        Assert.All(duplicates, d =>
        {
            Assert.Equal(data.Labels![d.Original], data.Labels[d.Copy]);
            Assert.Equal(data.RecordId(d.Original) + "~copy", data.RecordId(d.Copy));
            Assert.NotEqual(data.Pixels.AsSpan(d.Original * 64, 64).ToArray(), data.Pixels.AsSpan(d.Copy * 64, 64).ToArray());
        });
        Assert.Equal(10, duplicates.Count(d => d.Change.StartsWith("shift")));
        Assert.Equal(duplicates.Count, duplicates.Select(d => d.Original).Distinct().Count());
    }

    [Fact]
    public void Brightened_copies_are_found_and_no_two_distinct_digits_are_called_duplicates()
    {
        // At 8×8 a one-pixel shift moves an eighth of the image: a 1-epoch encoder does not place such a copy among
        // its original's nearest neighbours (the candidates), so here only the brightened half must be found; shifted
        // MNIST copies are (docs/MINING.md), and the shift search itself is tested below.
        var digits = DigitsDataset.LoadAll();
        var (data, planted) = InjectedFaults.NearDuplicates(digits, 60, 3);
        var truth = planted.Select(d => (d.Original, d.Copy)).ToHashSet();
        using var scope = NewDisposeScope();
        var result = NearDuplicates.Find(EncoderEmbeddings(data), new RecordLookup([data]));
        var found = result.Pairs.Select(p => (p.A, p.B)).ToHashSet();
        var brightened = planted.Where(d => d.Change.StartsWith("brightness")).Select(d => (d.Original, d.Copy)).ToList();
        // ×1.1 saturates the brightest of the digits' 17 grey levels, which lowers r for a few copies.
        Assert.True(brightened.Count(found.Contains) >= 28, $"missed {brightened.Count(p => !found.Contains(p))} of {brightened.Count} brightened copies at {result.Threshold:F4} ({result.Rule})");
        Assert.True(found.Count(p => !truth.Contains(p)) <= 1, $"pairs found that were not planted: {string.Join(", ", found.Where(p => !truth.Contains(p)))}");
        Assert.StartsWith("from the data", result.Rule);
        Assert.All(result.Groups, g => Assert.True(g.Members.Length >= 2));
    }

    [Fact]
    public void The_shift_search_matches_a_copy_moved_by_one_pixel_in_any_direction()
    {
        var digits = DigitsDataset.LoadAll();
        var (data, planted) = InjectedFaults.NearDuplicates(digits, 200, 5);
        var shifted = planted.Where(d => d.Change.StartsWith("shift")).ToList();
        Assert.Equal(4, shifted.Select(d => d.Change).Distinct().Count());
        var records = new RecordLookup([data]);
        using var scope = NewDisposeScope();
        var originals = records.Inputs(shifted.Select(d => d.Original).ToArray());
        var copies = records.Inputs(shifted.Select(d => d.Copy).ToArray());
        var searched = NearDuplicates.ShiftedCorrelation(originals, copies, 1).data<float>().ToArray();
        var unshifted = NearDuplicates.ShiftedCorrelation(originals, copies, 0).data<float>().ToArray();
        Assert.All(searched, r => Assert.True(r > 0.9999, $"r = {r}"));
        Assert.True(unshifted.Average() < 0.9, $"mean r without shifts {unshifted.Average():F3}");
    }

    [Fact]
    public void Identical_records_are_exact_duplicates_at_any_threshold_in_both_modes()
    {
        var digits = DigitsDataset.LoadAll();
        var copies = digits.Subset([.. Enumerable.Range(0, digits.Count), 5, 5, 9]);
        using var scope = NewDisposeScope();
        foreach (var records in new[] { new RecordLookup([copies]), null })
        {
            var result = NearDuplicates.Find(PixelEmbeddings(copies), records, new DuplicateOptions { Threshold = 1.0 });
            Assert.Equal(2, result.Groups.Count);
            Assert.Equal(new[] { 5, digits.Count, digits.Count + 1 }, result.Groups[0].Members);
            Assert.Equal(new[] { 9, digits.Count + 2 }, result.Groups[1].Members);
            Assert.All(result.Groups, g => Assert.True(g.Exact));
            Assert.Equal("given", result.Rule);
        }
    }

    [Fact]
    public void Mine_with_duplicates_writes_groups_a_contact_sheet_and_a_report_section()
    {
        var (data, _) = InjectedFaults.NearDuplicates(DigitsDataset.LoadAll(), 30, 3);
        var folder = Fixture.TempFolder();
        // Embeddings plus the records behind them, through the library entry `mine --run` uses.
        using var scope = NewDisposeScope();
        var vectors = EncoderEmbeddings(data).data<float>().ToArray();
        var table = new EmbeddingTable(Enumerable.Range(0, data.Count).Select(data.RecordId).ToArray(), data.Labels!, vectors, vectors.Length / data.Count);
        var result = Miner.Run(table, folder, new MiningOptions { K = 10, Map = false, Duplicates = true }, new RecordLookup([data]));
        Assert.NotNull(result.Duplicates);
        var lines = File.ReadAllLines(Path.Combine(folder, "duplicates.csv"));
        Assert.Equal("group,size,exact,id,label,best_similarity", lines[0]);
        Assert.Contains(lines, l => l.Contains("~copy"));
        Assert.True(File.Exists(Path.Combine(folder, "duplicates.png")));
        Assert.Contains("\"duplicates\"", File.ReadAllText(Path.Combine(folder, "mining.json")));
        MiningReport.Write(Path.Combine(folder, "report.md"), result, folder, table: table);
        Assert.Contains("## Near-duplicates", File.ReadAllText(Path.Combine(folder, "report.md")));
    }

    [Fact]
    public void Bad_duplicate_settings_are_refused_with_the_option_named()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new DuplicateOptions { Threshold = 1.5 }.Validate());
        Assert.Contains("duplicate threshold 1.5", error.Message);
        Assert.Equal(2, CliApp.Run(["mine", "--embeddings", "missing.parquet", "--duplicates", "--duplicate-shift", "20"]));
    }
}
