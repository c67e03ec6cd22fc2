using Contramask.Data;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>
/// The random view number <paramref name="view"/> (0-based, up to the objective's view count) of a batch of model
/// inputs, whose positions in the training split are <paramref name="indices"/>.
/// </summary>
public delegate Tensor ViewMaker(Tensor inputs, int[] indices, int view);

/// <summary>
/// The one place that knows which models and views go with which kind of data: a run's config and its records
/// (images or table rows) → encoder, objective, random views, and the featurizer evaluation uses.
/// </summary>
public static class ModelFactory
{
    public static Encoder BuildEncoder(PretrainConfig config, IRecordSet like) => like switch
    {
        TableDataset => config.Encoder.BuildTable(Layout(config, like)),
        ImageDataset images => config.Encoder.Build(images.Channels, images.Height, images.Width),
        _ => throw new ArgumentException($"no encoder for {like.GetType().Name}"),
    };

    /// <param name="like">The training split: its shape, and for tables the rows corruptions draw their values from.</param>
    public static SelfSupervisedObjective BuildObjective(PretrainConfig config, Encoder encoder, IRecordSet like, Generator generator) => (encoder, like) switch
    {
        // SCARF corrupts where its views are made (ViewMaker); VIME and the fusion draw from the pool inside the objective.
        (TableEncoder table, TableDataset rows) => SelfSupervisedObjective.CreateForTable(config.Objective, table,
            config.Objective.Method is Method.Masked or Method.Fusion ? DonorPool(rows) : null, generator, config.TableViews,
            NeedsTarget(config) ? (TableEncoder)BuildEncoder(config, like) : null),
        (ImageEncoder image, ImageDataset images) => SelfSupervisedObjective.Create(config.Objective, image, images.Channels, images.Height, images.Width, config.Patch, generator,
            NeedsTarget(config) ? (ImageEncoder)BuildEncoder(config, like) : null),
        _ => throw new ArgumentException($"encoder {encoder.GetType().Name} does not suit {like.GetType().Name}"),
    };

    static bool NeedsTarget(PretrainConfig config) => config.Objective is { Method: Method.Fusion, Fusion: FusionKind.Momentum };

    /// <summary>Every training row, packed (values | missing flags): where SCARF and VIME draw replacement values.</summary>
    static Tensor DonorPool(TableDataset rows) => rows.Batch(Enumerable.Range(0, rows.Count).ToArray()).DetachFromDisposeScope();

    /// <summary>The random views a training step makes of a batch (see <see cref="ViewMaker"/>).</summary>
    public static ViewMaker ViewMaker(PretrainConfig config, IRecordSet like, Generator generator)
    {
        if (like is TableDataset table)
        {
            var options = config.TableViews;
            // Masked and fused objectives corrupt inside (VIME), and compare the corrupted row with the clean one:
            // their views are the rows themselves (fusion adds its noise after corruption, in the branch).
            if (config.Objective.Method != Method.Contrastive)
                return (rows, _, _) => rows.alias();
            // SCARF: view 0 is the clean anchor, view 1 the positive with ⌊c·F⌋ features from other training rows.
            var scarf = new RowCorruption(Layout(config, like), generator, DonorPool(table));
            return (rows, indices, view) => view == 0 ? rows.alias() : scarf.CorruptExactly(rows, options.CorruptionRate, indices);
        }
        var augmenter = new ImageAugmenter(config.Augmentation, generator);
        var normalization = config.Normalization ?? ImageNormalization.FromDataset((ImageDataset)like);
        return (images, _, _) => normalization.Apply(augmenter.Augment(images));
    }

    /// <summary>Model inputs → what the encoder takes, without random views: standardized images, or the rows as they are.</summary>
    public static Func<Tensor, Tensor> Standardizer(PretrainConfig config, IRecordSet like, Device device)
    {
        if (like is TableDataset) return rows => rows.to(device);
        var normalization = config.Normalization ?? ImageNormalization.FromDataset((ImageDataset)like);
        return images => normalization.Apply(images.to(device));
    }

    /// <summary>Evaluation's featurizer: inputs → embeddings (images standardized with the run's statistics first).</summary>
    public static Func<Tensor, Tensor> Featurizer(Encoder encoder, PretrainConfig config, IRecordSet like)
    {
        var standardize = Standardizer(config, like, encoder.parameters().First().device);
        return inputs => encoder.forward(standardize(inputs));
    }

    /// <summary>The run's table layout: its saved schema, or (before the run starts) the data's own.</summary>
    public static TableLayout Layout(PretrainConfig config, IRecordSet like) =>
        new(config.Table ?? (like as TableDataset)?.Schema ?? throw new InvalidOperationException("a table run needs a schema"));
}
