using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Models;
using Contramask.Training;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Contramask.Mining;

/// <summary>
/// A run's frozen encoder applied to every record of some data (the training split, then the test split), batch
/// by batch under no_grad with a dispose scope per batch. <see cref="Write"/> streams the rows into an embeddings
/// file; <see cref="Compute"/> keeps them in memory for mining.
/// <code>
/// EmbeddingExport.Write("runs/mnist", null, "mnist.parquet");
/// </code>
/// </summary>
public static class EmbeddingExport
{
    /// <summary>The run's config and encoder, and the data (the run's own unless given; tables keep the run's schema).</summary>
    public static (PretrainConfig Config, ISplits Data, Encoder Encoder) Load(string runFolder, ISplits? data = null, Action<string>? warn = null)
    {
        var (state, path) = Checkpoint.ReadState(runFolder, warn);
        var config = state.Config;
        Runtime.TorchRuntime.Initialize(config.Threads);
        data ??= DataSpec.ForRun(config.Data, state.Format).LoadAny(config.Table);
        var encoder = EncoderEvaluator.LoadEncoder(path, config, data.Train);
        encoder.eval();
        return (config, data, encoder);
    }

    /// <summary>Every record of the splits: training, then validation, then test.</summary>
    public static IEnumerable<IRecordSet> Parts(ISplits data) => data.All;

    /// <returns>The number of rows written.</returns>
    public static long Write(string runFolder, ISplits? data, string outPath, EmbeddingFormat? format = null, Action<long, long>? progress = null, int batchSize = 512)
    {
        var (config, splits, encoder) = Load(runFolder, data);
        using (encoder)
        {
            var featurizer = ModelFactory.Featurizer(encoder, config, splits.Train);
            long total = Parts(splits).Sum(p => (long)p.Count), done = 0;
            using var writer = new EmbeddingWriter(outPath, encoder.EmbeddingSize, total, format);
            foreach (var part in Parts(splits))
                ForEachBatch(featurizer, part, batchSize, (indices, vectors) =>
                {
                    writer.Write(indices.Select(part.RecordId).ToArray(), indices.Select(i => LabelOf(part, i)).ToArray(), vectors);
                    done += indices.Length;
                    progress?.Invoke(done, total);
                });
            writer.Complete();
            return total;
        }
    }

    /// <summary>Whether <see cref="WriteStreamed"/> and <see cref="ComputeStreamed"/> read this data from disk as they go:
    /// a folder of images or a CSV file (not with <c>limit=</c>, which keeps the in-memory path).</summary>
    public static bool CanStream(DataSpec spec) => (spec.Kind == "folder" || spec.IsTable) && spec.IntOption("limit") is null;

    /// <summary>
    /// As <see cref="Write"/> for a folder of image files or a CSV file, streamed (<see cref="Streamed"/>): memory
    /// does not grow with the data. Rows in file order (every split: embed writes every record).
    /// </summary>
    /// <param name="skipped">Receives the image files left out as undecodable (spec option <c>skipbad</c>).</param>
    public static long WriteStreamed(string runFolder, DataSpec spec, string outPath, EmbeddingFormat? format = null, Action<long, long>? progress = null,
        List<string>? skipped = null)
    {
        EmbeddingWriter? writer = null;
        try
        {
            long done = 0;
            foreach (var batch in Streamed(runFolder, spec, skipped))
            {
                writer ??= new EmbeddingWriter(outPath, batch.Dimensions, batch.Total, format, rowsAtMost: true);
                writer.Write(batch.Indices.Select(batch.Records.RecordId).ToArray(), batch.Labels, batch.Vectors);
                done += batch.Indices.Length;
                progress?.Invoke(done, batch.Total);
            }
            writer!.Complete();
            return done;
        }
        finally
        {
            writer?.Dispose();
        }
    }

    /// <summary>Decoded pixels a streamed folder keeps in memory for mining, at most (<see cref="ComputeStreamed"/>).</summary>
    public const long DefaultPixelBudget = 1L << 30;

