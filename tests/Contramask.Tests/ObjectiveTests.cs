using Contramask.Models;
using Contramask.Objectives;
using Contramask.Training;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Tests;

public class ObjectiveTests
{
    [Fact]
    public void NtXent_matches_a_hand_computed_value()
    {
        // Two samples, both views equal to e1 and e2, τ = 1. For every view the candidates have similarities
        // {1 (its positive), 0, 0}, so the loss is −log(e / (e + 2)) = log(1 + 2/e) ≈ 0.551445.
        using var z = tensor(new float[] { 1, 0, 0, 1 }).reshape(2, 2);
        using var loss = NtXentLoss.Compute(z, z, temperature: 1.0);
        Assert.Equal(Math.Log(1 + 2 / Math.E), loss.item<float>(), 5);
    }

    [Fact]
    public void NtXent_matches_the_formula_on_a_random_batch()
    {
        using var g = new Generator(7);
        using var z1 = randn(4, 3, generator: g);
        using var z2 = randn(4, 3, generator: g);
        double expected = ReferenceNtXent(z1.data<float>().ToArray(), z2.data<float>().ToArray(), 4, 3, 0.5);
        using var loss = NtXentLoss.Compute(z1, z2, 0.5);
        Assert.Equal(expected, loss.item<float>(), 4);
    }

    [Fact]
    public void NtXent_falls_when_the_two_views_agree_more()
    {
        using var g = new Generator(3);
        using var z1 = randn(8, 16, generator: g);
        using var noise = randn(8, 16, generator: g);
        using var far = NtXentLoss.Compute(z1, z1 + 2 * noise, 0.2);
        using var near = NtXentLoss.Compute(z1, z1 + 0.2f * noise, 0.2);
        Assert.True(near.item<float>() < far.item<float>() - 0.5, $"near {near.item<float>()} vs far {far.item<float>()}");
    }

    /// <summary>SimCLR eq. 1 written out with loops, independent of the tensor implementation.</summary>
    static double ReferenceNtXent(float[] a, float[] b, int n, int d, double tau)
    {
        var z = new double[2 * n][];
        for (int i = 0; i < 2 * n; i++)
        {
            var src = i < n ? a : b; int row = i % n;
            var v = Enumerable.Range(0, d).Select(k => (double)src[row * d + k]).ToArray();
            double norm = Math.Sqrt(v.Sum(x => x * x));
            z[i] = v.Select(x => x / norm).ToArray();
        }
        double total = 0;
        for (int i = 0; i < 2 * n; i++)
        {
            int positive = (i + n) % (2 * n);
            double denominator = 0;
            for (int j = 0; j < 2 * n; j++)
                if (j != i) denominator += Math.Exp(Dot(z[i], z[j]) / tau);
            total += -Math.Log(Math.Exp(Dot(z[i], z[positive]) / tau) / denominator);
        }
        return total / (2 * n);
    }

    static double Dot(double[] x, double[] y) => x.Zip(y).Sum(p => p.First * p.Second);

    [Fact]
    public void Masks_hide_the_right_count_differ_per_sample_and_repeat_with_the_seed()
    {
        using var g1 = new Generator(11);
        using var m1 = PatchMask.Random(16, 7, 7, 0.75, g1);
        Assert.Equal(16 * 37, (int)m1.Mask.sum().item<float>()); // 49 patches, keep round(12.25) = 12, hide 37
        Assert.Equal(12, m1.VisibleCount);
        var rows = Enumerable.Range(0, 16).Select(i => string.Join(",", m1.Mask[i].data<float>().ToArray())).ToHashSet();
        Assert.True(rows.Count > 12, "masks should differ between samples");
        // Kept indices are exactly the unmasked positions.
        using var keptMask = m1.Mask.gather(1, m1.KeepIndices);
        Assert.Equal(0f, keptMask.sum().item<float>());

        using var g2 = new Generator(11);
        using var m2 = PatchMask.Random(16, 7, 7, 0.75, g2);
        Assert.True(Tensors.Same(m1.Mask, m2.Mask));
        using var g3 = new Generator(12);
        using var m3 = PatchMask.Random(16, 7, 7, 0.75, g3);
        Assert.False(Tensors.Same(m1.Mask, m3.Mask));
    }

