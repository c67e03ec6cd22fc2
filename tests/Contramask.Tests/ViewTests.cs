using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Tests;

public class ViewTests
{
    static Tensor Digits(int count)
    {
        var data = Contramask.Data.DigitsDataset.LoadAll();
        return ImageNormalization.ToUnit(data.Batch(Enumerable.Range(0, count).ToArray()));
    }

    [Fact]
    public void Views_repeat_with_the_seed_and_stay_in_range()
    {
        using var images = Digits(32);
        using var g1 = new Generator(4);
        using var g2 = new Generator(4);
        var options = AugmentationOptions.Contrastive(1);
        using var a = new ImageAugmenter(options, g1).Augment(images);
        using var b = new ImageAugmenter(options, g2).Augment(images);
        Assert.True(Tensors.Same(a, b));
        Assert.Equal(images.shape, a.shape);
        Assert.True(a.min().item<float>() >= 0 && a.max().item<float>() <= 1);
        using var c = new ImageAugmenter(options, g1).Augment(images);
        Assert.False(Tensors.Same(a, c));
    }

    [Fact]
    public void Each_sample_gets_its_own_random_view()
    {
        // The same image repeated: every copy should come out different.
        using var one = Digits(1);
        using var images = one.expand(16, -1, -1, -1).contiguous();
        using var g = new Generator(8);
        using var views = new ImageAugmenter(AugmentationOptions.Contrastive(1), g).Augment(images);
        var distinct = Enumerable.Range(0, 16).Select(i => string.Join(",", views[i].data<float>().ToArray().Select(v => MathF.Round(v, 3)))).ToHashSet();
        Assert.Equal(16, distinct.Count);
    }

    [Fact]
    public void Full_crop_without_jitter_returns_the_image()
    {
        using var images = Digits(4);
        using var g = new Generator(1);
        var identity = AugmentationOptions.Light(1) with { CropScaleMin = 1, CropScaleMax = 1, AspectMin = 1, AspectMax = 1 };
        using var views = new ImageAugmenter(identity, g).Augment(images);
        Assert.True(views.allclose(images, atol: 1e-5));
    }

    [Fact]
    public void Shift_views_move_the_whole_image_by_at_most_an_eighth_of_its_side_without_resizing_it()
    {
        // A 4×4 bright square in the middle of a 32×32 image: a shift keeps its mass and moves its centre by ≤ 4 pixels.
        using var images = zeros(64, 1, 32, 32);
        images[.., .., 14..18, 14..18] = tensor(1f);
        using var g = new Generator(3);
        using var views = new ImageAugmenter(AugmentationOptions.Shift(1), g).Augment(images);
        using var grid = arange(32, ScalarType.Float32);
        var mass = views.sum([1, 2, 3]).data<float>().ToArray();
        var cx = views.sum([1, 2]).mul(grid).sum(1).div(views.sum([1, 2, 3])).data<float>().ToArray();
        var cy = views.sum([1, 3]).mul(grid).sum(1).div(views.sum([1, 2, 3])).data<float>().ToArray();
        Assert.All(mass, m => Assert.InRange(m, 16 - 1e-3, 16 + 1e-3));
        var shifts = cx.Zip(cy, (x, y) => (X: x - 15.5, Y: y - 15.5)).ToArray();
        Assert.All(shifts, s => { Assert.InRange(s.X, -4.001, 4.001); Assert.InRange(s.Y, -4.001, 4.001); });
        // Spread over the whole range in both directions, not stuck at the centre.
        Assert.True(shifts.Max(s => s.X) > 2.5 && shifts.Min(s => s.X) < -2.5 && shifts.Max(s => s.Y) > 2.5 && shifts.Min(s => s.Y) < -2.5);
    }

