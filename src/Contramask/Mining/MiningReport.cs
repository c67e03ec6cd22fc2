using System.Globalization;
using System.Text;
using System.Text.Json;
using Contramask.Training;

namespace Contramask.Mining;

/// <summary>
/// <c>report.md</c>: one page that ties a run together: its configuration and data, training curves, the
/// evaluation table, clusters, outliers and the map. Only files that exist are linked.
/// </summary>
public static class MiningReport
{
    public static string Write(string reportPath, MiningResult result, string miningFolder, CheckpointState? state = null,
        string? runFolder = null, string? dataSummary = null, EmbeddingTable? table = null)
    {
        var c = CultureInfo.InvariantCulture;
        var folder = Path.GetDirectoryName(Path.GetFullPath(reportPath))!;
        string Link(string file) => Path.GetRelativePath(folder, Path.Combine(miningFolder, file)).Replace('\\', '/');
        bool Has(string file) => File.Exists(Path.Combine(miningFolder, file));
        var md = new StringBuilder();
        md.AppendLine(c, $"# Contramask report{(runFolder is null ? "" : $": {Path.GetFileName(Path.GetFullPath(runFolder).TrimEnd('/'))}")}");
        md.AppendLine();
        md.AppendLine(c, $"Written {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. {result.Records:N0} records, {result.Dimensions}-dimensional embeddings.");
        md.AppendLine();
        if (state is not null)
        {
            var config = state.Config;
            md.AppendLine("## Run");
            md.AppendLine();
            md.AppendLine("| setting | value |");
            md.AppendLine("|---|---|");
            md.AppendLine(c, $"| method | {config.Objective.Method.ToString().ToLowerInvariant()} |");
            md.AppendLine(c, $"| encoder | {config.Encoder} |");
            md.AppendLine(c, $"| data | `{config.Data}` |");
            if (dataSummary is not null) md.AppendLine(c, $"| records | {dataSummary} |");
            md.AppendLine(c, $"| steps | {state.Step:N0} ({state.Epoch} epochs, batch {config.BatchSize}) in {TimeSpan.FromSeconds(state.ElapsedSeconds):hh\\:mm\\:ss} |");
            md.AppendLine(c, $"| learning rate | {config.LearningRate} peak, weight decay {config.WeightDecay}, seed {config.Seed} |");
            foreach (var (setting, value) in ObjectiveSettings(config)) md.AppendLine(c, $"| {setting} | {value} |");
            md.AppendLine();
            var curves = new[] { "quality.png", "loss.png", "learning-rate.png" }.Where(Has).ToList();
            if (curves.Count > 0)
            {
                md.AppendLine("## Training");
                md.AppendLine();
                foreach (var curve in curves) md.AppendLine(c, $"![{curve}]({Link(curve)})");
                md.AppendLine();
            }
        }
        if (runFolder is not null && File.Exists(Path.Combine(runFolder, RunFiles.EvaluationFileName)))
            AppendEvaluation(md, Path.Combine(runFolder, RunFiles.EvaluationFileName));

        var clusters = result.Clusters;
        md.AppendLine("## Clusters");
        md.AppendLine();
        md.Append(c, $"k-means on the L2-normalized embeddings with k = {clusters.K}");
        md.AppendLine(clusters.SilhouetteByK.Count > 0
            ? $", chosen by the highest mean silhouette ({string.Join(", ", clusters.SilhouetteByK.Select(p => string.Create(c, $"k={p.Key}: {p.Value:F3}")))})."
            : " (given).");
        if (clusters.Nmi is double nmi) md.AppendLine(c, $"Against the labels: NMI {nmi:F3}, ARI {clusters.Ari:F3}.");
        md.AppendLine();
        md.AppendLine("| cluster | size | commonest label | most central records |");
        md.AppendLine("|---|---|---|---|");
        foreach (var cluster in clusters.Clusters)
        {
            var central = table is null ? "" : string.Join(", ", cluster.Central.Take(5).Select(i => $"`{table.Ids[i]}`"));
            md.AppendLine(c, $"| {cluster.Cluster} | {cluster.Size:N0} | {(cluster.TopLabel is null ? "–" : $"{cluster.TopLabel} ({cluster.TopLabelShare:P0})")} | {central} |");
        }
        md.AppendLine();
        if (Has("clusters-central.png")) md.AppendLine(c, $"Most central images, one row per cluster:\n\n![central images]({Link("clusters-central.png")})\n");
        if (Has("clusters.csv")) md.AppendLine(c, $"Every record's cluster: [clusters.csv]({Link("clusters.csv")}).\n");

        md.AppendLine("## Outliers");
        md.AppendLine();
        md.AppendLine("Ranked by the mean cosine distance to their nearest neighbours (higher = more isolated).");
        md.AppendLine();
        md.AppendLine("| rank | record | label | score |");
        md.AppendLine("|---|---|---|---|");
        foreach (var o in result.Outliers.Take(20)) md.AppendLine(c, $"| {o.Rank} | `{o.Id}` | {o.Label} | {o.Score:F4} |");
        md.AppendLine();
        if (Has("outliers.png")) md.AppendLine(c, $"![top outliers]({Link("outliers.png")})\n");
        if (Has("outliers.csv")) md.AppendLine(c, $"All records ranked: [outliers.csv]({Link("outliers.csv")}).\n");

        if (result.Duplicates is { } duplicates)
        {
            md.AppendLine("## Near-duplicates");
            md.AppendLine();
            md.AppendLine(c, $"Candidates: each record's {duplicates.Candidates} closest embedding neighbours ({duplicates.CandidatePairs:N0} pairs), checked by {duplicates.Measure}; a pair at or above {duplicates.Threshold:F4} is a duplicate ({duplicates.Rule}).");
            md.AppendLine(c, $"Found **{duplicates.Groups.Count:N0} group(s)** holding {duplicates.RecordsInGroups:N0} records, {duplicates.Groups.Count(g => g.Exact):N0} of them identical copies.");
            md.AppendLine();
            if (duplicates.Groups.Count > 0 && table is not null)
            {
                md.AppendLine("| group | size | identical | records |");
                md.AppendLine("|---|---|---|---|");
                foreach (var g in duplicates.Groups.Take(20))
                    md.AppendLine(c, $"| {g.Group} | {g.Members.Length} | {(g.Exact ? "yes" : "no")} | {string.Join(", ", g.Members.Take(6).Select(m => $"`{table.Ids[m]}`"))}{(g.Members.Length > 6 ? ", …" : "")} |");
                md.AppendLine();
            }
            if (Has("duplicates.png")) md.AppendLine(c, $"One row per group:\n\n![duplicate groups]({Link("duplicates.png")})\n");
            if (Has("duplicates.csv")) md.AppendLine(c, $"Every group's records: [duplicates.csv]({Link("duplicates.csv")}).\n");
        }

        if (result.LabelIssues is { } issues)
        {
            md.AppendLine("## Label issues");
            md.AppendLine();
            md.AppendLine(c, $"Confident learning (Northcutt et al. 2021, as cleanlab's default): out-of-sample class probabilities from {EvidenceText(issues.Evidence)} (accuracy against the given labels {issues.OutOfSampleAccuracy:P1}); a record is flagged when it is among the records its class's calibrated confident joint counts as mislabelled, largest margin first, and its most probable class is not its label.");
            md.AppendLine(c, $"**{issues.Issues.Count:N0} record(s) flagged**, ranked by the probability of their given label (lowest first).");
            md.AppendLine();
            if (table is not null && issues.Issues.Count > 0)
            {
                md.AppendLine("| rank | record | given label | suggested | p(given) |");
                md.AppendLine("|---|---|---|---|---|");
                foreach (var i in issues.Issues.Take(20))
                    md.AppendLine(c, $"| {i.Rank} | `{table.Ids[i.Row]}` | {table.LabelName(i.Row)} | {table.ClassName(i.Suggested)} | {i.GivenProbability:F3} |");
                md.AppendLine();
            }
            if (Has("label-issues.png")) md.AppendLine(c, $"The top 40, ten per row:\n\n![label issues]({Link("label-issues.png")})\n");
            if (Has("label-issues.csv")) md.AppendLine(c, $"All flagged records: [label-issues.csv]({Link("label-issues.csv")}).\n");
        }

        if (Has("map-labels.png") || Has("map-clusters.png"))
        {
            md.AppendLine("## Map");
            md.AppendLine();
            md.AppendLine("t-SNE (perplexity 30) of the L2-normalized embeddings" + (result.MapKnnAccuracy is double m ? string.Create(c, $"; a 5-nearest-neighbour vote in the map recovers the label of {m:P1} of the points.") : "."));
            md.AppendLine();
            if (Has("explorer.html")) md.AppendLine(c, $"Explore it interactively (zoom, thumbnails, neighbours, panels; opens offline in a browser): [explorer.html]({Link("explorer.html")}).\n");
            foreach (var map in new[] { "map-labels.png", "map-clusters.png" }.Where(Has)) md.AppendLine(c, $"![{map}]({Link(map)})\n");
        }
        if (Has("neighbours.csv")) md.AppendLine(c, $"Nearest neighbours: [neighbours.csv]({Link("neighbours.csv")}).\n");
        RunFiles.WriteAllTextAtomic(reportPath, md.ToString());
        return reportPath;
    }

