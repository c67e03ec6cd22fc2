using Contramask.Models;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// Masked modeling of table rows (see <see cref="TableMaskedBranch"/>): VIME's L = L_mask + α·L_reconstruction
/// (Yoon et al. 2020, eq. 3, with α = 1 / <c>WeightMaskPrediction</c>) for MLPs, MAE's reconstruction of the
/// dropped columns for the feature-token transformer.
/// </summary>
public sealed class TableMaskedObjective : SelfSupervisedObjective
{
    readonly TableMaskedBranch branch;

    public TableMaskedObjective(TableEncoder encoder, ObjectiveOptions options, Tensor pool, Generator generator)
        : base("table_masked", encoder, options, generator)
    {
        branch = new TableMaskedBranch(encoder, options.MaskRatio, pool, generator);
        RegisterComponents();
    }

    public override int ViewCount => 1;
    public override bool WantsStrongViews => false;

    public override LossTerms Loss(IReadOnlyList<Tensor> views)
    {
        var output = branch.Forward(views[0]);
        var components = new Dictionary<string, Tensor>();
        return new LossTerms(output.Term(Options.WeightMaskPrediction, components), components);
    }
}
