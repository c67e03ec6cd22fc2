using Contramask.Data;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;
using Microsoft.ML.Transforms;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>One LightGBM setting: boosting rounds, learning rate, leaves per tree, least records per leaf.</summary>
public sealed record TreeSettings(int Rounds, double LearningRate, int Leaves, int MinLeafRecords)
{
    public override string ToString() => $"{Rounds} rounds, lr {LearningRate}, {Leaves} leaves, ≥{MinLeafRecords} per leaf";
}

/// <summary>What the trees scored: the setting the validation slice chose, and accuracy on each split asked for.</summary>
public sealed record TreeScores(TreeSettings Chosen, double ValidationAccuracy, double? TestAccuracy, int Labelled)
{
    /// <summary>Every setting tried, with its validation accuracy, in grid order.</summary>
    public IReadOnlyList<(TreeSettings Setting, double ValidationAccuracy)> Tried { get; init; } = [];
}

/// <summary>
/// The baseline a data miner with a table would pick instead of an encoder: gradient-boosted trees (LightGBM, Ke et
/// al. 2017, through ML.NET's <c>Microsoft.ML.LightGbm</c>) on the raw features (the standardized numbers, the
/// missing flags and one-hot categories of <see cref="EmbeddingExtractor.RawTableFeatures"/>) with the same labels
/// as the classifier it is compared with. LightGBM's defaults plus a small grid; the validation slice chooses.
/// </summary>
public static class GradientBoostedTrees
{
    /// <summary>
    /// LightGBM's defaults (100 rounds, lr 0.1, 31 leaves, 20 records per leaf) first, then slower and larger, and two
    /// with small leaves for few labels (at 1% of a table a class may have six labelled rows, fewer than one default leaf).
    /// </summary>
    public static readonly IReadOnlyList<TreeSettings> Grid =
    [
        new(100, 0.1, 31, 20), new(300, 0.05, 31, 20), new(300, 0.05, 63, 10), new(200, 0.1, 15, 5), new(500, 0.05, 7, 2),
    ];

    sealed class Row
    {
        public float[] Features { get; set; } = [];
        public uint Label { get; set; }
    }

    sealed class Prediction
    {
        public uint Predicted { get; set; }
    }

    /// <summary>Fits every setting on the labelled training rows, keeps the one with the best validation accuracy, scores test once with it.</summary>
    /// <param name="labelled">Indices of the training rows whose labels may be used.</param>
    public static TreeScores Fit(TableSplits data, int[] labelled, int seed = 0, IReadOnlyList<TreeSettings>? grid = null, int threads = 0)
    {
        if (labelled.Length == 0) throw new ArgumentException("the trees need at least one labelled training row", nameof(labelled));
        grid ??= Grid;
        if (grid.Count == 0) throw new ArgumentException("the grid of tree settings is empty", nameof(grid));
        if (threads <= 0) threads = Environment.ProcessorCount;
        var validation = data.Validation ?? throw new InvalidOperationException("the trees choose their setting on a validation slice; the data has none");
        var featurize = EmbeddingExtractor.RawTableFeatures(new TableLayout(data.Train.Schema));
        var ml = new MLContext(seed);
        var trainRows = Rows(featurize, data.Train, labelled);
        var schema = Schema(trainRows[0].Features.Length);
        var train = ml.Data.LoadFromEnumerable(trainRows, schema);
        var validationView = ml.Data.LoadFromEnumerable(Rows(featurize, validation, null), schema);
        TreeSettings? best = null;
        ITransformer? bestModel = null;
        double bestAccuracy = -1;
        var tried = new List<(TreeSettings, double)>();
        foreach (var setting in grid)
        {
            // Labels become ML.NET keys by value and predictions map back to class indices: a key column built by hand
            // (KeyDataViewType over 1-based uints) was read one class off by the trainer and scored 88% where 97% is right.
            var pipeline = ml.Transforms.Conversion.MapValueToKey(LabelKey, nameof(Row.Label), keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
                .Append(ml.MulticlassClassification.Trainers.LightGbm(new LightGbmMulticlassTrainer.Options
                {
                    NumberOfIterations = setting.Rounds, LearningRate = setting.LearningRate, NumberOfLeaves = setting.Leaves,
                    MinimumExampleCountPerLeaf = setting.MinLeafRecords, Seed = seed, NumberOfThreads = threads,
                    LabelColumnName = LabelKey, FeatureColumnName = nameof(Row.Features), Silent = true,
                    // LightGBM's own multiclass objective is the softmax one; ML.NET otherwise trains one-vs-all.
                    UseSoftmax = true,
                }))
                .Append(ml.Transforms.Conversion.MapKeyToValue(nameof(Prediction.Predicted), "PredictedLabel"));
            var model = pipeline.Fit(train);
            double accuracy = Accuracy(ml, model, validationView);
            tried.Add((setting, accuracy));
            if (accuracy > bestAccuracy) { bestAccuracy = accuracy; best = setting; bestModel = model; }
        }
        double? test = data.Test is { Labels: not null } t ? Accuracy(ml, bestModel!, ml.Data.LoadFromEnumerable(Rows(featurize, t, null), schema)) : null;
        return new TreeScores(best!, bestAccuracy, test, labelled.Length) { Tried = tried };
    }

    const string LabelKey = "LabelKey";

    static double Accuracy(MLContext ml, ITransformer model, IDataView data)
    {
        var truth = ml.Data.CreateEnumerable<Row>(data, reuseRowObject: false).Select(r => r.Label).ToList();
        var predicted = ml.Data.CreateEnumerable<Prediction>(model.Transform(data), reuseRowObject: false).Select(p => p.Predicted).ToList();
        return truth.Zip(predicted).Count(p => p.First == p.Second) / (double)Math.Max(1, truth.Count);
    }

    /// <summary>Rows as ML.NET reads them: the raw features and the class index.</summary>
    static List<Row> Rows(Func<Tensor, Tensor> featurize, TableDataset records, int[]? indices)
    {
        indices ??= Enumerable.Range(0, records.Count).ToArray();
        using var scope = NewDisposeScope();
        var features = featurize(records.Inputs(indices)).contiguous();
        int d = (int)features.shape[1];
        var values = features.data<float>().ToArray();
        return indices.Select((record, n) => new Row { Features = values.AsSpan(n * d, d).ToArray(), Label = (uint)records.Labels![record] }).ToList();
    }

    static SchemaDefinition Schema(int features)
    {
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, features);
        return schema;
    }
}
