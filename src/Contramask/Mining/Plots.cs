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
        var lines = Training.MetricsLog.Read(metricsPath, warn);
        if (lines.Count == 0) return [];
        var steps = lines.Select(l => Number(l, "step")).ToArray();
        var components = lines[0].EnumerateObject().Select(p => p.Name).Where(n => n.StartsWith("loss_", StringComparison.Ordinal)).ToList();
        var written = new List<string>();

        var loss = new Plot();
        foreach (var name in components)
        {
            var values = Smooth(lines.Select(l => Number(l, name)).ToArray(), 20);
            var line = loss.Add.ScatterLine(steps, values);
            line.LegendText = name["loss_".Length..];
            line.LineWidth = 2;
        }
        loss.Title("Loss components (moving average of 20 steps)");
        loss.XLabel("step");
        loss.YLabel("loss");
        loss.ShowLegend();
        written.Add(Save(loss, Path.Combine(outFolder, "loss.png")));

        var rate = new Plot();
        var lr = rate.Add.ScatterLine(steps, lines.Select(l => Number(l, "lr")).ToArray());
        lr.LineWidth = 2;
        rate.Title("Learning rate (warm-up, then cosine decay)");
        rate.XLabel("step");
        rate.YLabel("learning rate");
        written.Add(Save(rate, Path.Combine(outFolder, "learning-rate.png")));
        return written;
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
