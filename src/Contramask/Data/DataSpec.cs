using System.Globalization;

namespace Contramask.Data;

/// <summary>
/// Where the data comes from, as one string the CLI takes and the run folder records:
/// <c>digits</c> (embedded 8×8 digits), <c>idx:DIR</c> (MNIST-style IDX files), <c>cifar:DIR</c> (CIFAR-10/100
/// binary), <c>folder:DIR</c> (image files), <c>csv:FILE</c> (a table). Options follow after commas: <c>size=N</c>
/// and <c>skipbad</c> and <c>test=FRACTION</c> (folders), <c>prefix=NAME</c> (IDX, e.g. <c>emnist-balanced-</c>),
/// <c>channels=1|3</c> (convert), <c>limit=N</c> (keep the first N training records). Tables take
/// <c>label=COLUMN</c>, <c>id=COLUMN</c>, <c>header=no</c>, <c>sep=comma|semicolon|tab|pipe</c>,
/// <c>decimal=dot|comma</c>, <c>schema=FILE</c> (see <see cref="SchemaOverrides"/>) and one split: <c>test=FRACTION</c>
/// with <c>seed=N</c> (default 0.2), <c>split=N</c> (first N rows train, the rest test) or <c>testfile=FILE</c>.
/// Every kind takes <c>val=FRACTION</c>: the validation slice carved from the training split (default 0.1, seeded by
/// <c>seed</c>, stratified by label; <c>val=0</c> for none), see <see cref="ValidationSplit"/>.
/// Examples: <c>folder:photos,size=64,channels=3</c>; <c>csv:letter.data,header=no,label=column1,split=16000</c>.
/// </summary>
public sealed record DataSpec(string Kind, string? Path, IReadOnlyDictionary<string, string> Options)
{
    static readonly string[] Kinds = ["digits", "idx", "cifar", "folder", "csv"];
    static readonly Dictionary<string, string[]> AllowedOptions = new()
    {
        ["digits"] = ["channels", "limit", "val", "seed"],
        ["idx"] = ["prefix", "channels", "limit", "val", "seed"],
        ["cifar"] = ["channels", "limit", "val", "seed"],
        ["folder"] = ["size", "channels", "skipbad", "test", "seed", "limit", "val"],
        ["csv"] = ["label", "id", "header", "sep", "decimal", "schema", "test", "seed", "split", "testfile", "limit", "val"],
    };

    public bool IsTable => Kind == "csv";

