using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Models;

/// <summary>Number format of a training step's matrix products.</summary>
public enum Precision
{
    /// <summary>bfloat16 where this CPU computes it natively (AVX-512 BF16 or AMX) and the encoder is an image encoder; float32 otherwise.</summary>
    Auto,
    Fp32,
    /// <summary>Mixed precision: bfloat16 products, float32 master weights, norms, residuals, losses and optimizer state.</summary>
    Bf16,
}

/// <summary>A module whose matrix products can run in a lower-precision type (see <see cref="MixedPrecision"/>).</summary>
public interface IMixedPrecisionModule
{
    /// <summary>null = float32 throughout.</summary>
    ScalarType? ComputeType { get; set; }
}

/// <summary>
/// Mixed-precision training as autocast does it (Micikevicius et al. 2018, "Mixed precision training"; Kalamkar et
/// al. 2019 for bfloat16): the weights stay float32 and are what the optimizer updates (master weights); each
/// linear layer and convolution casts its input and weights to bfloat16 for the product, whose gradient flows back
/// through the cast into float32. bfloat16 keeps float32's 8-bit exponent, so no loss scaling is needed. LayerNorm,
/// softmax, residual sums in a ViT and the losses stay float32; in a CNN, as under autocast, the activations between
/// convolutions stay bfloat16 (BatchNorm takes them with float32 statistics and parameters) and the feature map is
/// returned in float32.
/// TorchSharp has no autocast, hence this explicit form.
/// </summary>
public static class MixedPrecision
{
    /// <summary>y = x·Wᵀ + b in <paramref name="compute"/> (the layer's own type when null).</summary>
    public static Tensor Linear(Linear layer, Tensor x, ScalarType? compute) => compute is ScalarType type
        ? F.linear(x.to_type(type), layer.weight!.to_type(type), layer.bias?.to_type(type))
        : layer.forward(x);

    /// <summary>A bias-free 2-D convolution of <paramref name="x"/> in <paramref name="compute"/> (the layer's own type when null), with
    /// the layer's own stride, padding, dilation and groups; the output stays in that type.</summary>
    public static Tensor Conv2d(Conv2d layer, Tensor x, ScalarType? compute)
    {
        if (compute is not ScalarType type) return layer.forward(x);
        if (layer.bias is not null) throw new ArgumentException("MixedPrecision.Conv2d takes bias-free convolutions (each is followed by BatchNorm)");
        if (layer.padding_type is not null || layer.padding_mode != TorchSharp.PaddingModes.Zeros)
            throw new ArgumentException("MixedPrecision.Conv2d takes explicit zero padding");
        return F.conv2d(x.to_type(type), layer.weight!.to_type(type), null, strides: layer.stride, padding: layer.padding, dilation: layer.dilation, groups: layer.groups);
    }

    /// <summary>Sets the compute type of every mixed-precision module inside <paramref name="model"/>.</summary>
    public static void Apply(nn.Module model, ScalarType? compute)
    {
        foreach (var m in Modules(model)) m.ComputeType = compute;
    }

    /// <summary><paramref name="model"/> and every module inside it whose products can run in a lower precision.</summary>
    public static IReadOnlyList<IMixedPrecisionModule> Modules(nn.Module model) =>
        // named_modules() leaves out the module it is called on, which may itself be one (an encoder on its own).
        model.named_modules().Select(pair => pair.module).Prepend(model).OfType<IMixedPrecisionModule>().ToList();

    /// <summary>Every mixed-precision module of <paramref name="model"/> computes in float32 until the result is disposed,
    /// then in its own type again (evaluation and BatchNorm recalibration measure what float32 inference sees).</summary>
    public static IDisposable InFloat32(nn.Module model)
    {
        var saved = Modules(model).Select(m => (Module: m, m.ComputeType)).ToList();
        foreach (var (module, _) in saved) module.ComputeType = null;
        return new Restore(() => { foreach (var (module, type) in saved) module.ComputeType = type; });
    }

    sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

    /// <summary>What <paramref name="precision"/> means for an encoder on this machine: bfloat16 or null (float32).</summary>
    public static ScalarType? Resolve(Precision precision, EncoderOptions encoder, Device device) => precision switch
    {
        Precision.Fp32 => null,
        Precision.Bf16 => ScalarType.BFloat16,
        // Measured (docs/PERFORMANCE.md): ViT, ConvNet and ResNet-18 steps gain from bfloat16 products on a CPU with
        // native bfloat16 dot products (and the CNNs' activations take half the memory); without them bfloat16 is
        // emulated and slower than float32. Table encoders stay float32 (not measured).
        _ => !encoder.IsTable && device.type == TorchSharp.DeviceType.CPU && CpuHasNativeBFloat16() ? ScalarType.BFloat16 : null,
    };

    static bool? nativeBFloat16;

    /// <summary>Whether the CPU has bfloat16 dot-product instructions (x86 avx512_bf16 or amx_bf16, read from /proc/cpuinfo).</summary>
    public static bool CpuHasNativeBFloat16()
    {
        if (nativeBFloat16 is bool known) return known;
        bool found = false;
        try
        {
            const string cpuinfo = "/proc/cpuinfo";
            if (File.Exists(cpuinfo))
                foreach (var line in File.ReadLines(cpuinfo))
                    if (line.StartsWith("flags"))
                    {
                        var flags = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                        found = flags.Contains("avx512_bf16") || flags.Contains("amx_bf16");
                        break;
                    }
        }
        catch (IOException) { }
        nativeBFloat16 = found;
        return found;
    }
}
