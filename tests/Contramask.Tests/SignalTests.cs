using System.Diagnostics;
using Contramask.Training;

namespace Contramask.Tests;

/// <summary>
/// Issue #7, signals: the real command in its own process, stopped with SIGTERM (what Ctrl+C, systemd and
/// `kill` send): one signal saves a checkpoint and exits 130; two exit at once and the checkpoint on disk still loads.
/// </summary>
public class SignalTests
{
    /// <summary>Sends SIGTERM with the system's kill(1); 0 when delivered.</summary>
    static int Terminate(int pid)
    {
        using var kill = Process.Start("kill", ["-TERM", pid.ToString()]);
        kill.WaitForExit();
        return kill.ExitCode;
    }

    static Process Start(params string[] args)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "Contramask.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { cli }.Concat(args)) start.ArgumentList.Add(a);
        return Process.Start(start)!;
    }

    static void WaitForSteps(string run, int steps, Process process)
    {
        var metrics = Path.Combine(run, MetricsLog.FileName);
        var clock = Stopwatch.StartNew();
        while (!(File.Exists(metrics) && File.ReadLines(metrics).Count() >= steps))
        {
            if (process.HasExited) Assert.Fail($"the run ended early: {process.StandardError.ReadToEnd()}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), "no progress within 2 minutes");
            Thread.Sleep(100);
        }
    }

    [Fact]
    public void Sigterm_saves_a_checkpoint_and_exits_130_and_a_second_one_exits_at_once()
    {
        if (!OperatingSystem.IsLinux()) return;
        var run = Path.Combine(Fixture.TempFolder(), "run");
        string[] common = ["--quiet", "--no-eval", "--threads", "1"];
        using (var first = Start(["pretrain", "--data", $"idx:{Fixture.Path("idx")}", "--method", "contrastive", "--epochs", "100000", "--batch-size", "16", "--out", run, .. common]))
        {
            WaitForSteps(run, 3, first);
            Assert.Equal(0, Terminate(first.Id));
            Assert.True(first.WaitForExit(60_000), "did not stop within a minute");
            string error = first.StandardError.ReadToEnd();
            Assert.Equal(130, first.ExitCode);
            Assert.Contains("saving a checkpoint", error);
        }
        long saved = Checkpoint.ReadState(run).State.Step;
        Assert.True(saved >= 3);

        using (var second = Start(["pretrain", "--out", run, "--resume", .. common]))
        {
            WaitForSteps(run, (int)saved + 3, second);
            Assert.Equal(0, Terminate(second.Id));
            Thread.Sleep(50);
            Terminate(second.Id);
            Assert.True(second.WaitForExit(60_000), "did not stop within a minute");
            Assert.Equal(130, second.ExitCode);
        }
        // Whatever the second signal interrupted, the newest checkpoint on disk loads, at or past the first one.
        Assert.True(Checkpoint.ReadState(run).State.Step >= saved);
    }
}
