using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Contramask.Data;
using Contramask.Training;
using SkiaSharp;

namespace Contramask.Mining;

/// <summary>What <see cref="Explorer.Write"/> shows: the map and everything mining found about the records on it.</summary>
/// <param name="MapRows">Embedding rows placed on the map, in the order of <paramref name="Map"/>'s rows.</param>
/// <param name="TopOutliers">Rows of the highest-scoring outliers, highest first.</param>
/// <param name="Records">The records behind the rows (image thumbnails, table values); null for a bare embeddings file.</param>
public sealed record ExplorerContent(EmbeddingTable Table, int[] MapRows, float[,] Map, ClusterResult Clusters, double[] OutlierScores,
    IReadOnlyList<int> TopOutliers, DuplicateResult? Duplicates, LabelIssueResult? LabelIssues, NeighbourIndex Index, RecordLookup? Records);

/// <summary>
/// <c>explorer.html</c>: one self-contained page (no network, no server) that shows the 2-D map with zoom and pan,
/// colours by label, cluster, outlier score, duplicate or label issue, a thumbnail (images) or the row's values
/// (tables) on hover, a record's nearest neighbours on click, and panels for clusters, outliers, duplicates and label
/// issues. The data goes into the page as JSON, the thumbnails as one PNG atlas (a data URI); the page's script and
/// style are the embedded resource <c>Mining/Resources/explorer.html</c>.
/// </summary>
public static class Explorer
{
    /// <summary>Nearest neighbours listed for each record on the map.</summary>
    public const int Neighbours = 8;
    /// <summary>Longest side of a thumbnail in the atlas, in pixels (smaller images keep their size).</summary>
    public const int ThumbnailSize = 32;
    /// <summary>Panel lengths: the page stays small however large the data.</summary>
    public const int PanelOutliers = 50, PanelDuplicateGroups = 50, PanelGroupMembers = 10, PanelLabelIssues = 100, PanelCentral = 8;

    const string Placeholder = "/*CONTRAMASK-DATA*/null";

    public static string Write(ExplorerContent content, string path)
    {
        var html = Template().Replace(Placeholder, Json(content));
        RunFiles.WriteAllTextAtomic(path, html);
        return path;
    }

