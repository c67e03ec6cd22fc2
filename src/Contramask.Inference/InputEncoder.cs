using Contramask.Data;

namespace Contramask.Inference;

/// <summary>
/// Turns records into the float inputs of an exported model, as Contramask prepares them for training:
/// images decoded by <see cref="ImageDecoder"/> (resized and center-cropped to the model's size when they differ,
/// grey as BT.601 luma or RGB), scaled to [0, 1]; table rows encoded by <see cref="TableRowEncoder"/> with the
/// model's schema and packed as [values | missing flags].
/// </summary>
public static class InputEncoder
{
    /// <summary>N×C×H×W values in [0, 1] for image files.</summary>
    public static float[] Images(IReadOnlyList<string> files, ModelInput input) =>
        Images(files.Count, i => Decode(input, size => ImageDecoder.Decode(files[i], size), files[i]), input);

    /// <summary>N×C×H×W values in [0, 1] for encoded images (PNG, JPEG… bytes, e.g. uploads).</summary>
    public static float[] Images(IReadOnlyList<byte[]> encoded, ModelInput input) =>
        Images(encoded.Count, i => Decode(input, size => ImageDecoder.Decode(encoded[i], $"image {i}", size), $"image {i}"), input);

    static float[] Images(int count, Func<int, DecodedImage> decode, ModelInput input)
    {
        if (!input.IsImage) throw new InvalidOperationException($"the model takes {input}, not images");
        int plane = input.Height * input.Width, size = input.Channels * plane;
        var bytes = new byte[size];
        var values = new float[(long)count * size];
        for (int n = 0; n < count; n++)
        {
            decode(n).CopyPlanes(bytes, 0, input.Channels);
            for (int j = 0; j < size; j++) values[(long)n * size + j] = bytes[j] / 255f;
        }
        return values;
    }

    /// <summary>
    /// As training read its images: resized and center-cropped to the size its data spec gave (<c>size=N</c>), else at
    /// their own size; an image of another size is then resized and center-cropped to the model's (square) size.
    /// </summary>
    static DecodedImage Decode(ModelInput input, Func<int?, DecodedImage> decode, string name)
    {
        if (input.ResizedTo is int size) return decode(size);
        var image = decode(null);
        if (image.Width == input.Width && image.Height == input.Height) return image;
        if (input.Width != input.Height)
            throw new DataFormatException(name, $"is {image.Width}×{image.Height}; the model takes {input.Width}×{input.Height} images");
        return decode(input.Height);
    }

    /// <summary>N×2F packed rows for every row of a CSV table (read with <paramref name="format"/>).</summary>
    public static float[] Table(RawTable table, CsvFormat format, ModelInput input)
    {
        var schema = input.Schema ?? throw new InvalidOperationException($"the model takes {input}, not table rows");
        TableRowEncoder.RequireModelColumns(schema, table);
        var encoder = new TableRowEncoder(schema, table, format);
        int f = schema.FeatureCount;
        var packed = new float[(long)table.Rows.Count * 2 * f];
        var missing = new byte[f];
        for (int r = 0; r < table.Rows.Count; r++)
        {
            var row = packed.AsSpan(r * 2 * f, 2 * f);
            encoder.Encode(r, row[..f], missing);
            for (int j = 0; j < f; j++) row[f + j] = missing[j];
        }
        return packed;
    }

    /// <summary>
    /// N×2F packed rows from column → cell text. A feature absent from a row, or empty, "NA", "?"…, is missing; a key
    /// that names no column of the schema (features, label, id, ignored) is refused, since a misspelt feature would
    /// otherwise pass silently as missing.
    /// </summary>
    public static float[] Rows(IReadOnlyList<IReadOnlyDictionary<string, string?>> rows, ModelInput input, CsvFormat? format = null)
    {
        var schema = input.Schema ?? throw new InvalidOperationException($"the model takes {input}, not table rows");
        var columns = schema.Features.Select(c => c.Name).ToArray();
        var known = new HashSet<string>(columns.Concat(schema.Ignored).Concat(new[] { schema.Label, schema.Id }.OfType<string>()), StringComparer.OrdinalIgnoreCase);
        for (int r = 0; r < rows.Count; r++)
            if (rows[r].Keys.FirstOrDefault(k => !known.Contains(k)) is string unknown)
                throw new DataFormatException($"row {r}", $"column '{unknown}' is not one the model knows; its columns are {string.Join(", ", columns.Take(20))}");
        var cells = rows.Select(row => columns.Select(c => Cell(row, c)).ToArray()).ToList();
        var table = new RawTable("rows", columns, cells, Enumerable.Range(1, rows.Count).ToArray());
        return Table(table, format ?? input.CsvFormat ?? new CsvFormat(), input);
    }

    static string Cell(IReadOnlyDictionary<string, string?> row, string column)
    {
        if (row.TryGetValue(column, out var value)) return value ?? "";
        foreach (var (key, cell) in row)
            if (string.Equals(key, column, StringComparison.OrdinalIgnoreCase)) return cell ?? "";
        return "";
    }
}