    [Theory]
    [InlineData(32, 32)]
    [InlineData(32, 64)]
    public void Rotated_views_turn_a_bar_by_at_most_the_largest_angle_and_keep_its_length(int height, int width)
    {
        // A horizontal bar 16 pixels long through the centre. A rotation (crop, shear and jitter off) turns its main
        // axis by up to 30° either way and keeps its length and mass, also on a wide image, where a rotation written in
        // normalized coordinates without the sides' ratio would shorten and shear it.
        var rotateOnly = AugmentationOptions.Light(1) with { CropScaleMin = 1, CropScaleMax = 1, AspectMin = 1, AspectMax = 1, RotateMax = 30 };
        using var images = zeros(64, 1, height, width);
        images[.., .., (height / 2 - 1)..(height / 2 + 1), (width / 2 - 8)..(width / 2 + 8)] = tensor(1f);
        using var g = new Generator(7);
        using var views = new ImageAugmenter(rotateOnly, g).Augment(images);
        var angles = new List<double>();
        for (int i = 0; i < 64; i++)
        {
            var view = views[i, 0].data<float>().ToArray();
            double mass = 0, mx = 0, my = 0;
            for (int p = 0; p < view.Length; p++) { mass += view[p]; mx += view[p] * (p % width); my += view[p] * (p / width); }
            mx /= mass; my /= mass;
            double sxx = 0, syy = 0, sxy = 0;
            for (int p = 0; p < view.Length; p++)
            {
                double dx = p % width - mx, dy = p / width - my;
                sxx += view[p] * dx * dx; syy += view[p] * dy * dy; sxy += view[p] * dx * dy;
            }
            sxx /= mass; syy /= mass; sxy /= mass;
            // Main axis of the second moments; its variance is (length² − 1) / 12 for a bar of that length.
            double major = (sxx + syy) / 2 + Math.Sqrt((sxx - syy) * (sxx - syy) / 4 + sxy * sxy);
            Assert.InRange(mass, 32 * 0.97, 32 * 1.03);
            Assert.InRange(Math.Sqrt(12 * major + 1), 15, 17);
            angles.Add(0.5 * Math.Atan2(2 * sxy, sxx - syy) * 180 / Math.PI);
        }
        Assert.All(angles, a => Assert.InRange(a, -31, 31));
        Assert.True(angles.Max() > 20 && angles.Min() < -20, "angles spread over the range");
    }

    [Fact]
    public void Semi_supervised_views_use_the_strong_view_they_are_given_and_the_same_first_weak_view()
    {
        // Same seed, same images: --strong-view changes the strong views, and the first weak batch is the same (later
        // ones differ: both views draw from one generator).
        var data = Contramask.Data.DigitsDataset.LoadAll();
        var config = Contramask.Training.PretrainConfig.DefaultsFor(data, Contramask.Objectives.Method.Contrastive);
        using var images = Digits(32);
        int[] indices = [.. Enumerable.Range(0, 32)];
        Tensor Views(Contramask.Classification.StrongView strong, bool weak)
        {
            using var g = new Generator(9);
            using var views = Contramask.Classification.ClassifierViews.For(config, data, g, x => x,
                new Contramask.Classification.ClassifierOptions { WeakView = Contramask.Classification.WeakView.Crop, Cutout = 0.5, StrongView = strong });
            return weak ? views.Weak(images, indices) : views.Strong(images, indices);
        }
        using var affine = Views(Contramask.Classification.StrongView.Affine, weak: false);
        using var contrastive = Views(Contramask.Classification.StrongView.Contrastive, weak: false);
        Assert.True(affine.min().item<float>() >= 0 && affine.max().item<float>() <= 1);
        Assert.False(Tensors.Same(affine, contrastive));
        using var weakA = Views(Contramask.Classification.StrongView.Affine, weak: true);
        using var weakC = Views(Contramask.Classification.StrongView.Contrastive, weak: true);
        Assert.True(Tensors.Same(weakA, weakC));
        AugmentationOptions.Affine(1).Validate();
        Assert.Throws<ArgumentOutOfRangeException>(() => (AugmentationOptions.Affine(1) with { RotateMax = 200 }).Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => (AugmentationOptions.Affine(1) with { ShearMax = -0.1 }).Validate());
    }

