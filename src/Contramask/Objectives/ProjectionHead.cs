using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Contramask.Objectives;

/// <summary>
/// SimCLR's projection g (Chen et al. 2020, §2.1): Linear → BatchNorm → ReLU → Linear. The contrastive loss is
/// taken on g(h) and the representation h before it is what is kept; the paper shows h is the better feature.
/// </summary>
public sealed class ProjectionHead : nn.Module<Tensor, Tensor>
{
    readonly Sequential layers;

    public ProjectionHead(int input, int hidden, int output) : base("projection")
    {
        layers = nn.Sequential(nn.Linear(input, hidden), new Models.BatchNorm(hidden), nn.ReLU(inplace: true), nn.Linear(hidden, output));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => layers.forward(x);
}
