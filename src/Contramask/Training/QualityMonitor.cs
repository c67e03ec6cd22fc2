using System.Diagnostics;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Models;
using Contramask.Objectives;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>
/// One reading of the <see cref="QualityMonitor"/>: kNN-20 accuracy on the validation slice (when it and the
/// training split have labels), RankMe and the std of the L2-normalized embeddings (always), at a step and
/// minute of training.
/// </summary>
public sealed record QualityReading(long Step, double TrainingSeconds, double? Knn20, double RankMe, double NormalizedStd, int Dimensions, double Seconds)
{
    /// <summary>
    /// The normalized std times √d: about 1 for embeddings spread over the sphere, 0 for a collapse to one point
    /// (SimSiam, Chen &amp; He 2021, Fig. 2 plots the std against 1/√d).
    /// </summary>
    public double SpreadRatio => NormalizedStd * Math.Sqrt(Dimensions);

    /// <summary>Collapsed: RankMe below <paramref name="minRank"/>, or the embeddings squeezed to a tenth of a healthy spread.</summary>
    public bool Collapsed(double minRank) => RankMe < minRank || SpreadRatio < QualityMonitor.MinSpreadRatio;
}

/// <summary>
/// Scores the encoder while it trains, on fixed seeded samples: up to <see cref="QueryRecords"/> of the validation
/// slice (or of the training split when there is none) are embedded, and up to <see cref="BankRecords"/> training
/// records serve as the kNN bank (InstDisc-weighted kNN-20 on cosine similarity, as <see cref="KnnClassifier"/>).
/// The encoder is scored as evaluation sees it (eval mode, float32), except after SimMIM-style masked inputs on a
/// BatchNorm CNN, whose running statistics describe masked images until the final recalibration
/// (<see cref="BatchNormRecalibration"/>): there the monitor normalizes with each batch's own statistics and puts
/// the running ones back. The samples are small so that ten readings cost a few percent of a run (about 1 s each for
/// MNIST's ConvNet on 2 cores); the trainer also skips readings past <see cref="PretrainConfig.MonitorShare"/>.
/// </summary>
public sealed class QualityMonitor : IDisposable
{
    public const int BankRecords = 5000;
    public const int QueryRecords = 2000;
    /// <summary>A spread ratio (<see cref="QualityReading.SpreadRatio"/>) below this counts as collapse.</summary>
    public const double MinSpreadRatio = 0.1;
    const int BatchSize = 256;

    readonly Encoder encoder;
    readonly Func<Tensor, Tensor> featurizer;
    readonly IRecordSet train, queries;
    readonly int[] bankIndices, queryIndices;
    readonly long[]? bankLabels, queryLabels;
    readonly int classes;
    readonly BufferSnapshot? batchStatistics;

    public QualityMonitor(Encoder encoder, PretrainConfig config, ISplits data, bool maskedBatchNorm)
    {
        this.encoder = encoder;
        train = data.Train;
        featurizer = ModelFactory.Featurizer(encoder, config, data.Train);
        queries = data.Validation is { Count: > 1 } validation ? validation : data.Train;
        var random = new Random(config.Seed + 7);
        queryIndices = Sample(queries.Count, QueryRecords, random);
        bankIndices = Sample(train.Count, BankRecords, random);
        // kNN needs labels on both sides, and queries that are not in the bank.
        if (train.HasLabels && queries != train && queries.HasLabels)
        {
            bankLabels = bankIndices.Select(i => (long)train.Labels![i]).ToArray();
            queryLabels = queryIndices.Select(i => (long)queries.Labels![i]).ToArray();
            classes = Math.Max(train.ClassCount, queries.ClassCount);
        }
        if (maskedBatchNorm) batchStatistics = new BufferSnapshot(encoder);
    }

    /// <summary>Whether readings include kNN-20 accuracy (labelled training split and validation slice).</summary>
    public bool HasAccuracy => bankLabels is not null;

    /// <summary>A seeded sample of up to <paramref name="size"/> positions, ascending; never a lone last batch (BatchNorm needs two).</summary>
    static int[] Sample(int count, int size, Random random)
    {
        var all = Enumerable.Range(0, count).ToArray();
        random.Shuffle(all);
        var chosen = all[..Math.Min(size, count)];
        if (chosen.Length % BatchSize == 1 && chosen.Length > 1) chosen = chosen[..^1];
        Array.Sort(chosen);
        return chosen;
    }

    public QualityReading Check(long step, double trainingSeconds)
    {
        var clock = Stopwatch.StartNew();
        bool wasTraining = encoder.training;
        using var float32 = MixedPrecision.InFloat32(encoder);
        using var scope = NewDisposeScope();
        Tensor queryFeatures, bankFeatures;
        try
        {
            if (batchStatistics is not null) { batchStatistics.Take(); encoder.train(); }
            else encoder.eval();
            queryFeatures = EmbeddingExtractor.Extract(featurizer, queries, queryIndices, BatchSize);
            bankFeatures = HasAccuracy ? EmbeddingExtractor.Extract(featurizer, train, bankIndices, BatchSize) : queryFeatures;
        }
        finally
        {
            batchStatistics?.Restore();
            if (wasTraining) encoder.train(); else encoder.eval();
        }
        // Non-finite embeddings (a diverging run, or NaN in the data) give a reading of NaN, not an error.
        if (!queryFeatures.isfinite().all().item<bool>() || !bankFeatures.isfinite().all().item<bool>())
            return new QualityReading(step, trainingSeconds, HasAccuracy ? double.NaN : null, double.NaN, double.NaN, (int)queryFeatures.shape[1], clock.Elapsed.TotalSeconds);
        double? knn = HasAccuracy ? KnnClassifier.Accuracy(bankFeatures, bankLabels!, queryFeatures, queryLabels!, 20, classes) : null;
        double rank = RepresentationHealth.RankMe(queryFeatures);
        double std = RepresentationHealth.NormalizedStd(queryFeatures);
        return new QualityReading(step, trainingSeconds, knn, rank, std, (int)queryFeatures.shape[1], clock.Elapsed.TotalSeconds);
    }

    public void Dispose() => batchStatistics?.Dispose();
}

/// <summary>
/// The run's embeddings collapsed (see <see cref="QualityReading.Collapsed"/>) and it was started with
/// <c>--stop-on-collapse</c>: a checkpoint was saved first; the message says what was seen and what to change.
/// </summary>
public sealed class CollapseException(string runFolder, QualityReading reading, double minRank, double learningRate) : InvalidOperationException(
    $"the embeddings collapsed at step {reading.Step}: RankMe {reading.RankMe:F2} (threshold {minRank:G3}), spread of the normalized embeddings " +
    $"{reading.SpreadRatio:F3} of a healthy one (threshold {QualityMonitor.MinSpreadRatio:G2}). The run stopped with a checkpoint in {runFolder}. " +
    $"Continue from it with a lower learning rate: contramask pretrain --out {runFolder} --resume --lr {learningRate / 10:G3}; " +
    "or start over (--overwrite) with a higher --temperature or a larger --batch-size")
{
    public QualityReading Reading { get; } = reading;
}
