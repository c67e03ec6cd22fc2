using TorchSharp;
using static TorchSharp.torch;

namespace Contramask.Models;

/// <summary>
/// An image encoder: N×C×H×W standardized images → N×<see cref="EmbeddingSize"/> embeddings (forward).
/// CNNs derive from <see cref="ConvEncoder"/>, transformers from <see cref="VisionTransformer"/>; the masked and
/// fused objectives use those to see masked inputs (SimMIM) or only the visible tokens (MAE).
/// </summary>
public abstract class ImageEncoder(string name) : Encoder(name);

/// <summary>A CNN: a feature map N×D×h×w, globally average-pooled to the embedding (so any input size works).</summary>
public abstract class ConvEncoder(string name) : ImageEncoder(name)
{
    public abstract Tensor FeatureMap(Tensor images);

    /// <summary>
    /// The feature map after each stage (resolution step) of the network, the last being <see cref="FeatureMap"/>;
    /// the layered fusion reads a lower one. A CNN without distinct stages returns only its feature map.
    /// </summary>
    public virtual IReadOnlyList<Tensor> StageMaps(Tensor images) => [FeatureMap(images)];

    /// <summary>Channels of each map <see cref="StageMaps"/> returns.</summary>
    public virtual IReadOnlyList<int> StageWidths => [EmbeddingSize];

    public override Tensor forward(Tensor images)
    {
        using var map = FeatureMap(images);
        return map.mean([2, 3]);
    }
}
