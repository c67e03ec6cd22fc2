using Contramask.Data;
using Microsoft.ML.OnnxRuntime;

namespace Contramask.Inference;

/// <summary>An exported Contramask model in an ONNX Runtime session: its input description and batched runs.</summary>
public abstract class OnnxModel : IDisposable
{
    /// <summary>Records per ONNX Runtime call.</summary>
    public const int BatchSize = 256;

    readonly InferenceSession session;
    readonly string inputName;

    protected OnnxModel(string path, string expectedKind, SessionOptions? options)
    {
        if (!File.Exists(path)) throw new DataFormatException(path, "file not found");
        try { session = options is null ? new InferenceSession(path) : new InferenceSession(path, options); }
        catch (OnnxRuntimeException e) { throw new DataFormatException(path, $"not a model ONNX Runtime reads: {e.Message.Split('\n')[0]}"); }
        try
        {
            Metadata = session.ModelMetadata.CustomMetadataMap;
            if (!Metadata.TryGetValue("contramask.kind", out var kind))
                throw new DataFormatException(path, "not a Contramask model: no contramask.kind metadata (export it with contramask export)");
            if (kind != expectedKind)
                throw new DataFormatException(path, $"is a Contramask {kind}, not a {expectedKind}" + (kind == "encoder" ? "; load it with EmbeddingModel" : "; load it with ClassifierModel"));
            Input = ModelInput.FromMetadata(Metadata, path);
            inputName = session.InputMetadata.Keys.Single();
        }
        catch
        {
            session.Dispose();
            throw;
        }
        Source = path;
    }

    public string Source { get; }
    public ModelInput Input { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public int EmbeddingSize => int.Parse(Metadata["contramask.embedding_size"], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Values per record of the model's input: C·H·W for images, 2F for table rows.</summary>
    long ValuesPerRecord => Input.IsImage ? (long)Input.Channels * Input.Height * Input.Width : 2L * Input.Schema!.FeatureCount;

    /// <summary>One output for every record of packed inputs, run batch by batch: a row per record.</summary>
    protected float[][] Run(float[] inputs, string output)
    {
        long perRecord = ValuesPerRecord;
        int count = (int)(inputs.Length / perRecord);
        long[] shape = Input.IsImage ? [0, Input.Channels, Input.Height, Input.Width] : [0, perRecord];
        var rows = new float[count][];
        using var runOptions = new RunOptions();
        for (int start = 0; start < count; start += BatchSize)
        {
            int n = Math.Min(BatchSize, count - start);
            shape[0] = n;
            var batch = new float[n * perRecord];
            Array.Copy(inputs, start * perRecord, batch, 0, batch.Length);
            using var value = OrtValue.CreateTensorValueFromMemory(batch, shape);
            using var results = session.Run(runOptions, [inputName], [value], [output]);
            var values = results[0].GetTensorDataAsSpan<float>();
            int width = values.Length / n;
            for (int i = 0; i < n; i++) rows[start + i] = values.Slice(i * width, width).ToArray();
        }
        return rows;
    }

    protected float[] ImagesOf(IReadOnlyList<string> files) => InputEncoder.Images(files, Input);
    protected float[] ImagesOf(IReadOnlyList<byte[]> encoded) => InputEncoder.Images(encoded, Input);
    /// <summary>A CSV file read as training read its table (its separator and decimal mark) unless <paramref name="format"/> says otherwise.</summary>
    protected float[] TableOf(string csvPath, CsvFormat? format)
    {
        format ??= Input.CsvFormat ?? new CsvFormat();
        return InputEncoder.Table(CsvTableReader.Read(csvPath, format), format, Input);
    }
    protected float[] RowsOf(IReadOnlyList<IReadOnlyDictionary<string, string?>> rows) => InputEncoder.Rows(rows, Input);

    public void Dispose()
    {
        session.Dispose();
        GC.SuppressFinalize(this);
    }
}
