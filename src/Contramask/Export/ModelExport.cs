using Contramask.Classification;
using Contramask.Data;
using Contramask.Mining;
using Contramask.Models;
using Contramask.Training;
using Google.Protobuf;
using TorchSharp;
using static TorchSharp.torch;

namespace Contramask.Export;

/// <summary>The file formats <see cref="ModelExport"/> writes.</summary>
public enum ExportFormat { Onnx, Safetensors }

/// <summary>What <see cref="ModelExport"/> wrote and how closely it matches the trained model.</summary>
public sealed record ExportReport(string Path, string Format, long Bytes, int CheckedRecords, IReadOnlyDictionary<string, double> MaxDifference, double Tolerance);

/// <summary>
/// Exports a pretraining run's encoder or a classifier folder to a file another runtime loads, after checking it:
/// ONNX Runtime's outputs on the first <see cref="CheckRecords"/> records of the data must equal TorchSharp's
/// evaluation-mode outputs within <see cref="Tolerance"/>, or nothing is written.
/// <code>
/// ModelExport.Run("runs/mnist", null, "mnist-encoder.onnx");
/// ModelExport.Classifier("models/mnist-1pct", null, "mnist-classifier.onnx");
/// </code>
/// </summary>
public static class ModelExport
{
    /// <summary>Largest absolute difference allowed between ONNX Runtime and TorchSharp on any output value.</summary>
    public const double Tolerance = 1e-4;
    public const int CheckRecords = 32;

    /// <summary>
    /// The run's encoder as ONNX (default file: <c>encoder.onnx</c> in the run folder) or safetensors
    /// (<c>encoder.safetensors</c>); <paramref name="data"/> (default: the run's own) gives the records of the check.
    /// </summary>
    public static ExportReport Run(string runFolder, ISplits? data = null, string? outPath = null, ExportFormat format = ExportFormat.Onnx,
        string? referencePath = null)
    {
        var (config, splits, encoder) = EmbeddingExport.Load(runFolder, data);
        using (encoder)
        using (MixedPrecision.InFloat32(encoder))
        using (no_grad())
        {
            var input = InputShape.Of(splits.Train);
            var featurizer = ModelFactory.Featurizer(encoder, config, splits.Train);
            Func<Tensor, Dictionary<string, Tensor>> reference = x => new() { [OnnxModels.Embedding] = featurizer(x) };
            var records = CheckSet(splits);
            if (format == ExportFormat.Safetensors)
                return WriteSafetensors(encoder, OnnxModels.Metadata("encoder", encoder, config, input), outPath ?? Path.Combine(runFolder, "encoder.safetensors"),
                    records, reference, referencePath);
            var model = OnnxModels.Encoder(encoder, config, input).ToByteArray();
            return Verified(model, records, input, reference, outPath ?? Path.Combine(runFolder, "encoder.onnx"));
        }
    }

    /// <summary>
    /// The classifier as ONNX (default file: <c>model.onnx</c> in its folder) or safetensors (<c>model.safetensors</c>:
    /// the encoder's weights under <c>encoder.</c>, then the head's); checked on <paramref name="data"/>, else on its run's data.
    /// </summary>
    public static ExportReport Classifier(string folder, ISplits? data = null, string? outPath = null, ExportFormat format = ExportFormat.Onnx,
        string? referencePath = null)
    {
        if (Classification.Classifier.ReadInfo(folder).Members is { Count: > 1 } members)
            throw new DataFormatException(folder, $"an ensemble of {members.Count} classifiers (finetune --members); export takes one network: export a classifier trained without --members");
        using var classifier = Classification.Classifier.Load(folder);
        var info = classifier.Info;
        try { data ??= DataSpec.Parse(info.Encoder.Data).LoadAny(info.Encoder.Table); }
        catch (DataFormatException e)
        {
            throw new DataFormatException(e.File, e.Problem + $" (the data the classifier was trained on, to check the export on; give --data with records of the same kind: {info.Input})");
        }
        var records = CheckSet(data);
        classifier.CheckFits(records);
        var network = classifier.Network;
        using (MixedPrecision.InFloat32(network))
        using (no_grad())
        {
            var standardize = ModelFactory.Standardizer(info.Encoder, records, network.parameters().First().device);
            Func<Tensor, Dictionary<string, Tensor>> reference = x =>
            {
                var inputs = standardize(x);
                return new()
                {
                    [OnnxModels.Logits] = network.forward(inputs),
                    [OnnxModels.Probabilities] = network.Probabilities(inputs),
                    [OnnxModels.Embedding] = network.Encoder.forward(inputs),
                };
            };
            if (format == ExportFormat.Safetensors)
            {
                var metadata = OnnxModels.Metadata("classifier", network.Encoder, info.Encoder, info.Input);
                metadata[OnnxModels.MetadataKeys.Classes] = System.Text.Json.JsonSerializer.Serialize(info.Classes);
                return WriteSafetensors(network, metadata, outPath ?? Path.Combine(folder, "model.safetensors"), records, reference, referencePath);
            }
            var model = OnnxModels.Classifier(classifier).ToByteArray();
            return Verified(model, records, info.Input, reference, outPath ?? Path.Combine(folder, "model.onnx"));
        }
    }

