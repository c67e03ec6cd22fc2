namespace Contramask.Mining;

/// <summary>RFC 4180 quoting for the CSV files mining writes.</summary>
public static class CsvText
{
    /// <summary>The value as a CSV field: quoted (inner quotes doubled) only when it holds a comma, quote or line break.</summary>
    public static string Field(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) < 0 ? value : "\"" + value.Replace("\"", "\"\"") + "\"";
}
