using System.Diagnostics;
using Contramask.Classification;
using Contramask.Cli;
using Contramask.Data;
using Contramask.Export;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Training;
using Contramask.Views;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>A one-epoch contrastive ConvNet run on the embedded digits and a probe classifier on it, made once.</summary>
public sealed class ExportRunFixture
{
    public ExportRunFixture()
    {
        Folder = Fixture.TempFolder();
        var data = DataSpec.Parse("digits").Load();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Contrastive) with { Epochs = 1, BatchSize = 64, Threads = 2, MonitorChecks = 0, LearningRate = Fixture.ShortRunLearningRate };
        using (var trainer = Pretrainer.Start(config, Folder, data)) trainer.Run();
        ClassifierFolder = Path.Combine(Fixture.TempFolder(), "classifier");
        using var classifier = Classifier.Train(Folder, null, new ClassifierOptions { Mode = ClassifierMode.Probe, Labels = LabelBudget.Parse("20%"), Threads = 2, L2Grid = [1e-3] });
        classifier.Save(ClassifierFolder);
    }

    public string Folder { get; }
    public string ClassifierFolder { get; }
}

[Collection("console")]
public class OnnxExportTests(ExportRunFixture run) : IClassFixture<ExportRunFixture>
{
    /// <summary>
    /// An encoder whose every parameter is moved off its initial value (LayerNorm scales off 1, biases off 0) and
    /// whose batch norms hold running statistics of their own, so an export that drops any of them differs.
    /// </summary>
    static void Perturb(Encoder encoder, Tensor trainingInputs)
    {
        manual_seed(3);
        using (no_grad())
            foreach (var p in encoder.parameters()) p.add_(randn_like(p).mul_(Runtime.Scalars.Of(0.2)));
        // Running statistics as evaluation would have them after training (a cumulative average of three batches),
        // so activations keep their scale through the eval-mode layers.
        foreach (var norm in encoder.modules().OfType<BatchNorm>()) { norm.Momentum = null; norm.ResetRunningStatistics(); }
        encoder.train();
        using (no_grad()) for (int i = 0; i < 3; i++) encoder.forward(trainingInputs).Dispose();
        encoder.eval();
    }

    /// <summary>ONNX Runtime's output for <paramref name="inputs"/> vs TorchSharp's, the largest absolute difference.</summary>
    static double MaxDifference(byte[] model, string inputName, Tensor inputs, Tensor expected, string output = OnnxModels.Embedding)
    {
        var outputs = OnnxCheck.Run(model, inputName, inputs.contiguous().data<float>().ToArray(), inputs.shape, [output]);
        var reference = expected.contiguous().data<float>().ToArray();
        Assert.Equal(reference.Length, outputs[output].Length);
        return reference.Zip(outputs[output], (a, b) => (double)Math.Abs(a - b)).Max();
    }

    /// <summary>The official checker (Debian's python3-onnx, installed by build/test-tools.sh) with full shape inference.</summary>
    internal static void AssertPassesOnnxChecker(string path)
    {
        var start = new ProcessStartInfo("/usr/bin/python3")
        {
            ArgumentList = { "-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path },
            RedirectStandardError = true, RedirectStandardOutput = true,
        };
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"onnx.checker rejected {path} (python3-onnx missing? run build/test-tools.sh): {error}");
    }

    static string Save(byte[] model)
    {
        var path = Path.Combine(Fixture.TempFolder(), "model.onnx");
        File.WriteAllBytes(path, model);
        return path;
    }

