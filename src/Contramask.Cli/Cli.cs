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

    /// <summary>An enum option's value by its lower-case name (<paramref name="fallback"/> when not given), or one line
    /// naming the choices. Numbers are refused: <c>Enum.TryParse</c> would take "1" for the second member.</summary>
    public static T Choice<T>(string? value, string what, T fallback) where T : struct, Enum
    {
        if (value is null) return fallback;
        var names = Enum.GetNames<T>().Select(n => n.ToLowerInvariant()).ToArray();
        string given = value.ToLowerInvariant();
        return names.Contains(given) ? Enum.Parse<T>(given, ignoreCase: true)
            : throw new ArgumentException($"unknown {what} '{given}'; expected {string.Join(", ", names[..^1])} or {names[^1]}");
    }
}
