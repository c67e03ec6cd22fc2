using System.Globalization;
using Contramask.Mining;
using DuckDB.NET.Data;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>A real client reads what <c>embed</c> writes: DuckDB runs SQL over the Parquet file.</summary>
[Collection("console")]
public class DuckDbTests(ExportRunFixture run) : IClassFixture<ExportRunFixture>
{
    [Fact]
    public void DuckDb_counts_joins_on_id_and_finds_the_same_nearest_neighbours_in_sql()
    {
        var folder = Fixture.TempFolder();
        var parquet = Path.Combine(folder, "embeddings.parquet");
        var (code, _, error) = CliTests.Run("embed", "--run", run.Folder, "--out", parquet, "--quiet");
        Assert.True(code == 0, error);
        var table = EmbeddingReader.Read(parquet);

        // A second table keyed by id, as a user's own metadata would be.
        var notes = Path.Combine(folder, "notes.csv");
        File.WriteAllLines(notes, ["id,note", .. Enumerable.Range(0, table.Count).Where(i => i % 3 == 0).Select(i => $"{table.Ids[i]},n{i}")]);

        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        object? Scalar(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            return command.ExecuteScalar();
        }
        string file = parquet.Replace("'", "''");
        Assert.Equal((long)table.Count, Convert.ToInt64(Scalar($"SELECT count(*) FROM read_parquet('{file}')"), CultureInfo.InvariantCulture));
        Assert.Equal((long)table.Count / 3 + (table.Count % 3 == 0 ? 0 : 1),
            Convert.ToInt64(Scalar($"SELECT count(*) FROM read_parquet('{file}') e JOIN read_csv('{notes.Replace("'", "''")}') n ON e.id = n.id"), CultureInfo.InvariantCulture));
        Assert.Equal(table.LabelName(7), Scalar($"SELECT label FROM read_parquet('{file}') WHERE id = '{table.Ids[7]}'"));

        // Cosine top-5 of one record in SQL, over the e0…e{D−1} columns as a list, against the library's search.
        var vector = "[" + string.Join(", ", Enumerable.Range(0, table.Dimensions).Select(d => $"e{d}")) + "]";
        var sql = $"""
            WITH v AS (SELECT id, {vector}::DOUBLE[] AS x FROM read_parquet('{file}')),
                 q AS (SELECT x FROM v WHERE id = '{table.Ids[0]}')
            SELECT v.id FROM v, q WHERE v.id <> '{table.Ids[0]}'
            ORDER BY list_cosine_similarity(v.x, q.x) DESC LIMIT 5
            """;
        var fromSql = new List<string>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = sql;
            using var reader = command.ExecuteReader();
            while (reader.Read()) fromSql.Add(reader.GetString(0));
        }
        using var scope = NewDisposeScope();
        var (index, _) = NearestNeighbours.Find(table.ToTensor(), 5, [0]);
        Assert.Equal(index[0].Select(i => table.Ids[i]), fromSql);
    }
}
