using Contramask.Data;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Training;

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

    public static SelfSupervisedObjective BuildObjective(PretrainConfig config, Encoder encoder, IRecordSet like, Generator generator) => (encoder, like) switch
    {
        (TableEncoder table, _) => SelfSupervisedObjective.CreateForTable(config.Objective, table, generator),
        (ImageEncoder image, ImageDataset images) => SelfSupervisedObjective.Create(config.Objective, image, images.Channels, images.Height, images.Width, config.Patch, generator),
        _ => throw new ArgumentException($"encoder {encoder.GetType().Name} does not suit {like.GetType().Name}"),
    };

    /// <summary>The random view a training step applies to a batch of inputs (see <see cref="IRecordSet.Inputs"/>).</summary>
    public static Func<Tensor, Tensor> ViewMaker(PretrainConfig config, IRecordSet like, Generator generator)
    {
        if (like is TableDataset)
        {
            var corruption = new RowCorruption(Layout(config, like), generator);
            var options = config.TableViews;
            return rows => corruption.View(rows, options);
        }
        var augmenter = new ImageAugmenter(config.Augmentation, generator);
        var normalization = config.Normalization ?? ImageNormalization.FromDataset((ImageDataset)like);
        return images => normalization.Apply(augmenter.Augment(images));
    }

    /// <summary>Evaluation's featurizer: inputs → embeddings (images standardized with the run's statistics first).</summary>
    public static Func<Tensor, Tensor> Featurizer(Encoder encoder, PretrainConfig config, IRecordSet like)
    {
        var device = encoder.parameters().First().device;
        if (like is TableDataset) return rows => encoder.forward(rows.to(device));
        var normalization = config.Normalization ?? ImageNormalization.FromDataset((ImageDataset)like);
        return images => encoder.forward(normalization.Apply(images.to(device)));
    }

    /// <summary>The run's table layout: its saved schema, or (before the run starts) the data's own.</summary>
    public static TableLayout Layout(PretrainConfig config, IRecordSet like) =>
        new(config.Table ?? (like as TableDataset)?.Schema ?? throw new InvalidOperationException("a table run needs a schema"));
}
