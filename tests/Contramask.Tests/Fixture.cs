namespace Contramask.Tests;

static class Fixture
{
    /// <summary>
    /// Peak learning rate of the tests' short CNN runs on the digits (a few hundred steps at most). The default, 1.2e-2,
    /// was chosen on MNIST at 10 minutes (about 3,000 steps); on these short runs the digits' validation kNN-20 falls
    /// during training at that rate, so tests that need a useful encoder use the earlier default.
    /// </summary>
    public const double ShortRunLearningRate = 6e-3;

    public static string Path(params string[] parts) =>
        System.IO.Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    // Every temporary folder of one test run lives under one root named by the test process's id. The suite writes
    // runs, checkpoints and exports (about 0.7 GB per run) and once filled a CI machine's disk by leaving them behind.
    // The root is deleted at exit when the runner lets the process end normally, and in any case by the next run,
    // which removes every root whose process is gone (vstest may kill its test host before ProcessExit runs).
    static readonly Lazy<string> RunRoot = new(() =>
    {
        var parent = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "contramask-tests");
        Directory.CreateDirectory(parent);
        foreach (var stale in Directory.GetDirectories(parent).Where(d => !OwnerIsAlive(System.IO.Path.GetFileName(d))))
            DeleteQuietly(stale);
        var root = System.IO.Path.Combine(parent, $"{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteQuietly(root);
        return root;
    });

    static bool OwnerIsAlive(string rootName)
    {
        var dash = rootName.IndexOf('-');
        if (dash < 0 || !int.TryParse(rootName[..dash], out var pid)) return false;   // a pre-pid leftover
        try { using var owner = System.Diagnostics.Process.GetProcessById(pid); return !owner.HasExited; }
        catch (ArgumentException) { return false; }
    }

    public static string TempFolder()
    {
        var folder = System.IO.Path.Combine(RunRoot.Value, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    static void DeleteQuietly(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // the next run retries
    }
}

static class Tensors
{
    public static bool Same(TorchSharp.torch.Tensor a, TorchSharp.torch.Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
