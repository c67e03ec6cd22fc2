using System.CommandLine;
using Contramask.Data;
using Contramask.Evaluation;
using Spectre.Console;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask evaluate</c>: kNN and linear probe of a run's frozen encoder, next to random weights.</summary>
public static class EvaluateCommand
{
    static readonly Option<string> Run = new("--run") { Description = "Run folder written by pretrain", Required = true };
    static readonly Option<string?> Data = new("--data") { Description = "Data spec to evaluate on (default: the run's own data)" };

    public static Command Create()
    {
        var command = new Command("evaluate", "kNN (k = 20) and linear-probe test accuracy of a pretrained encoder vs. random weights");
        command.Add(Run);
        command.Add(Data);
        command.SetAction(args =>
        {
            string runFolder = args.GetValue(Run)!;
            var spec = args.GetValue(Data);
            var data = spec is null ? null : DataSpec.Parse(spec).Load();
            Print(EncoderEvaluator.EvaluateRun(runFolder, data, m => Cli.Warn(m)));
            Cli.Info($"Written {Path.Combine(runFolder, Training.RunFiles.EvaluationFileName)}");
            return 0;
        });
        return command;
    }

    public static void Print(EvaluationReport report)
    {
        var table = new Table().Title($"{report.Method} · {Markup.Escape(report.Encoder)} · {report.PretrainSteps} steps · {report.TrainCount} train / {report.TestCount} test")
            .AddColumn("encoder").AddColumn(new TableColumn("kNN-20").RightAligned()).AddColumn(new TableColumn("linear probe").RightAligned()).AddColumn(new TableColumn("seconds").RightAligned());
        foreach (var s in new[] { report.Pretrained, report.RandomInit })
            table.AddRow(s.Encoder, $"{100 * s.Knn20:F2}%", $"{100 * s.LinearProbe:F2}%", $"{s.Seconds:F1}");
        AnsiConsole.Write(table);
    }
}
