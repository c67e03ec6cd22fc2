using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Models;

/// <summary>Fixed sine-cosine position embeddings (Vaswani et al. 2017; 2-D form as in the MAE reference).</summary>
public static class PositionEmbedding
{
    /// <summary>1×(h·w)×dim: half the channels encode the row, half the column; dim must be a multiple of 4.</summary>
    public static Tensor SinCos2D(int dim, int gridHeight, int gridWidth)
    {
        if (dim % 4 != 0) throw new ArgumentException($"embedding width {dim} must be a multiple of 4 for 2-D sin-cos positions");
        using var scope = NewDisposeScope();
        var rows = arange(Of(0L), Of((long)gridHeight), One, ScalarType.Float32).repeat_interleave(gridWidth);
        var cols = arange(Of(0L), Of((long)gridWidth), One, ScalarType.Float32).repeat(gridHeight);
        var result = cat([SinCos1D(dim / 2, rows), SinCos1D(dim / 2, cols)], 1).unsqueeze(0);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>positions (P) → P×dim: [sin(p·ω_i), cos(p·ω_i)] with ω_i = 10000^(−i/(dim/2)), on the positions' device.</summary>
    public static Tensor SinCos1D(int dim, Tensor positions)
    {
        using var scope = NewDisposeScope();
        var exponents = arange(Of(0L), Of((long)(dim / 2)), One, ScalarType.Float32, device: positions.device).div_(Of(-(dim / 2.0)));
        var omega = exponents.mul_(Of(Math.Log(10000))).exp_();
        var angles = positions.to_type(ScalarType.Float32).unsqueeze(1) * omega.unsqueeze(0);
        return cat([angles.sin(), angles.cos()], 1).MoveToOuterDisposeScope();
    }
}
