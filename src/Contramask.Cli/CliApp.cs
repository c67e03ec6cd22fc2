using System.CommandLine;
using Contramask.Cli.Commands;
using Contramask.Data;
using Spectre.Console;

namespace Contramask.Cli;

/// <summary>The <c>contramask</c> command: subcommands over the library, and one-line errors for bad input.</summary>
public static class CliApp
{
    public const int BadInputExitCode = 2;
    /// <summary>An unexpected error (a bug, or the machine): one line on the terminal, the full report in a log file.</summary>
    public const int FailureExitCode = 1;

    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("Contramask: self-supervised (contrastive, masked, fused) pretraining of image and table encoders, and mining of their embeddings");
        root.Add(PretrainCommand.Create());
        root.Add(EvaluateCommand.Create());
        root.Add(BenchmarkCommand.Create());
        root.Add(EmbedCommand.Create());
        root.Add(FinetuneCommand.Create());
        root.Add(PredictCommand.Create());
        root.Add(ExportCommand.Create());
        root.Add(SelectCommand.Create());
        root.Add(MiningBenchmarkCommand.Create());
        root.Add(MineCommand.Create());
        root.Add(SpeedCommand.Create());
        root.Add(DemoCommand.Create());
        return root;
    }

    public static int Run(string[] args)
    {
        // Bind Spectre.Console to the current stdout (it otherwise keeps the writer it first saw).
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        // Spectre wraps at 80 columns when it cannot ask a terminal; a log file or a pipe keeps each message on one
        // line instead, so a path or a figure can be found with grep (a long run folder split one mid-sentence).
        if (!console.Profile.Out.IsTerminal) console.Profile.Width = 4096;
        AnsiConsole.Console = console;
        try
        {
            return CreateRoot().Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
        }
        catch (Training.TrainingFailedException e)
        {
            // The report with its trace is in the run folder's error.log; the message says how to resume.
            Cli.Error(e.Message);
            return FailureExitCode;
        }
        catch (Export.ExportCheckFailedException e)
        {
            // A model that would compute something else than the trained one is never written.
            Cli.Error(e.Message);
            return FailureExitCode;
        }
        catch (Exception e) when (e is DataFormatException or ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            // Bad input or options: one clear line, no stack trace.
            Cli.Error(e.Message);
            return BadInputExitCode;
        }
        catch (Exception e)
        {
            // Anything else is a defect: never a raw stack trace on the terminal.
            Cli.Error($"unexpected error: {e.Message.Split('\n', 2)[0].Trim()} ({e.GetType().Name}; full report in {WriteErrorLog(args, e)})");
            return FailureExitCode;
        }
    }

    /// <summary>Writes the command line and the error with its trace to a log file in the temporary folder; returns its path.</summary>
    static string WriteErrorLog(string[] args, Exception error)
    {
        var path = Path.Combine(Path.GetTempPath(), $"contramask-error-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.log");
        try { File.WriteAllText(path, $"contramask {string.Join(' ', args)}\n{DateTime.UtcNow:O}\n{error}\n"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "(could not write a log: " + e.Message + ")"; }
        return path;
    }
}
