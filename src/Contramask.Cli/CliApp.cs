using System.CommandLine;
using Contramask.Cli.Commands;
using Contramask.Data;
using Spectre.Console;

namespace Contramask.Cli;

/// <summary>The <c>contramask</c> command: subcommands over the library, and one-line errors for bad input.</summary>
public static class CliApp
{
    public const int BadInputExitCode = 2;

    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("Contramask: self-supervised (contrastive, masked, fused) pretraining of image and table encoders, and mining of their embeddings");
        root.Add(PretrainCommand.Create());
        root.Add(EvaluateCommand.Create());
        root.Add(BenchmarkCommand.Create());
        root.Add(EmbedCommand.Create());
        root.Add(MineCommand.Create());
        root.Add(SpeedCommand.Create());
        root.Add(DemoCommand.Create());
        return root;
    }

    public static int Run(string[] args)
    {
        // Bind Spectre.Console to the current stdout (it otherwise keeps the writer it first saw).
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        try
        {
            return CreateRoot().Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is DataFormatException or ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            // Bad input or options: one clear line, no stack trace.
            Cli.Error(e.Message);
            return BadInputExitCode;
        }
    }
}
