namespace Contramask.Data;

/// <summary>
/// Bad input data: says which file (and where in it) and what was expected, so a user can fix the input
/// without reading a stack trace.
/// </summary>
public sealed class DataFormatException(string file, string problem, Exception? inner = null)
    : Exception($"{file}: {problem}", inner)
{
    public string File { get; } = file;
    public string Problem { get; } = problem;
}
