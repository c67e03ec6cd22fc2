using System.CommandLine;
using Contramask.Data;
using Contramask.Evaluation;
using Spectre.Console;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask demo</c>: the three methods, briefly, on the embedded 8×8 digits, in one table.</summary>
public static class DemoCommand
{
    static readonly Option<string> Out = new("--out") { Description = "Folder for the three runs", DefaultValueFactory = _ => Path.Combine("runs", "demo") };
    static readonly Option<int> Epochs = new("--epochs") { Description = "Epochs per method", DefaultValueFactory = _ => 40 };
    static readonly Option<string> Encoder = new("--encoder") { Description = "convnet | resnet18 | vit-mini | vit-tiny | vit-small", DefaultValueFactory = _ => "convnet" };
    static readonly Option<bool> Quiet = new("--quiet") { Description = "No progress bars" };

    public static Command Create()
    {
        var command = new Command("demo", "Pretrain contrastive, masked and fusion briefly on the embedded digits and compare them");
        command.Add(Out);
        command.Add(Epochs);
        command.Add(Encoder);
        command.Add(Quiet);
        command.SetAction(args =>
        {
            int epochs = args.GetValue(Epochs);
            if (epochs is < 1 or > 10_000) throw new ArgumentOutOfRangeException(null, $"epochs {epochs} is out of range: expected 1 to 10000");
            var data = DataSpec.Parse("digits").Load();
            Runtime.TorchRuntime.Initialize();
            Cli.Info($"Contramask {Runtime.MachineInfo.BuildCommit} on {Runtime.MachineInfo.Current()}: accuracies repeat to the digit on the same CPU and thread count.");
            Cli.Info($"Demo on the embedded digits ({data.Train.Count} train, {data.Validation?.Count ?? 0} validation, {data.Test!.Count} test, 8×8 grey); labels are used only to score the frozen encoders.");
            using var interruption = new Interruption();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var rows = MethodComparison.Run(data, args.GetValue(Out)!, epochs, args.GetValue(Encoder)!, "digits",
                runWithProgress: (method, train) => ConsoleProgress.Run(train, method.ToString().ToLowerInvariant(), args.GetValue(Quiet)),
                cancel: interruption.Token);
            var table = new Table().Title($"Contramask demo · digits · {rows.FirstOrDefault()?.Encoder} · {epochs} epochs each")
                .AddColumn("method").AddColumn(new TableColumn("kNN-20").RightAligned()).AddColumn(new TableColumn("linear").RightAligned()).AddColumn(new TableColumn("lin. 10%").RightAligned())
                .AddColumn(new TableColumn("random kNN/lin.").RightAligned()).AddColumn(new TableColumn("steps").RightAligned()).AddColumn(new TableColumn("s").RightAligned());
            foreach (var r in rows)
                table.AddRow(r.Method, $"{100 * r.Pretrained.Knn20:F1}%", $"{100 * r.Pretrained.Linear:F1}%", $"{100 * r.Pretrained.Linear10Pct:F1}%",
                    $"{100 * r.RandomInit.Knn20:F1} / {100 * r.RandomInit.Linear:F1}", r.Steps.ToString(), $"{r.PretrainSeconds + r.Pretrained.Seconds + r.RandomInit.Seconds:F0}");
            AnsiConsole.Write(table);
            Cli.Info($"Total {clock.Elapsed.TotalSeconds:F0} s. Runs are in {args.GetValue(Out)}; try: contramask evaluate --run {Path.Combine(args.GetValue(Out)!, "fusion")}");
            return rows.Count == 3 ? 0 : Interruption.ExitCode;
        });
        return command;
    }
}
