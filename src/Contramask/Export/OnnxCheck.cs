using Microsoft.ML.OnnxRuntime;

namespace Contramask.Export;

/// <summary>
/// Runs an exported model in ONNX Runtime on a batch and compares each output with what TorchSharp computed for the
/// same inputs: the largest absolute difference per output. Loading the model also makes ONNX Runtime validate it
/// (operator schemas, types and shapes of every node).
/// </summary>
public static class OnnxCheck
{
    /// <summary>Output name → max |ONNX Runtime − expected| over the batch.</summary>
    public static Dictionary<string, double> MaxDifferences(byte[] model, string inputName, float[] input, long[] shape,
        IReadOnlyDictionary<string, float[]> expected)
    {
        var outputs = Run(model, inputName, input, shape, expected.Keys.ToArray());
        var differences = new Dictionary<string, double>();
        foreach (var (name, reference) in expected)
        {
            var actual = outputs[name];
            if (actual.Length != reference.Length)
                throw new ExportCheckFailedException($"ONNX output {name} has {actual.Length} values, TorchSharp's {reference.Length}");
            double max = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                double d = Math.Abs((double)actual[i] - reference[i]);
                if (double.IsNaN(d)) d = double.PositiveInfinity;
                max = Math.Max(max, d);
            }
            differences[name] = max;
        }
        return differences;
    }

    /// <summary>The named outputs of the model on one float32 input, flattened row-major.</summary>
    public static Dictionary<string, float[]> Run(byte[] model, string inputName, float[] input, long[] shape, IReadOnlyList<string> outputNames)
    {
        using var options = new SessionOptions { IntraOpNumThreads = Math.Max(1, Environment.ProcessorCount) };
        using var session = new InferenceSession(model, options);
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [inputName], [value], outputNames);
        var outputs = new Dictionary<string, float[]>();
        for (int i = 0; i < outputNames.Count; i++) outputs[outputNames[i]] = results[i].GetTensorDataAsSpan<float>().ToArray();
        return outputs;
    }
}

/// <summary>An exported model disagrees with the trained one beyond the tolerance: it was not written.</summary>
public sealed class ExportCheckFailedException(string message) : Exception(message);
