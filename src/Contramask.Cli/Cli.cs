using Spectre.Console;

namespace Contramask.Cli;

/// <summary>Terminal messages: information to stdout, warnings and errors to stderr, one line each.</summary>
public static class Cli
{
    public static void Info(string message) => AnsiConsole.MarkupLine(Markup.Escape(message));
    public static void Warn(string message) => Console.Error.WriteLine($"warning: {message}");
    public static void Error(string message) => Console.Error.WriteLine($"error: {message}");

    /// <summary>The files a streamed read left out as undecodable (<c>skipbad</c>): the first 20, then how many more.</summary>
    public static void Skipped(IReadOnlyList<string> skipped)
    {
        foreach (var line in skipped.Take(20)) Info($"skipped {line}");
        if (skipped.Count > 20) Info($"… {skipped.Count - 20} more skipped");
    }
}
