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

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0], tokens = x.shape[1], dim = x.shape[2];
        var type = ComputeType;
        var qkvHeads = MixedPrecision.Linear(qkv, norm1.forward(x), type).reshape(n, tokens, 3, heads, dim / heads).permute(2, 0, 3, 1, 4);
        // Attention itself stays float32: libtorch's bfloat16 attention backward on CPU made the whole ViT step slower
        // than float32 (fusion ViT-tiny, 28×28: 287 vs 468 img/s with float32 attention; docs/PERFORMANCE.md).
        qkvHeads = qkvHeads.to_type(x.dtype);
        var attended = F.scaled_dot_product_attention(qkvHeads[0], qkvHeads[1], qkvHeads[2]);
        x = x.add(MixedPrecision.Linear(projection, attended.transpose(1, 2).reshape(n, tokens, dim), type).to_type(x.dtype), One);
        x = x.add(MixedPrecision.Linear(output, F.gelu(MixedPrecision.Linear(hidden, norm2.forward(x), type)), type).to_type(x.dtype), One);
        return x.MoveToOuterDisposeScope();
    }
}
