using Contramask.Data;
using Contramask.Models;
using Contramask.Views;
using static TorchSharp.torch;

namespace Contramask.Evaluation;

/// <summary>Frozen embeddings of a whole dataset: the encoder in eval mode, no gradients, one dispose scope per batch.</summary>
public static class EmbeddingExtractor
{
    /// <returns>N×D float32 tensor on the CPU; the caller owns it.</returns>
    public static Tensor Extract(ImageEncoder encoder, ImageDataset data, ImageNormalization normalization, int batchSize = 512, Action<int, int>? progress = null)
    {
        var device = encoder.parameters().First().device;
        bool wasTraining = encoder.training;
        encoder.eval();
        var result = empty(data.Count, encoder.EmbeddingSize);
        using (no_grad())
        {
            var indices = Enumerable.Range(0, data.Count).ToArray();
            for (int start = 0; start < data.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                int count = Math.Min(batchSize, data.Count - start);
                var images = normalization.Apply(ImageNormalization.ToUnit(data.Batch(indices.AsSpan(start, count))).to(device));
                result[start..(start + count)] = encoder.forward(images).cpu();
                progress?.Invoke(start + count, data.Count);
            }
        }
        if (wasTraining) encoder.train();
        return result;
    }
}