    static string EvidenceText(LabelEvidence evidence) => evidence switch
    {
        LabelEvidence.Probe => "a 5-fold cross-validated linear probe on the embeddings",
        LabelEvidence.Neighbours => "the labels of each record's nearest neighbours",
        _ => "the mean of a 5-fold cross-validated linear probe and a vote of each record's nearest neighbours",
    };

    static void AppendEvaluation(StringBuilder md, string path)
    {
        var c = CultureInfo.InvariantCulture;
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var root = json.RootElement;
        var columns = new[] { "pretrained", "random_init", "raw" }.Where(n => root.TryGetProperty(n, out var v) && v.ValueKind == JsonValueKind.Object).ToList();
        if (columns.Count == 0) return;
        string split = root.GetProperty(columns[0]).TryGetProperty("split", out var s) && s.GetString() == "val" ? "validation slice" : "test split";
        md.AppendLine($"## Evaluation (frozen encoder, {split})");
        md.AppendLine();
        md.AppendLine("| metric | " + string.Join(" | ", columns.Select(n => root.GetProperty(n).GetProperty("name").GetString())) + " |");
        md.AppendLine("|---|" + string.Concat(columns.Select(_ => "---|")));
        foreach (var (key, name) in new[] { ("linear", "linear probe %"), ("knn20", "kNN-20 %"), ("linear_1pct", "linear, 1% labels"), ("linear_10pct", "linear, 10% labels"), ("knn20_1pct", "kNN-20, 1% labels"), ("nmi", "k-means NMI") })
            md.AppendLine("| " + name + " | " + string.Join(" | ", columns.Select(n => root.GetProperty(n).TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number
                ? (key == "nmi" ? v.GetDouble().ToString("F3", c) : (100 * v.GetDouble()).ToString("F2", c)) : "–")) + " |");
        md.AppendLine();
    }

