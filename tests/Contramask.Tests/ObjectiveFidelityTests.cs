using Contramask.Data;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Training;
using Contramask.Views;
using TorchSharp;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>Each objective does what the paper it is named after says, checked where a variant would differ.</summary>
public class ObjectiveFidelityTests
{
    [Fact]
    public void Mae_unshuffle_puts_every_visible_token_back_at_its_patch_and_the_mask_token_everywhere_else()
    {
        using var g = new Generator(4);
        using var mask = PatchMask.Random(3, 4, 5, 0.6, g);
        // Token of patch p of sample i = [i, p, p²]: each is unique, so any misplacement shows.
        var values = new float[3 * 20 * 3];
        for (int i = 0; i < 3; i++) for (int p = 0; p < 20; p++) { values[(i * 20 + p) * 3] = i; values[(i * 20 + p) * 3 + 1] = p; values[(i * 20 + p) * 3 + 2] = p * p; }
        using var tokens = tensor(values, new long[] { 3, 20, 3 });
        using var visible = tokens.gather(1, mask.KeepIndices.unsqueeze(-1).expand(-1, -1, 3));
        using var fill = full(new long[] { 1, 1, 3 }, -1f);
        using var restored = mask.Unshuffle(visible, fill);
        using var hidden = mask.Mask.unsqueeze(-1).expand(-1, -1, 3).to(ScalarType.Bool);
        using var expected = where(hidden, fill.expand(3, 20, 3), tokens);
        Assert.True(Tensors.Same(expected, restored));
    }

    /// <summary>Records what the CNN is shown.</summary>
    sealed class SpyEncoder : ConvEncoder
    {
        readonly ConvNet inner = new(1);
        public SpyEncoder() : base("spy") => RegisterComponents();
        public List<Tensor> Seen { get; } = [];
        public override int EmbeddingSize => inner.EmbeddingSize;
        public override Tensor FeatureMap(Tensor images) { Seen.Add(images.detach().clone().DetachFromDisposeScope()); return inner.FeatureMap(images); }
    }

