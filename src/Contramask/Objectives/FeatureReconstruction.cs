using Contramask.Data;
using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Objectives;

/// <summary>
/// VIME's feature estimator (Yoon et al. 2020, §4.1): from a row's embedding, predict every original feature,
/// squared error for numbers (standardized) and cross-entropy over codes for categories. Cells that were
/// missing in the original cannot be reconstructed and never count.
/// </summary>
public sealed class FeatureReconstruction : nn.Module
{
    readonly TableLayout layout;
    readonly Sequential trunk;
    readonly Linear numeric;
    readonly ModuleList<Linear> categorical;

    public FeatureReconstruction(TableLayout layout, int embedding, int hidden = 256) : base("feature_reconstruction")
    {
        this.layout = layout;
        trunk = nn.Sequential(nn.Linear(embedding, hidden), nn.ReLU());
        numeric = nn.Linear(hidden, Math.Max(1, layout.NumericColumns.Length));
        categorical = nn.ModuleList(layout.Cardinalities.Select(k => nn.Linear(hidden, k)).ToArray());
        RegisterComponents();
    }

    /// <param name="embedding">N×D embeddings.</param>
    /// <param name="original">The uncorrupted packed rows the embeddings should recover.</param>
    /// <param name="weight">N×F 0/1: which cells count (all, or only the hidden ones for MAE-style loss).</param>
    /// <returns>The mean loss over counted, observed cells.</returns>
    public Tensor Loss(Tensor embedding, Tensor original, Tensor weight)
    {
        using var scope = NewDisposeScope();
        var hidden = trunk.forward(embedding);
        var counted = weight * OneMinus(layout.MissingFlags(original));
        var total = zeros(1, device: embedding.device).squeeze();
        if (layout.NumericColumns.Length > 0)
        {
            var columns = tensor(layout.NumericColumns.Select(i => (long)i).ToArray(), device: embedding.device);
            var error = Square(numeric.forward(hidden) - layout.Numeric(original));
            total = total.add((error * counted.index_select(1, columns)).sum(), One);
        }
        if (layout.CategoricalColumns.Length > 0)
        {
            var codes = layout.Codes(original);
            for (int c = 0; c < layout.CategoricalColumns.Length; c++)
            {
                var perRow = F.cross_entropy(categorical[c].forward(hidden), codes[.., c], reduction: nn.Reduction.None);
                total = total.add((perRow * counted[.., layout.CategoricalColumns[c]]).sum(), One);
            }
        }
        return (total / counted.sum().clamp_min(Of(1.0))).MoveToOuterDisposeScope();
    }
}
