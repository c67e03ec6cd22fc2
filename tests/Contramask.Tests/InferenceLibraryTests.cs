using Contramask.Classification;
using Contramask.Data;
using Contramask.Export;
using Contramask.Inference;
using Contramask.Mining;
using Contramask.Objectives;
using Contramask.Training;
using SkiaSharp;

namespace Contramask.Tests;

/// <summary>
/// Contramask.Inference (ONNX Runtime, no TorchSharp) on models exported from real runs: its predictions and
/// embeddings for image files, uploads, CSV files and rows equal what Contramask itself computes for the same records.
/// </summary>
[Collection("console")]
public class InferenceLibraryTests(ExportRunFixture run) : IClassFixture<ExportRunFixture>
{
    /// <summary>
    /// Writes the first <paramref name="count"/> test digits as PNG files (lossless): 8-bit grey, or with
    /// <paramref name="colour"/> as RGB with the digit in the red and blue channels; stretched to width × height.
    /// </summary>
    static (List<string> Files, ImageDataset Images) DigitFiles(int count, int width = 8, int height = 8, bool colour = false)
    {
        var test = (ImageDataset)DataSpec.Parse("digits").Load().Test!;
        var folder = Fixture.TempFolder();
        var files = new List<string>();
        for (int n = 0; n < count; n++)
        {
            using var bitmap = new SKBitmap(new SKImageInfo(8, 8, SKColorType.Gray8, SKAlphaType.Opaque));
            var pixels = bitmap.GetPixelSpan();
            for (int p = 0; p < 64; p++) pixels[p] = test.Pixels[n * 64 + p];
            using var scaled = width == 8 && height == 8 ? bitmap.Copy() : bitmap.Resize(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque), new SKSamplingOptions(SKFilterMode.Linear));
            using var written = colour ? new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque)) : scaled.Copy();
            if (colour)
                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++) { byte v = scaled.GetPixel(x, y).Red; written.SetPixel(x, y, new SKColor(v, 40, v)); }
            var path = Path.Combine(folder, $"digit{n:D3}.png");
            using (var stream = File.Create(path)) written.Encode(stream, SKEncodedImageFormat.Png, 100);
            files.Add(path);
        }
        return (files, test.Subset(Enumerable.Range(0, count).ToArray()));
    }

    static float[] Flatten(IEnumerable<float[]> rows) => rows.SelectMany(r => r).ToArray();

    static double MaxDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();
    }

    [Fact]
    public void Image_files_and_uploads_get_the_classifiers_own_probabilities_and_the_encoders_own_embeddings()
    {
        var folder = Fixture.TempFolder();
        ModelExport.Classifier(run.ClassifierFolder, null, Path.Combine(folder, "classifier.onnx"));
        ModelExport.Run(run.Folder, null, Path.Combine(folder, "encoder.onnx"));
        var (files, images) = DigitFiles(40);

        using var classifier = Classifier.Load(run.ClassifierFolder);
        var expected = new float[images.Count * 10];
        classifier.Predict(images, (start, p) => p.CopyTo(expected.AsSpan(start * 10)));
        using var model = ClassifierModel.Load(Path.Combine(folder, "classifier.onnx"));
        Assert.Equal(classifier.Classes, model.Classes);
        var predictions = model.Predict(files);
        Assert.True(MaxDifference(expected, Flatten(predictions.Select(p => p.Probabilities))) <= ModelExport.Tolerance);
        for (int n = 0; n < images.Count; n++)
            Assert.Equal(classifier.Classes[Array.IndexOf(expected, expected.AsSpan(n * 10, 10).ToArray().Max(), n * 10) - n * 10], predictions[n].Class);
        // The same images as uploaded bytes.
        var uploads = model.Predict(files.Select(File.ReadAllBytes).ToList());
        Assert.Equal(predictions.Select(p => p.Probabilities), uploads.Select(p => p.Probabilities));

        var (config, _, encoder) = EmbeddingExport.Load(run.Folder);
        using (encoder)
        {
            var table = EmbeddingExport.Compute(encoder, config, new DataSplits(images, null));
            using var embedder = EmbeddingModel.Load(Path.Combine(folder, "encoder.onnx"));
            Assert.Equal(128, embedder.EmbeddingSize);
            Assert.True(MaxDifference(table.Vectors, Flatten(embedder.Embed(files))) <= ModelExport.Tolerance);
        }
    }

    [Theory]
    [InlineData(24, 30, false)]
    [InlineData(8, 8, true)]
    [InlineData(30, 24, true)]
    public void Other_sizes_and_colour_images_are_read_as_the_training_folder_reader_reads_them(int width, int height, bool colour)
    {
        var folder = Fixture.TempFolder();
        var path = Path.Combine(folder, "classifier.onnx");
        ModelExport.Classifier(run.ClassifierFolder, null, path);
        // Not square, so the center crop matters; colour, so the grey conversion does.
        var (files, _) = DigitFiles(12, width, height, colour);
        // What training would read from these files: folder:DIR,size=8,channels=1.
        var asTrained = (ImageDataset)DataSpec.Parse($"folder:{Path.GetDirectoryName(files[0])},size=8,channels=1,val=0").Load().Train;
        using var classifier = Classifier.Load(run.ClassifierFolder);
        var expected = new float[asTrained.Count * 10];
        classifier.Predict(asTrained, (start, p) => p.CopyTo(expected.AsSpan(start * 10)));
        using var model = ClassifierModel.Load(path);
        var byId = asTrained.RecordIds!.Select((id, i) => (id, i)).ToDictionary(p => Path.GetFileName(p.id), p => p.i);
        var predicted = model.Predict(files);
        for (int n = 0; n < files.Count; n++)
        {
            int i = byId[Path.GetFileName(files[n])];
            Assert.True(MaxDifference(expected.AsSpan(i * 10, 10).ToArray(), predicted[n].Probabilities) <= ModelExport.Tolerance);
        }
    }

    [Fact]
    public void Csv_files_and_rows_get_the_table_classifiers_own_probabilities_with_unseen_categories_and_missing_cells()
    {
        var folder = Fixture.TempFolder();
        var csv = Fixture.Path("tables", "mixed.csv");
        var spec = $"csv:{csv},label=label,id=id,split=30";
        var data = DataSpec.Parse(spec).LoadTable();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion) with { Data = spec, Epochs = 2, Threads = 2, MonitorChecks = 0 };
        using (var trainer = Pretrainer.Start(config, folder, data)) trainer.Run();
        using var classifier = Classifier.Train(folder, null, new ClassifierOptions { Mode = ClassifierMode.Probe, Threads = 2, L2Grid = [1e-2] });
        var classifierFolder = Path.Combine(folder, "classifier");
        classifier.Save(classifierFolder);
        var path = Path.Combine(folder, "table.onnx");
        ModelExport.Classifier(classifierFolder, null, path);

        var records = PredictionData.Load($"csv:{csv}", classifier.Info).Single().Records;
        var expected = new float[records.Count * 2];
        classifier.Predict(records, (start, p) => p.CopyTo(expected.AsSpan(start * 2)));
        using var model = ClassifierModel.Load(path);
        Assert.Equal("table", model.Input.Kind);
        var fromCsv = model.PredictTable(csv);
        Assert.Equal(records.Count, fromCsv.Length);
        Assert.True(MaxDifference(expected, Flatten(fromCsv.Select(p => p.Probabilities))) <= ModelExport.Tolerance);

        // The same rows as dictionaries: an absent key is a missing cell; "Oslo" is a city the schema never saw.
        var raw = CsvTableReader.Read(csv, new CsvFormat());
        var rows = raw.Rows.Select(r => (IReadOnlyDictionary<string, string?>)raw.Columns.Zip(r).ToDictionary(p => p.First, p => (string?)p.Second)).ToList();
        Assert.Equal(fromCsv.Select(p => p.Probabilities), model.PredictRows(rows).Select(p => p.Probabilities));
        var schema = model.Input.Schema!;
        int f = schema.FeatureCount, city = schema.Features.ToList().FindIndex(c => c.Name == "city"), age = schema.Features.ToList().FindIndex(c => c.Name == "age");
        var packed = InputEncoder.Rows([new Dictionary<string, string?> { ["age"] = "41", ["city"] = "Oslo" }, new Dictionary<string, string?> { ["age"] = "NA", ["city"] = "Graz" }], model.Input);
        Assert.Equal(0f, packed[city]);                 // unseen city: the unknown code
        Assert.Equal(0f, packed[f + city]);             // … which is not missing
        Assert.Equal(1f, packed[2 * f + city]);         // Graz: the first category, code 1
        Assert.Equal((float)((41 - schema.Features[age].Mean) / schema.Features[age].Std), packed[age], 5);
        Assert.Equal(1f, packed[2 * f + f + age]);      // "NA": missing
        Assert.Equal(0f, packed[2 * f + age]);
        Assert.InRange(model.PredictRows([new Dictionary<string, string?> { ["age"] = "41", ["city"] = "Oslo" }])[0].Probabilities.Sum(), 0.999f, 1.001f);
        var misspelt = Assert.Throws<DataFormatException>(() => model.PredictRows([new Dictionary<string, string?> { ["agee"] = "41" }]));
        Assert.Contains("column 'agee' is not one the model knows", misspelt.Message);
        // A CSV without a column the model reads.
        var lacking = Path.Combine(folder, "lacking.csv");
        File.WriteAllLines(lacking, ["id,age,label", "x1,30,yes"]);
        var absent = Assert.Throws<DataFormatException>(() => model.PredictTable(lacking));
        Assert.Contains(lacking, absent.Message);
        Assert.Contains("column(s) the model reads are absent", absent.Message);
    }

    [Fact]
    public void The_library_and_its_readers_do_not_reference_TorchSharp()
    {
        foreach (var assembly in new[] { typeof(EmbeddingModel).Assembly, typeof(TableRowEncoder).Assembly })
            Assert.DoesNotContain(assembly.GetReferencedAssemblies(), a => a.Name!.StartsWith("TorchSharp", StringComparison.Ordinal));
    }

    [Fact]
    public void Wrong_files_and_inputs_are_refused_with_the_file_named()
    {
        var folder = Fixture.TempFolder();
        var encoderPath = Path.Combine(folder, "encoder.onnx");
        ModelExport.Run(run.Folder, null, encoderPath);
        var error = Assert.Throws<DataFormatException>(() => ClassifierModel.Load(encoderPath));
        Assert.Contains("is a Contramask encoder, not a classifier", error.Message);
        var notModel = Path.Combine(folder, "notes.onnx");
        File.WriteAllText(notModel, "hello");
        error = Assert.Throws<DataFormatException>(() => EmbeddingModel.Load(notModel));
        Assert.Contains(notModel, error.Message);
        using var model = EmbeddingModel.Load(encoderPath);
        error = Assert.Throws<DataFormatException>(() => model.Embed([notModel]));
        Assert.Contains("cannot decode as an image", error.Message);
        error = Assert.Throws<DataFormatException>(() => model.Embed([Path.Combine(folder, "absent.png")]));
        Assert.Contains("absent.png: file not found", error.Message);
        // An ONNX model that is not Contramask's: readable by ONNX Runtime, without its metadata.
        var plain = new OnnxGraph("plain");
        plain.Output(plain.Input("x", 3), "y", 3);
        var plainPath = Path.Combine(folder, "plain.onnx");
        File.WriteAllBytes(plainPath, Google.Protobuf.MessageExtensions.ToByteArray(plain.Model("", new Dictionary<string, string>())));
        error = Assert.Throws<DataFormatException>(() => EmbeddingModel.Load(plainPath));
        Assert.Contains("not a Contramask model", error.Message);
        Assert.Throws<InvalidOperationException>(() => model.EmbedTable(Fixture.Path("tables", "mixed.csv")));
    }
}