    /// <summary>
    /// The embeddings of a folder or CSV file computed as in <see cref="WriteStreamed"/>, kept in memory, with the
    /// records behind them for mining. A folder's decoded images are kept as they stream by while they fit in
    /// <paramref name="pixelBudget"/> bytes (1 GB: a million 28×28 grey images) — re-reading them for the duplicate
    /// check would decode every image about fourteen times; above it, only their paths are kept (<see cref="ImageFiles"/>)
    /// and a file is decoded again when a contact sheet, a thumbnail or a duplicate check asks for it. A table's rows
    /// are kept as their encoded chunks. Labels become class indices (of the folder's classes, or the run's table
    /// classes; a label the run does not know becomes −1).
    /// </summary>
    public static (EmbeddingTable Table, RecordLookup Records) ComputeStreamed(string runFolder, DataSpec spec, Action<long, long>? progress = null,
        List<string>? skipped = null, long pixelBudget = DefaultPixelBudget)
    {
        var imageChunks = new List<IRecordSet>();
        long pixelBytes = 0;
        var ids = new List<string>();
        var labels = new List<int>();
        var vectors = new List<float>();
        var tableParts = new List<IRecordSet>();
        ImageDataset? firstImages = null;
        int dimensions = 0;
        foreach (var batch in Streamed(runFolder, spec, skipped))
        {
            dimensions = batch.Dimensions;
            foreach (var i in batch.Indices)
            {
                ids.Add(batch.Records.RecordId(i));
                labels.Add(batch.Records.Labels?[i] ?? -1);
            }
            vectors.AddRange(batch.Vectors);
            if (batch.Indices[0] == 0)
            {
                if (batch.Records is ImageDataset images)
                {
                    firstImages ??= images;
                    pixelBytes += images.Pixels.LongLength;
                    if (pixelBytes <= pixelBudget) imageChunks.Add(images);
                    else imageChunks.Clear();   // over the budget: from here on only the paths are kept
                }
                else tableParts.Add(batch.Records);
            }
            progress?.Invoke(ids.Count, batch.Total);
        }
        if (ids.Count == 0) throw new DataFormatException(spec.Path!, "no record to embed");
        IReadOnlyList<string>? classNames;
        RecordLookup records;
        if (firstImages is not null)
        {
            classNames = firstImages.ClassNames;
            records = pixelBytes <= pixelBudget ? new RecordLookup(imageChunks)
                : new RecordLookup([new ImageFiles(ids.ToArray(), classNames is null ? null : labels.ToArray(), classNames,
                    firstImages.Channels, firstImages.Height, firstImages.Width, spec.IntOption("size"), firstImages.Source)]);
        }
        else
        {
            classNames = tableParts[0].ClassNames;
            records = new RecordLookup(tableParts);
        }
        return (new EmbeddingTable(ids.ToArray(), labels.ToArray(), vectors.ToArray(), dimensions, classNames), records);
    }

    /// <summary>One batch of streamed embeddings: the chunk it came from and the rows of it, their labels as text.</summary>
    sealed record StreamedBatch(IRecordSet Records, int[] Indices, string?[] Labels, float[] Vectors, int Dimensions, long Total);

    /// <summary>
    /// The run's encoder over every record of a folder (<see cref="ImageFolderStream"/>: decoded in chunks by a bounded
    /// background pipeline; converted to the encoder's channels — <c>channels=</c> of the spec, else grey when the first
    /// image is grey, else colour, and the other when the run's encoder was trained on the other) or of a CSV file
    /// (<see cref="TableStream"/>: rows encoded with the run's schema chunk by chunk), batch by batch, in file order.
    /// Chunks carry class-index labels: of the folder's classes, or of the run's table classes (−1 for a label the run
    /// does not know or a missing one); each batch also has the labels as text, as the data writes them.
    /// </summary>
    static IEnumerable<StreamedBatch> Streamed(string runFolder, DataSpec spec, List<string>? skipped, int batchSize = 512)
    {
        if (!CanStream(spec)) throw new ArgumentException($"{spec} is not read as a stream (a folder:DIR or csv:FILE without limit=)");
        var (state, path) = Checkpoint.ReadState(runFolder);
        var config = state.Config;
        Runtime.TorchRuntime.Initialize(config.Threads);
        Encoder? encoder = null;
        try
        {
            if (spec.IsTable)
            {
                var schema = config.Table ?? throw new DataFormatException(spec.Path!, "the run was trained on images, not on a table");
                long total = TableStream.CountLines(spec);
                var classIndex = schema.Classes?.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
                Func<Tensor, Tensor>? featurizer = null;
                foreach (var chunk in TableStream.Chunks(spec, schema))
                {
                    if (encoder is null)
                    {
                        encoder = EncoderEvaluator.LoadEncoder(path, config, chunk.Rows);
                        encoder.eval();
                        featurizer = ModelFactory.Featurizer(encoder, config, chunk.Rows);
                    }
                    // Labels as the run's class indices where the run knows them, for mining's label-aware answers.
                    var known = chunk.Labels.Select(l => l is not null && classIndex is not null && classIndex.TryGetValue(l, out var k) ? k : -1).ToArray();
                    var rows = new TableDataset(chunk.Rows.Schema, chunk.Rows.Values, chunk.Rows.Missing, chunk.Rows.Count, known,
                        Enumerable.Range(0, chunk.Rows.Count).Select(chunk.Rows.RecordId).ToArray(), chunk.Rows.Source);
                    foreach (var batch in Batches(featurizer!, rows, batchSize, chunk.Labels, encoder.EmbeddingSize, total)) yield return batch;
                }
            }
            else
            {
                var stream = ImageFolderStream.Open(spec.Path!, spec.IntOption("size"), spec.Options.ContainsKey("skipbad"));
                var first = stream.First();
                int channels = spec.IntOption("channels") ?? (first.IsGrey ? 1 : 3);
                (encoder, var like) = LoadForImages(path, config, first, channels, allowOther: spec.IntOption("channels") is null, spec.Path!);
                encoder.eval();
                var featurizer = ModelFactory.Featurizer(encoder, config, like);
                foreach (var chunk in stream.Chunks(like.Channels, batchSize, Math.Max(1, config.Threads)))
                    foreach (var batch in Batches(featurizer, chunk, batchSize, Enumerable.Range(0, chunk.Count).Select(i => LabelOf(chunk, i)).ToArray(), encoder.EmbeddingSize, stream.Count))
                        yield return batch;
                skipped?.AddRange(stream.Skipped);
            }
        }
        finally
        {
            encoder?.Dispose();
        }
    }

