using Contramask.Data;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>
/// Frozen features of a whole dataset, batch by batch under no_grad with one dispose scope per batch.
/// A featurizer maps model inputs (<see cref="IRecordSet.Inputs"/>: unit-range images, or packed table rows) to N×D features.
/// </summary>
public static class EmbeddingExtractor
{
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
        ForEachBatch(featurizer, data, indices, batchSize, view, (start, features) =>
        {
            if (result is null)
            {
                result = empty(indices.Length, features.shape[1]);
                result.MoveToOuterDisposeScope();
            }
            result[start..(start + (int)features.shape[0])] = features;
            progress?.Invoke(start + (int)features.shape[0], indices.Length);
        });
        return result ?? empty(0, 0);
    }

    /// <summary>
    /// Hands the features of each batch (CPU, N×D, valid only during the call) to <paramref name="onBatch"/> with the
    /// batch's start in <paramref name="indices"/>: under no_grad, one dispose scope per batch.
    /// </summary>
    public static void ForEachBatch(Func<Tensor, Tensor> featurizer, IRecordSet data, int[] indices, int batchSize,
        Func<Tensor, Tensor>? view, Action<int, Tensor> onBatch)
    {
        using var _ = no_grad();
        for (int start = 0; start < indices.Length; start += batchSize)
        {
            using var scope = NewDisposeScope();
            int count = Math.Min(batchSize, indices.Length - start);
            var inputs = data.Inputs(indices.AsSpan(start, count));
            if (view is not null) inputs = view(inputs);
            onBatch(start, featurizer(inputs).cpu().contiguous());
        }
    }
}
