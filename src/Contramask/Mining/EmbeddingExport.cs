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

    /// <summary>
    /// As <see cref="Write"/> for a folder of image files, streamed: the images are decoded in a bounded background
    /// pipeline (<see cref="ImageFolderStream"/>) while the encoder runs, so memory does not grow with the number of
    /// images. Rows are in file order (every split: embed writes every record). The images are converted to the
    /// encoder's channels: <c>channels=</c> of the spec, else grey when the first image is grey, else colour, and the
    /// other when the run's encoder was trained on the other.
    /// </summary>
    /// <param name="skipped">Receives the files left out as undecodable (spec option <c>skipbad</c>).</param>
    public static long WriteFolder(string runFolder, DataSpec folder, string outPath, EmbeddingFormat? format = null, Action<long, long>? progress = null,
        List<string>? skipped = null, int batchSize = 512)
    {
        if (folder.Kind != "folder") throw new ArgumentException($"{folder} is not a folder of images");
        var (state, path) = Checkpoint.ReadState(runFolder);
        var config = state.Config;
        Runtime.TorchRuntime.Initialize(config.Threads);
        var stream = ImageFolderStream.Open(folder.Path!, folder.IntOption("size"), folder.Options.ContainsKey("skipbad"));
        var first = stream.First();
        int channels = folder.IntOption("channels") ?? (first.IsGrey ? 1 : 3);
        var (encoder, like) = LoadForImages(path, config, first, channels, allowOther: folder.IntOption("channels") is null, folder.Path!);
        channels = like.Channels;
        using (encoder)
        {
            var featurizer = ModelFactory.Featurizer(encoder, config, like);
            long total = stream.Count, done = 0;
            using var writer = new EmbeddingWriter(outPath, encoder.EmbeddingSize, total, format, rowsAtMost: true);
            foreach (var chunk in stream.Chunks(channels, batchSize, Math.Max(1, config.Threads)))
                ForEachBatch(featurizer, chunk, batchSize, (indices, vectors) =>
                {
                    writer.Write(indices.Select(chunk.RecordId).ToArray(), indices.Select(i => LabelOf(chunk, i)).ToArray(), vectors);
                    done += indices.Length;
                    progress?.Invoke(done, total);
                });
            writer.Complete();
            skipped?.AddRange(stream.Skipped);
            return done;
        }
    }

    /// <summary>
    /// As <see cref="Write"/> for a CSV file, streamed: rows read and encoded with the run's schema chunk by chunk
    /// (<see cref="TableStream"/>), so memory does not grow with the file. Rows in file order (then the <c>testfile=</c>),
    /// each with its own label as written in the file.
    /// </summary>
    public static long WriteTable(string runFolder, DataSpec table, string outPath, EmbeddingFormat? format = null, Action<long, long>? progress = null, int batchSize = 512)
    {
        var (state, path) = Checkpoint.ReadState(runFolder);
        var config = state.Config;
        var schema = config.Table ?? throw new DataFormatException(table.Path!, "the run was trained on images, not on a table");
        Runtime.TorchRuntime.Initialize(config.Threads);
        long total = TableStream.CountLines(table), done = 0;
        Encoder? encoder = null;
        EmbeddingWriter? writer = null;
        try
        {
            Func<Tensor, Tensor>? featurizer = null;
            foreach (var chunk in TableStream.Chunks(table, schema))
            {
                if (encoder is null)
                {
                    encoder = EncoderEvaluator.LoadEncoder(path, config, chunk.Rows);
                    encoder.eval();
                    featurizer = ModelFactory.Featurizer(encoder, config, chunk.Rows);
                    writer = new EmbeddingWriter(outPath, encoder.EmbeddingSize, total, format, rowsAtMost: true);
                }
                ForEachBatch(featurizer!, chunk.Rows, batchSize, (indices, vectors) =>
                {
                    writer!.Write(indices.Select(chunk.Rows.RecordId).ToArray(), indices.Select(i => chunk.Labels[i]).ToArray(), vectors);
                    done += indices.Length;
                    progress?.Invoke(done, total);
                });
            }
            writer!.Complete();
            return done;
        }
        finally
        {
            writer?.Dispose();
            encoder?.Dispose();
        }
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
