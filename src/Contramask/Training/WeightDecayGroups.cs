using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>
/// Which parameters AdamW decays, decided by the parameter's role, not by its name: the weight matrices of linear
/// layers and the kernels of convolutions are decayed; biases, normalization scales, embedding tables and free
/// parameters (mask tokens, SimMIM's mask value, the FT-Transformer's class and missing tokens, its numeric
/// feature weights and column biases) are not. This is MAE's and CAN's rule (no decay on biases, norms and
/// tokens; timm's <c>param_groups_weight_decay</c>) and the FT-Transformer's (Gorishniy et al. 2021: no decay on
/// the feature tokenizer, norms and biases).
/// </summary>
public static class WeightDecayGroups
{
    public static (IReadOnlyList<Parameter> Decay, IReadOnlyList<Parameter> NoDecay) Split(nn.Module model)
    {
        var decayed = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var (_, module) in model.named_modules())
        {
            var weight = module switch
            {
                Linear linear => linear.weight,
                Convolution convolution => convolution.weight,
                _ => null,
            };
            if (weight is not null) decayed.Add(weight);
        }
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        // A parameter shared by two modules (none today) appears once: named_parameters lists each once.
        // Parameters that take no gradient (a momentum target's) are not the optimizer's.
        foreach (var (_, p) in model.named_parameters().Where(np => np.parameter.requires_grad)) (decayed.Contains(p) ? decay : noDecay).Add(p);
        return (decay, noDecay);
    }
}
