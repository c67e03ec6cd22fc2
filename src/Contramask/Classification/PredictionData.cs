using Contramask.Data;

namespace Contramask.Classification;

/// <summary>Records to predict, and each record's own label as text (null when it has none).</summary>
public sealed record PredictionPart(IRecordSet Records, Func<int, string?> LabelOf)
{
    /// <summary>A record set whose labels (if any) are indices into its own class names.</summary>
    public static PredictionPart Of(IRecordSet records) => new(records, i => records.Labels is int[] labels
        ? records.ClassNames?[labels[i]] ?? labels[i].ToString(System.Globalization.CultureInfo.InvariantCulture) : null);
}

/// <summary>
/// Every record a data spec names, read the way a classifier needs it: images of any split (a flat folder of
/// unlabelled images too), or every row of a CSV file encoded with the model's own schema (its statistics, its
/// categories; unseen categories become "unknown", missing cells are flagged as in pretraining). A file without the
/// label or id column still reads: its rows are unlabelled, their ids are file:line. A label column is read as text,
/// so a partly labelled file (the usual "label the rest") or a label the model never saw does not stop the prediction.
/// </summary>
public static class PredictionData
{
    public static IReadOnlyList<PredictionPart> Load(string spec, ClassifierInfo model)
    {
        var parsed = DataSpec.Parse(spec);
        if (parsed.IsTable != (model.Input.Kind == InputShape.Table))
            throw new InvalidOperationException($"{spec}: the model takes {model.Input}, not {(parsed.IsTable ? "a table" : "images")}");
        if (parsed.IsTable)
        {
            var schema = model.Encoder.Table!;
            var format = parsed.CsvFormat;
            var table = CsvTableReader.Read(parsed.Path!, format);
            bool Has(string? column) => column is not null && table.Columns.Any(c => string.Equals(c, column, StringComparison.OrdinalIgnoreCase));
            // Features and ids through the schema; the label as the file has it (see above).
            var readAs = schema with { Label = null, Id = Has(schema.Id) ? schema.Id : null };
            TableRowEncoder.RequireModelColumns(schema, table);
            var records = TableDataset.Encode(table, readAs, format, Enumerable.Range(0, table.Rows.Count).ToArray(), Path.GetFileName(parsed.Path!));
            if (!Has(schema.Label)) return [new PredictionPart(records, _ => null)];
            int labelColumn = table.ColumnIndex(schema.Label!, "label");
            return [new PredictionPart(records, i => TableSchema.IsMissing(table.Rows[i][labelColumn]) ? null : table.Rows[i][labelColumn].Trim())];
        }
        // Every image, whatever split it belongs to: no validation slice is carved off (whatever val= the spec says).
        var images = parsed.With("val", "0").Load();
        var parts = ((ISplits)images).All.Cast<ImageDataset>().ToList();
        var expected = model.Input;
        foreach (var part in parts)
            if (part.Channels != expected.Channels || part.Height != expected.Height || part.Width != expected.Width)
                throw new DataFormatException(parsed.Path ?? spec, $"images are {part.Channels}×{part.Height}×{part.Width}, the model takes {expected.Channels}×{expected.Height}×{expected.Width}"
                    + (parsed.Kind == "folder" ? $" (add ,size={expected.Height},channels={expected.Channels} to the data spec)" : parsed.Kind is "idx" or "cifar" ? $" (add ,channels={expected.Channels} if only the channels differ)" : ""));
        return parts.Select(p => PredictionPart.Of(p)).ToList();
    }

    /// <summary>
    /// Data read as it is predicted instead of loaded first: a CSV file in chunks (<see cref="TableStream"/>) or a
    /// folder of images (<see cref="StreamFolder"/>); null for other data, which <see cref="Load"/> reads.
    /// </summary>
    public static (IEnumerable<PredictionPart> Parts, long Count)? Stream(string spec, ClassifierInfo model, List<string>? skipped = null)
    {
        var parsed = DataSpec.Parse(spec);
        if (!parsed.IsTable) return StreamFolder(spec, model, skipped);
        if (parsed.IntOption("limit") is not null) return null;
        if (model.Input.Kind != InputShape.Table) throw new InvalidOperationException($"{spec}: the model takes {model.Input}, not a table");
        var schema = model.Encoder.Table!;
        return (TableStream.Chunks(parsed, schema).Select(c => new PredictionPart(c.Rows, i => c.Labels[i])), TableStream.CountLines(parsed));
    }

    /// <summary>
    /// A folder of image files (<c>folder:DIR</c>) streamed instead of loaded: chunks decoded by a bounded background
    /// pipeline (<see cref="ImageFolderStream"/>), converted to the model's channels, in file order; null for any other
    /// spec (and for <c>limit=</c>, which reads through <see cref="Load"/>). <paramref name="skipped"/> receives the files
    /// left out with <c>skipbad</c>.
    /// </summary>
    public static (IEnumerable<PredictionPart> Parts, long Count)? StreamFolder(string spec, ClassifierInfo model, List<string>? skipped = null)
    {
        var parsed = DataSpec.Parse(spec);
        if (parsed.Kind != "folder" || parsed.IntOption("limit") is not null) return null;
        var expected = model.Input;
        if (expected.Kind != InputShape.Image) throw new InvalidOperationException($"{spec}: the model takes {expected}, not images");
        if (parsed.IntOption("channels") is int channels && channels != expected.Channels)
            throw new DataFormatException(parsed.Path!, $"channels={channels}, the model takes {expected.Channels} channel(s)");
        var stream = ImageFolderStream.Open(parsed.Path!, parsed.IntOption("size"), parsed.Options.ContainsKey("skipbad"));
        var first = stream.First();
        if (first.Height != expected.Height || first.Width != expected.Width)
            throw new DataFormatException(parsed.Path!, $"images are {first.Width}×{first.Height}, the model takes {expected.Width}×{expected.Height} (add ,size={expected.Height} to the data spec)");
        IEnumerable<PredictionPart> Parts()
        {
            foreach (var chunk in stream.Chunks(expected.Channels)) yield return PredictionPart.Of(chunk);
            skipped?.AddRange(stream.Skipped);
        }
        return (Parts(), stream.Count);
    }
}
