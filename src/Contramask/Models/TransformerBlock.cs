using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Models;

/// <summary>A pre-norm transformer block (ViT, Dosovitskiy et al. 2021): x + attention(LN(x)), then x + MLP(LN(x)).</summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor>
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

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0], tokens = x.shape[1], dim = x.shape[2];
        var qkvHeads = qkv.forward(norm1.forward(x)).reshape(n, tokens, 3, heads, dim / heads).permute(2, 0, 3, 1, 4);
        var attended = F.scaled_dot_product_attention(qkvHeads[0], qkvHeads[1], qkvHeads[2]);
        x = x + projection.forward(attended.transpose(1, 2).reshape(n, tokens, dim));
        x = x + output.forward(F.gelu(hidden.forward(norm2.forward(x))));
        return x.MoveToOuterDisposeScope();
    }
}
