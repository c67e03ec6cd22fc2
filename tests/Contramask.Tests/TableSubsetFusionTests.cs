using Contramask.Data;
using Contramask.Objectives;
using Contramask.Training;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary><c>--fusion subsets</c>: SubTab's column subsets and the table fusion built on them.</summary>
public class TableSubsetFusionTests
{
    [Theory]
    // SubTab's subset_generator: ⌊F/K⌋ columns each, the first reaching forward and the others back by ⌊0.75·⌊F/K⌋⌋.
    [InlineData(16, "0-7 1-8 5-12 9-16")]
    // F mod K trailing columns: SubTab drops them, here the last subset keeps them (16, 17).
    [InlineData(18, "0-7 1-8 5-12 9-18")]
    [InlineData(36, "0-15 3-18 12-27 21-36")]
    // Fewer features than subsets: one subset per feature, no overlap left to take.
    [InlineData(3, "0-1 1-2 2-3")]
    public void Subsets_follow_SubTabs_ranges_and_every_column_is_in_one(int features, string expected)
    {
        var subsets = new FeatureSubsets(features);
        Assert.Equal(expected, string.Join(" ", subsets.Ranges.Select(r => $"{r.Start}-{r.End}")));
        Assert.All(Enumerable.Range(0, features), j => Assert.Contains(subsets.Ranges, r => j >= r.Start && j < r.End));
    }

    [Fact]
    public void A_subset_view_keeps_its_columns_and_shows_every_other_one_as_missing()
    {
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30").LoadTable();
        var layout = new TableLayout(data.Train.Schema);
        var subsets = new FeatureSubsets(layout.FeatureCount, count: 2, overlap: 0);   // 5 features: columns 0–1, then 2–4
        using var rows = data.Train.Batch([0, 1, 2]);
        // The objective's own copies: a block order other than Hide's would pair a row's view with another row's.
        using var copies = subsets.Repeat(rows);
        using var views = subsets.Hide(copies, layout);
        var original = rows.data<float>().ToArray();
        var seen = views.data<float>().ToArray();
        int f = layout.FeatureCount;
        for (int k = 0; k < 2; k++)
            for (int r = 0; r < 3; r++)
                for (int j = 0; j < f; j++)
                {
                    bool kept = j >= subsets.Ranges[k].Start && j < subsets.Ranges[k].End;
                    int at = (k * 3 + r) * 2 * f;
                    Assert.Equal(kept ? original[r * 2 * f + j] : 0f, seen[at + j]);
                    Assert.Equal(kept ? original[r * 2 * f + f + j] : 1f, seen[at + f + j]);
                }
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("ft-transformer")]
    public void Subset_fusion_trains_on_a_table_and_logs_its_three_terms(string encoder)
    {
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30").LoadTable();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion, encoder).WithFusion(FusionKind.Subsets) with { Epochs = 3, BatchSize = 16, Threads = 2 };
        using var trainer = Pretrainer.Start(config, Fixture.TempFolder(), data);
        Assert.IsType<TableSubsetFusionObjective>(trainer.Objective);
        var losses = new List<IReadOnlyDictionary<string, double>>();
        Assert.Equal(RunStatus.Finished, trainer.Run(p => losses.Add(p.Components)).Status);
        Assert.Equal(["contrastive", "distance", "reconstruction"], losses[0].Keys.Order());
        Assert.All(losses, l => Assert.All(l.Values, v => Assert.True(double.IsFinite(v))));
        // The squared distance of L2-normalized projections lies in [0, 4]; NT-Xent over 2N views with cosines in [−1, 1]
        // lies in [0, 2/τ + ln(2N − 1)].
        Assert.InRange(losses[0]["distance"], 0, 4);
        Assert.InRange(losses[0]["contrastive"], 0, 2 / config.Objective.Temperature + Math.Log(2 * 16 - 1));
    }

    [Fact]
    public void Subset_fusion_learns_to_rebuild_whole_rows_from_their_subsets()
    {
        // The 8×8 digits as a table (64 pixel columns, subsets of 28 columns): every view hides more than half the row,
        // and the reconstruction of the whole row from it must improve as training goes.
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "digits.csv")},header=no,label=column65").LoadTable();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion).WithFusion(FusionKind.Subsets) with { Epochs = 4, BatchSize = 128, Threads = 2 };
        using var trainer = Pretrainer.Start(config, Fixture.TempFolder(), data);
        var rebuilt = new List<double>();
        trainer.Run(p => rebuilt.Add(p.Components["reconstruction"]));
        Assert.True(rebuilt.Count >= 30, $"{rebuilt.Count} steps");
        double first = rebuilt.Take(5).Average(), last = rebuilt.TakeLast(5).Average();
        Assert.True(last < 0.8 * first, $"reconstruction {first:F3} → {last:F3}");
    }

    [Fact]
    public void Subset_fusion_refuses_the_view_count_of_can_fusion_instead_of_ignoring_it()
    {
        var options = ObjectiveOptions.ForTableMethod(Method.Fusion) with { Fusion = FusionKind.Subsets, MaskedViews = 1 };
        var error = Assert.Throws<ArgumentException>(options.ValidateForTable);
        Assert.Contains("--fusion subsets makes one view per column subset", error.Message);
        (options with { MaskedViews = 2 }).ValidateForTable();
    }

    [Fact]
    public void Subset_fusion_on_images_is_refused_with_what_to_use_instead()
    {
        var config = new PretrainConfig { Objective = ObjectiveOptions.ForMethod(Method.Fusion, vit: false) with { Fusion = FusionKind.Subsets } };
        var error = Assert.Throws<ArgumentException>(config.Validate);
        Assert.Contains("--fusion subsets is for tables", error.Message);
    }
}
