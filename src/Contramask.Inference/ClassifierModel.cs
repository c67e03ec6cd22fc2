using Contramask.Data;
using Microsoft.ML.OnnxRuntime;

namespace Contramask.Inference;

/// <summary>A predicted class with its calibrated probability, and every class's probability (in <see cref="ClassifierModel.Classes"/> order).</summary>
public sealed record Prediction(string Class, float Confidence, float[] Probabilities);

/// <summary>
/// A classifier exported by <c>contramask export --model</c>: records → the predicted class and calibrated class
/// probabilities (softmax with the temperature fitted on the validation slice).
/// <code>
/// using var model = ClassifierModel.Load("classifier.onnx");
/// foreach (var p in model.Predict(["scan1.png", "scan2.png"])) Console.WriteLine($"{p.Class} {p.Confidence:P1}");
/// </code>
/// </summary>
public sealed class ClassifierModel : OnnxModel
{
    ClassifierModel(string path, SessionOptions? options) : base(path, "classifier", options)
    {
        try
        {
            Classes = System.Text.Json.JsonSerializer.Deserialize<string[]>(Metadata.GetValueOrDefault("contramask.classes") ?? "null")
                ?? throw new DataFormatException(path, "a classifier without contramask.classes metadata");
        }
        catch (System.Text.Json.JsonException e)
        {
            Dispose();
            throw new DataFormatException(path, $"unreadable contramask.classes metadata: {e.Message}");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public static ClassifierModel Load(string path, SessionOptions? options = null) => new(path, options);

    public IReadOnlyList<string> Classes { get; }

    /// <summary>Image files (PNG, JPEG, BMP, WebP, GIF).</summary>
    public Prediction[] Predict(IReadOnlyList<string> imageFiles) => Predictions(ImagesOf(imageFiles));

    /// <summary>Encoded images (the bytes of PNG, JPEG… files, e.g. an upload).</summary>
    public Prediction[] Predict(IReadOnlyList<byte[]> encodedImages) => Predictions(ImagesOf(encodedImages));

    /// <summary>Every row of a CSV file (it needs the columns the model reads; others are ignored).</summary>
    public Prediction[] PredictTable(string csvPath, CsvFormat? format = null) => Predictions(TableOf(csvPath, format));

    /// <summary>Rows as column → cell text.</summary>
    public Prediction[] PredictRows(IReadOnlyList<IReadOnlyDictionary<string, string?>> rows) => Predictions(RowsOf(rows));

    Prediction[] Predictions(float[] inputs) => Run(inputs, "probabilities").Select(p =>
    {
        int best = 0;
        for (int c = 1; c < p.Length; c++) if (p[c] > p[best]) best = c;
        return new Prediction(Classes[best], p[best], p);
    }).ToArray();
}
