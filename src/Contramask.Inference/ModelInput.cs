using System.Text.Json;
using System.Text.Json.Serialization;
using Contramask.Data;

namespace Contramask.Inference;

/// <summary>
/// What an exported model takes, read from its metadata (<c>contramask.input</c>, <c>contramask.table_schema</c>):
/// images of <see cref="Channels"/>×<see cref="Height"/>×<see cref="Width"/>, or table rows encoded with <see cref="Schema"/>.
/// </summary>
public sealed record ModelInput(string Kind, int Channels, int Height, int Width, TableSchema? Schema)
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
            var shape = JsonSerializer.Deserialize<Shape>(inputJson, Json) ?? throw new JsonException("empty");
            TableSchema? schema = null;
            if (shape.Kind == Table)
            {
                if (!metadata.TryGetValue("contramask.table_schema", out var schemaJson))
                    throw new DataFormatException(source, "a table model without contramask.table_schema metadata");
                schema = JsonSerializer.Deserialize<TableSchema>(schemaJson, Json);
            }
            else if (shape.Kind != Image) throw new DataFormatException(source, $"unknown input kind '{shape.Kind}'");
            return new ModelInput(shape.Kind, shape.Channels, shape.Height, shape.Width, schema);
        }
        catch (JsonException e) { throw new DataFormatException(source, $"unreadable Contramask metadata: {e.Message}"); }
    }

    sealed record Shape(string Kind, int Channels, int Height, int Width);

    public override string ToString() => IsImage ? $"{Channels}×{Height}×{Width} images" : $"table rows ({Schema?.FeatureCount} features)";
}