    /// <summary>
    /// The objective's own settings in the words of its papers: on an MLP the masked share is VIME's mask probability
    /// (cells swapped in from other rows), on the FT-Transformer MAE's share of column tokens dropped
    /// (<see cref="Objectives.TableMaskedBranch"/>), and SCARF's corruption rate is a setting of its own.
    /// </summary>
    public static IEnumerable<(string Setting, string Value)> ObjectiveSettings(Training.PretrainConfig config)
    {
        var c = CultureInfo.InvariantCulture;
        var objective = config.Objective;
        bool table = config.Encoder.IsTable;
        if (objective.Method is Objectives.Method.Fusion)
            yield return ("fusion", string.Create(c, $"{objective.Fusion.ToString().ToLowerInvariant()}{(objective.Fusion == Objectives.FusionKind.Subsets ? "" : $", {objective.MaskedViews} masked view{(objective.MaskedViews == 1 ? "" : "s")}")}; weights contrastive {objective.WeightContrastive}, reconstruction {objective.WeightReconstruction}; τ {objective.Temperature}"));
        if (objective.Method is Objectives.Method.Masked or Objectives.Method.Fusion)
        {
            yield return !table ? ("mask ratio", string.Create(c, $"{objective.MaskRatio} of the patches"))
                : objective.Method is Objectives.Method.Fusion && objective.Fusion == Objectives.FusionKind.Subsets
                    ? ("swap noise", string.Create(c, $"{objective.MaskRatio} of each subset view's features, swapped in from other rows (SubTab)"))
                : config.Encoder.Kind == "ft-transformer"
                    ? ("mask ratio", string.Create(c, $"{objective.MaskRatio} of the columns, dropped as tokens (MAE)"))
                    : ("mask probability", string.Create(c, $"{objective.MaskRatio} of each row's features, swapped in from other rows (VIME)"));
            if (!table)
                yield return ("pixel decoder", config.Encoder.IsVit
                    ? string.Create(c, $"{objective.DecoderDepth} transformer block{(objective.DecoderDepth == 1 ? "" : "s")} of width {objective.DecoderDim} (MAE)")
                    : string.Create(c, $"1×1 convolutions, hidden width {objective.DecoderDim} (SimMIM)"));
        }
        if (table && objective.Method is Objectives.Method.Contrastive)
            yield return ("corruption rate", string.Create(c, $"{config.TableViews.CorruptionRate} of each row's features, replaced from other rows (SCARF)"));
        if (objective.Method is Objectives.Method.Contrastive)
            yield return ("temperature", string.Create(c, $"τ {objective.Temperature}"));
    }
}
