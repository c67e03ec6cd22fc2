using System.Globalization;
using System.Text.Json;
using Contramask.Classification;
using Contramask.Data;
using Contramask.Export.Onnx;
using Contramask.Models;
using Contramask.Training;
using Contramask.Views;
using TorchSharp.Modules;

namespace Contramask.Export;

/// <summary>
/// Whole ONNX models: a pretrained encoder (input → <c>embedding</c>) or a classifier (input → <c>logits</c>,
/// <c>probabilities</c>, <c>embedding</c>). Images enter as float32 N×C×H×W in [0, 1] (pixels / 255) and the run's
/// per-channel standardization is part of the graph; table rows enter packed as the encoders take them (N×2F:
/// standardized numbers and category codes, then missing flags; the schema in the metadata says how to pack).
/// The metadata (<see cref="MetadataKeys"/>) carries what a consumer needs: input shape, classes, schema.
/// </summary>
public static class OnnxModels
{
    public const string ImageInput = "images";
    public const string TableInput = "rows";
    public const string Embedding = "embedding";
    public const string Logits = "logits";
    public const string Probabilities = "probabilities";

    /// <summary>Keys of the model's metadata_props.</summary>
    public static class MetadataKeys
    {
        public const string Format = "contramask.format";
        public const string Kind = "contramask.kind";
        /// <summary>JSON: {"kind":"image","channels":1,"height":28,"width":28} or {"kind":"table",…}.</summary>
        public const string Input = "contramask.input";
        public const string Encoder = "contramask.encoder";
        public const string EmbeddingSize = "contramask.embedding_size";
        /// <summary>JSON {"mean":[…],"std":[…]}: already applied inside the graph; for information.</summary>
        public const string Normalization = "contramask.normalization";
        /// <summary>JSON of the table schema (columns, kinds, means, stds, categories, label, classes).</summary>
        public const string TableSchema = "contramask.table_schema";
        /// <summary>JSON array of the class names, in the order of the logits.</summary>
        public const string Classes = "contramask.classes";
        public const string Temperature = "contramask.temperature";
        /// <summary>The side training's data spec resized and center-cropped its images to (<c>size=N</c>); absent when it kept their size.</summary>
        public const string ImageSize = "contramask.image_size";
        /// <summary>JSON {"separator":",","decimal":".","header":true}: how the training CSV was read.</summary>
        public const string CsvFormat = "contramask.csv_format";
        /// <summary>JSON: what builds the same module (kind and sizes), e.g. {"kind":"vit","channels":1,"height":28,"width":28,"patch":7,"dim":128,"depth":4,"heads":4}.</summary>
        public const string Architecture = "contramask.architecture";
    }

    /// <summary>The constructor arguments of the encoder's module, for loaders in other frameworks (bench/load_in_pytorch.py).</summary>
    public static Dictionary<string, object> Architecture(Encoder encoder, EncoderOptions options) => encoder switch
    {
        ConvNet net => new() { ["kind"] = "convnet", ["width"] = net.Width },
        ResNet18 net => new() { ["kind"] = "resnet18", ["width"] = net.WidthMultiplier },
        VisionTransformer vit => new()
        {
            ["kind"] = "vit", ["channels"] = vit.Channels, ["height"] = vit.ImageHeight, ["width"] = vit.ImageWidth,
            ["patch"] = vit.Patch, ["dim"] = vit.Dim, ["depth"] = vit.Depth, ["heads"] = vit.Heads,
        },
        ResidualMlp => new() { ["kind"] = "mlp", ["dim"] = options.Dim, ["depth"] = options.Depth },
        FeatureTokenTransformer => new() { ["kind"] = "ft-transformer", ["dim"] = options.Dim, ["depth"] = options.Depth, ["heads"] = options.Heads },
        _ => new() { ["kind"] = encoder.GetType().Name },
    };

    /// <summary>A pretrained encoder: input → N×D <c>embedding</c>.</summary>
    public static ModelProto Encoder(Encoder encoder, PretrainConfig config, InputShape input)
    {
        var g = new OnnxGraph("contramask_encoder");
        var metadata = Metadata("encoder", encoder, config, input);
        var embedding = OnnxEncoders.Add(g, encoder, Input(g, config, input));
        g.Output(embedding, Embedding, encoder.EmbeddingSize);
        return g.Model($"Contramask {config.Encoder} encoder ({config.Objective.Method}), {input} → {encoder.EmbeddingSize}-d embedding", metadata);
    }