    [Theory]
    [InlineData("convnet", 3, 16, 16)]
    [InlineData("resnet18", 3, 16, 16)]
    [InlineData("vit", 3, 16, 16)]
    [InlineData("convnet", 1, 28, 28)]
    [InlineData("convnet-narrow", 1, 28, 28)]
    [InlineData("vit", 1, 16, 24)]
    public void Onnx_runtime_computes_the_image_encoders_embedding_within_1e_4(string kind, int channels, int height, int width)
    {
        using var scope = NewDisposeScope();
        var options = kind switch
        {
            "resnet18" => EncoderOptions.FromName("resnet18") with { Width = 0.25 },
            "convnet-narrow" => EncoderOptions.FromName("convnet") with { Width = 0.5 },
            "vit" => new EncoderOptions { Kind = "vit", Dim = 32, Depth = 2, Heads = 4, Patch = 4 },
            _ => EncoderOptions.FromName(kind),
        };
        manual_seed(1);
        using var encoder = options.Build(channels, height, width);
        var images = rand(16, channels, height, width);
        var normalization = new ImageNormalization(
            Enumerable.Range(0, channels).Select(c => 0.3f + 0.1f * c).ToArray(), Enumerable.Range(0, channels).Select(c => 0.2f + 0.05f * c).ToArray());
        Perturb(encoder, normalization.Apply(images));
        var config = new PretrainConfig { Encoder = options, Normalization = normalization };
        var model = OnnxModels.Encoder(encoder, config, new InputShape(InputShape.Image, channels, height, width)).ToByteArray();
        using (no_grad())
        {
            // The batch dimension is dynamic: 16 images and a single one.
            var expected = encoder.forward(normalization.Apply(images));
            float largest = expected.abs().max().item<float>();
            Assert.InRange(largest, 0.1f, 50f);
            double difference = MaxDifference(model, OnnxModels.ImageInput, images, expected);
            Assert.True(difference <= ModelExport.Tolerance, $"{kind}: max difference {difference}");
            double single = MaxDifference(model, OnnxModels.ImageInput, images[..1], expected[..1]);
            Assert.True(single <= ModelExport.Tolerance, $"{kind}, batch 1: max difference {single}");
        }
        AssertPassesOnnxChecker(Save(model));
        AssertEveryNumberAttributeIsWritten(model, hasZero: kind == "vit");
    }

    /// <summary>
    /// An INT or FLOAT attribute of 0 (keepdims = 0, axis = 0) is in the file: readers that check the field's presence
    /// (the official proto2 schema's has_i) would otherwise take the operator's default (keepdims = 1).
    /// </summary>
    static void AssertEveryNumberAttributeIsWritten(byte[] model, bool hasZero)
    {
        var parsed = Export.Onnx.ModelProto.Parser.ParseFrom(model);
        var attributes = parsed.Graph.Node.SelectMany(n => n.Attribute).ToList();
        if (hasZero) Assert.Contains(attributes, a => a.Type == Export.Onnx.AttributeProto.Types.AttributeType.Int && a.I == 0);
        Assert.All(attributes.Where(a => a.Type == Export.Onnx.AttributeProto.Types.AttributeType.Int), a => Assert.True(a.HasI, a.Name));
        Assert.All(attributes.Where(a => a.Type == Export.Onnx.AttributeProto.Types.AttributeType.Float), a => Assert.True(a.HasF, a.Name));
    }

    [Theory]
    [InlineData("mlp", "")]
    [InlineData("ft-transformer", "")]
    [InlineData("mlp", "city,rooms,note")]
    [InlineData("ft-transformer", "city,rooms,note")]
    [InlineData("mlp", "age,income")]
    [InlineData("ft-transformer", "age,income")]
    public void Onnx_runtime_computes_the_table_encoders_embedding_within_1e_4_with_categories_and_missing_cells(string kind, string ignored)
    {
        using var scope = NewDisposeScope();
        // mixed.csv: numbers (age, income), categories (city, rooms, note; one with an unseen value in test) and
        // missing cells; leaving some columns out gives a numbers-only and a categories-only table.
        var schemaFile = Path.Combine(Fixture.TempFolder(), "schema.json");
        File.WriteAllText(schemaFile, System.Text.Json.JsonSerializer.Serialize(new { columns = ignored.Split(',', StringSplitOptions.RemoveEmptyEntries).ToDictionary(c => c, _ => "ignore") }));
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30,schema={schemaFile}").LoadTable();
        Assert.Equal(5 - ignored.Split(',', StringSplitOptions.RemoveEmptyEntries).Length, data.Train.FeatureCount);
        var schema = data.Train.Schema;
        var options = EncoderOptions.FromName(kind) with { Dim = 32, Depth = 2 };
        manual_seed(1);
        using var encoder = options.BuildTable(new TableLayout(schema));
        var rows = data.Train.Inputs(Enumerable.Range(0, data.Train.Count).ToArray());
        Assert.True(rows.narrow(1, schema.FeatureCount, schema.FeatureCount).sum().item<float>() > 0, "the fixture has missing cells");
        Perturb(encoder, rows);
        var model = OnnxModels.Encoder(encoder, new PretrainConfig { Encoder = options, Table = schema }, new InputShape(InputShape.Table)).ToByteArray();
        var test = data.Test!.Inputs(Enumerable.Range(0, data.Test.Count).ToArray());
        using (no_grad())
            foreach (var batch in new[] { rows, test, test[..1] })
            {
                double difference = MaxDifference(model, OnnxModels.TableInput, batch, encoder.forward(batch));
                Assert.True(difference <= ModelExport.Tolerance, $"{kind}: max difference {difference}");
            }
        AssertPassesOnnxChecker(Save(model));
    }

