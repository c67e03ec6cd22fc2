using Contramask.Training;
using Spectre.Console;

namespace Contramask.Cli;

/// <summary>
/// A live progress bar for pretraining (step, loss components, images/s, ETA) on an interactive terminal; on a
/// redirected output, one plain line every few seconds instead.
/// </summary>
public static class ConsoleProgress
{
    public static PretrainResult Run(Func<Action<TrainingProgress>, PretrainResult> train, string title, bool quiet)
    {
        // Quiet hides the progress, not the warnings.
        if (quiet) return train(p => { if (p.Warning is not null) Cli.Warn(p.Warning); });
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            var last = DateTime.MinValue;
            return train(p =>
            {
                if (p.Warning is not null) Cli.Warn(p.Warning);
                if (DateTime.UtcNow - last < TimeSpan.FromSeconds(5) && p.Quality?.Step != p.Step) return;
                last = DateTime.UtcNow;
                Console.WriteLine($"{title} {Describe(p)}");
            });
        }
        PretrainResult? result = null;
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(title), maxValue: 1000);
                result = train(p =>
                {
                    if (p.Warning is not null) AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(p.Warning)}");
                    task.Description = Markup.Escape($"{title} {Describe(p)}");
                    task.Value = Math.Round(p.Progress * 1000);
                });
                task.Value = 1000;
            });
        return result!;
    }

    /// <summary>A progress bar for a counted job (embedding records); plain lines when output is redirected.</summary>
    public static T Count<T>(string title, bool quiet, Func<Action<long, long>, T> work)
    {
        if (quiet) return work((_, _) => { });
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            var last = DateTime.MinValue;
            return work((done, total) =>
            {
                if (DateTime.UtcNow - last < TimeSpan.FromSeconds(5) && done < total) return;
                last = DateTime.UtcNow;
                Console.WriteLine($"{title}: {done:N0}/{total:N0}");
            });
        }
        T? result = default;
        AnsiConsole.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(title), maxValue: 1);
                result = work((done, total) => { task.MaxValue = Math.Max(1, total); task.Value = done; });
            });
        return result!;
    }

    static string Describe(TrainingProgress p)
    {
        var parts = new List<string> { p.TotalSteps is long total ? $"step {p.Step}/{total}" : $"step {p.Step}", $"ep {p.Epoch}" };
        parts.Add($"loss {p.Loss:F4}");
        if (p.Components.Count > 1)
            parts.AddRange(p.Components.Select(c => $"{c.Key[..Math.Min(5, c.Key.Length)]} {c.Value:F3}"));
        parts.Add($"{p.ImagesPerSecond:F0} img/s");
        if (p.Quality is { } q)
            parts.Add((q.Knn20 is double knn ? $"val kNN {100 * knn:F1}% " : "") + $"rank {q.RankMe:F1}");
        if (p.Remaining is TimeSpan r) parts.Add($"ETA {r:hh\\:mm\\:ss}");
        return string.Join(" · ", parts);
    }
}
