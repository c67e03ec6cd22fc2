using Contramask.Data;

namespace Contramask.Classification;

/// <summary>
/// Every record a data spec names, read the way a classifier needs it: images of any split (a flat folder of
/// unlabelled images too), or every row of a CSV file encoded with the model's own schema (its statistics, its
/// categories; unseen categories become "unknown", missing cells are flagged as in pretraining). A file without the
/// label or id column still reads: its rows are unlabelled, their ids are file:line.
/// </summary>
public static class PredictionData
{
    public static IReadOnlyList<IRecordSet> Load(string spec, ClassifierInfo model)
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
            var readAs = schema with { Label = Has(schema.Label) ? schema.Label : null, Id = Has(schema.Id) ? schema.Id : null };
            var missing = schema.Features.Select(f => f.Name).Where(n => !Has(n)).ToList();
            if (missing.Count > 0)
                throw new DataFormatException(parsed.Path!, $"{missing.Count} column(s) the model reads are absent: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}");
            return [TableDataset.Encode(table, readAs, format, Enumerable.Range(0, table.Rows.Count).ToArray(), Path.GetFileName(parsed.Path!))];
        }
        // Every image, whatever split it belongs to: no validation slice is carved off.
        var images = (parsed.Options.ContainsKey("val") ? parsed : parsed.With("val", "0")).Load();
        var parts = new List<IRecordSet> { images.Train };
        if (images.Test is not null) parts.Add(images.Test);
        var expected = model.Input;
        foreach (var part in parts.Cast<ImageDataset>())
            if (part.Channels != expected.Channels || part.Height != expected.Height || part.Width != expected.Width)
                throw new DataFormatException(parsed.Path ?? spec, $"images are {part.Channels}×{part.Height}×{part.Width}, the model takes {expected.Channels}×{expected.Height}×{expected.Width}"
                    + (parsed.Kind == "folder" ? $" (add ,size={expected.Height},channels={expected.Channels} to the data spec)" : parsed.Kind is "idx" or "cifar" ? $" (add ,channels={expected.Channels} if only the channels differ)" : ""));
        return parts;
    }
}
