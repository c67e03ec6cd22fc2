using Contramask.Data;
using Microsoft.ML.OnnxRuntime;

namespace Contramask.Inference;

/// <summary>
/// A pretrained encoder exported by <c>contramask export --run</c>: records → embeddings (one float vector each), for
/// search, clustering or a model of your own.
/// <code>
/// using var model = EmbeddingModel.Load("encoder.onnx");
/// float[][] vectors = model.Embed(["scan1.png", "scan2.png"]);
/// </code>
/// </summary>
public sealed class EmbeddingModel : OnnxModel
{
    EmbeddingModel(string path, SessionOptions? options) : base(path, "encoder", options) { }

    public static EmbeddingModel Load(string path, SessionOptions? options = null) => new(path, options);

    /// <summary>Image files (PNG, JPEG, BMP, WebP, GIF).</summary>
    public float[][] Embed(IReadOnlyList<string> imageFiles) => Run(ImagesOf(imageFiles), "embedding");

    /// <summary>Encoded images (the bytes of PNG, JPEG… files).</summary>
    public float[][] Embed(IReadOnlyList<byte[]> encodedImages) => Run(ImagesOf(encodedImages), "embedding");

    /// <summary>Every row of a CSV file (it needs the columns the model reads; others are ignored).</summary>
    public float[][] EmbedTable(string csvPath, CsvFormat? format = null) => Run(TableOf(csvPath, format), "embedding");

    /// <summary>Rows as column → cell text.</summary>
    public float[][] EmbedRows(IReadOnlyList<IReadOnlyDictionary<string, string?>> rows) => Run(RowsOf(rows), "embedding");
}