    /// <summary>
    /// The module's state dictionary (PyTorch's names: the same modules in PyTorch, bench/pytorch_reference.py, load it
    /// with load_state_dict) as safetensors, read back and compared before it is written.
    /// </summary>
    static ExportReport WriteSafetensors(nn.Module module, IReadOnlyDictionary<string, string> metadata, string outPath,
        IRecordSet records, Func<Tensor, Dictionary<string, Tensor>> reference, string? referencePath)
    {
        var state = module.state_dict();
        var file = Safetensors.Write(state.Select(p => (p.Key, p.Value)), metadata);
        var (tensors, _) = Safetensors.Read(file, outPath);
        // Read back: every tensor's dtype, shape and bytes as the module holds it.
        foreach (var (name, tensor) in state)
        {
            using var scope = NewDisposeScope();
            var values = tensor.detach().cpu().contiguous();
            bool same = tensors.TryGetValue(name, out var entry) && entry.Shape.SequenceEqual(values.shape) && (entry.DType, values.dtype) switch
            {
                ("F32", ScalarType.Float32) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(entry.Data).SequenceEqual(values.data<float>().ToArray()),
                ("I64", ScalarType.Int64) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(entry.Data).SequenceEqual(values.data<long>().ToArray()),
                _ => false,
            };
            if (!same) throw new ExportCheckFailedException($"safetensors: {name} does not read back as the module holds it; nothing was written");
        }
        if (referencePath is not null)
        {
            // The check's inputs and TorchSharp's outputs, for bench/load_in_pytorch.py.
            using var scope = NewDisposeScope();
            var x = CheckInputs(records);
            var outputs = reference(x).Select(p => ("outputs." + p.Key, p.Value)).Prepend(("inputs", x)).ToList();
            RunFiles.WriteAllBytesAtomic(referencePath, Safetensors.Write(outputs, new Dictionary<string, string> { ["source"] = records.Source }));
        }
        RunFiles.WriteAllBytesAtomic(outPath, file);
        return new ExportReport(Path.GetFullPath(outPath), "safetensors", file.Length, 0, new Dictionary<string, double>(), 0);
    }

    /// <summary>The model inputs of the first <see cref="CheckRecords"/> records, what the check (and the reference file) runs on.</summary>
    static Tensor CheckInputs(IRecordSet records) => records.Inputs(Enumerable.Range(0, Math.Min(CheckRecords, records.Count)).ToArray());

    /// <summary>The records the check runs on: the first of the validation slice, else of the training split.</summary>
    static IRecordSet CheckSet(ISplits data) => data.Validation is { Count: > 0 } validation ? validation : data.Train;

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="outPath"/> (atomically) only if ONNX Runtime's outputs on the first
    /// <see cref="CheckRecords"/> of <paramref name="records"/> equal <paramref name="reference"/>'s within <see cref="Tolerance"/>;
    /// else throws <see cref="ExportCheckFailedException"/> and writes nothing.
    /// </summary>
    public static ExportReport Verified(byte[] model, IRecordSet records, InputShape input, Func<Tensor, Dictionary<string, Tensor>> reference, string outPath)
    {
        if (records.Count == 0) throw new InvalidOperationException($"{records.Source} has no records to check the export on");
        Dictionary<string, double> differences;
        int count;
        using (var scope = NewDisposeScope())
        {
            var x = CheckInputs(records).contiguous();
            count = (int)x.shape[0];
            var expected = reference(x).ToDictionary(p => p.Key, p => p.Value.to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray());
            var inputName = input.Kind == InputShape.Table ? OnnxModels.TableInput : OnnxModels.ImageInput;
            differences = OnnxCheck.MaxDifferences(model, inputName, x.data<float>().ToArray(), x.shape, expected);
        }
        var worst = differences.MaxBy(d => d.Value);
        if (!(worst.Value <= Tolerance))
            throw new ExportCheckFailedException($"the ONNX model's {worst.Key} differs from TorchSharp's by {worst.Value:G3} on {records.Source} (tolerance {Tolerance:G1}); nothing was written. Please report this with the encoder ({input})");
        RunFiles.WriteAllBytesAtomic(outPath, model);
        return new ExportReport(Path.GetFullPath(outPath), "onnx", model.Length, count, differences, Tolerance);
    }
}
