using Contramask.Cli;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Mining;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>Confident learning: its counting on a hand-made case, and flipped digit labels found through an encoder.</summary>
[Collection("console")]
public class LabelIssueTests(ExportRunFixture run) : IClassFixture<ExportRunFixture>
{
    [Fact]
    public void The_confident_joint_counts_like_cleanlab_on_a_hand_made_case()
    {
        // Three classes, four records each. Thresholds (mean p of the own class): t0 = 0.675, t1 = 0.7, t2 = 0.725.
        double[,] p =
        {
            { 0.9, 0.05, 0.05 }, { 0.8, 0.1, 0.1 }, { 0.8, 0.1, 0.1 }, { 0.2, 0.75, 0.05 },  // labelled 0; the last looks like a 1
            { 0.1, 0.9, 0.0 }, { 0.1, 0.8, 0.1 }, { 0.1, 0.8, 0.1 }, { 0.1, 0.3, 0.6 },      // labelled 1; the last is unsure (nothing confident)
            { 0.0, 0.1, 0.9 }, { 0.1, 0.1, 0.8 }, { 0.0, 0.2, 0.8 }, { 0.7, 0.0, 0.4 },      // labelled 2; the last looks like a 0
        };
        int[] labels = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
        var joint = LabelIssues.ConfidentJoint(p, labels, 3);
        // Row 1 counts only three confident records (3 on the diagonal), rescaled to its four records: 4.
        Assert.Equal(new[,] { { 3, 1, 0 }, { 0, 4, 0 }, { 1, 0, 3 } }, joint);
        // One record of class 0 goes to 1 (the largest p1 − p0: record 3), one of class 2 to 0 (record 11); ranked by p(given).
        var issues = LabelIssues.FromProbabilities(p, labels, 3).Issues;
        Assert.Equal(new[] { (3, 0, 1), (11, 2, 0) }, issues.Select(i => (i.Row, i.Given, i.Suggested)));
        Assert.Equal(new[] { 1, 2 }, issues.Select(i => i.Rank));
    }

    [Fact]
    public void Calibration_breaks_rounding_ties_as_cleanlab_does()
    {
        // Ten records labelled 0: one confidently each class, seven confident nowhere; the row [1, 1, 1] scales to
        // 10/3 each and rounds to 3 + 3 + 3; cleanlab gives the missing one to the last tied entry: [3, 3, 4].
        var rows = new List<double[]> { new[] { 1.0, 0, 0 }, new[] { 0, 1.0, 0 }, new[] { 0, 0, 1.0 } };
        rows.AddRange(Enumerable.Repeat(new[] { 0.3, 0.35, 0.35 }, 7));
        rows.AddRange(Enumerable.Repeat(new[] { 0, 1.0, 0 }, 3));
        rows.AddRange(Enumerable.Repeat(new[] { 0, 0, 1.0 }, 3));
        var p = new double[rows.Count, 3];
        for (int i = 0; i < rows.Count; i++) for (int k = 0; k < 3; k++) p[i, k] = rows[i][k];
        int[] labels = [.. Enumerable.Repeat(0, 10), 1, 1, 1, 2, 2, 2];
        var joint = LabelIssues.ConfidentJoint(p, labels, 3);
        Assert.Equal(new[] { 3, 3, 4 }, Enumerable.Range(0, 3).Select(k => joint[0, k]));
    }

    [Fact]
    public void Flipped_digit_labels_are_found_and_the_true_label_suggested()
    {
        var digits = DigitsDataset.LoadAll();
        var (noisy, flipped) = InjectedFaults.FlipLabels(digits.Labels!, 10, 0.05, seed: 2);
        var table = EmbeddingExport.Embed(run.Folder, digits);
        using var scope = NewDisposeScope();
        var result = LabelIssues.Find(table.ToTensor(), noisy, 10, new LabelIssueOptions { Seed = 1 });
        var truth = flipped.ToHashSet();
        int top = result.Issues.Take(flipped.Length).Count(i => truth.Contains(i.Row));
        int found = result.Issues.Count(i => truth.Contains(i.Row));
        Assert.True(top >= 0.8 * flipped.Length, $"{top} of the top {flipped.Length} are flipped labels");
        Assert.True(found >= 0.8 * flipped.Length, $"{found} of {flipped.Length} flipped labels found among {result.Issues.Count} flagged");
        Assert.All(result.Issues.Where(i => truth.Contains(i.Row)).Take(20), i => Assert.Equal(digits.Labels![i.Row], i.Suggested));
        Assert.Equal(result.Issues.Select(i => i.GivenProbability).Order(), result.Issues.Select(i => i.GivenProbability));
        Assert.All(result.Issues, i => Assert.NotEqual(noisy[i.Row], i.Suggested));
    }

    [Fact]
    public void Mine_with_label_issues_writes_a_ranked_list_a_contact_sheet_and_a_report_section()
    {
        var digits = DigitsDataset.LoadAll();
        var (noisy, _) = InjectedFaults.FlipLabels(digits.Labels!, 10, 0.05, seed: 4);
        var relabelled = new ImageDataset(digits.Pixels, digits.Count, 1, 8, 8, noisy, digits.ClassNames, null, "digits");
        var table = EmbeddingExport.Embed(run.Folder, relabelled);
        var folder = Fixture.TempFolder();
        var result = Miner.Run(table, folder, new MiningOptions { K = 10, Map = false, LabelIssues = true }, new RecordLookup([relabelled]));
        var lines = File.ReadAllLines(Path.Combine(folder, "label-issues.csv"));
        Assert.Equal("rank,id,given_label,suggested_label,given_probability,suggested_probability", lines[0]);
        Assert.Equal(result.LabelIssues!.Issues.Count + 1, lines.Length);
        Assert.True(File.Exists(Path.Combine(folder, "label-issues.png")));
        MiningReport.Write(Path.Combine(folder, "report.md"), result, folder, table: table);
        Assert.Contains("## Label issues", File.ReadAllText(Path.Combine(folder, "report.md")));
    }

    [Fact]
    public void Label_issues_without_labels_are_refused_in_one_line()
    {
        var path = Path.Combine(Fixture.TempFolder(), "unlabelled.csv");
        File.WriteAllText(path, "id,label,e0,e1\na,,0.1,0.2\nb,,0.3,0.1\nc,,0.5,0.5\nd,,0.2,0.9\n");
        var (code, _, error) = CliTests.Run(["mine", "--embeddings", path, "--label-issues", "--no-map", "--k", "2"]);
        Assert.Equal(2, code);
        Assert.Contains("label issues need a label on every record", error);
    }
}
