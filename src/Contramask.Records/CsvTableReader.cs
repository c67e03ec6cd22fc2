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

    public static RawTable Read(string path, CsvFormat format) => ReadChunks(path, format, int.MaxValue).Single();

    /// <summary>
    /// The file's rows in chunks of up to <paramref name="chunkRows"/>, each a <see cref="RawTable"/> with the file's
    /// columns and that chunk's rows and line numbers: a file of any length is read with one chunk in memory. Errors
    /// (a ragged row, bad quoting, not UTF-8) name the file and the line when the reading reaches it.
    /// </summary>
    public static IEnumerable<RawTable> ReadChunks(string path, CsvFormat format, int chunkRows)
    {
        if (chunkRows < 1) throw new ArgumentOutOfRangeException(nameof(chunkRows));
        if (!File.Exists(path)) throw new DataFormatException(path, "file not found");
        if (new FileInfo(path).Length == 0) throw new DataFormatException(path, "the file is empty: expected a header line and rows");
        using var rows = new RowReader(path, format);
        var chunk = new List<string[]>();
        var lines = new List<int>();
        bool any = false;
        while (rows.Next(out var record, out var line))
        {
            chunk.Add(record);
            lines.Add(line);
            any = true;
            if (chunk.Count < chunkRows) continue;
            yield return new RawTable(path, rows.Columns, chunk, lines);
            chunk = [];
            lines = [];
        }
        if (!any) throw new DataFormatException(path, rows.Columns.Count == 0 ? "no rows: the file holds only blank lines" : "the file has a header but no data rows");
        if (chunk.Count > 0) yield return new RawTable(path, rows.Columns, chunk, lines);
    }

    /// <summary>CsvHelper's parser with the checks and the error messages of this reader: record by record.</summary>
    sealed class RowReader : IDisposable
    {
        readonly string path;
        readonly CsvFormat format;
        readonly StreamReader reader;
        readonly CsvParser parser;
        int line;
        // Without a header the first record is data too: it waits here after naming the columns.
        string[]? pending;
        int pendingLine;

        public RowReader(string path, CsvFormat format)
        {
            this.path = path;
            this.format = format;
            var configuration = new CsvConfiguration(CultureInfo.InvariantCulture)
            {
                Delimiter = format.Separator.ToString(),
                HasHeaderRecord = format.Header,
                MaxFieldSize = MaxFieldLength,
                BadDataFound = args => throw new DataFormatException(path,
                    $"line {args.Context.Parser?.RawRow ?? line}: malformed quoted field {Quote(args.Field)}"),
            };
            // Strict UTF-8: a Latin-1 file fails here with its line, instead of producing garbled categories. UTF-16 with
            // a byte-order mark is decoded as such; without one, its NUL bytes are caught below.
            reader = new StreamReader(path, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true);
            parser = new CsvParser(reader, configuration);
            if (!Read(out var first)) return;
            Columns = format.Header ? first.Select((n, i) => string.IsNullOrWhiteSpace(n) ? $"column{i + 1}" : n.Trim()).ToArray()
                : Enumerable.Range(1, first.Length).Select(i => $"column{i}").ToArray();
            var duplicate = Columns.GroupBy(c => c).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null) throw new DataFormatException(path, $"line {line}: column name '{duplicate.Key}' appears twice in the header");
            if (!format.Header) (pending, pendingLine) = (first, line);
        }

        public IReadOnlyList<string> Columns { get; } = [];

        public bool Next(out string[] record, out int recordLine)
        {
            if (pending is not null)
            {
                (record, recordLine) = (pending, pendingLine);
                pending = null;
                return true;
            }
            recordLine = 0;
            if (Columns.Count == 0 || !Read(out record)) { record = []; return false; }
            recordLine = line;
            if (record.Length != Columns.Count)
                throw new DataFormatException(path, $"line {line}: {record.Length} fields, expected {Columns.Count} like the {(format.Header ? "header" : "first row")} (separator '{format.Separator}')");
            return true;
        }

        bool Read(out string[] record)
        {
            try
            {
                record = [];
                if (!parser.Read()) return false;
                line = parser.RawRow;
                record = parser.Record ?? [];
                if (record.Any(field => field.Contains('\0')))
                    throw new DataFormatException(path, $"line {line}: NUL characters in the text (UTF-16 without a byte-order mark, or not a text file); convert the file to UTF-8");
                return true;
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

        public void Dispose()
        {
            parser.Dispose();
            reader.Dispose();
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
