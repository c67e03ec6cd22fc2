using System.CommandLine;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Objectives;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask benchmark</c>: every method (and encoder) under the same wall-clock budget, with baselines.</summary>
public static class BenchmarkCommand
{
    static readonly Option<string> Data = new("--data") { Description = "Labelled data spec (train and test splits)", DefaultValueFactory = _ => "digits" };
    static readonly Option<double> Budget = new("--budget") { Description = "Minutes of pretraining per method and encoder", DefaultValueFactory = _ => 10 };
    static readonly Option<string> Methods = new("--methods") { Description = "Comma-separated: contrastive,masked,fusion", DefaultValueFactory = _ => "contrastive,masked,fusion" };
    static readonly Option<string?> Encoders = new("--encoders") { Description = "Comma-separated encoders: images convnet (default), resnet18, vit-mini, vit-tiny, vit-small; tables mlp (default), ft-transformer" };
    static readonly Option<string> Baselines = new("--baselines") { Description = "Comma-separated: raw,random,supervised (or none)", DefaultValueFactory = _ => "raw,random,supervised" };
    static readonly Option<string?> Out = new("--out") { Description = "Output folder (default runs/benchmark-DATA)" };
    static readonly Option<int> Seed = new("--seed") { Description = "Seed of the runs, their views and few-label draws", DefaultValueFactory = _ => 42 };
    static readonly Option<int> Seeds = new("--seeds")
    {
        Description = "Repeat the benchmark with this many seeds (--seed, --seed+1, …), each in OUT/seed-S, and write the mean ± std over them and fusion's margin seed by seed to benchmark-seeds.md/.json",
        DefaultValueFactory = _ => 1,
    };
    static readonly Option<int> Threads = new("--threads") { Description = "CPU threads (0 = all cores)", DefaultValueFactory = _ => 0 };
    static readonly Option<string?> Finetune = new("--finetune")
    {
        Description = "Also train classifiers from each pretrained run at these label budgets (default 1%,10%,all): full and semi fine-tuning, the encoder from scratch, LightGBM for tables",
        Arity = ArgumentArity.ZeroOrOne,
    };
    static readonly Option<int?> FinetuneSteps = new("--finetune-steps") { Description = $"Steps of every fine-tune (default: full {Classification.ClassifierOptions.FullSteps}, semi {Classification.ClassifierOptions.SemiSteps}; the best validation check is kept)" };
    static readonly Option<bool> Quiet = new("--quiet") { Description = "No progress bars" };
    static readonly Option<double?> ContrastiveWeight = new("--contrastive-weight") { Description = "Fusion runs only: weight of the InfoNCE term w_nce (default: pretrain's for the data)" };
    static readonly Option<double?> ReconstructionWeight = new("--reconstruction-weight") { Description = "Fusion runs only: weight of the reconstruction term w_rec (default: pretrain's for the data)" };
    static readonly Option<int?> DecoderDepth = new("--decoder-depth") { Description = "Fusion runs on a ViT only: blocks of the MAE pixel decoder (default: pretrain's)" };
    static readonly Option<int?> DecoderWidth = new("--decoder-width") { Description = "Fusion runs on images only: width of the pixel decoder (default: pretrain's)" };

    public static Command Create()
    {
        var command = new Command("benchmark", "Pretrain each method for the same wall-clock budget, evaluate all with the same protocol, write benchmark.json and benchmark.md");
        foreach (var option in new Option[] { Data, Budget, Methods, Encoders, Baselines, ContrastiveWeight, ReconstructionWeight, DecoderDepth, DecoderWidth, Finetune, FinetuneSteps, Out, Seed, Seeds, Threads, Quiet }) command.Add(option);
        command.SetAction(args =>
        {
            double budget = args.GetValue(Budget);
            if (budget is <= 0 or > 1440) throw new ArgumentOutOfRangeException(null, $"budget {budget} minutes is out of range: expected (0, 1440]");
            if (args.GetResult(FinetuneSteps) is not null && args.GetResult(Finetune) is null)
                throw new ArgumentException("--finetune-steps sets the steps of --finetune's classifiers: add --finetune");
            int seeds = args.GetValue(Seeds);
            if (seeds is < 1 or > 100) throw new ArgumentOutOfRangeException(null, $"--seeds {seeds} is out of range: expected 1 to 100");
            var spec = DataSpec.Parse(args.GetValue(Data)!).WithFullPath();
            var plan = new BenchmarkPlan
            {
                BudgetMinutes = budget,
                Methods = List(args.GetValue(Methods)!).Select(PretrainCommand.ParseMethod).ToArray(),
                Encoders = args.GetValue(Encoders) is string encoders ? List(encoders).Select(e => { Models.EncoderOptions.FromName(e); return e; }).ToArray() : null,
                Baselines = List(args.GetValue(Baselines)!).Where(b => b != "none").Select(b => b is "raw" or "random" or "supervised" ? b
                    : throw new ArgumentException($"unknown baseline '{b}'; expected raw, random, supervised or none")).ToArray(),
                Seed = args.GetValue(Seed),
                Threads = args.GetValue(Threads),
                FinetuneLabels = args.GetResult(Finetune) is null ? null
                    : List(args.GetValue(Finetune) ?? DefaultFinetuneLabels).Select(b => Classification.LabelBudget.Parse(b, "--finetune")).DistinctBy(b => b.ToString()).ToArray(),
                FinetuneSteps = args.GetValue(FinetuneSteps) is int steps
                    ? (steps is >= 1 and <= 1_000_000 ? steps : throw new ArgumentOutOfRangeException(null, $"--finetune-steps {steps} is out of range: expected 1 to 1000000"))
                    : null,
            };
            plan = FusionOverrides(plan, args.GetValue(ContrastiveWeight), args.GetValue(ReconstructionWeight), args.GetValue(DecoderDepth), args.GetValue(DecoderWidth), spec.IsTable);
            string outFolder = args.GetValue(Out) ?? Path.Combine("runs", "benchmark-" + spec.Kind);
            var data = spec.LoadAny();
            Cli.Info($"Benchmark on {data.Train} / {data.Test?.Count ?? 0} test, {budget} min per run → {outFolder}");
            using var interruption = new Interruption();
            string command = "contramask " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
            Func<string, Func<Action<Training.TrainingProgress>, Training.PretrainResult>, Training.PretrainResult> progress =
                (name, train) => ConsoleProgress.Run(train, name, args.GetValue(Quiet));
            if (seeds > 1)
            {
                var results = SeededBenchmark.Run(data, spec.ToString(), plan, seeds, outFolder, command, m => Cli.Info(m), progress, interruption.Token);
                Console.WriteLine(SeededBenchmark.Markdown(results, spec.ToString(), plan, seeds, null));
                if (results.Count > 0) Cli.Info($"Written {Path.Combine(outFolder, SeededBenchmark.JsonFileName)} and {SeededBenchmark.MarkdownFileName}; each seed's tables in {SeededBenchmark.SeedFolder(outFolder, plan.Seed)} to seed-{plan.Seed + seeds - 1}");
            }
            else
            {
                var result = Benchmark.Run(data, spec.ToString(), plan, outFolder, command, log: m => Cli.Info(m), runWithProgress: progress, cancel: interruption.Token);
                Console.WriteLine(Benchmark.Markdown(result, spec.ToString(), plan, null));
                Cli.Info($"Written {Path.Combine(outFolder, Benchmark.JsonFileName)} and {Benchmark.MarkdownFileName}");
            }
            return interruption.Token.IsCancellationRequested ? Interruption.ExitCode : 0;
        });
        return command;
    }

