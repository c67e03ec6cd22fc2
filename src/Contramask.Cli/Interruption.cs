using System.Runtime.InteropServices;

namespace Contramask.Cli;

/// <summary>
/// Ctrl+C and SIGTERM: the first asks the run to stop after the current step and save what it has (a checkpoint, or
/// a classifier from its best check); a second Ctrl+C exits at once (what is on disk stays valid: checkpoints and
/// classifiers are written atomically).
/// </summary>
public sealed class Interruption : IDisposable
{
    public const int ExitCode = 130;
    readonly CancellationTokenSource source = new();
    readonly PosixSignalRegistration? sigterm;
    int presses;

    readonly string stopping;

    /// <param name="stopping">What the first signal does, told to the user.</param>
    public Interruption(string stopping = "Stopping after this step and saving a checkpoint")
    {
        this.stopping = stopping;
        Console.CancelKeyPress += OnCancel;
        if (!OperatingSystem.IsWindows())
            sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; Request(); });
    }

    public CancellationToken Token => source.Token;

    void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        Request();
    }

    void Request()
    {
        if (Interlocked.Increment(ref presses) > 1)
        {
            Console.Error.WriteLine("Stopped at once; what was written before is intact.");
            Environment.Exit(ExitCode);
        }
        Console.Error.WriteLine($"{stopping} (press Ctrl+C again to quit at once)...");
        source.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        sigterm?.Dispose();
        source.Dispose();
    }
}
