using Contramask.Data;
using Contramask.Models;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>
/// Frozen features of a whole dataset, batch by batch under no_grad with one dispose scope per batch.
/// A featurizer maps model inputs (<see cref="IRecordSet.Inputs"/>: unit-range images, or packed table rows) to N×D features.
/// </summary>
public static class EmbeddingExtractor
{
    /// <summary>An image encoder as a featurizer: standardize with the run's statistics, encode in eval mode.</summary>
    public static Func<Tensor, Tensor> Featurizer(ImageEncoder encoder, ImageNormalization normalization)
    {
        var device = encoder.parameters().First().device;
        return unit => encoder.forward(normalization.Apply(unit.to(device)));
    }

    /// <summary>Raw pixels as features (the baseline every image encoder must beat).</summary>
    public static Tensor RawPixels(Tensor unit) => unit.flatten(1);

    /// <summary>
    /// Raw table features (the baseline every table encoder must beat): the standardized numbers, every feature's
    /// missing flag, and one-hot categories (the unknown code included).
    /// </summary>
    public static Func<Tensor, Tensor> RawTableFeatures(TableLayout layout) => rows =>
    {
        var parts = new List<Tensor> { layout.Numeric(rows), layout.MissingFlags(rows) };
        if (layout.CategoricalColumns.Length > 0)
        {
            var codes = layout.Codes(rows);
            for (int c = 0; c < layout.CategoricalColumns.Length; c++)
                parts.Add(nn.functional.one_hot(codes[.., c], layout.Cardinalities[c]).to(ScalarType.Float32));
        }
        return cat(parts, 1);
    };

    /// <returns>N×D float32 tensor on the CPU; the caller owns it.</returns>
    public static Tensor Extract(ImageEncoder encoder, ImageDataset data, ImageNormalization normalization, int batchSize = 512, Action<int, int>? progress = null)
    {
        bool wasTraining = encoder.training;
        encoder.eval();
        try { return Extract(Featurizer(encoder, normalization), data, batchSize, progress); }
        finally { if (wasTraining) encoder.train(); }
    }

    public static Tensor Extract(Func<Tensor, Tensor> featurizer, IRecordSet data, int batchSize = 512, Action<int, int>? progress = null)
    {
        var indices = Enumerable.Range(0, data.Count).ToArray();
        return Extract(featurizer, data, indices, batchSize, null, progress);
    }

    /// <summary>Features of the records at <paramref name="indices"/>, optionally of a random view of each.</summary>
    public static Tensor Extract(Func<Tensor, Tensor> featurizer, IRecordSet data, int[] indices, int batchSize = 512,
        Func<Tensor, Tensor>? view = null, Action<int, int>? progress = null)
    {
        Tensor? result = null;
        using (no_grad())
        {
            for (int start = 0; start < indices.Length; start += batchSize)
            {
                using var scope = NewDisposeScope();
                int count = Math.Min(batchSize, indices.Length - start);
                var inputs = data.Inputs(indices.AsSpan(start, count));
                if (view is not null) inputs = view(inputs);
                var features = featurizer(inputs).cpu();
                if (result is null)
                {
                    result = empty(indices.Length, features.shape[1]);
                    result.MoveToOuterDisposeScope();
                }
                result[start..(start + count)] = features;
                progress?.Invoke(start + count, indices.Length);
            }
        }
        return result ?? empty(0, 0);
    }
}
