using System.Text.Json;
using System.Text.Json.Serialization;
using Contramask.Data;

namespace Contramask.Inference;

/// <summary>
/// What an exported model takes, read from its metadata (<c>contramask.input</c>, <c>contramask.table_schema</c>):
/// images of <see cref="Channels"/>×<see cref="Height"/>×<see cref="Width"/>, or table rows encoded with <see cref="Schema"/>.
/// </summary>
/// <param name="ResizedTo">The side training resized and center-cropped its images to (its data spec's <c>size=N</c>), if any.</param>
/// <param name="CsvFormat">How the training CSV was read (separator, decimal mark, header); the default for new tables.</param>
public sealed record ModelInput(string Kind, int Channels, int Height, int Width, TableSchema? Schema, int? ResizedTo = null, CsvFormat? CsvFormat = null)
{
    public const string Image = "image";
    public const string Table = "table";
    public bool IsImage => Kind == Image;

    /// <summary>The JSON of Contramask's run files (snake_case names, enums as snake_case text).</summary>
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    internal static ModelInput FromMetadata(IReadOnlyDictionary<string, string> metadata, string source)
    {
        if (!metadata.TryGetValue("contramask.input", out var inputJson))
            throw new DataFormatException(source, "not a Contramask model: no contramask.input metadata (export it with contramask export)");
        try
        {
            if (metadata.GetValueOrDefault("contramask.format") != "1")
                throw new DataFormatException(source, $"model format {metadata.GetValueOrDefault("contramask.format") ?? "(none)"} is not one this library reads (1)");
            var shape = JsonSerializer.Deserialize<Shape>(inputJson, Json) ?? throw new JsonException("empty input description");
            TableSchema? schema = null;
            CsvFormat? format = null;
            int? resizedTo = null;
            if (shape.Kind == Table)
            {
                if (!metadata.TryGetValue("contramask.table_schema", out var schemaJson))
                    throw new DataFormatException(source, "a table model without contramask.table_schema metadata");
                schema = JsonSerializer.Deserialize<TableSchema>(schemaJson, Json) ?? throw new JsonException("empty table schema");
                if (metadata.TryGetValue("contramask.csv_format", out var formatJson) && JsonSerializer.Deserialize<Format>(formatJson, Json) is { } f
                    && f.Separator.Length == 1 && f.Decimal.Length == 1)
                    format = new CsvFormat(f.Separator[0], f.Decimal[0], f.Header);
            }
            else if (shape.Kind == Image)
            {
                if (shape.Channels is not (1 or 3) || shape.Height < 1 || shape.Width < 1)
                    throw new DataFormatException(source, $"input {shape.Channels}×{shape.Height}×{shape.Width}: expected 1 or 3 channels and a positive size");
                if (metadata.TryGetValue("contramask.image_size", out var size)) resizedTo = int.Parse(size, System.Globalization.CultureInfo.InvariantCulture);
            }
            else throw new DataFormatException(source, $"unknown input kind '{shape.Kind}'");
            return new ModelInput(shape.Kind, shape.Channels, shape.Height, shape.Width, schema, resizedTo, format);
        }
        catch (Exception e) when (e is JsonException or FormatException) { throw new DataFormatException(source, $"unreadable Contramask metadata: {e.Message}"); }
    }

    sealed record Shape(string Kind, int Channels, int Height, int Width);
    sealed record Format(string Separator, string Decimal, bool Header);

    public override string ToString() => IsImage ? $"{Channels}×{Height}×{Width} images" : $"table rows ({Schema?.FeatureCount} features)";
}
