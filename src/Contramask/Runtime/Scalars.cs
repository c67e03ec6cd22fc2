using System.Collections.Concurrent;
using TorchSharp;

namespace Contramask.Runtime;

/// <summary>
/// Held TorchSharp Scalars. TorchSharp converts a .NET number into a finalizable <see cref="Scalar"/> and hands
/// libtorch only its native handle; nothing keeps a temporary one alive during the native call, so a garbage
/// collection there can free it while libtorch reads it (an exception, or silently a wrong number; TorchSharp pull
/// requests #1434 and #1496). Every number Contramask passes to a tensor operation is therefore a Scalar that
/// stays reachable: one of these process-lifetime values (cached per value, never freed), or a <c>using var</c>
/// local for a value that changes every step. build/Analyzers fails the build on any other form.
/// <code>
/// using static Contramask.Runtime.Scalars;
/// var y = x.mul(Of(0.5)).add(z, One);   // not x * 0.5 + z
/// </code>
/// </summary>
public static class Scalars
{
    static readonly ConcurrentDictionary<double, Scalar> Reals = new();
    static readonly ConcurrentDictionary<long, Scalar> Integers = new();

    /// <summary>The integer 1: the <c>alpha</c> of <c>a.add(b, One)</c>, which is what <c>a + b</c> means.</summary>
    public static Scalar One { get; } = Of(1L);

    /// <summary>A floating-point Scalar that lives as long as the process (one per distinct value).</summary>
    public static Scalar Of(double value) => Reals.GetOrAdd(value, static v => Create(v));

    /// <summary>An integer Scalar that lives as long as the process (keeps integer tensors integer).</summary>
    public static Scalar Of(long value) => Integers.GetOrAdd(value, static v => Create(v));

    /// <summary>1 − x (TorchSharp's <c>1 - x</c> and <c>Scalar - x</c> pass libtorch a temporary Scalar).</summary>
    public static torch.Tensor OneMinus(torch.Tensor x) => x.neg().add_(One, One);

    /// <summary>x² elementwise (TorchSharp's <c>square()</c> is <c>pow(2)</c> with a temporary Scalar).</summary>
    public static torch.Tensor Square(torch.Tensor x) => x.mul(x);

    /// <summary>A fresh Scalar for a value that changes often (a learning rate): hold it with <c>using var</c>.</summary>
    public static Scalar Fresh(double value) => Create(value);

    static Scalar Create(double value)
    {
        var scalar = value.ToScalar();
        return scalar;
    }

    static Scalar Create(long value)
    {
        var scalar = value.ToScalar();
        return scalar;
    }
}
