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
    static readonly Option<int?> ProbeEpochs = new("--probe-epochs") { Description = "Passes of the linear probe over its training features (default 100)" };
    static readonly Option<string?> L2Grid = new("--l2-grid") { Description = "Comma-separated L2 penalties the linear probe chooses from on its validation slice (default 1e-6,1e-5,1e-4,1e-3,1e-2)" };
    static readonly Option<bool> RecalibrateBatchNorm = new("--recalibrate-bn") { Description = "Re-estimate the encoder's BatchNorm statistics on clean training images before scoring (what pretraining does after masked or fused objectives on a CNN; for comparisons on the same weights)" };
    static readonly Option<bool> PretrainedOnly = new("--pretrained-only") { Description = "Score the run's encoder only (no random-init or raw-input baselines)" };
    static readonly Option<string> Split = new("--split") { Description = "val: the validation slice of the training data (to choose by); test: the test split (to publish)", DefaultValueFactory = _ => "test" };

    public static Command Create()
    {
        var command = new Command("evaluate", "Evaluate a run's frozen encoder (linear probe, kNN, few labels, k-means, health) beside random weights and the raw inputs");
        command.Add(Run);
        command.Add(Data);
        command.Add(Split);
        command.Add(ProbeEpochs);
        command.Add(L2Grid);
        command.Add(PretrainedOnly);
        command.Add(RecalibrateBatchNorm);
        command.SetAction(args =>
        {
            string runFolder = args.GetValue(Run)!;
            var spec = args.GetValue(Data);
            // A table is encoded with the run's own schema and statistics, never refitted on the new data.
            var data = spec is null ? null : DataSpec.Parse(spec).LoadAny(Training.Checkpoint.ReadState(runFolder).State.Config.Table);
            string split = args.GetValue(Split)!.ToLowerInvariant() switch
            {
                "val" or "validation" => EncoderEvaluator.Validation,
                "test" => EncoderEvaluator.Test,
                var other => throw new ArgumentException($"unknown split '{other}'; expected val or test"),
            };
            var defaults = new ProbeSettings();
            var probe = new ProbeSettings
            {
                Epochs = args.GetValue(ProbeEpochs) is int e ? (e is >= 1 and <= 10_000 ? e : throw new ArgumentOutOfRangeException(null, $"probe epochs {e} is out of range: expected 1 to 10000")) : defaults.Epochs,
                L2Grid = args.GetValue(L2Grid) is string grid ? grid.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    .Select(v => double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var l2) && l2 >= 0
                        ? l2 : throw new ArgumentException($"--l2-grid: '{v}' is not a non-negative number")).ToArray() : defaults.L2Grid,
            };
            bool only = args.GetValue(PretrainedOnly);
            Print(EncoderEvaluator.EvaluateRun(runFolder, data, m => Cli.Warn(m), raw: !only, split: split, probe: probe, randomInit: !only,
                recalibrateBatchNorm: args.GetValue(RecalibrateBatchNorm)));
            Cli.Info($"Written {Path.Combine(runFolder, Training.RunFiles.EvaluationFileName)}");
            return 0;
        });
        return command;
    }

    /// <summary>One row per metric, one column per feature set, so it fits an 80-column terminal.</summary>
    public static void Print(EvaluationReport report)
    {
        var scores = report.All.ToList();
        string split = report.Split == EncoderEvaluator.Validation ? "validation" : "test";
        var table = new Table().Title($"{report.Method} · {Markup.Escape(report.Encoder)} · {report.PretrainSteps} steps · {report.TrainCount} train / {report.TestCount} {split}")
            .AddColumn($"{split} metric");
        foreach (var s in scores) table.AddColumn(new TableColumn(s.Name).RightAligned());
        void Row(string name, Func<ProtocolScores, string> cell) => table.AddRow([name, .. scores.Select(cell)]);
        Row("linear probe %", s => Pct(s.Linear));
        Row("kNN-20 %", s => Pct(s.Knn20));
        Row("kNN-200 %", s => Pct(s.Knn200));
        Row("linear, 1% labels", s => Pct(s.Linear1Pct, s.Linear1PctStd));
        Row("linear, 10% labels", s => Pct(s.Linear10Pct, s.Linear10PctStd));
        Row("kNN-20, 1% labels", s => Pct(s.Knn20_1Pct, s.Knn20_1PctStd));
        Row("kNN-20, 10% labels", s => Pct(s.Knn20_10Pct, s.Knn20_10PctStd));
        if (scores[0].Imbalanced)
        {
            // Accuracy alone hides failure when one class dominates.
            Row($"majority class share %", s => Pct(s.MajorityRate));
            Row("linear balanced acc. %", s => Pct(s.Probes["linear"].BalancedAccuracy));
            Row("linear macro-F1 %", s => Pct(s.Probes["linear"].MacroF1));
            if (scores[0].Classes == 2) Row("linear ROC-AUC", s => $"{s.Probes["linear"].RocAuc:F3}");
            Row("kNN-20 balanced acc. %", s => Pct(s.Probes["knn20"].BalancedAccuracy));
            Row("kNN-20 macro-F1 %", s => Pct(s.Probes["knn20"].MacroF1));
        }
        Row("k-means NMI / ARI", s => $"{s.Nmi:F3} / {s.Ari:F3}");
        Row("alignment (lower better)", s => s.Alignment is double a ? $"{a:F3}" : "–");
        Row("uniformity (lower better)", s => $"{s.Uniformity:F3}");
        Row("effective rank / dims", s => $"{s.EffectiveRank:F1} / {s.Dimensions}");
        Row("seconds", s => $"{s.Seconds:F0}");
        AnsiConsole.Write(table);
    }

    static string Pct(double value) => $"{100 * value:F2}";
    static string Pct(double value, double std) => $"{100 * value:F1} ± {100 * std:F1}";
}