    [Fact]
    public void Pixel_mask_covers_exactly_the_hidden_patches()
    {
        using var g = new Generator(5);
        using var mask = PatchMask.Random(2, 4, 4, 0.5, g);
        using var pixels = mask.PixelMask(8, 8);
        Assert.Equal([2L, 1, 8, 8], pixels.shape);
        using var patches = Patches.Patchify(pixels, 2);
        Assert.True(Tensors.Same(patches.mean([-1]), mask.Mask));
    }

    [Fact]
    public void Patchify_and_unpatchify_are_inverse()
    {
        using var g = new Generator(1);
        using var images = rand(3, 3, 8, 12, generator: g);
        using var patches = Patches.Patchify(images, 4);
        Assert.Equal([3L, 6, 48], patches.shape);
        using var back = Patches.Unpatchify(patches, 4, 3, 8, 12);
        Assert.True(Tensors.Same(back, images));
    }

    [Fact]
    public void Mae_loss_counts_only_masked_patches()
    {
        using var g = new Generator(9);
        using var images = randn(2, 1, 8, 8, generator: g);
        using var mask = PatchMask.Random(2, 4, 4, 0.5, g);
        using var predictions = randn(2, 16, 4, generator: g);
        using var baseline = ReconstructionLoss.OnPatches(predictions, images, 2, mask.Mask);
        // Change predictions on visible patches only: the loss must not move.
        using var visible = (1 - mask.Mask).unsqueeze(-1);
        using var changedVisible = predictions + 5 * visible;
        using var sameLoss = ReconstructionLoss.OnPatches(changedVisible, images, 2, mask.Mask);
        Assert.Equal(baseline.item<float>(), sameLoss.item<float>(), 5);
        // Change them on hidden patches: it must.
        using var changedHidden = predictions + 5 * mask.Mask.unsqueeze(-1);
        using var otherLoss = ReconstructionLoss.OnPatches(changedHidden, images, 2, mask.Mask);
        Assert.True(Math.Abs(otherLoss.item<float>() - baseline.item<float>()) > 1);
        // And it equals the mean over hidden patches of the per-patch MSE against normalized targets.
        var target = Patches.NormalizePerPatch(Patches.Patchify(images, 2));
        var perPatch = (predictions - target).square().mean([-1]);
        double expected = (perPatch * mask.Mask).sum().item<float>() / mask.Mask.sum().item<float>();
        Assert.Equal(expected, baseline.item<float>(), 5);
    }

