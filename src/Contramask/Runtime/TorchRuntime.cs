using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Contramask.Runtime;

/// <summary>
/// One-time native setup, done before libtorch allocates anything.
/// <list type="bullet">
/// <item>libtorch reads <c>THP_MEM_ALLOC_ENABLE</c> with the C library's getenv, which .NET's
/// Environment.SetEnvironmentVariable does not reach, so it is set through libc's setenv: transparent huge
/// pages for large tensors (docs/ENGINEERING.md).</item>
/// <item>glibc's malloc returns every block above its mmap threshold to the kernel on free, so each training
/// step page-faults its activations in again. Raising the mmap threshold to its 32 MiB maximum and the trim
/// threshold to 1 GiB keeps freed blocks for reuse. Measured on 2 cores (batch 256, img/s): ConvNet contrastive
/// on MNIST 703 → 1028, ConvNet fusion on the 8×8 digits 1153 → 3861, ViT-mini masked 961 → 1223.</item>
/// </list>
/// </summary>
public static partial class TorchRuntime
{
    static readonly object Gate = new();
    static bool initialized;

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int parameter, int value);
    const int MallocTrimThreshold = -1, MallocMmapThreshold = -3;

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    /// <summary>
    /// Hands the memory glibc holds freed back to the system (malloc_trim). The thresholds above keep freed
    /// activations for reuse, which is fast but lets the heap's free fragments add up; trimming after each step
    /// keeps peak memory near the live working set at the price of page faults on the next step
    /// (<c>PretrainConfig.LowMemory</c>; measured in docs/PERFORMANCE.md).
    /// </summary>
    public static void ReleaseFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return;
        try { MallocTrim(0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { /* not glibc */ }
    }

    /// <summary>Sets native allocation options and the thread count (0 = all cores). Safe to call more than once.</summary>
    public static void Initialize(int threads = 0)
    {
        lock (Gate)
        {
            if (!initialized)
            {
                if (OperatingSystem.IsLinux())
                {
                    try
                    {
                        if (Environment.GetEnvironmentVariable("THP_MEM_ALLOC_ENABLE") is null) SetEnv("THP_MEM_ALLOC_ENABLE", "1", 0);
                        MallOpt(MallocMmapThreshold, 32 << 20);
                        MallOpt(MallocTrimThreshold, 1 << 30);
                    }
                    catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { /* not glibc: skip the speed-ups */ }
                }
                initialized = true;
            }
            int wanted = threads > 0 ? threads : Environment.ProcessorCount;
            if (get_num_threads() != wanted) set_num_threads(wanted);
        }
    }

    /// <summary>"cpu", "cuda" or "cuda:N"; refuses CUDA when this libtorch build has none.</summary>
    public static Device ParseDevice(string name)
    {
        var lower = name.Trim().ToLowerInvariant();
        if (lower == "cpu") return CPU;
        if (lower.StartsWith("cuda"))
        {
            if (!cuda.is_available())
                throw new ArgumentException($"device '{name}' requested but this libtorch build has no CUDA (install a CUDA build of libtorch)");
            return device(lower);
        }
        throw new ArgumentException($"unknown device '{name}'; expected cpu, cuda or cuda:N");
    }
}
