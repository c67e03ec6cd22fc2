using Contramask.Data;

namespace Contramask.Tests;

public class ReaderTests
{
    [Fact]
    public void Idx_folder_reads_gzipped_train_and_raw_test_with_labels()
    {
        var splits = IdxReader.ReadFolder(Fixture.Path("idx"));
        Assert.Equal(64, splits.Train.Count);
        Assert.Equal((1, 28, 28), (splits.Train.Channels, splits.Train.Height, splits.Train.Width));
        Assert.Equal(32, splits.Test!.Count);
        // The first MNIST training labels are 5, 0, 4, 1, 9; the first test labels 7, 2, 1, 0.
        Assert.Equal([5, 0, 4, 1, 9], splits.Train.Labels![..5]);
        Assert.Equal([7, 2, 1, 0], splits.Test.Labels![..4]);
        Assert.InRange(splits.Train.Pixels.Max(), (byte)200, (byte)255);
    }

    [Theory]
    [InlineData("wrong-magic-idx3-ubyte", "magic number")]
    [InlineData("truncated-idx3-ubyte", "truncated")]
    [InlineData("truncated-idx3-ubyte.gz", "truncated")]
    [InlineData("absurd-dims-idx3-ubyte", "exceeds")]
    [InlineData("empty-idx3-ubyte", "truncated")]
    [InlineData("does-not-exist", "not found")]
    public void Bad_idx_files_give_one_clear_error_naming_the_file(string name, string expected)
    {
        var path = Fixture.Path("bad", name);
        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path, null, "bad"));
        Assert.Equal(path, error.File);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Cifar10_binary_batches_read_with_class_names()
    {
        var splits = CifarReader.ReadFolder(Fixture.Path("cifar"));
        Assert.Equal(10, splits.Train.Count);
        Assert.Equal((3, 32, 32), (splits.Train.Channels, splits.Train.Height, splits.Train.Width));
        Assert.Equal(2, splits.Test!.Count);
        Assert.Equal([3, 8], splits.Test.Labels!);
        Assert.Equal("airplane", splits.Train.ClassNames![0]);
        // Pixel layout: first byte after the label is R plane, pixel 0 = (seed·37) mod 256 for seed 1.
        Assert.Equal(37, splits.Train.Pixels[0]);
    }

    [Fact]
    public void Truncated_cifar_file_is_reported()
    {
        var path = Fixture.Path("bad", "cifar-truncated.bin");
        var error = Assert.Throws<DataFormatException>(() => CifarReader.Read([path], 1, "bad"));
        Assert.Contains("3073-byte CIFAR records", error.Message);
    }

    [Fact]
    public void Image_folder_with_class_subfolders_gives_labels_and_grey_images()
    {
        var data = ImageFolderReader.Read(Fixture.Path("folder"), new ImageFolderOptions());
        Assert.Equal(12, data.Count);
        Assert.Equal(1, data.Channels);
        Assert.Equal(["digit0", "digit1", "digit7"], data.ClassNames);
        Assert.Equal(4, data.Labels!.Count(l => l == 2));
        Assert.EndsWith("mnist01.png", data.RecordId(0));
        // The PNG holds MNIST image 1 exactly (lossless): compare with the IDX fixture.
        var idx = IdxReader.ReadFolder(Fixture.Path("idx")).Train;
        Assert.Equal(idx.Pixels.AsSpan(784, 784).ToArray(), data.Pixels.AsSpan(0, 784).ToArray());
    }

    [Fact]
    public void Image_folder_splits_into_train_and_test()
    {
        var splits = ImageFolderReader.ReadFolder(Fixture.Path("folder"), new ImageFolderOptions(TestFraction: 0.25));
        Assert.Equal(9, splits.Train.Count);
        Assert.Equal(3, splits.Test!.Count);
    }

    [Fact]
    public void Mixed_sizes_need_a_resize_and_then_read_as_rgb()
    {
        var error = Assert.Throws<DataFormatException>(() => ImageFolderReader.Read(Fixture.Path("flat"), new ImageFolderOptions()));
        Assert.Contains("give a size", error.Message);
        Assert.EndsWith("image2.png", error.File);
        var data = ImageFolderReader.Read(Fixture.Path("flat"), new ImageFolderOptions(Size: 12));
        Assert.Equal((3, 3, 12, 12), (data.Count, data.Channels, data.Height, data.Width));
        Assert.False(data.HasLabels);
    }

    [Fact]
    public void Undecodable_images_are_named_or_skipped_on_request()
    {
        var error = Assert.Throws<DataFormatException>(() => ImageFolderReader.Read(Fixture.Path("badimages"), new ImageFolderOptions()));
        Assert.EndsWith(".png", error.File);
        var skipped = new List<string>();
        var data = ImageFolderReader.Read(Fixture.Path("badimages"), new ImageFolderOptions(SkipBadImages: true), skipped);
        Assert.Equal(1, data.Count);
        Assert.Equal(3, skipped.Count);
        Assert.Contains(skipped, s => s.Contains("empty.png") && s.Contains("0 bytes"));
        Assert.Contains(skipped, s => s.Contains("truncated.png"));
        Assert.Contains(skipped, s => s.Contains("notanimage.png"));
    }

    [Fact]
    public void Embedded_digits_load_without_files()
    {
        var all = DigitsDataset.LoadAll();
        Assert.Equal(1797, all.Count);
        Assert.Equal((1, 8, 8), (all.Channels, all.Height, all.Width));
        Assert.Equal(255, all.Pixels.Max());
        var splits = DigitsDataset.Load();
        Assert.Equal(1797, splits.Train.Count + splits.Test!.Count);
        Assert.Equal(splits.Train.Labels, DigitsDataset.Load().Train.Labels);
    }

    [Fact]
    public void The_validation_slice_is_stratified_seeded_disjoint_and_never_pretrained_on()
    {
        var data = DataSpec.Parse("digits").Load();
        var again = DataSpec.Parse("digits").Load();
        var validation = data.Validation!;
        Assert.Equal(validation.RecordIds, again.Validation!.RecordIds);
        Assert.Equal(1438, data.Train.Count + validation.Count);            // carved from the 80% training split
        Assert.Empty(validation.RecordIds!.Intersect(data.Train.RecordIds!));
        Assert.Empty(validation.RecordIds!.Intersect(data.Test!.RecordIds!));
        for (int c = 0; c < 10; c++)
        {
            double share = validation.Labels!.Count(l => l == c) / (double)(validation.Labels!.Count(l => l == c) + data.Train.Labels!.Count(l => l == c));
            Assert.InRange(share, 0.08, 0.12);                                 // about 10% of every class
        }
        Assert.Null(DataSpec.Parse("digits,val=0").Load().Validation);
        Assert.InRange(DataSpec.Parse("digits,val=0.3").Load().Validation!.Count, 420, 445);
        Assert.NotEqual(validation.RecordIds, DataSpec.Parse("digits,seed=5").Load().Validation!.RecordIds);
        // Pretraining draws its batches from the training part only.
        var config = Training.PretrainConfig.DefaultsFor(data.Train, Objectives.Method.Masked) with { Epochs = 1, BatchSize = 100, Threads = 2 };
        using var trainer = Training.Pretrainer.Start(config, Fixture.TempFolder(), data);
        Assert.Equal(data.Train.Count / 100, trainer.StepsPerEpoch);
        Assert.Same(data.Train, trainer.Data.Train);
    }

    [Theory]
    [InlineData("mnist:dir", "unknown data kind")]
    [InlineData("idx", "needs a path")]
    [InlineData("folder:x,size=2", "size=2 is out of range")]
    [InlineData("folder:x,channels=2", "channels=2")]
    [InlineData("idx:x,size=32", "does not apply")]
    public void Bad_data_specs_are_explained(string spec, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => DataSpec.Parse(spec));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Data_spec_round_trips_and_loads()
    {
        var spec = DataSpec.Parse($"idx:{Fixture.Path("idx")},limit=10,channels=3");
        Assert.Equal(spec.ToString(), DataSpec.Parse(spec.ToString()).ToString());
        var data = spec.Load();
        Assert.Equal(10, data.Train.Count);
        Assert.Equal(3, data.Train.Channels);
    }
}
