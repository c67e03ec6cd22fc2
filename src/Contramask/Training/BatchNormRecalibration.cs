using Contramask.Data;
using Contramask.Models;
using Contramask.Objectives;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>
/// SimMIM pretraining (Xie et al. 2022) feeds a CNN images whose hidden patches hold a learned fill value, so
/// BatchNorm's running statistics describe masked images; evaluation, embedding and mining then normalize clean
/// images with them. After pretraining, the statistics are re-estimated on clean training images (a cumulative
/// average over up to <see cref="Records"/> of them, the weights untouched; "BatchNorm recalibration", as in
/// Li et al. 2016 AdaBN). Measured on validation against keeping the masked statistics: docs/TUNING.md.
/// </summary>
public static class BatchNormRecalibration
{
    public const int Records = 8192;

    /// <summary>Whether an objective showed its encoder masked inputs (masked or fused objective on a CNN).</summary>
    public static bool Applies(SelfSupervisedObjective objective) =>
        objective is MaskedObjective or FusionObjective or MomentumFusionObjective && objective.Encoder is ConvEncoder && objective.Encoder.modules().OfType<BatchNorm>().Any();

    /// <param name="standardize">Model inputs → what the encoder takes (images standardized with the run's statistics).</param>
    public static void Run(Encoder encoder, IRecordSet train, Func<Tensor, Tensor> standardize, int seed, int batchSize = 256)
    {
        var norms = encoder.modules().OfType<BatchNorm>().ToList();
        if (norms.Count == 0) return;
        var momentum = norms.Select(n => n.Momentum).ToList();
        bool wasTraining = encoder.training;
        // The statistics are for evaluation, embedding and mining, which run in float32: measure them in float32 too,
        // not in the bfloat16 a mixed-precision run trained in.
        using var float32 = MixedPrecision.InFloat32(encoder);
        try
        {
            foreach (var norm in norms) { norm.ResetRunningStatistics(); norm.Momentum = null; }
            encoder.train();
            var order = Enumerable.Range(0, train.Count).ToArray();
            new Random(seed).Shuffle(order);
            order = order[..Math.Min(Records, order.Length)];
            using var _ = no_grad();
            for (int start = 0; start < order.Length; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var batch = order[start..Math.Min(order.Length, start + batchSize)];
                if (batch.Length < 2) break;
                encoder.forward(standardize(train.Inputs(batch)));
            }
        }
        finally
        {
            for (int i = 0; i < norms.Count; i++) norms[i].Momentum = momentum[i];
            if (!wasTraining) encoder.eval();
        }
    }
}