    [Fact]
    public void Cutout_greys_one_square_of_at_most_half_the_side_per_image()
    {
        var cutoutOnly = AugmentationOptions.Light(1) with { CropScaleMin = 1, CropScaleMax = 1, AspectMin = 1, AspectMax = 1, CutoutMax = 0.5 };
        using var images = ones(64, 1, 32, 32);
        using var g = new Generator(5);
        using var views = new ImageAugmenter(cutoutOnly, g).Augment(images);
        var pixels = views.data<float>().ToArray();
        Assert.All(pixels, v => Assert.True(v == 1f || v == 0.5f));
        var sides = new List<int>();
        for (int i = 0; i < 64; i++)
        {
            // The grey pixels of one image form a rectangle (a square clipped by the edge) no wider than 16.
            var grey = Enumerable.Range(0, 32 * 32).Where(p => pixels[i * 1024 + p] == 0.5f).ToArray();
            if (grey.Length == 0) continue;
            int rows = grey.Select(p => p / 32).Distinct().Count(), columns = grey.Select(p => p % 32).Distinct().Count();
            Assert.Equal(rows * columns, grey.Length);
            Assert.True(rows <= 16 && columns <= 16, $"image {i}: a {rows}×{columns} grey block");
            sides.Add(Math.Max(rows, columns));
        }
        Assert.True(sides.Count > 48 && sides.Max() >= 12 && sides.Distinct().Count() > 5, "squares of many sizes in most images");

        // Filled with black instead, the same squares (same seed) are 0 where they were 0.5.
        using var g2 = new Generator(5);
        using var black = new ImageAugmenter(cutoutOnly with { CutoutFill = 0 }, g2).Augment(images);
        var blackPixels = black.data<float>().ToArray();
        Assert.Equal(pixels.Select(v => v == 0.5f ? 0f : v), blackPixels);
        Assert.Throws<ArgumentOutOfRangeException>(() => (cutoutOnly with { CutoutFill = 1.5 }).Validate());
    }

    [Fact]
    public void Colour_views_mirror_about_half_the_samples_and_leave_the_rest_as_they_were()
    {
        // Flips are on for colour images. Full crop, no jitter: every view is the image or its mirror.
        using var grey = Digits(64);
        using var images = grey.expand(-1, 3, -1, -1).contiguous();
        using var g = new Generator(3);
        var options = AugmentationOptions.Light(3) with { CropScaleMin = 1, CropScaleMax = 1, AspectMin = 1, AspectMax = 1 };
        Assert.True(options.HorizontalFlip);
        using var views = new ImageAugmenter(options, g).Augment(images);
        using var mirrored = images.flip(3);
        int flipped = 0;
        for (int i = 0; i < 64; i++)
        {
            bool same = views[i].allclose(images[i], atol: 1e-5), mirror = views[i].allclose(mirrored[i], atol: 1e-5);
            Assert.True(same ^ mirror, $"view {i} is neither the image nor its mirror (or the digit is symmetric)");
            if (mirror) flipped++;
        }
        Assert.InRange(flipped, 16, 48);
    }

    [Fact]
    public void Normalization_uses_training_statistics_only()
    {
        // Fitted on a training split (only the first 600 digits, so its statistics differ from the rest), checked on
        // the held-out images it never saw.
        var all = Contramask.Data.DigitsDataset.LoadAll();
        var train = all.Subset(Enumerable.Range(0, 600).ToArray());
        var heldOut = all.Subset(Enumerable.Range(600, all.Count - 600).ToArray());
        var n = ImageNormalization.FromDataset(train);
        using var trainPixels = ImageNormalization.ToUnit(train.Batch(Enumerable.Range(0, train.Count).ToArray()));
        using var heldOutPixels = ImageNormalization.ToUnit(heldOut.Batch(Enumerable.Range(0, heldOut.Count).ToArray()));
        Assert.Equal(trainPixels.mean().item<float>(), n.Mean[0], 5);
        Assert.Equal(trainPixels.std(unbiased: false).item<float>(), n.Std[0], 4);
        Assert.NotEqual(heldOutPixels.mean().item<float>(), n.Mean[0], 4);
        // The held-out images are standardized with the training statistics, not their own: near, not at, zero mean.
        using var standardized = n.Apply(heldOutPixels);
        using var expected = (heldOutPixels - n.Mean[0]) / n.Std[0];
        Assert.True(standardized.allclose(expected, 1e-5, 1e-6));
        Assert.NotEqual(0, standardized.mean().item<float>(), 4);
    }
}
