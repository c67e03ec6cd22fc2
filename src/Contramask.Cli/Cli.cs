using Spectre.Console;

namespace Contramask.Cli;

/// <summary>Terminal messages: information to stdout, warnings and errors to stderr, one line each.</summary>
public static class Cli
{
    public static void Info(string message) => AnsiConsole.MarkupLine(Markup.Escape(message));
    public static void Warn(string message) => Console.Error.WriteLine($"warning: {message}");
    public static void Error(string message) => Console.Error.WriteLine($"error: {message}");
}