    [Fact]
    public void Simmim_encoder_never_sees_a_hidden_pixel()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var spy = new SpyEncoder();
        using var branch = new SimMimBranch(spy, ObjectiveOptions.ForMethod(Method.Masked, false), 1, 8, 8, 2);
        using var g = new Generator(9);
        using var mask = PatchMask.Random(4, 4, 4, 0.5, g);
        using var images = randn(4, 1, 8, 8, generator: g);
        using var pixels = mask.PixelMask(8, 8);
        // The same images with other values in every hidden pixel only.
        using var altered = images + pixels * randn(4, 1, 8, 8, generator: g) * 100;
        branch.Forward(images, mask, null);
        branch.Forward(altered, mask, null);
        Assert.True(Tensors.Same(spy.Seen[0], spy.Seen[1]), "the encoder's input depends on hidden pixels");
        // And the visible pixels reach it unchanged.
        using var keep = pixels.eq(0);
        Assert.True(Tensors.Same(spy.Seen[0].masked_select(keep), images.masked_select(keep)));
    }

    [Theory]
    [InlineData("convnet", Method.Masked)]
    [InlineData("convnet", Method.Fusion)]
    [InlineData("vit-mini", Method.Masked)]
    [InlineData("vit-mini", Method.Fusion)]
    public void Can_denoising_term_predicts_the_added_noise_itself(string encoderName, Method method)
    {
        // With the decoder's output layer at zero, the denoising loss is the mean square of the target: the noise
        // itself has E[σ²ε²] = σ_max²/3 = 0.0133 for σ ~ U[0, 0.2]; a per-patch normalized target would give ≈ 1.
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        manual_seed(5);
        var encoderOptions = EncoderOptions.FromName(encoderName);
        using var encoder = encoderOptions.Build(1, 8, 8);
        var options = ObjectiveOptions.ForMethod(method, encoderOptions.IsVit) with { WeightNoise = 0.3, NoiseStdMax = 0.2 };
        using var objective = SelfSupervisedObjective.Create(options, encoder, 1, 8, 8, 2, g);
        using (no_grad())
            foreach (var (name, p) in objective.named_parameters())
                if (name.Contains("predictor")) p.zero_();
        var views = Enumerable.Range(0, objective.ViewCount).Select(_ => randn(64, 1, 8, 8, generator: g)).ToList();
        double denoise = objective.Loss(views).Components["denoise"].item<float>();
        Assert.InRange(denoise, 0.005, 0.03);
    }

    /// <summary>A table whose every cell is unique (row r, column c holds r·100 + c), so a replaced cell always differs.</summary>
    static TableSplits UniqueTable(int rows, int columns)
    {
        var folder = Fixture.TempFolder();
        var path = Path.Combine(folder, "unique.csv");
        var lines = new List<string> { string.Join(",", Enumerable.Range(0, columns).Select(c => $"f{c}")) };
        for (int r = 0; r < rows; r++) lines.Add(string.Join(",", Enumerable.Range(0, columns).Select(c => (r * 100 + c + 0.5).ToString(System.Globalization.CultureInfo.InvariantCulture))));
        File.WriteAllLines(path, lines);
        return DataSpec.Parse($"csv:{path},test=0.1,val=0.2").LoadTable();
    }

    [Fact]
    public void Scarf_anchor_is_the_clean_row_and_the_positive_has_exactly_floor_cF_features_from_other_training_rows()
    {
        var data = UniqueTable(80, 7);
        var validationValues = data.Validation!.Values.ToHashSet();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Contrastive) with { TableViews = new TableViewOptions { CorruptionRate = 0.6 } };
        using var g = new Generator(3);
        var makeView = ModelFactory.ViewMaker(config, data.Train, g);
        var indices = Enumerable.Range(10, 32).ToArray();
        using var rows = data.Train.Inputs(indices);
        using var anchor = makeView(rows, indices, 0);
        using var positive = makeView(rows, indices, 1);
        Assert.True(Tensors.Same(anchor, rows), "SCARF's anchor must be the uncorrupted row");
        using var all = data.Train.Inputs(Enumerable.Range(0, data.Train.Count).ToArray());
        var layout = new TableLayout(data.Train.Schema);
        var values = layout.Values(positive).contiguous().data<float>().ToArray();
        var original = layout.Values(rows).contiguous().data<float>().ToArray();
        var pool = layout.Values(all).contiguous().data<float>().ToArray();
        int f = layout.FeatureCount, n = data.Train.Count;
        for (int i = 0; i < indices.Length; i++)
        {
            int changed = 0;
            for (int c = 0; c < f; c++)
            {
                float v = values[i * f + c];
                if (v == original[i * f + c]) continue;
                changed++;
                // From the same column of another training row, never from the row itself, never from the validation slice.
                Assert.DoesNotContain(v, validationValues);
                var donors = Enumerable.Range(0, n).Where(r => pool[r * f + c] == v).ToList();
                Assert.Single(donors);
                Assert.NotEqual(indices[i], donors[0]);
            }
            Assert.Equal((int)Math.Floor(0.6 * f), changed);
        }
    }

    [Fact]
    public void Vime_mask_targets_are_the_cells_whose_value_changed_not_the_drawn_mask()
    {
        // Digits have many equal values per column (mostly 0): drawn cells often keep their value.
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "digits.csv")},header=no,label=column65").LoadTable();
        var layout = new TableLayout(data.Train.Schema);
        using var pool = data.Train.Batch(Enumerable.Range(0, data.Train.Count).ToArray());
        using var rows = data.Train.Batch(Enumerable.Range(0, 256).ToArray());
        using var g = new Generator(2);
        var (corrupted, changed) = new RowCorruption(layout, g, pool).CorruptEach(rows, 0.3);
        using (corrupted) using (changed)
        {
            using var differs = layout.Values(corrupted).ne(layout.Values(rows)).logical_or(layout.MissingFlags(corrupted).ne(layout.MissingFlags(rows)));
            Assert.True(Tensors.Same(differs.to(ScalarType.Float32), changed));
            // About 30% of cells were drawn, but clearly fewer changed: the target is x̃ ≠ x, not the mask.
            Assert.InRange(changed.mean().item<float>(), 0.05, 0.27);
        }
    }

    [Theory]
    [InlineData(Method.Masked)]
    [InlineData(Method.Fusion)]
    public void Vime_sees_the_clean_row_so_its_targets_are_changes_and_noise_comes_after_corruption(Method method)
    {
        // The view a masked or fused table objective receives is the row itself: noise added before corruption would make
        // every drawn numeric cell "changed" (the drawn mask again) and leave replaced cells noise-free, a giveaway.
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30").LoadTable();
        var config = PretrainConfig.DefaultsFor(data.Train, method);
        using var g = new Generator(3);
        var makeView = ModelFactory.ViewMaker(config, data.Train, g);
        var indices = Enumerable.Range(0, 12).ToArray();
        using var rows = data.Train.Inputs(indices);
        for (int view = 0; view < 2; view++)
        {
            using var made = makeView(rows, indices, view);
            Assert.True(Tensors.Same(made, rows));
        }
    }

    [Fact]
    public void Layered_table_fusion_reconstructs_from_below_the_last_block_and_leaves_that_block_to_the_contrastive_term()
    {
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30").LoadTable();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion).WithFusion(FusionKind.Layered);
        using var rows = data.Train.Inputs(Enumerable.Range(0, 24).ToArray());
        // With the contrastive weight at 0 only VIME's terms train: layered, they must not reach the last block;
        // CAN-style, they do. The first block gets their gradient either way.
        (float Last, float First) BlockGradients(FusionKind kind, double contrastive, double reconstruction = 1, int maskedViews = 2)
        {
            manual_seed(7);
            using var g = new Generator(7);
            var own = config with { Objective = config.Objective with { Fusion = kind, WeightContrastive = contrastive, WeightReconstruction = reconstruction, MaskedViews = maskedViews } };
            var encoder = (ResidualMlp)ModelFactory.BuildEncoder(own, data.Train);
            using var objective = ModelFactory.BuildObjective(own, encoder, data.Train, g);
            objective.train();
            var terms = objective.Loss([rows, rows]);
            Assert.True(float.IsFinite(terms.Total.item<float>()));
            terms.Total.backward();
            float Sum(string prefix) => encoder.named_parameters().Where(p => p.name.StartsWith(prefix))
                .Sum(p => p.parameter.grad is { } grad ? grad.abs().sum().item<float>() : 0f);
            return (Sum($"blocks.{encoder.Depth - 1}."), Sum("blocks.0."));
        }
        var layered = BlockGradients(FusionKind.Layered, contrastive: 0);
        var can = BlockGradients(FusionKind.Can, contrastive: 0);
        Assert.Equal(0f, layered.Last);
        Assert.True(layered.First > 0, "reconstruction must train the lower blocks");
        Assert.True(can.Last > 0, "CAN-style, reconstruction reads the embedding and trains the last block");
        // The contrastive term still reads the embedding, through the last block, with one masked view as with two.
        Assert.True(BlockGradients(FusionKind.Layered, contrastive: 1, reconstruction: 0).Last > 0);
        Assert.Equal(0f, BlockGradients(FusionKind.Layered, contrastive: 0, maskedViews: 1).Last);

        // The layered forward's embedding is the encoder's own.
        manual_seed(7);
        using (var mlp = (ResidualMlp)ModelFactory.BuildEncoder(config, data.Train))
        using (no_grad())
        {
            mlp.eval();
            var (embedding, lower) = mlp.ForwardLayered(rows);
            using (embedding) using (lower) using (var plain = mlp.forward(rows))
                Assert.True(embedding.allclose(plain, rtol: 0, atol: 0));
        }

        // A table encoder without blocks to read below (the FT-Transformer drops tokens instead) is refused by name,
        // by the configuration (before a run writes anything) and by the objective built directly.
        var ft = config with { Encoder = EncoderOptions.FromName("ft-transformer") };
        Assert.Contains("--fusion layered", Assert.ThrowsAny<ArgumentException>(ft.Validate).Message);
        var error = Assert.ThrowsAny<ArgumentException>(() =>
        {
            using var g = new Generator(1);
            ModelFactory.BuildObjective(ft, ModelFactory.BuildEncoder(ft, data.Train), data.Train, g);
        });
        Assert.Contains("--fusion layered", error.Message);
    }

    [Fact]
    public void Table_fusion_with_one_masked_view_contrasts_a_corrupted_row_with_the_clean_row_itself()
    {
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30").LoadTable();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion);
        config = config with { Objective = config.Objective with { MaskedViews = 1 } };
        using var g = new Generator(5);
        manual_seed(5);
        var encoder = (TableEncoder)ModelFactory.BuildEncoder(config, data.Train);
        using var pool = data.Train.Batch(Enumerable.Range(0, data.Train.Count).ToArray());
        using var rows = data.Train.Inputs(Enumerable.Range(0, 24).ToArray());
        using var branch = new TableMaskedBranch(encoder, 0.3, pool, g, noiseStd: 0.1);
        branch.eval();
        using (no_grad())
        {
            var (masked, clean) = branch.ForwardBeside(rows, rows);
            using var expected = encoder.forward(rows);
            // The second half went through untouched: in evaluation mode its embeddings are the clean rows' own.
            Assert.True(allclose(clean, expected, rtol: 1e-5, atol: 1e-5), "the clean view must be the row as it is");
            // The first half was corrupted (and noised): its embeddings differ, and VIME's terms are computed on it.
            Assert.False(allclose(masked.Embedding, expected, rtol: 1e-3, atol: 1e-3));
            Assert.NotNull(masked.MaskPrediction);
        }

        // The objective trains through both halves: every term is finite and the encoder gets a gradient.
        using var objective = ModelFactory.BuildObjective(config, encoder, data.Train, g);
        objective.train();
        var terms = objective.Loss([rows, rows]);
        Assert.Equal(["contrastive", "mask", "reconstruction"], terms.Components.Keys.Order());
        Assert.All(terms.Components.Values, t => Assert.True(float.IsFinite(t.item<float>())));
        terms.Total.backward();
        Assert.Contains(encoder.parameters(), p => p.grad is { } grad && grad.abs().sum().item<float>() > 0);

        // The option is not ignored: the same seeds with both views masked give another contrastive term.
        float Contrastive(int maskedViews)
        {
            manual_seed(11);
            using var seeded = new Generator(11);
            var own = ModelFactory.BuildEncoder(config, data.Train);   // the objective owns it and disposes it
            using var built = ModelFactory.BuildObjective(config with { Objective = config.Objective with { MaskedViews = maskedViews } }, own, data.Train, seeded);
            built.eval();
            using (no_grad()) return built.Loss([rows, rows]).Components["contrastive"].item<float>();
        }
        Assert.Equal(Contrastive(1), Contrastive(1));
        Assert.NotEqual(Contrastive(1), Contrastive(2));

        var refused = Assert.Throws<ArgumentException>(() => ModelFactory.BuildObjective(
            config with { Objective = config.Objective with { MaskedViews = 0 } }, encoder, data.Train, g));
        Assert.Contains("--masked-views 0 is for images", refused.Message);
    }

    [Fact]
    public void Weight_decay_goes_to_weight_matrices_and_kernels_by_role_not_by_name()
    {
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30,val=0").LoadTable();
        foreach (var encoder in new[] { "mlp", "ft-transformer" })
        {
            var config = PretrainConfig.DefaultsFor(data.Train, Method.Masked, encoder);
            using var g = new Generator(1);
            using var objective = ModelFactory.BuildObjective(config, ModelFactory.BuildEncoder(config, data.Train), data.Train, g);
            var (decay, noDecay) = WeightDecayGroups.Split(objective);
            var names = objective.named_parameters().ToDictionary(p => (object)p.parameter, p => p.name, ReferenceEqualityComparer.Instance);
            var decayed = decay.Select(p => names[p]).ToHashSet();
            var kept = noDecay.Select(p => names[p]).ToHashSet();
            Assert.All(decayed, n => Assert.EndsWith(".weight", n));
            Assert.All(kept.Where(n => n.EndsWith(".bias")), n => Assert.DoesNotContain(n, decayed));
            if (encoder == "mlp") Assert.Contains(decayed, n => n.Contains("maskEstimator"));   // VIME's mask estimator is a weight matrix
            else
                foreach (var token in new[] { "classToken", "missingToken", "columnBias", "numericWeight" })
                    Assert.Contains(kept, n => n.EndsWith(token));                            // FT-Transformer's tokenizer and tokens are not
            Assert.DoesNotContain(decayed, n => n.Contains("norm"));
        }
    }
}
