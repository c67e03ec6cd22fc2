using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Models;

/// <summary>
/// A pre-norm transformer block (ViT, Dosovitskiy et al. 2021): x + attention(LN(x)), then x + MLP(LN(x)).
/// With a <see cref="ComputeType"/> its four linear layers run in that type (mixed precision);
/// the residual stream it returns stays float32.
/// </summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor>, IMixedPrecisionModule
{
    readonly LayerNorm norm1, norm2;
    readonly Linear qkv, projection, hidden, output;
    readonly int heads;

    public TransformerBlock(int dim, int heads, double mlpRatio = 4.0) : base("block")
    {
        if (dim % heads != 0) throw new ArgumentException($"width {dim} is not divisible by {heads} heads");
        this.heads = heads;
        norm1 = nn.LayerNorm(dim, eps: 1e-6);
        qkv = nn.Linear(dim, 3 * dim);
        projection = nn.Linear(dim, dim);
        norm2 = nn.LayerNorm(dim, eps: 1e-6);
        hidden = nn.Linear(dim, (int)(dim * mlpRatio));
        output = nn.Linear((int)(dim * mlpRatio), dim);
        foreach (var linear in new[] { qkv, projection, hidden, output })
        {
            nn.init.xavier_uniform_(linear.weight);
            nn.init.zeros_(linear.bias);
        }
        RegisterComponents();
    }

    public ScalarType? ComputeType { get; set; }

    /// <summary>Attention heads (the width is split evenly among them).</summary>
    public int Heads => heads;

    /// <summary>Up to this many tokens, mixed precision writes attention out in bfloat16 (the automatic patch gives ≤ 64).</summary>
    public const int MaxTokensForWrittenOutAttention = 64;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0], tokens = x.shape[1], dim = x.shape[2];
        var type = ComputeType;
        var qkvHeads = MixedPrecision.Linear(qkv, norm1.forward(x), type).reshape(n, tokens, 3, heads, dim / heads).permute(2, 0, 3, 1, 4);
        // Written-out attention keeps the N×heads×T×T scores for backward; beyond a few dozen tokens (a small --patch)
        // that costs more memory than it saves time, so longer sequences take the fused float32 kernel.
        var attended = type is ScalarType low && tokens <= MaxTokensForWrittenOutAttention
            ? LowPrecisionAttention(qkvHeads[0], qkvHeads[1], qkvHeads[2], low)
            : F.scaled_dot_product_attention(qkvHeads[0].to_type(x.dtype), qkvHeads[1].to_type(x.dtype), qkvHeads[2].to_type(x.dtype));
        // The residual sums promote a bfloat16 branch to float32 in the add itself (no separate cast pass).
        x = x.add(MixedPrecision.Linear(projection, attended.transpose(1, 2).reshape(n, tokens, dim), type), One);
        x = x.add(MixedPrecision.Linear(output, F.gelu(MixedPrecision.Linear(hidden, norm2.forward(x), type)), type), One);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// softmax(q·kᵀ/√d)·v with both products in <paramref name="type"/> and the softmax in float32, as autocast runs
    /// attention written out (matmul in bfloat16, softmax in float32). libtorch's fused attention kernel in bfloat16
    /// has a slow backward on CPU (docs/PERFORMANCE.md), and in float32 it makes the two products float32 GEMMs.
    /// </summary>
    static Tensor LowPrecisionAttention(Tensor q, Tensor k, Tensor v, ScalarType type)
    {
        var scores = q.matmul(k.transpose(-2, -1)).to_type(ScalarType.Float32).mul_(Of(1.0 / Math.Sqrt(q.shape[^1])));
        return scores.softmax(-1).to_type(type).matmul(v);
    }
}
