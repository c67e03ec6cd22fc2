using TorchSharp;
using static TorchSharp.torch;

namespace Contramask.Training;

/// <summary>
/// A copy of a model's buffers (BatchNorm's running mean, variance and batch count) taken before a step's forward
/// pass, which updates them: a step the divergence guard skips puts them back, so it leaves no trace at all.
/// The copies are allocated once and overwritten in place each step (a few thousand numbers for these encoders).
/// </summary>
public sealed class BufferSnapshot : IDisposable
{
    readonly Tensor[] live;
    readonly Tensor[] saved;

    public BufferSnapshot(nn.Module model)
    {
        live = model.buffers().ToArray();
        using var _ = no_grad();
        saved = live.Select(b => b.clone().DetachFromDisposeScope()).ToArray();
    }

    public void Take()
    {
        using var _ = no_grad();
        for (int i = 0; i < live.Length; i++) saved[i].copy_(live[i]);
    }

    public void Restore()
    {
        using var _ = no_grad();
        for (int i = 0; i < live.Length; i++) live[i].copy_(saved[i]);
    }

    public void Dispose() { foreach (var t in saved) t.Dispose(); }
}