    [Fact]
    public void A_table_run_exports_with_its_schema_and_the_check_runs_on_the_data_given()
    {
        var folder = Fixture.TempFolder();
        var spec = $"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30";
        var data = DataSpec.Parse(spec).LoadTable();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Fusion, "ft-transformer") with { Data = spec, Epochs = 2, Threads = 2, MonitorChecks = 0 };
        using (var trainer = Pretrainer.Start(config, folder, data)) trainer.Run();
        var path = Path.Combine(folder, "table.onnx");
        var (code, output, error) = CliTests.Run("export", "--run", folder, "--data", spec, "--out", path);
        Assert.True(code == 0, error);
        Assert.Contains("ONNX Runtime matches TorchSharp", output);
        AssertPassesOnnxChecker(path);
        using var session = new InferenceSession(path);
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Contains("\"city\"", metadata[OnnxModels.MetadataKeys.TableSchema]);
        Assert.Equal("ft-transformer", System.Text.Json.JsonDocument.Parse(metadata[OnnxModels.MetadataKeys.Architecture]).RootElement.GetProperty("kind").GetString());
        Assert.Equal(OnnxModels.TableInput, session.InputMetadata.Keys.Single());
        Assert.Equal([-1, 2 * data.Train.FeatureCount], session.InputMetadata[OnnxModels.TableInput].Dimensions);
    }

    [Fact]
    public void A_classifier_exports_with_logits_probabilities_and_metadata_that_match_the_trained_one()
    {
        var path = Path.Combine(Fixture.TempFolder(), "digits.onnx");
        var report = ModelExport.Classifier(run.ClassifierFolder, null, path);
        Assert.Equal(ModelExport.CheckRecords, report.CheckedRecords);
        Assert.All(report.MaxDifference.Values, d => Assert.InRange(d, 0, ModelExport.Tolerance));
        Assert.Equal([OnnxModels.Embedding, OnnxModels.Logits, OnnxModels.Probabilities], report.MaxDifference.Keys.Order());
        AssertPassesOnnxChecker(path);

        using var classifier = Classifier.Load(run.ClassifierFolder);
        using var session = new InferenceSession(path);
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("classifier", metadata[OnnxModels.MetadataKeys.Kind]);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(classifier.Classes), metadata[OnnxModels.MetadataKeys.Classes]);
        Assert.Contains("\"height\":8", metadata[OnnxModels.MetadataKeys.Input]);

        // The test split through ONNX Runtime gives the classifier's own predictions.
        var test = DataSpec.Parse("digits").Load().Test!;
        var indices = Enumerable.Range(0, test.Count).ToArray();
        using var images = test.Inputs(indices);
        var onnx = OnnxCheck.Run(File.ReadAllBytes(path), OnnxModels.ImageInput, images.data<float>().ToArray(), images.shape, [OnnxModels.Probabilities])[OnnxModels.Probabilities];
        var torch = new float[onnx.Length];
        classifier.Predict(test, (start, p) => p.CopyTo(torch.AsSpan(start * classifier.Classes.Count)));
        Assert.True(onnx.Zip(torch, (a, b) => Math.Abs(a - b)).Max() <= ModelExport.Tolerance);
        for (int n = 0; n < test.Count; n++) Assert.Equal(1f, onnx.AsSpan(n * 10, 10).ToArray().Sum(), 4);
    }

    [Fact]
    public void Export_refuses_a_model_that_disagrees_with_the_trained_one_and_writes_nothing()
    {
        using var scope = NewDisposeScope();
        var data = DataSpec.Parse("digits").Load();
        var options = EncoderOptions.FromName("convnet");
        var config = new PretrainConfig { Encoder = options, Normalization = ImageNormalization.FromDataset(data.Train) };
        manual_seed(1);
        using var exported = options.Build(1, 8, 8);
        using var other = options.Build(1, 8, 8);
        exported.eval(); other.eval();
        var input = InputShape.Of(data.Train);
        var model = OnnxModels.Encoder(exported, config, input).ToByteArray();
        var path = Path.Combine(Fixture.TempFolder(), "wrong.onnx");
        var error = Assert.Throws<ExportCheckFailedException>(() =>
        {
            ModelExport.Verified(model, data.Train, input, x => new() { [OnnxModels.Embedding] = other.forward(config.Normalization.Apply(x)) }, path);
        });
        Assert.Contains("nothing was written", error.Message);
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!));
        // The same model against its own encoder is written.
        var report = ModelExport.Verified(model, data.Train, input, x => new() { [OnnxModels.Embedding] = exported.forward(config.Normalization.Apply(x)) }, path);
        Assert.True(File.Exists(path));
        Assert.Equal(new FileInfo(path).Length, report.Bytes);
    }

    [Fact]
    public void The_export_command_writes_a_checked_encoder_and_refuses_bad_arguments_in_one_line()
    {
        // A long folder name: the message must stay one line on redirected output (it once wrapped at 80 columns).
        var path = Path.Combine(Fixture.TempFolder(), new string('d', 120), "encoder.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var (code, output, error) = CliTests.Run("export", "--run", run.Folder, "--out", path, "--data", "digits");
        Assert.True(code == 0, error);
        Assert.Contains($"Written {path} (", output);
        Assert.Contains("ONNX Runtime matches TorchSharp on 32 records", output);
        AssertPassesOnnxChecker(path);
        (code, _, error) = CliTests.Run("export", "--run", run.Folder, "--out", path, "--data", $"csv:{Fixture.Path("tables", "mixed.csv")}");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Single(error.Trim().Split('\n'));

        (code, _, error) = CliTests.Run("export", "--out", path);
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("give one of --run", error);
        (code, _, error) = CliTests.Run("export", "--run", run.Folder, "--format", "tflite");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("unknown format 'tflite'", error);
        (code, _, error) = CliTests.Run("export", "--model", run.Folder);
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("not a classifier folder", error);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public void The_speed_comparison_times_both_runtimes_in_every_round_on_the_same_model()
    {
        // Not a timing test: it checks what `speed --onnx` reports (both runtimes compute the same embedding, every
        // round's ratio is a positive spread), on a tiny input for speed, and that no rounds is refused.
        var row = InferenceSpeed.Measure("convnet", 1, 8, 8, batch: 2, threads: 1, secondsPerSide: 0.05, rounds: 4);
        Assert.Equal(4, row.Rounds);
        // Every round times each side at least 3 times: fewer calls on either side means a round skipped one runtime.
        Assert.True(row.TorchCalls >= 3 * 4 && row.OnnxCalls >= 3 * 4, $"{row.TorchCalls} / {row.OnnxCalls} calls");
        Assert.InRange(row.MaxDifference, 0, ModelExport.Tolerance);
        Assert.True(row.TorchMedianMs > 0 && row.OnnxMedianMs > 0);
        Assert.True(0 < row.LatencyRatioMin && row.LatencyRatioMin <= row.LatencyRatioMax, $"{row.LatencyRatioMin}–{row.LatencyRatioMax}");
        Assert.Throws<ArgumentOutOfRangeException>(() => InferenceSpeed.Measure("convnet", 1, 8, 8, batch: 2, threads: 1, secondsPerSide: 0.05, rounds: 0));
    }
}