    /// <summary>The label budgets of <c>--finetune</c> given without a value: the few, some and all labels.</summary>
    public const string DefaultFinetuneLabels = "1%,10%,all";

    /// <summary>
    /// Fusion's term weights and decoder size for this benchmark (the parts keep their own objective, where a weight
    /// only scales the loss): how a setting chosen on validation is put through the same budget and seeds as the parts.
    /// </summary>
    static BenchmarkPlan FusionOverrides(BenchmarkPlan plan, double? contrastive, double? reconstruction, int? decoderDepth, int? decoderWidth, bool table)
    {
        if (contrastive is null && reconstruction is null && decoderDepth is null && decoderWidth is null) return plan;
        foreach (var (name, value) in new[] { ("--contrastive-weight", contrastive), ("--reconstruction-weight", reconstruction) })
            if (value is double w && (!double.IsFinite(w) || w < 0 || w > 100))
                throw new ArgumentOutOfRangeException(null, FormattableString.Invariant($"{name} {w} is out of range: expected 0 to 100"));
        if (contrastive == 0 && reconstruction == 0)
            throw new ArgumentException("--contrastive-weight 0 with --reconstruction-weight 0 leaves fusion nothing to learn: keep one above 0");
        if (table && (decoderDepth is not null || decoderWidth is not null))
            throw new ArgumentException("--decoder-depth and --decoder-width size an image pixel decoder: a table's fusion reconstructs through its own head");
        if (decoderDepth is not null && !(plan.Encoders ?? []).Any(e => Models.EncoderOptions.FromName(e).IsVit))
            throw new ArgumentException("--decoder-depth sizes a ViT's MAE decoder (a CNN's pixel head has no blocks): add a ViT to --encoders");
        if (!plan.Methods.Contains(Method.Fusion))
            throw new ArgumentException("--contrastive-weight, --reconstruction-weight, --decoder-depth and --decoder-width set fusion's objective: add fusion to --methods");
        // The range checks are ObjectiveOptions.Validate's, run here so a bad value stops the benchmark before its first run.
        var defaults = new ObjectiveOptions();
        (defaults with { DecoderDepth = decoderDepth ?? defaults.DecoderDepth, DecoderDim = decoderWidth ?? defaults.DecoderDim }).Validate();
        var words = new List<string>();
        if (contrastive is double c) words.Add(FormattableString.Invariant($"fusion contrastive weight {c}"));
        if (reconstruction is double r) words.Add(FormattableString.Invariant($"fusion reconstruction weight {r}"));
        if (decoderDepth is int d) words.Add(FormattableString.Invariant($"fusion decoder depth {d}"));
        if (decoderWidth is int dw) words.Add(FormattableString.Invariant($"fusion decoder width {dw}"));
        return plan with
        {
            Adjust = config => config.Objective.Method != Method.Fusion ? config : config with
            {
                Objective = config.Objective with
                {
                    WeightContrastive = contrastive ?? config.Objective.WeightContrastive,
                    WeightReconstruction = reconstruction ?? config.Objective.WeightReconstruction,
                    DecoderDepth = decoderDepth ?? config.Objective.DecoderDepth,
                    DecoderDim = decoderWidth ?? config.Objective.DecoderDim,
                },
            },
            Overrides = string.Join(", ", words),
        };
    }

    static string[] List(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => v.ToLowerInvariant()).ToArray();
}