    public static DataSpec Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new ArgumentException("empty data spec; expected digits, idx:DIR, cifar:DIR, folder:DIR or csv:FILE");
        var parts = spec.Split(',');
        var head = parts[0];
        int colon = head.IndexOf(':');
        string kind = (colon < 0 ? head : head[..colon]).Trim().ToLowerInvariant();
        string? path = colon < 0 ? null : head[(colon + 1)..];
        if (!Kinds.Contains(kind))
            throw new ArgumentException($"unknown data kind '{kind}' in '{spec}'; expected one of {string.Join(", ", Kinds)} (e.g. idx:data/mnist)");
        if (kind != "digits" && string.IsNullOrEmpty(path))
            throw new ArgumentException($"data spec '{spec}' needs a path: {kind}:{(kind == "csv" ? "FILE" : "DIR")}");
        var options = new Dictionary<string, string>();
        foreach (var part in parts.Skip(1))
        {
            var kv = part.Split('=', 2);
            var key = kv[0].Trim().ToLowerInvariant();
            if (!AllowedOptions[kind].Contains(key))
                throw new ArgumentException($"option '{key}' does not apply to {kind} data; allowed: {string.Join(", ", AllowedOptions[kind])}");
            options[key] = kv.Length > 1 ? kv[1].Trim() : "true";
        }
        var result = new DataSpec(kind, path, options);
        result.Validate();
        return result;
    }

    /// <summary>The spec <paramref name="spec"/> names, or null when it is not one.</summary>
    public static DataSpec? TryParse(string spec)
    {
        try { return Parse(spec); }
        catch (ArgumentException) { return null; }
    }

    void Validate()
    {
        if (IntOption("size") is int s && (s < 4 || s > 1024)) throw new ArgumentException($"size={s} is out of range: expected 4 to 1024");
        if (IntOption("channels") is int c && c is not (1 or 3)) throw new ArgumentException($"channels={c} is out of range: expected 1 or 3");
        if (IntOption("limit") is int l && l < 1) throw new ArgumentException($"limit={l} is out of range: expected at least 1");
        if (DoubleOption("test") is double t && (t <= 0 || t >= 1)) throw new ArgumentException($"test={t} is out of range: expected a fraction between 0 and 1");
        if (IntOption("split") is int sp && sp < 1) throw new ArgumentException($"split={sp} is out of range: expected at least 1 training row");
        if (DoubleOption("val") is double v && (v < 0 || v > 0.5)) throw new ArgumentException($"val={v} is out of range: expected a fraction from 0 (no validation split) to 0.5");
        if (IsTable)
        {
            _ = CsvFormat;
            if (new[] { "test", "split", "testfile" }.Count(Options.ContainsKey) > 1)
                throw new ArgumentException("choose one way to split a table: test=FRACTION, split=N or testfile=FILE");
        }
    }

    /// <summary>The <c>size=N</c> images are resized and center-cropped to, if the spec gives one.</summary>
    public int? ImageSize => IntOption("size");

    /// <summary>Separator, decimal mark and header of a <c>csv:</c> spec.</summary>
    public CsvFormat CsvFormat => new(
        Options.GetValueOrDefault("sep", "comma").ToLowerInvariant() switch
        {
            "comma" or "," => ',', "semicolon" or ";" => ';', "tab" or "\\t" => '\t', "pipe" or "|" => '|',
            var other => throw new ArgumentException($"sep={other} is not supported: expected comma, semicolon, tab or pipe"),
        },
        Options.GetValueOrDefault("decimal", "dot").ToLowerInvariant() switch
        {
            "dot" or "." => '.', "comma" => ',',
            var other => throw new ArgumentException($"decimal={other} is not supported: expected dot or comma"),
        },
        Options.GetValueOrDefault("header", "yes").ToLowerInvariant() switch
        {
            "yes" or "true" => true, "no" or "false" => false,
            var other => throw new ArgumentException($"header={other} is not supported: expected yes or no"),
        });

    /// <summary>Fraction of the training split held out for validation (<c>val=</c>, default 0.1).</summary>
    public double ValidationFraction => DoubleOption("val") ?? ValidationSplit.DefaultFraction;

    int Seed => IntOption("seed") ?? 0;

    /// <summary>An integer option's value, null when the spec does not set it.</summary>
    public int? IntOption(string key)
    {
        if (!Options.TryGetValue(key, out var v)) return null;
        return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n
            : throw new ArgumentException($"option {key}={v} is not a whole number");
    }

    double? DoubleOption(string key)
    {
        if (!Options.TryGetValue(key, out var v)) return null;
        return double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) ? n
            : throw new ArgumentException($"option {key}={v} is not a number");
    }

    /// <summary>Reads the data this spec names: images as <see cref="DataSplits"/>, a table as <see cref="TableSplits"/>.</summary>
    /// <param name="schema">A run's fitted table schema, reused unchanged; null infers and fits one on the training rows.</param>
    public ISplits LoadAny(TableSchema? schema = null, List<string>? skipped = null) => IsTable ? LoadTable(schema) : Load(skipped);

    /// <summary>Reads a <c>csv:</c> table, splits it, and encodes both splits with <paramref name="schema"/> (or one fitted on the training rows).</summary>
    public TableSplits LoadTable(TableSchema? schema = null)
    {
        if (!IsTable) throw new InvalidOperationException($"{this} is not a table (csv:FILE)");
        var format = CsvFormat;
        var table = CsvTableReader.Read(Path!, format);
        RawTable? testTable = null;
        IReadOnlyList<int> trainRows, testRows;
        int all = table.Rows.Count;
        if (Options.TryGetValue("testfile", out var testFile))
        {
            testTable = CsvTableReader.Read(testFile, format);
            trainRows = Enumerable.Range(0, all).ToArray();
            testRows = Enumerable.Range(0, testTable.Rows.Count).ToArray();
        }
        else if (IntOption("split") is int split)
        {
            if (split >= all) throw new DataFormatException(Path!, $"split={split} leaves no test rows: the file has {all} rows");
            trainRows = Enumerable.Range(0, split).ToArray();
            testRows = Enumerable.Range(split, all - split).ToArray();
        }
        else
        {
            var order = Enumerable.Range(0, all).ToArray();
            new Random(IntOption("seed") ?? 0).Shuffle(order);
            int testCount = Math.Max(1, (int)Math.Round(all * (DoubleOption("test") ?? 0.2)));
            if (testCount >= all) throw new DataFormatException(Path!, $"the file has {all} row(s): too few to split off a test set");
            testRows = order[..testCount].Order().ToArray();
            trainRows = order[testCount..].Order().ToArray();
        }
        if (IntOption("limit") is int limit && limit < trainRows.Count) trainRows = trainRows.Take(limit).ToArray();
        // The validation slice leaves the training rows before the schema is fitted: its statistics never see it.
        var overrides = Options.TryGetValue("schema", out var schemaFile) ? SchemaOverrides.Read(schemaFile) : new SchemaOverrides();
        overrides = overrides with
        {
            Label = Options.GetValueOrDefault("label") ?? overrides.Label,
            Id = Options.GetValueOrDefault("id") ?? overrides.Id,
        };
        string? labelName = schema is null ? overrides.Label : schema.Label;
        int? labelColumn = labelName is null ? null : table.ColumnIndex(labelName, "label");
        var trainPositions = trainRows;
        var (kept, held) = ValidationSplit.Carve(trainPositions.Count, labelColumn is int lc ? i => table.Rows[trainPositions[i]][lc].Trim() : null, ValidationFraction, Seed);
        var validationRows = held.Select(i => trainPositions[i]).ToArray();
        trainRows = kept.Select(i => trainPositions[i]).ToArray();
        if (schema is null)
        {
            // Classes come from both files, so a class seen only in the test file is still a class.
            schema = TableSchema.Infer(table, format, trainRows, overrides, testTable is null ? null : [testTable]);
        }
        var train = TableDataset.Encode(table, schema, format, trainRows, System.IO.Path.GetFileName(Path!) + "/train");
        var test = testTable is not null ? TableDataset.Encode(testTable, schema, format, testRows, System.IO.Path.GetFileName(testFile!))
            : TableDataset.Encode(table, schema, format, testRows, System.IO.Path.GetFileName(Path!) + "/test");
        var validation = validationRows.Length == 0 ? null : TableDataset.Encode(table, schema, format, validationRows, System.IO.Path.GetFileName(Path!) + "/val");
        return new TableSplits(train, test, validation);
    }

    /// <summary>Reads the images this spec names.</summary>
    public DataSplits Load(List<string>? skipped = null)
    {
        if (IsTable) throw new InvalidOperationException($"{this} is a table; load it with LoadTable");
        var splits = Kind switch
        {
            "digits" => DigitsDataset.Load(),
            "idx" => IdxReader.ReadFolder(Path!, Options.GetValueOrDefault("prefix", "")),
            "cifar" => CifarReader.ReadFolder(Path!),
            "folder" => ImageFolderReader.ReadFolder(Path!, new ImageFolderOptions(IntOption("size"), IntOption("channels"),
                Options.ContainsKey("skipbad"), DoubleOption("test") ?? 0.2, IntOption("seed") ?? 0), skipped),
            _ => throw new InvalidOperationException(Kind),
        };
        if (IntOption("channels") is int channels)
            splits = new DataSplits(splits.Train.WithChannels(channels), splits.Test?.WithChannels(channels), splits.Validation?.WithChannels(channels));
        if (IntOption("limit") is int limit && limit < splits.Train.Count)
            splits = splits with { Train = splits.Train.Subset(Enumerable.Range(0, limit).ToArray()) };
        var train = splits.Train;
        var (kept, held) = ValidationSplit.Carve(train.Count, train.Labels is int[] labels ? i => labels[i].ToString(CultureInfo.InvariantCulture) : null,
            ValidationFraction, Seed);
        if (held.Length > 0)
            splits = splits with { Train = train.Subset(kept, train.Source), Validation = train.Subset(held, train.Source + "/val") };
        return splits;
    }

    /// <summary>The same spec with its validation fraction written out (<c>val=0.1</c> when it was the default).</summary>
    public DataSpec WithValidationPinned() => Options.ContainsKey("val") ? this : With("val", ValidationFraction.ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// The data spec of a run: as recorded, except that a run from before validation slices existed (checkpoint format
    /// 1, and no <c>val=</c> in its spec) trained on the whole training split, so it reloads with <c>val=0</c>.
    /// </summary>
    public static DataSpec ForRun(string recorded, int checkpointFormat)
    {
        var spec = Parse(recorded);
        return checkpointFormat < 2 && !spec.Options.ContainsKey("val") ? spec.With("val", "0") : spec;
    }

    /// <summary>The same spec with its path made absolute, so a run folder's record works from any directory.</summary>
    public DataSpec WithFullPath()
    {
        var options = new Dictionary<string, string>(Options);
        foreach (var key in new[] { "schema", "testfile" })
            if (options.TryGetValue(key, out var file)) options[key] = System.IO.Path.GetFullPath(file);
        return Path is null ? this with { Options = options } : this with { Path = System.IO.Path.GetFullPath(Path), Options = options };
    }

    /// <summary>The same spec with one option set (used by the CLI's --label, --id and --schema).</summary>
    public DataSpec With(string key, string? value)
    {
        if (value is null) return this;
        if (!AllowedOptions[Kind].Contains(key)) throw new ArgumentException($"--{key} applies to tables (csv:FILE), not to {Kind} data");
        var options = new Dictionary<string, string>(Options) { [key] = value };
        var result = this with { Options = options };
        result.Validate();
        return result;
    }

    public override string ToString() =>
        (Path is null ? Kind : $"{Kind}:{Path}") + string.Concat(Options.Select(o => o.Value == "true" ? $",{o.Key}" : $",{o.Key}={o.Value}"));
}
