using Contramask.Data;
using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Models;

/// <summary>
/// An encoder of table rows: packed N×2F rows (values | missing flags, see <see cref="TableLayout"/>) →
/// N×<see cref="Encoder.EmbeddingSize"/>. Each categorical column gets its own embedding table (code 0 = unknown).
/// </summary>
public abstract class TableEncoder(string name, TableLayout layout) : Encoder(name)
{
    public TableLayout Layout { get; } = layout;

    /// <summary>One embedding table per categorical column, sized by its cardinality.</summary>
    protected static ModuleList<Embedding> CategoryEmbeddings(TableLayout layout, Func<int, int> dimension) =>
        nn.ModuleList(layout.Cardinalities.Select(k => nn.Embedding(k, dimension(k))).ToArray());
}

/// <summary>
/// A residual MLP for rows (the "ResNet" baseline of Gorishniy et al. 2021): the input is the standardized
/// numbers, every feature's missing flag (so a missing value is never mistaken for an observed 0), and the
/// categorical embeddings; then blocks x + W₂·ReLU(W₁·LN(x)); a final LayerNorm gives the embedding.
/// </summary>
public sealed class ResidualMlp : TableEncoder
{
    readonly ModuleList<Embedding> categories;
    readonly Linear input;
    readonly ModuleList<Sequential> blocks;
    readonly LayerNorm norm;
    readonly int dim;

    public ResidualMlp(TableLayout layout, int dim = 256, int depth = 3) : base("residual_mlp", layout)
    {
        this.dim = dim;
        categories = CategoryEmbeddings(layout, CategoryDimension);
        int inputSize = layout.NumericColumns.Length + layout.FeatureCount + layout.Cardinalities.Sum(CategoryDimension);
        input = nn.Linear(inputSize, dim);
        blocks = nn.ModuleList(Enumerable.Range(0, depth).Select(_ =>
            nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))).ToArray());
        norm = nn.LayerNorm(dim);
        RegisterComponents();
    }

    /// <summary>Embedding width of a categorical column: grows slowly with its cardinality, at most 16.</summary>
    static int CategoryDimension(int cardinality) => Math.Min(16, Math.Max(2, (int)Math.Ceiling(1.6 * Math.Pow(cardinality, 0.56))));

    public override int EmbeddingSize => dim;

    public override Tensor forward(Tensor rows)
    {
        using var scope = NewDisposeScope();
        var x = Input(rows);
        foreach (var block in blocks) x = x.add(block.forward(x), One);
        return norm.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>Residual blocks, for objectives that read a lower one.</summary>
    public int Depth => blocks.Count;

    /// <summary>
    /// The embedding, and the hidden state after all blocks but the last (un-normalized): what a layered fusion's
    /// reconstruction reads.
    /// </summary>
    public (Tensor Embedding, Tensor Lower) ForwardLayered(Tensor rows)
    {
        using var scope = NewDisposeScope();
        var x = Input(rows);
        for (int b = 0; b < blocks.Count - 1; b++) x = x.add(blocks[b].forward(x), One);
        var lower = x;
        x = x.add(blocks[^1].forward(x), One);
        return (norm.forward(x).MoveToOuterDisposeScope(), lower.MoveToOuterDisposeScope());
    }

    /// <summary>The first hidden state: the standardized numbers, the missing flags and the category embeddings, projected.</summary>
    Tensor Input(Tensor rows)
    {
        var parts = new List<Tensor> { Layout.Numeric(rows), Layout.MissingFlags(rows) };
        if (Layout.CategoricalColumns.Length > 0)
        {
            var codes = Layout.Codes(rows);
            for (int c = 0; c < categories.Count; c++) parts.Add(categories[c].forward(codes[.., c]));
        }
        return input.forward(cat(parts, 1));
    }
}

/// <summary>
/// FT-Transformer (Gorishniy et al. 2021): one token per column (numbers: x·w_j + b_j; categories: an embedding
/// + b_j; a missing cell: the column's learned missing token), a [CLS] token, pre-norm transformer blocks; the
/// embedding is the normalized [CLS] output. <see cref="EncodeVisible"/> drops hidden tokens as MAE does, so a
/// masked objective never shows the encoder what it must reconstruct.
/// </summary>
public sealed class FeatureTokenTransformer : TableEncoder
{
    readonly Parameter numericWeight, columnBias, missingToken, classToken;
    readonly ModuleList<Embedding> categories;
    readonly ModuleList<TransformerBlock> blocks;
    readonly LayerNorm norm;
    readonly int dim;

    public FeatureTokenTransformer(TableLayout layout, int dim = 64, int depth = 3, int heads = 4) : base("ft_transformer", layout)
    {
        this.dim = dim;
        int f = layout.FeatureCount;
        numericWeight = new Parameter(randn(Math.Max(1, layout.NumericColumns.Length), dim).mul_(Of(0.1)));
        columnBias = new Parameter(randn(f, dim).mul_(Of(0.1)));
        missingToken = new Parameter(randn(f, dim).mul_(Of(0.1)));
        classToken = new Parameter(randn(1, 1, dim).mul_(Of(0.02)));
        categories = CategoryEmbeddings(layout, _ => dim);
        blocks = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new TransformerBlock(dim, heads, mlpRatio: 2)).ToArray());
        norm = nn.LayerNorm(dim, eps: 1e-6);
        RegisterComponents();
    }

    public override int EmbeddingSize => dim;

    /// <summary>N×F×D feature tokens.</summary>
    public Tensor Tokens(Tensor rows)
    {
        using var scope = NewDisposeScope();
        long n = rows.shape[0];
        var perColumn = new Tensor[Layout.FeatureCount];
        if (Layout.NumericColumns.Length > 0)
        {
            var numeric = Layout.Numeric(rows).unsqueeze(-1) * numericWeight.unsqueeze(0);
            for (int i = 0; i < Layout.NumericColumns.Length; i++) perColumn[Layout.NumericColumns[i]] = numeric[.., i];
        }
        if (Layout.CategoricalColumns.Length > 0)
        {
            var codes = Layout.Codes(rows);
            for (int c = 0; c < Layout.CategoricalColumns.Length; c++) perColumn[Layout.CategoricalColumns[c]] = categories[c].forward(codes[.., c]);
        }
        var tokens = stack(perColumn, 1).add(columnBias.unsqueeze(0), One);
        var missing = Layout.MissingFlags(rows).unsqueeze(-1);
        tokens = (tokens * OneMinus(missing)).add(missingToken.unsqueeze(0) * missing, One);
        return tokens.MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor rows)
    {
        using var scope = NewDisposeScope();
        return Encode(Tokens(rows)).MoveToOuterDisposeScope();
    }

    /// <summary>Encodes only the tokens at <paramref name="keepIndices"/> (N×K column indices), as MAE's encoder.</summary>
    public Tensor EncodeVisible(Tensor rows, Tensor keepIndices)
    {
        using var scope = NewDisposeScope();
        var tokens = Tokens(rows).gather(1, keepIndices.unsqueeze(-1).expand(-1, -1, dim));
        return Encode(tokens).MoveToOuterDisposeScope();
    }

    Tensor Encode(Tensor tokens)
    {
        var x = cat([classToken.expand(tokens.shape[0], -1, -1), tokens], 1);
        foreach (var block in blocks) x = block.forward(x);
        return norm.forward(x[.., 0]);
    }
}
