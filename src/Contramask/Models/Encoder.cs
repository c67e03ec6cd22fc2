using TorchSharp;
using static TorchSharp.torch;

namespace Contramask.Models;

/// <summary>
/// Any encoder Contramask trains: a batch of inputs → N×<see cref="EmbeddingSize"/> embeddings (forward).
/// <see cref="ImageEncoder"/> takes N×C×H×W images, <see cref="TableEncoder"/> packed table rows.
/// </summary>
public abstract class Encoder(string name) : nn.Module<Tensor, Tensor>(name)
{
    public abstract int EmbeddingSize { get; }
}