    static string Template()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Contramask.explorer.html")
            ?? throw new InvalidOperationException("the explorer page template is missing from the assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The page's data. Records are "items": the map's records first (item i = map point i), then every other record a panel or a neighbour list names.</summary>
    internal static string Json(ExplorerContent c)
    {
        var table = c.Table;
        var items = new List<int>(c.MapRows);
        var itemOf = new Dictionary<int, int>();
        for (int i = 0; i < items.Count; i++) itemOf[items[i]] = i;
        int Item(int row)
        {
            if (itemOf.TryGetValue(row, out var item)) return item;
            itemOf[row] = items.Count;
            items.Add(row);
            return items.Count - 1;
        }

        var (neighbourRows, similarities) = c.Index.Find(Neighbours, c.MapRows);
        var neighbours = neighbourRows.Select((rows, q) => rows.Select((r, n) => new object[] { Item(r), Math.Round(similarities[q][n], 4) }).ToArray()).ToArray();
        var clusters = c.Clusters.Clusters.Select(s => new
        {
            cluster = s.Cluster, size = s.Size, top_label = s.TopLabel, top_label_share = s.TopLabelShare,
            central = s.Central.Take(PanelCentral).Select(Item).ToArray(),
        }).ToArray();
        var outliers = c.TopOutliers.Take(PanelOutliers).Select(Item).ToArray();
        var duplicates = c.Duplicates is null ? null : new
        {
            measure = c.Duplicates.Measure, threshold = c.Duplicates.Threshold, groups_total = c.Duplicates.Groups.Count,
            groups = c.Duplicates.Groups.Take(PanelDuplicateGroups).Select(g => new
            {
                group = g.Group, exact = g.Exact, size = g.Members.Length, min_similarity = Math.Round(g.MinSimilarity, 5),
                members = g.Members.Take(PanelGroupMembers).Select(Item).ToArray(),
            }).ToArray(),
        };
        var labelIssues = c.LabelIssues is null ? null : new
        {
            flagged = c.LabelIssues.Issues.Count,
            top = c.LabelIssues.Issues.Take(PanelLabelIssues).Select(i => new
            {
                rank = i.Rank, item = Item(i.Row), given = table.ClassName(i.Given), suggested = table.ClassName(i.Suggested),
                given_probability = Math.Round(i.GivenProbability, 4), suggested_probability = Math.Round(i.SuggestedProbability, 4),
            }).ToArray(),
        };
        // Map points in any duplicate group or flagged label issue (not only those the panels list), for colouring.
        int MapItem(int row) => itemOf.TryGetValue(row, out var item) && item < c.MapRows.Length ? item : -1;
        var duplicateItems = c.Duplicates?.Groups.SelectMany(g => g.Members).Select(MapItem).Where(i => i >= 0).Distinct().Order().ToArray();
        var issueItems = c.LabelIssues?.Issues.Select(i => MapItem(i.Row)).Where(i => i >= 0).Distinct().Order().ToArray();

        int labelCount = table.Labels.Length == 0 ? 0 : Math.Max(table.Labels.Max() + 1, table.ClassNames?.Count ?? 0);
        var images = c.Records is { AreImages: true };
        var tableRows = c.Records is not null && !images;
        var data = new
        {
            records = table.Count, dimensions = table.Dimensions,
            kind = images ? "images" : tableRows ? "table" : "embeddings",
            label_names = table.Labels.Any(l => l >= 0) ? Enumerable.Range(0, labelCount).Select(table.ClassName).ToArray() : null,
            map_count = c.MapRows.Length,
            x = Enumerable.Range(0, c.MapRows.Length).Select(i => Math.Round(c.Map[i, 0], 3)).ToArray(),
            y = Enumerable.Range(0, c.MapRows.Length).Select(i => Math.Round(c.Map[i, 1], 3)).ToArray(),
            items = new
            {
                id = items.Select(r => table.Ids[r]).ToArray(),
                label = items.Select(r => table.Labels.Length == 0 ? -1 : table.Labels[r]).ToArray(),
                cluster = items.Select(r => c.Clusters.Assignments[r]).ToArray(),
                score = items.Select(r => Math.Round(c.OutlierScores[r], 5)).ToArray(),
                // Rank of the outlier score among all records (0 = most outlying), for colouring by percentile.
                score_rank = RankAmongAll(c.OutlierScores, items),
                values = tableRows ? items.Select(r => RowValues(c.Records!, r)).ToArray() : null,
            },
            columns = tableRows ? TableColumns(c.Records!) : null,
            neighbours,
            clusters,
            outliers,
            duplicates,
            duplicate_items = duplicateItems,
            label_issues = labelIssues,
            label_issue_items = issueItems,
            atlas = images ? Atlas(c.Records!, items) : null,
        };
        return JsonSerializer.Serialize(data);
    }

    static int[] RankAmongAll(double[] scores, List<int> rows)
    {
        var sorted = (double[])scores.Clone();
        Array.Sort(sorted);
        // Records scoring strictly higher than this one.
        return rows.Select(r => sorted.Length - UpperBound(sorted, scores[r])).ToArray();
    }

    static int UpperBound(double[] sorted, double value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi) { int mid = (lo + hi) / 2; if (sorted[mid] <= value) lo = mid + 1; else hi = mid; }
        return lo;
    }

    static string[] TableColumns(RecordLookup records) => ((TableDataset)records.Locate(0).Part).Schema.Features.Select(f => f.Name).ToArray();

    static string[] RowValues(RecordLookup records, int row)
    {
        var (part, index) = records.Locate(row);
        return ((TableDataset)part).Describe(index);
    }

    /// <summary>Every item's thumbnail in one PNG grid, item i in cell i (row-major), as a data URI.</summary>
    static object Atlas(RecordLookup records, List<int> rows)
    {
        var (first, _) = records.Image(rows[0]);
        double shrink = Math.Min(1.0, (double)ThumbnailSize / Math.Max(first.Width, first.Height));
        int cellWidth = Math.Max(1, (int)Math.Round(first.Width * shrink)), cellHeight = Math.Max(1, (int)Math.Round(first.Height * shrink));
        int columns = (int)Math.Ceiling(Math.Sqrt(rows.Count * (double)cellHeight / cellWidth));
        int gridRows = (rows.Count + columns - 1) / columns;
        using var surface = SKSurface.Create(new SKImageInfo(columns * cellWidth, gridRows * cellHeight, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var paint = new SKPaint();
        var sampling = shrink < 1 ? new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear) : new SKSamplingOptions(SKFilterMode.Nearest);
        for (int i = 0; i < rows.Count; i++)
        {
            var (images, index) = records.Image(rows[i]);
            using var bitmap = ContactSheet.ToBitmap(images, index);
            using var image = SKImage.FromBitmap(bitmap);
            canvas.DrawImage(image, SKRect.Create(i % columns * cellWidth, i / columns * cellHeight, cellWidth, cellHeight), sampling, paint);
        }
        using var snapshot = surface.Snapshot();
        using var png = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        return new
        {
            src = "data:image/png;base64," + Convert.ToBase64String(png.ToArray()),
            cell_width = cellWidth, cell_height = cellHeight, columns, width = columns * cellWidth, height = gridRows * cellHeight,
        };
    }
}
