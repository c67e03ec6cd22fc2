using System.Text.Json;
using Contramask.Cli;
using Contramask.Evaluation;
using Contramask.Export;
using Contramask.Training;
using static TorchSharp.torch;

namespace Contramask.Tests;

[Collection("console")]
public class SafetensorsExportTests(ExportRunFixture run) : IClassFixture<ExportRunFixture>
{
    [Fact]
    public void An_encoder_is_written_with_every_weight_and_buffer_under_its_state_dict_name()
    {
        var path = Path.Combine(Fixture.TempFolder(), "encoder.safetensors");
        var report = ModelExport.Run(run.Folder, null, path, ExportFormat.Safetensors);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(bytes.Length, report.Bytes);
        // The header size is 8-aligned, so the data starts aligned.
        Assert.Equal(0UL, BitConverter.ToUInt64(bytes, 0) % 8);
        var (tensors, metadata) = Safetensors.Read(bytes, path);

        var (state, checkpoint) = Checkpoint.ReadState(run.Folder);
        var data = Data.DataSpec.Parse("digits").Load();
        using var encoder = EncoderEvaluator.LoadEncoder(checkpoint, state.Config, data.Train);
        var expected = encoder.state_dict();
        Assert.Equal(expected.Keys.Order(), tensors.Keys.Order());
        Assert.Contains("layers.0.1.running_var", tensors.Keys);   // buffers too, as PyTorch's state_dict has them
        Assert.Equal("I64", tensors["layers.0.1.num_batches_tracked"].DType);
        foreach (var (name, tensor) in expected)
        {
            var entry = tensors[name];
            Assert.Equal(tensor.shape, entry.Shape);
            if (entry.DType == "F32")
            {
                var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(entry.Data).ToArray();
                Assert.Equal(tensor.to(ScalarType.Float32).data<float>().ToArray(), values);
            }
        }
        Assert.Equal("encoder", metadata[OnnxModels.MetadataKeys.Kind]);
        var architecture = JsonDocument.Parse(metadata[OnnxModels.MetadataKeys.Architecture]).RootElement;
        Assert.Equal("convnet", architecture.GetProperty("kind").GetString());
        Assert.Equal(32, architecture.GetProperty("width").GetInt32());
        Assert.Contains("\"mean\"", metadata[OnnxModels.MetadataKeys.Normalization]);
    }

    [Fact]
    public void A_classifier_is_written_with_its_head_and_a_reference_file_of_inputs_and_outputs()
    {
        var folder = Fixture.TempFolder();
        var path = Path.Combine(folder, "model.safetensors");
        var referencePath = Path.Combine(folder, "reference.safetensors");
        ModelExport.Classifier(run.ClassifierFolder, null, path, ExportFormat.Safetensors, referencePath);
        var (tensors, metadata) = Safetensors.Read(File.ReadAllBytes(path), path);
        Assert.Contains("encoder.layers.0.0.weight", tensors.Keys);
        Assert.Equal([10L, 128L], tensors["head.weight"].Shape);
        Assert.Contains("featureMean", tensors.Keys);
        Assert.Contains("temperature", tensors.Keys);
        Assert.Equal(10, JsonSerializer.Deserialize<string[]>(metadata[OnnxModels.MetadataKeys.Classes])!.Length);

        var (reference, _) = Safetensors.Read(File.ReadAllBytes(referencePath), referencePath);
        Assert.Equal([32L, 1L, 8L, 8L], reference["inputs"].Shape);
        Assert.Equal([32L, 10L], reference["outputs.probabilities"].Shape);
        Assert.Equal([32L, 10L], reference["outputs.logits"].Shape);
        Assert.Equal([32L, 128L], reference["outputs.embedding"].Shape);
        var probabilities = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(reference["outputs.probabilities"].Data).ToArray();
        Assert.Equal(1f, probabilities.AsSpan(0, 10).ToArray().Sum(), 4);
    }

    [Fact]
    public void A_damaged_file_is_refused_with_its_name()
    {
        var path = Path.Combine(Fixture.TempFolder(), "short.safetensors");
        var bytes = Safetensors.Write([("w", ones(4))], new Dictionary<string, string>());
        var error = Assert.Throws<Data.DataFormatException>(() => Safetensors.Read(bytes[..^4], path));
        Assert.Contains(path, error.Message);
        Assert.Contains("outside the data", error.Message);
    }

    [Fact]
    public void The_export_command_writes_safetensors_and_refuses_a_reference_for_onnx()
    {
        var path = Path.Combine(Fixture.TempFolder(), "encoder.safetensors");
        var (code, output, error) = CliTests.Run("export", "--run", run.Folder, "--format", "safetensors", "--out", path);
        Assert.True(code == 0, error);
        Assert.Contains("PyTorch's names", output);
        Assert.True(File.Exists(path));
        (code, _, error) = CliTests.Run("export", "--run", run.Folder, "--reference", path + ".ref");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("--reference goes with --format safetensors", error);
    }
}
