using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Models;

/// <summary>
/// Batch normalization (Ioffe &amp; Szegedy 2015) over the channels of N×C or N×C×H×W inputs: batch statistics in
/// training, updating running averages (momentum 0.1, or a cumulative average when <see cref="Momentum"/> is null),
/// running statistics in evaluation; learned scale and shift. Same computation and parameter names as
/// <c>torch.nn.BatchNorm1d/2d</c> (checkpoints load either way). It replaces TorchSharp's module, whose training
/// forward counts batches with <c>num_batches_tracked.add_(1)</c>: a temporary Scalar libtorch may read after
/// the garbage collector freed it (<see cref="Runtime.Scalars"/>).
/// </summary>
public sealed class BatchNorm : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // PyTorch's names, so state dictionaries match torch.nn.BatchNorm*.
    readonly Parameter weight, bias;
    readonly Tensor running_mean, running_var, num_batches_tracked;
#pragma warning restore IDE1006

    public BatchNorm(long features, double epsilon = 1e-5, double? momentum = 0.1) : base("batch_norm")
    {
        Epsilon = epsilon;
        Momentum = momentum;
        weight = nn.Parameter(ones(features));
        bias = nn.Parameter(zeros(features));
        running_mean = zeros(features);
        running_var = ones(features);
        num_batches_tracked = zeros(1, ScalarType.Int64).squeeze();
        RegisterComponents();
    }

    public double Epsilon { get; }
    /// <summary>Weight of each new batch in the running averages; null = cumulative average over all batches since a reset.</summary>
    public double? Momentum { get; set; }

    public override Tensor forward(Tensor input)
    {
        double factor = Momentum ?? 0.0;
        if (training)
        {
            using var _ = no_grad();
            num_batches_tracked.add_(One, One);
            if (Momentum is null) factor = 1.0 / num_batches_tracked.item<long>();
        }
        return F.batch_norm(input, running_mean, running_var, weight, bias, training, factor, Epsilon);
    }

    /// <summary>Forgets the running statistics (mean 0, variance 1, no batches seen).</summary>
    public void ResetRunningStatistics()
    {
        using var _ = no_grad();
        running_mean.zero_();
        running_var.fill_(Of(1.0));
        num_batches_tracked.zero_();
    }
}
