using System.Globalization;
using System.Text;
using CsvHelper;
using CsvHelper.Configuration;

namespace Contramask.Data;

/// <summary>A CSV file as read: column names and the cells of each row as text, with each row's line number.</summary>
public sealed record RawTable(string Path, IReadOnlyList<string> Columns, IReadOnlyList<string[]> Rows, IReadOnlyList<int> Lines)
{
    public int ColumnIndex(string name, string role)
    {
        for (int i = 0; i < Columns.Count; i++)
            if (string.Equals(Columns[i], name, StringComparison.Ordinal)) return i;
        for (int i = 0; i < Columns.Count; i++)
            if (string.Equals(Columns[i], name, StringComparison.OrdinalIgnoreCase)) return i;
        throw new DataFormatException(Path, $"{role} column '{name}' does not exist; the columns are {Preview(Columns)}");
    }

    static string Preview(IReadOnlyList<string> names) =>
        string.Join(", ", names.Take(20).Select(n => $"'{n}'")) + (names.Count > 20 ? $", … ({names.Count} in all)" : "");
}

/// <summary>How to read a CSV file: separator, decimal mark, whether the first row names the columns.</summary>
public sealed record CsvFormat(char Separator = ',', char Decimal = '.', bool Header = true)
{
    /// <summary>Parses numbers with this file's decimal mark (and no thousands separators).</summary>
    public NumberFormatInfo Numbers { get; } = new() { NumberDecimalSeparator = Decimal.ToString(), NumberGroupSeparator = "" };
}

/// <summary>
/// Reads a CSV file with CsvHelper (RFC 4180: quoted fields, embedded separators and line breaks) into a
/// <see cref="RawTable"/>. Checks what a parser alone does not: UTF-8 text, every row as wide as the header,
/// no field beyond <see cref="MaxFieldLength"/> characters (a hostile file must not exhaust memory).
/// </summary>
public static class CsvTableReader
{
    public const int MaxFieldLength = 1 << 20;

    public static RawTable Read(string path, CsvFormat format)
    {
        if (!File.Exists(path)) throw new DataFormatException(path, "file not found");
        if (new FileInfo(path).Length == 0) throw new DataFormatException(path, "the file is empty: expected a header line and rows");
        int line = 0;
        var configuration = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            Delimiter = format.Separator.ToString(),
            HasHeaderRecord = format.Header,
            MaxFieldSize = MaxFieldLength,
            BadDataFound = args => throw new DataFormatException(path,
                $"line {args.Context.Parser?.RawRow ?? line}: malformed quoted field {Quote(args.Field)}"),
        };
        try
        {
            // Strict UTF-8: a Latin-1 file fails here with its line, instead of producing garbled categories. UTF-16 with
            // a byte-order mark is decoded as such; without one, its NUL bytes are caught below.
            using var reader = new StreamReader(path, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true);
            using var parser = new CsvParser(reader, configuration);
            string[]? columns = null;
            var rows = new List<string[]>();
            var lines = new List<int>();
            while (parser.Read())
            {
                line = parser.RawRow;
                var record = parser.Record ?? [];
                if (record.Any(field => field.Contains('\0')))
                    throw new DataFormatException(path, $"line {line}: NUL characters in the text (UTF-16 without a byte-order mark, or not a text file); convert the file to UTF-8");
                if (columns is null)
                {
                    columns = format.Header ? record.Select((n, i) => string.IsNullOrWhiteSpace(n) ? $"column{i + 1}" : n.Trim()).ToArray()
                        : Enumerable.Range(1, record.Length).Select(i => $"column{i}").ToArray();
                    var duplicate = columns.GroupBy(c => c).FirstOrDefault(g => g.Count() > 1);
                    if (duplicate is not null) throw new DataFormatException(path, $"line {line}: column name '{duplicate.Key}' appears twice in the header");
                    if (format.Header) continue;
                }
                if (record.Length != columns.Length)
                    throw new DataFormatException(path, $"line {line}: {record.Length} fields, expected {columns.Length} like the {(format.Header ? "header" : "first row")} (separator '{format.Separator}')");
                rows.Add(record);
                lines.Add(line);
            }
            if (columns is null) throw new DataFormatException(path, "no rows: the file holds only blank lines");
            if (rows.Count == 0) throw new DataFormatException(path, "the file has a header but no data rows");
            return new RawTable(path, columns, rows, lines);
        }
        catch (DecoderFallbackException)
        {
            throw new DataFormatException(path, $"line {FirstInvalidUtf8Line(path)}: not valid UTF-8 text (convert the file to UTF-8)");
        }
        catch (CsvHelperException e) when (e is not BadDataException)
        {
            string what = e is MaxFieldSizeException ? $"a field longer than {MaxFieldLength:N0} characters" : e.Message.Split('\n')[0];
            throw new DataFormatException(path, $"line {Math.Max(line, e.Context?.Parser?.RawRow ?? 0)}: {what}");
        }
    }

    /// <summary>The decoder reads ahead in blocks, so the line it failed on is found again by scanning the bytes.</summary>
    static int FirstInvalidUtf8Line(string path)
    {
        using var stream = new BufferedStream(File.OpenRead(path));
        var lineBytes = new List<byte>();
        int line = 1, b;
        while ((b = stream.ReadByte()) >= 0)
        {
            if (b != '\n') { lineBytes.Add((byte)b); continue; }
            if (!System.Text.Unicode.Utf8.IsValid(lineBytes.ToArray())) return line;
            lineBytes.Clear();
            line++;
        }
        return line;
    }

    static string Quote(string field) => field.Length > 40 ? $"'{field[..40]}…'" : $"'{field}'";
}