    static IEnumerable<StreamedBatch> Batches(Func<Tensor, Tensor> featurizer, IRecordSet records, int batchSize, string?[] labels, int dimensions, long total)
    {
        var batches = new List<StreamedBatch>();
        ForEachBatch(featurizer, records, batchSize, (indices, vectors) =>
            batches.Add(new StreamedBatch(records, indices, indices.Select(i => labels[i]).ToArray(), vectors.ToArray(), dimensions, total)));
        return batches;
    }

    /// <summary>The run's encoder for images of <paramref name="first"/>'s size with <paramref name="channels"/>
    /// channels, or the other channel count when the checkpoint holds an encoder for that (and it is allowed).</summary>
    static (Encoder Encoder, ImageDataset Like) LoadForImages(string checkpoint, PretrainConfig config, DecodedImage first, int channels, bool allowOther, string folder)
    {
        ImageDataset Like(int c)
        {
            var pixels = new byte[c * first.Height * first.Width];
            first.CopyPlanes(pixels, 0, c);
            return new ImageDataset(pixels, 1, c, first.Height, first.Width);
        }
        Exception? failure = null;
        foreach (var c in allowOther ? new[] { channels, 4 - channels } : [channels])
        {
            var like = Like(c);
            try
            {
                var encoder = EncoderEvaluator.LoadEncoder(checkpoint, config, like);
                encoder.eval();
                return (encoder, like);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or ExternalException) { failure ??= e; }
        }
        throw new DataFormatException(folder, $"the run's encoder does not take these {first.Width}×{first.Height} images with {channels} channel(s)"
            + " (give the size and channels it was trained on, e.g. folder:DIR,size=32,channels=3): " + failure!.Message);
    }

    /// <summary>The embeddings of <paramref name="records"/> by the run's encoder (loaded for this and released).</summary>
    public static EmbeddingTable Embed(string runFolder, IRecordSet records)
    {
        var (config, splits, encoder) = Load(runFolder, new RecordSplits(records));
        using (encoder) return Compute(encoder, config, splits);
    }

    /// <summary>Embeddings of every record in memory, with ids and labels.</summary>
    public static EmbeddingTable Compute(Encoder encoder, PretrainConfig config, ISplits data, Action<long, long>? progress = null, int batchSize = 512)
    {
        var featurizer = ModelFactory.Featurizer(encoder, config, data.Train);
        var ids = new List<string>();
        var labels = new List<int>();
        var vectors = new List<float>();
        long total = Parts(data).Sum(p => (long)p.Count);
        foreach (var part in Parts(data))
            ForEachBatch(featurizer, part, batchSize, (indices, batch) =>
            {
                ids.AddRange(indices.Select(part.RecordId));
                labels.AddRange(indices.Select(i => part.Labels?[i] ?? -1));
                vectors.AddRange(batch.ToArray());
                progress?.Invoke(ids.Count, total);
            });
        return new EmbeddingTable(ids.ToArray(), labels.ToArray(), vectors.ToArray(), encoder.EmbeddingSize, data.Train.ClassNames);
    }

    /// <summary>Every record of <paramref name="part"/> in batches: the batch's record indices and its features as floats.</summary>
    static void ForEachBatch(Func<Tensor, Tensor> featurizer, IRecordSet part, int batchSize, Action<int[], ReadOnlySpan<float>> onBatch) =>
        EmbeddingExtractor.ForEachBatch(featurizer, part, Enumerable.Range(0, part.Count).ToArray(), batchSize, null, (start, features) =>
            onBatch(Enumerable.Range(start, (int)features.shape[0]).ToArray(), features.data<float>().ToArray()));

    static string? LabelOf(IRecordSet part, int index) =>
        part.Labels is null ? null : part.ClassNames is { } names ? names[part.Labels[index]] : part.Labels[index].ToString(System.Globalization.CultureInfo.InvariantCulture);
}
