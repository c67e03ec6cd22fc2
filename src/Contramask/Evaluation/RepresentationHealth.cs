using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Evaluation;

/// <summary>
/// Geometry of an embedding, to catch collapse. On L2-normalized features (Wang &amp; Isola 2020,
/// "Understanding contrastive representation learning through alignment and uniformity"):
/// alignment = E ‖f(x) − f(x⁺)‖² over two views of the same image (lower = views agree);
/// uniformity = log E exp(−2 ‖f(x) − f(y)‖²) over pairs of different images (lower = more spread out).
/// Effective rank (Roy &amp; Vetterli 2007) = exp(entropy of the normalized singular values) of the centred
/// embeddings: how many dimensions are really used (1 = collapsed). RankMe (Garrido et al. 2023) is the same
/// entropy on the embeddings as they are, not centred, with ε = 1e-7 added to each normalized singular value, as
/// that paper defines it; the std of L2-normalized embeddings (SimSiam, Chen &amp; He 2021, §4.1) is ≈ 1/√d when
/// the embeddings spread over the sphere and falls to 0 when they collapse to one point.
/// </summary>
public static class RepresentationHealth
{
    public static double Alignment(Tensor view1, Tensor view2)
    {
        using var scope = NewDisposeScope();
        return Square(F.normalize(view1, dim: 1) - F.normalize(view2, dim: 1)).sum(1).mean().item<float>();
    }

    public static double Uniformity(Tensor features, double t = 2.0)
    {
        using var scope = NewDisposeScope();
        var z = F.normalize(features, dim: 1);
        long n = z.shape[0];
        // Each unordered pair of distinct points once: the strict upper triangle of the distance matrix.
        var pairs = ones(n, n, dtype: ScalarType.Bool).triu(1);
        var squared = cdist(z, z).pow_(Of(2L)).masked_select(pairs);
        return Math.Log(squared.mul_(Of(-t)).exp_().mean().item<float>());
    }

    public static double EffectiveRank(Tensor features)
    {
        using var scope = NewDisposeScope();
        var centred = features - features.mean([0], keepdim: true);
        var singular = linalg.svdvals(centred.to_type(ScalarType.Float64));
        var p = singular / singular.sum().clamp_min(Of(1e-12));
        var entropy = -(p * p.clamp_min(Of(1e-30)).log()).sum();
        return Math.Exp(entropy.item<double>());
    }

    public static double RankMe(Tensor features)
    {
        using var scope = NewDisposeScope();
        var singular = linalg.svdvals(features.to_type(ScalarType.Float64));
        var p = (singular / singular.sum().clamp_min(Of(1e-12))).add_(Of(1e-7), One);
        return Math.Exp(-(p * p.log()).sum().item<double>());
    }

    /// <summary>Per-dimension standard deviation of the L2-normalized embeddings, averaged over the dimensions.</summary>
    public static double NormalizedStd(Tensor features)
    {
        using var scope = NewDisposeScope();
        return F.normalize(features, dim: 1).std(0).mean().item<float>();
    }
}
