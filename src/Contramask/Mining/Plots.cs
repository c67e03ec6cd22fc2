using ScottPlot;

namespace Contramask.Mining;

/// <summary>PNG charts with ScottPlot: training curves from <c>metrics.jsonl</c>, and the 2-D map of the embeddings.</summary>
public static class Plots
{
    /// <summary>A number field of a metrics line; NaN when absent or written as text ("NaN", "Infinity" for a skipped step).</summary>
    static double Number(System.Text.Json.JsonElement line, string name) =>
        line.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.Number ? v.GetDouble() : double.NaN;

    /// <summary>Each loss component over the steps (smoothed over 20 steps), and the learning rate; returns the files written.</summary>
    /// <param name="warn">Told about lines it skipped (a line torn by a killed run).</param>
    public static IReadOnlyList<string> TrainingCurves(string metricsPath, string outFolder, Action<string>? warn = null)
    {
        var all = Training.MetricsLog.Read(metricsPath, warn);
        var written = new List<string>();
        if (QualityCurve(all, Path.Combine(outFolder, "quality.png")) is string quality) written.Add(quality);
        // Step lines only (the monitor's step-0 reading has no loss).
        var lines = all.Where(l => l.TryGetProperty("loss", out _)).ToList();
        if (lines.Count == 0) return written;
        var steps = lines.Select(l => Number(l, "step")).ToArray();
        var components = lines.SelectMany(l => l.EnumerateObject().Select(p => p.Name)).Where(n => n.StartsWith("loss_", StringComparison.Ordinal) && n != "loss_skipped").Distinct().ToList();

        var loss = new Plot();
        foreach (var name in components)
            Line(loss, steps, Smooth(lines.Select(l => Number(l, name)).ToArray(), 20), name["loss_".Length..]);
        loss.Title("Loss components (moving average of 20 steps)");
        loss.XLabel("step");
        loss.YLabel("loss");
        loss.ShowLegend();
        written.Add(Save(loss, Path.Combine(outFolder, "loss.png")));

        var rate = new Plot();
        Line(rate, steps, lines.Select(l => Number(l, "lr")).ToArray());
        rate.Title("Learning rate (warm-up, then cosine decay)");
        rate.XLabel("step");
        rate.YLabel("learning rate");
        written.Add(Save(rate, Path.Combine(outFolder, "learning-rate.png")));
        return written;
    }

    /// <summary>The quality monitor's readings of one run: validation kNN-20 (when labels exist) and RankMe against minutes of training.</summary>
    static string? QualityCurve(IReadOnlyList<System.Text.Json.JsonElement> lines, string path)
    {
        var readings = lines.Where(l => l.TryGetProperty("rankme", out _)).ToList();
        if (readings.Count == 0) return null;
        var minutes = readings.Select(l => Number(l, "elapsed_s") / 60).ToArray();
        var plot = new Plot();
        var knn = readings.Select(l => 100 * Number(l, "val_knn20")).ToArray();
        if (knn.Any(double.IsFinite))
        {
            Line(plot, minutes, knn, "validation kNN-20 (%)", marker: 6);
            plot.YLabel("kNN-20 accuracy on the validation slice (%)");
        }
        Line(plot, minutes, readings.Select(l => Number(l, "rankme")).ToArray(), "RankMe", marker: 6).Axes.YAxis = plot.Axes.Right;
        plot.Axes.Right.Label.Text = "RankMe (effective dimensions)";
        plot.Title("Quality monitor");
        plot.XLabel("minutes of training");
        plot.ShowLegend();
        return Save(plot, path);
    }

    /// <summary>One curve per run: validation kNN-20 (a fraction) against minutes of training, the benchmark's time-to-accuracy picture.</summary>
    public static string? AccuracyOverTime(IReadOnlyList<(string Label, IReadOnlyList<Evaluation.QualityPoint> Points)> runs, string path)
    {
        var plot = new Plot();
        bool any = false;
        foreach (var (label, points) in runs)
        {
            if (points.Count == 0) continue;
            Line(plot, points.Select(p => p.Minutes).ToArray(), points.Select(p => 100 * p.Knn20).ToArray(), label, marker: 5);
            any = true;
        }
        if (!any) return null;
        plot.Title("Validation kNN-20 while training");
        plot.XLabel("minutes of training");
        plot.YLabel("kNN-20 accuracy (%)");
        plot.ShowLegend(Edge.Right);
        return Save(plot, path, 900, 500);
    }

    /// <summary>A scatter of 2-D points, one colour per group (label or cluster), with a legend when there are few groups.</summary>
    public static string Map(float[,] points, int[] groups, IReadOnlyList<string> groupNames, string title, string path)
    {
        var plot = new Plot();
        int groupCount = groups.Distinct().Count();
        IPalette palette = groupCount <= 10 ? new ScottPlot.Palettes.Category10() : new ScottPlot.Palettes.Category20();
        foreach (var g in groups.Distinct().Order())
        {
            var members = Enumerable.Range(0, groups.Length).Where(i => groups[i] == g).ToArray();
            var xs = members.Select(i => (double)points[i, 0]).ToArray();
            var ys = members.Select(i => (double)points[i, 1]).ToArray();
            var scatter = plot.Add.ScatterPoints(xs, ys);
            scatter.MarkerSize = 3;
            scatter.Color = g < 0 ? Colors.Gray : palette.GetColor(g % palette.Colors.Length);
            scatter.LegendText = g >= 0 && g < groupNames.Count ? groupNames[g] : "unlabeled";
        }
        plot.Title(title);
        if (groups.Distinct().Count() <= 20) plot.ShowLegend(Edge.Right);
        return Save(plot, path, 900, 700);
    }

    /// <summary>A 2-pixel line through the points, with a legend entry and markers when given.</summary>
    static ScottPlot.Plottables.Scatter Line(Plot plot, double[] xs, double[] ys, string? label = null, float? marker = null)
    {
        var line = plot.Add.ScatterLine(xs, ys);
        line.LineWidth = 2;
        if (label is not null) line.LegendText = label;
        if (marker is float size) line.MarkerSize = size;
        return line;
    }

    static string Save(Plot plot, string path, int width = 800, int height = 500)
    {
        var temporary = path + ".tmp.png";
        plot.SavePng(temporary, width, height);
        File.Move(temporary, path, overwrite: true);
        return path;
    }

    static double[] Smooth(double[] values, int window)
    {
        var result = new double[values.Length];
        double sum = 0;
        int count = 0;
        var queue = new Queue<double>();
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsNaN(values[i])) { queue.Enqueue(values[i]); sum += values[i]; count++; }
            if (queue.Count > window) { sum -= queue.Dequeue(); count--; }
            result[i] = count > 0 ? sum / count : double.NaN;
        }
        return result;
    }
}