    public static TheoryData<string, Method> EveryMethodWithEveryEncoder()
    {
        var data = new TheoryData<string, Method>();
        foreach (var encoder in new[] { "convnet", "resnet18", "vit-mini" })
            foreach (var method in new[] { Method.Contrastive, Method.Masked, Method.Fusion }) data.Add(encoder, method);
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryMethodWithEveryEncoder))]
    public void Every_method_learns_with_every_encoder(string encoderName, Method method)
    {
        using var g = new Generator(2);
        manual_seed(2);
        var encoderOptions = EncoderOptions.FromName(encoderName) with { Width = encoderName == "resnet18" ? 0.25 : 1.0 };
        using var encoder = encoderOptions.Build(1, 8, 8);
        var options = ObjectiveOptions.ForMethod(method, encoderOptions.IsVit) with { WeightNoise = 0.3 };
        using var objective = SelfSupervisedObjective.Create(options, encoder, 1, 8, 8, 2, g);
        var views = Enumerable.Range(0, objective.ViewCount).Select(_ => randn(16, 1, 8, 8, generator: g)).ToList();
        // The same masks and noise every time (the objective's generator reseeded), so the loss is a function of the weights.
        // Every step inside a dispose scope, as the trainer does: a temporary tensor outside one can be finalized
        // by the garbage collector while libtorch still reads it.
        double LossNow() { using var scope = NewDisposeScope(); g.manual_seed(11); return objective.Loss(views).Total.item<float>(); }
        double before = LossNow();
        var (decay, noDecay) = WeightDecayGroups.Split(objective);
        using var optimizer = new AdamW([new(decay, 1e-3, 0.05), new(noDecay, 1e-3, 0)], beta2: 0.95);
        using var checkScope = NewDisposeScope();
        g.manual_seed(11);
        var loss = objective.Loss(views);
        var expected = method switch
        {
            Method.Contrastive => new[] { "contrastive" },
            Method.Masked => ["reconstruction", "denoise"],
            _ => ["contrastive", "reconstruction", "denoise"],
        };
        Assert.Equal(expected.Order(), loss.Components.Keys.Order());
        Assert.Equal(encoder.EmbeddingSize, encoder.forward(views[0]).shape[1]);
        int skipped = 0;
        for (int step = 0; step < 15; step++)
        {
            using var stepScope = NewDisposeScope();
            optimizer.ZeroGrad();
            g.manual_seed(11);
            objective.Loss(views).Total.backward();
            // As the trainer's divergence guard: a step whose gradient is not finite is not applied. (libtorch's CPU
            // convolution backward gives an occasional NaN input gradient with 8 channels, i.e. ResNet-18 at width
            // 0.125, even with 1 thread; 16 channels showed none in 360 steps: docs/ENGINEERING.md.)
            double norm = nn.utils.clip_grad_norm_(objective.parameters(), 3.0);
            if (!double.IsFinite(norm)) { skipped++; continue; }
            if (step == 0) Assert.Contains(encoder.parameters(), p => p.grad is not null && p.grad.abs().sum().item<float>() > 0);
            optimizer.Step();
        }
        Assert.True(skipped <= 3, $"{skipped} of 15 steps had a non-finite gradient");
        double after = LossNow();
        // Fifteen steps on one batch must fit it better: a wrong gradient, a detached branch or a loss that ignores the weights would not.
        Assert.True(after < before * 0.97, $"{method} {encoderName}: loss {before:F4} → {after:F4}");
    }

    [Theory]
    [InlineData("convnet", 0)]
    [InlineData("convnet", 1)]
    [InlineData("convnet", 2)]
    [InlineData("vit-mini", 0)]
    [InlineData("vit-mini", 1)]
    [InlineData("vit-mini", 2)]
    public void Fusion_masks_one_or_both_views_with_either_encoder(string encoderName, int maskedViews)
    {
        using var fusion = new FusionUnderTest(encoderName, 8, 2, FusionKind.Layered, seed: 3, maskedViews);
        var loss = fusion.Loss();
        loss.Total.backward();
        Assert.True(float.IsFinite(loss.Total.item<float>()));
        Assert.Equal(["contrastive", "reconstruction"], loss.Components.Keys.Order());
        Assert.True(fusion.GradientOf("") > 0);   // some encoder parameter learns
    }

    [Theory]
    [InlineData("convnet")]
    [InlineData("vit-mini")]
    public void With_no_masked_view_the_contrastive_pair_never_sees_a_mask(string encoderName)
    {
        // Each call draws a new mask: the contrastive term moves with it when a view is masked, and not when none is.
        double ContrastiveChange(int maskedViews)
        {
            using var fusion = new FusionUnderTest(encoderName, 8, 2, FusionKind.Layered, seed: 5, maskedViews);
            using var noGrad = no_grad();
            float first = fusion.Loss().Components["contrastive"].item<float>();
            float second = fusion.Loss().Components["contrastive"].item<float>();
            return Math.Abs(first - second);
        }
        Assert.True(ContrastiveChange(1) > 1e-4, "a masked contrastive view should change with its mask");
        Assert.True(ContrastiveChange(0) < 1e-6, "with no masked view the contrastive pair must not depend on the mask");
    }

    [Fact]
    public void Supervised_baseline_needs_and_uses_labels()
    {
        using var g = new Generator(2);
        manual_seed(2);
        using var encoder = EncoderOptions.FromName("convnet").Build(1, 8, 8);
        using var objective = SelfSupervisedObjective.Create(ObjectiveOptions.ForMethod(Method.Supervised, false) with { Classes = 3 }, encoder, 1, 8, 8, 2, g);
        Assert.True(objective.NeedsLabels);
        var views = new List<Tensor> { randn(6, 1, 8, 8, generator: g) };
        Assert.Throws<InvalidOperationException>(() => objective.Loss(views));
        var loss = objective.Loss(views, tensor(new long[] { 0, 1, 2, 0, 1, 2 }));
        // An untrained 3-way classifier starts near log 3.
        Assert.InRange(loss.Total.item<float>(), 0.5, 2.5);
        Assert.Equal(["cross_entropy"], loss.Components.Keys);
    }
}