    /// <summary>
    /// A classifier: encoder → standardized embedding → linear head = <c>logits</c>; softmax(logits / T) =
    /// <c>probabilities</c> (T fitted on validation); the encoder's <c>embedding</c> as a third output.
    /// </summary>
    public static ModelProto Classifier(Classifier classifier)
    {
        var network = classifier.Network;
        var info = classifier.Info;
        var g = new OnnxGraph("contramask_classifier");
        var metadata = Metadata("classifier", network.Encoder, info.Encoder, info.Input);
        metadata[MetadataKeys.Classes] = JsonSerializer.Serialize(info.Classes);
        metadata[MetadataKeys.Temperature] = network.Temperature.ToString("R", CultureInfo.InvariantCulture);
        var embedding = OnnxEncoders.Add(g, network.Encoder, Input(g, info.Encoder, info.Input));
        // ClassifierNetwork: head((e − mean) / std), the probe's standardization kept as buffers.
        var state = network.state_dict();
        var standardized = g.Node("Div", [g.Node("Sub", [embedding, g.Weight("featureMean", state["featureMean"])]), g.Weight("featureStd", state["featureStd"])]);
        var head = network.Head;
        var logits = g.Linear(standardized, "head", head.weight!, head.bias);
        var probabilities = g.Node("Softmax", [g.Node("Div", [logits, g.Weight("temperature", state["temperature"])])], ("axis", -1L));
        g.Output(logits, Logits, network.Classes);
        g.Output(probabilities, Probabilities, network.Classes);
        g.Output(embedding, Embedding, network.Encoder.EmbeddingSize);
        return g.Model($"Contramask classifier ({info.Mode}, {info.Labels} labels) on a {info.Encoder.Encoder} encoder: {info.Input} → {info.Classes.Count} classes", metadata);
    }

    /// <summary>The graph input, with the run's image standardization applied to it: (x − mean) / std per channel.</summary>
    static string Input(OnnxGraph g, PretrainConfig config, InputShape input)
    {
        if (input.Kind == InputShape.Table)
        {
            var schema = config.Table ?? throw new InvalidOperationException("a table encoder without a schema cannot be exported");
            return g.Input(TableInput, 2L * schema.FeatureCount);
        }
        var normalization = Normalization(config);
        var images = g.Input(ImageInput, input.Channels, input.Height, input.Width);
        long[] perChannel = [1, input.Channels, 1, 1];
        return g.Node("Div", [g.Node("Sub", [images, g.Weight("normalization.mean", normalization.Mean, perChannel)]), g.Weight("normalization.std", normalization.Std, perChannel)]);
    }

    static ImageNormalization Normalization(PretrainConfig config) => config.Normalization
        ?? throw new InvalidOperationException("the run records no image normalization (it predates them); retrain or embed with libtorch");

    /// <summary>The JSON of the metadata values: the run files' snake_case names, on one line.</summary>
    static readonly JsonSerializerOptions CompactJson = new(PretrainConfig.Json) { WriteIndented = false };

    /// <summary>The metadata of an exported encoder or classifier (ONNX's metadata_props, safetensors' __metadata__).</summary>
    public static Dictionary<string, string> Metadata(string kind, Encoder encoder, PretrainConfig config, InputShape input)
    {
        var metadata = new Dictionary<string, string>
        {
            [MetadataKeys.Format] = "1",
            [MetadataKeys.Kind] = kind,
            [MetadataKeys.Input] = JsonSerializer.Serialize(input, CompactJson),
            [MetadataKeys.Encoder] = config.Encoder.ToString(),
            [MetadataKeys.Architecture] = JsonSerializer.Serialize(Architecture(encoder, config.Encoder)),
            [MetadataKeys.EmbeddingSize] = encoder.EmbeddingSize.ToString(CultureInfo.InvariantCulture),
        };
        if (input.Kind == InputShape.Image) metadata[MetadataKeys.Normalization] = JsonSerializer.Serialize(Normalization(config), CompactJson);
        if (config.Table is { } schema) metadata[MetadataKeys.TableSchema] = JsonSerializer.Serialize(schema, CompactJson);
        // How the training data was read, so new records can be read the same way.
        DataSpec? spec = null;
        try { spec = DataSpec.Parse(config.Data); }
        catch (ArgumentException) { }
        if (spec is not null && input.Kind == InputShape.Image && spec.ImageSize is int size)
            metadata[MetadataKeys.ImageSize] = size.ToString(CultureInfo.InvariantCulture);
        if (spec is { IsTable: true })
        {
            var format = spec.CsvFormat;
            metadata[MetadataKeys.CsvFormat] = JsonSerializer.Serialize(new { separator = format.Separator.ToString(), @decimal = format.Decimal.ToString(), header = format.Header });
        }
        return metadata;
    }
}
