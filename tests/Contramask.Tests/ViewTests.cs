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
    public void Normalization_uses_training_statistics()
    {
        var data = Contramask.Data.DigitsDataset.LoadAll();
        var n = ImageNormalization.FromDataset(data);
        using var all = ImageNormalization.ToUnit(data.Batch(Enumerable.Range(0, data.Count).ToArray()));
        Assert.Equal(all.mean().item<float>(), n.Mean[0], 4);
        Assert.Equal(all.std(unbiased: false).item<float>(), n.Std[0], 3);
        using var standardized = n.Apply(all);
        Assert.Equal(0, standardized.mean().item<float>(), 3);
    }
}
