using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Contramask.Runtime;

/// <summary>
/// One-time native setup, done before libtorch allocates anything. libtorch reads <c>THP_MEM_ALLOC_ENABLE</c>
/// with the C library's getenv, which .NET's Environment.SetEnvironmentVariable does not reach, so it is set
/// through libc's setenv. Transparent huge pages took a small CNN from ≈800 to ≈1400 img/s on these machines
/// (docs: DESIGN.md §5).
/// </summary>
public static partial class TorchRuntime
{
    static readonly object Gate = new();
    static bool initialized;

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    /// <summary>Sets native allocation options and the thread count (0 = all cores). Safe to call more than once.</summary>
    public static void Initialize(int threads = 0)
    {
        lock (Gate)
        {
            if (!initialized)
            {
                if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("THP_MEM_ALLOC_ENABLE") is null)
                {
                    try { SetEnv("THP_MEM_ALLOC_ENABLE", "1", 0); }
                    catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { /* not glibc: skip the speed-up */ }
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
