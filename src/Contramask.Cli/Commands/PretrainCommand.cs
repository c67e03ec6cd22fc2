using System.CommandLine;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Models;
using Contramask.Objectives;
using Contramask.Training;
using Spectre.Console;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask pretrain</c>: options → <see cref="PretrainConfig"/> → <see cref="Pretrainer"/>.</summary>
public static class PretrainCommand
{
    static readonly Option<string> Data = new("--data") { Description = "Data spec: digits, idx:DIR, cifar:DIR, folder:DIR[,size=N][,channels=1|3], csv:FILE[,header=no][,test=0.2|split=N|testfile=FILE]; any: ,val=0.1 (validation slice of the training split, never trained on)", DefaultValueFactory = _ => PretrainDefaults.Data };
    static readonly Option<string?> Label = new("--label") { Description = "Tables: the label column (kept out of the features, used only by evaluation)" };
    static readonly Option<string?> Id = new("--id") { Description = "Tables: the record-id column (kept out of the features)" };
    static readonly Option<string?> Schema = new("--schema") { Description = "Tables: JSON file overriding inferred column kinds: {\"columns\": {\"zip\": \"categorical\", \"notes\": \"ignore\"}}" };
    static readonly Option<string> MethodOption = new("--method") { Description = "contrastive | masked | fusion (supervised: the labelled baseline)", DefaultValueFactory = _ => PretrainDefaults.MethodName };
    static readonly Option<string?> EncoderOption = new("--encoder") { Description = "Images: convnet | resnet18 | vit-mini | vit-tiny | vit-small; tables: mlp | ft-transformer" };
    static readonly Option<string?> Out = new("--out") { Description = "Run folder" };
    static readonly Option<bool> Resume = new("--resume") { Description = "Continue the run in --out from its last checkpoint; with --epochs or --budget, extend it (the learning rate continues from where it was, so extending a finished run trains at its final, lowest rate)" };
    static readonly Option<bool> Overwrite = new("--overwrite") { Description = "Delete the run already in --out (its checkpoints, metrics, evaluation) and start a new one" };
    static readonly Option<int?> Epochs = new("--epochs") { Description = "Passes over the training data" };
    static readonly Option<double?> Budget = new("--budget") { Description = "Wall-clock budget in minutes; the LR schedule is fitted to it" };
    static readonly Option<int?> BatchSize = new("--batch-size") { Description = "Records per step" };
    static readonly Option<double?> LearningRate = new("--lr") { Description = "Peak AdamW learning rate (β = 0.9, 0.95; warm-up 5% then cosine; clip norm 3)" };
    static readonly Option<double?> WeightDecay = new("--weight-decay") { Description = "AdamW weight decay (weight matrices and kernels only)" };
    static readonly Option<double?> Temperature = new("--temperature") { Description = "InfoNCE temperature τ" };
    static readonly Option<double?> MaskRatio = new("--mask-ratio") { Description = "Fraction of patches hidden (tables: each cell's masking probability)" };
    static readonly Option<double?> ContrastiveWeight = new("--contrastive-weight") { Description = "Fusion: weight of the InfoNCE term w_nce" };
    static readonly Option<double?> ReconstructionWeight = new("--reconstruction-weight") { Description = "Fusion: weight of the reconstruction term w_rec" };
    static readonly Option<bool> AnnealReconstruction = new("--anneal-reconstruction") { Description = "Fusion: lower the reconstruction weight to 0 on a half cosine over the run (masked modeling first, contrast alone at the end)" };
    static readonly Option<double?> NoiseWeight = new("--noise-weight") { Description = "Share w_noise of CAN's denoising term in the reconstruction weight, 0–1" };
    static readonly Option<int?> MaskedViews = new("--masked-views") { Description = "Fusion: 2 = mask both views (CAN), 1 = mask the first and contrast it with the clean second (tables: the row itself), 0 = contrast two clean views and reconstruct a masked copy of the first (a third pass; images only)" };
    static readonly Option<string?> FusionOption = new("--fusion") { Description = "Fusion kind. Images: can (one encoder, NT-Xent between the views; CAN) | momentum (the masked view predicts a momentum target's features of the clean other view; after CMAE) | layered (as can, but the pixel decoder reads a CNN's next-to-last stage or a ViT's middle block; after Layer-Grafted Pre-training); tables: can (VIME-masked views) | layered (as can, VIME's estimators reading the MLP's block below the last) | momentum (a masked row predicts a momentum target's features of the clean row) | subsets (one view per overlapping column subset, each rebuilding the whole row; after SubTab)" };
    static readonly Option<int?> DecoderDepth = new("--decoder-depth") { Description = "Masked/fusion on a ViT: transformer blocks of the MAE pixel decoder" };
    static readonly Option<int?> DecoderWidth = new("--decoder-width") { Description = "Masked/fusion on images: width of the ViT's MAE decoder (a multiple of its 4 heads), or of a CNN's pixel-prediction head" };
    static readonly Option<double?> TargetMomentum = new("--target-momentum") { Description = "--fusion momentum: the target's EMA momentum at the start, rising to 1 on a cosine" };
    static readonly Option<double?> CorruptionRate = new("--corruption-rate") { Description = "Tables, contrastive: fraction c of each row's features replaced from other training rows (SCARF replaces exactly ⌊c·F⌋)" };
    static readonly Option<bool> NoBatchNormRecalibration = new("--no-bn-recalibration") { Description = "Masked/fusion on a CNN: keep BatchNorm's statistics of masked images instead of re-estimating them on clean ones" };
    static readonly Option<double?> CropScaleMin = new("--crop-scale-min") { Description = "Smallest random crop, as a fraction of the image area" };
    static readonly Option<int?> Patch = new("--patch") { Description = "Patch side for masks and ViT tokens" };
    static readonly Option<double?> Width = new("--width") { Description = "Encoder width multiplier (ResNet-18, ConvNet)" };
    static readonly Option<int> Seed = new("--seed") { Description = "Random seed", DefaultValueFactory = _ => new PretrainConfig().Seed };
    static readonly Option<int> Threads = new("--threads") { Description = "CPU threads (0 = all cores)", DefaultValueFactory = _ => new PretrainConfig().Threads };
    static readonly Option<string> Device = new("--device") { Description = "cpu, or cuda[:N] with a CUDA build of libtorch", DefaultValueFactory = _ => new PretrainConfig().Device };
    static readonly Option<string?> PrecisionOption = new("--precision") { Description = "auto (mixed bf16 for image encoders on CPUs with native bf16, else fp32) | fp32 | bf16" };
    static readonly Option<bool> LowMemory = new("--low-memory") { Description = "Return freed memory to the system after every step: peak memory near PyTorch's, slower for small CNNs" };
    static readonly Option<int?> KeepCheckpoints = new("--keep-checkpoints") { Description = "How many checkpoints to keep as fallbacks (one is written every minute)" };
    static readonly Option<int?> Monitor = new("--monitor") { Description = "Quality readings per run: kNN-20 on the validation slice (with labels), RankMe and the spread of the embeddings, in metrics.jsonl and the progress line; 0 = off" };
    static readonly Option<bool> StopOnCollapse = new("--stop-on-collapse") { Description = $"When a reading shows the embeddings collapsing (RankMe below --collapse-rank, or spread below {QualityMonitor.MinSpreadRatio:G2} of a healthy one), save a checkpoint and stop instead of only warning" };
    static readonly Option<double?> CollapseRank = new("--collapse-rank") { Description = "RankMe below which a reading counts as collapse" };
    static readonly Option<bool> NoEval = new("--no-eval") { Description = "Skip the kNN / linear-probe evaluation at the end" };
    static readonly Option<bool> Quiet = new("--quiet") { Description = "No progress bar" };

    static readonly Option[] All = [Data, Label, Id, Schema, MethodOption, EncoderOption, Out, Resume, Overwrite, Epochs, Budget, BatchSize, LearningRate, WeightDecay,
        Temperature, MaskRatio, ContrastiveWeight, ReconstructionWeight, AnnealReconstruction, NoiseWeight, MaskedViews, FusionOption, DecoderDepth, DecoderWidth, TargetMomentum, CorruptionRate, NoBatchNormRecalibration, CropScaleMin,
        Patch, Width, Seed, Threads, Device, PrecisionOption, LowMemory, KeepCheckpoints, Monitor, StopOnCollapse, CollapseRank, NoEval, Quiet];

    /// <summary>What each option means, without its default (which comes from the code: <see cref="PretrainDefaults"/>).</summary>
    static readonly Dictionary<Option, string> Meanings = All.ToDictionary(o => o, o => o.Description ?? "");

    /// <summary>The README's option table, generated: a test fails when the README's copy differs.</summary>
    public static string OptionsMarkdown()
    {
        var defaults = PretrainDefaults.Describe();
        var md = new System.Text.StringBuilder("| option | meaning | default |\n|---|---|---|\n");
        foreach (var option in All)
            md.Append($"| `{option.Name}` | {Meanings[option].Replace("|", "\\|")} | {defaults.GetValueOrDefault(option.Name, "")} |\n");
        return md.ToString();
    }

    public static Command Create()
    {
        var command = new Command("pretrain", "Pretrain an encoder on unlabeled images or table rows (labels, if any, are never used)");
        var defaults = PretrainDefaults.Describe();
        foreach (var option in All)
            option.Description = defaults.TryGetValue(option.Name, out var d) ? $"{Meanings[option]} (default: {d.Replace("`", "")})" : Meanings[option];
        foreach (var option in All) command.Add(option);
        command.SetAction(Run);
        return command;
    }

    static int Run(ParseResult args)
    {
        var method = ParseMethod(args.GetValue(MethodOption)!);
        var spec = DataSpec.Parse(args.GetValue(Data)!).With("label", args.GetValue(Label)).With("id", args.GetValue(Id))
            .With("schema", args.GetValue(Schema)).WithFullPath();
        string encoderName = args.GetValue(EncoderOption) ?? (spec.IsTable ? "mlp" : "convnet");
        string runFolder = args.GetValue(Out) ?? Path.Combine("runs", $"{method.ToString().ToLowerInvariant()}-{encoderName}");
        bool quiet = args.GetValue(Quiet);
        using var interruption = new Interruption();

        Pretrainer trainer;
        if (args.GetValue(Resume) && args.GetValue(Overwrite))
            throw new ArgumentException("--resume continues the run in --out and --overwrite deletes it: choose one");
        if (args.GetValue(Resume))
        {
            int? epochs = args.GetValue(Epochs);
            double? budget = args.GetValue(Budget);
            double? lr = args.GetValue(LearningRate);
            // A resumed run may be extended (--epochs, --budget) or continued with a lower learning rate after divergence (--lr).
            // As for a new run: a budget alone lets time end the run, an epoch count alone drops the budget.
            Func<PretrainConfig, PretrainConfig>? extend = epochs is null && budget is null && lr is null ? null
                : c => c with
                {
                    Epochs = epochs ?? (budget is not null ? 100_000 : c.Epochs),
                    BudgetMinutes = budget ?? (epochs is not null ? null : c.BudgetMinutes),
                    LearningRate = lr ?? c.LearningRate,
                };
            // The monitor's settings may change on a resume (e.g. after a stop on collapse) without touching the schedule.
            bool monitorOptions = args.GetValue(Monitor) is not null || args.GetValue(CollapseRank) is not null || args.GetValue(StopOnCollapse);
            trainer = Pretrainer.Resume(runFolder, warn: m => Cli.Warn(m), adjust: extend, monitor: monitorOptions ? c => WithMonitorOptions(args, c) : null);
            Cli.Info($"Resuming {runFolder} at step {trainer.Step} ({trainer.Config.Objective.Method}, {trainer.Config.Encoder})");
        }
        else
        {
            // Image-only settings would be silently ignored on a table: refuse them by name.
            if (spec.IsTable && new Option[] { DecoderDepth, DecoderWidth, Patch, Width, CropScaleMin }.Where(o => args.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList() is { Count: > 0 } given)
                throw new ArgumentException($"{string.Join(", ", given)} {(given.Count == 1 ? "is" : "are")} for images (pixel decoder, patches, CNN width, crops); a table run takes none of them");
            var skipped = new List<string>();
            var data = spec.LoadAny(skipped: skipped);
            foreach (var s in skipped) Cli.Warn($"skipped {s}");
            var config = ApplyOptions(args, PretrainConfig.DefaultsFor(data.Train, method, encoderName)) with { Data = spec.ToString() };
            trainer = Pretrainer.Start(config, runFolder, data, overwrite: args.GetValue(Overwrite));
            Cli.Info($"Pretraining {method} with {trainer.Config.Encoder} on {data.Train} → {runFolder}");
        }
        using (trainer)
        {
            var title = trainer.Config.Objective.Method.ToString().ToLowerInvariant();
            var result = ConsoleProgress.Run(report => trainer.Run(report, interruption.Token), title, quiet);
            Cli.Info($"{result.Status}: {result.Steps} steps, {result.Epochs} epochs in {result.Elapsed:hh\\:mm\\:ss}, {result.ImagesPerSecond:F0} img/s, final loss {result.FinalLoss:F4}");
            if (result.Status == RunStatus.Interrupted)
            {
                Cli.Info($"Checkpoint saved. Continue with: contramask pretrain --out {runFolder} --resume");
                return Interruption.ExitCode;
            }
            if (!args.GetValue(NoEval) && trainer.Data.Test is { HasLabels: true } && trainer.Data.Train.HasLabels)
                EvaluateCommand.Print(EncoderEvaluator.EvaluateRun(runFolder, trainer.Data, raw: false, progress: quiet ? null : m => Cli.Info(m)));
        }
        return 0;
    }

    /// <summary>The quality monitor's options over <paramref name="config"/>: for a new run and for a resume alike.</summary>
    static PretrainConfig WithMonitorOptions(ParseResult args, PretrainConfig config) => config with
    {
        MonitorChecks = args.GetValue(Monitor) ?? config.MonitorChecks,
        StopOnCollapse = args.GetValue(StopOnCollapse) || config.StopOnCollapse,
        CollapseRank = args.GetValue(CollapseRank) ?? config.CollapseRank,
    };

    static PretrainConfig ApplyOptions(ParseResult args, PretrainConfig config)
    {
        // --fusion brings its own mask settings; --mask-ratio and --masked-views, when given too, win.
        if (args.GetValue(FusionOption) is string kind) config = config.WithFusion(ParseFusion(kind));
        var objective = config.Objective with
        {
            Temperature = args.GetValue(Temperature) ?? config.Objective.Temperature,
            MaskRatio = args.GetValue(MaskRatio) ?? config.Objective.MaskRatio,
            WeightContrastive = args.GetValue(ContrastiveWeight) ?? config.Objective.WeightContrastive,
            WeightReconstruction = args.GetValue(ReconstructionWeight) ?? config.Objective.WeightReconstruction,
            AnnealReconstruction = args.GetValue(AnnealReconstruction) || config.Objective.AnnealReconstruction,
            WeightNoise = args.GetValue(NoiseWeight) ?? config.Objective.WeightNoise,
            MaskedViews = args.GetValue(MaskedViews) ?? config.Objective.MaskedViews,
            TargetMomentum = args.GetValue(TargetMomentum) ?? config.Objective.TargetMomentum,
            DecoderDepth = args.GetValue(DecoderDepth) ?? config.Objective.DecoderDepth,
            DecoderDim = args.GetValue(DecoderWidth) ?? config.Objective.DecoderDim,
        };
        var encoder = config.Encoder with
        {
            Patch = args.GetValue(Patch) ?? config.Encoder.Patch,
            Width = args.GetValue(Width) ?? config.Encoder.Width,
        };
        double? budget = args.GetValue(Budget);
        return WithMonitorOptions(args, config) with
        {
            Objective = objective,
            Encoder = encoder,
            Augmentation = config.Augmentation with { CropScaleMin = args.GetValue(CropScaleMin) ?? config.Augmentation.CropScaleMin },
            TableViews = config.TableViews with
            {
                CorruptionRate = args.GetValue(CorruptionRate) ?? config.TableViews.CorruptionRate,
            },
            RecalibrateBatchNorm = !args.GetValue(NoBatchNormRecalibration) && config.RecalibrateBatchNorm,
            // With a budget and no epoch count, time alone ends the run.
            Epochs = args.GetValue(Epochs) ?? (budget is null ? config.Epochs : 100_000),
            BudgetMinutes = budget,
            BatchSize = args.GetValue(BatchSize) ?? config.BatchSize,
            LearningRate = args.GetValue(LearningRate) ?? config.LearningRate,
            WeightDecay = args.GetValue(WeightDecay) ?? config.WeightDecay,
            Seed = args.GetValue(Seed),
            Threads = args.GetValue(Threads),
            Device = args.GetValue(Device)!,
            KeepCheckpoints = args.GetValue(KeepCheckpoints) ?? config.KeepCheckpoints,
            Precision = args.GetValue(PrecisionOption) is string p ? ParsePrecision(p) : config.Precision,
            LowMemory = args.GetValue(LowMemory) || config.LowMemory,
        };
    }

    public static FusionKind ParseFusion(string name) => name.ToLowerInvariant() switch
    {
        "can" => FusionKind.Can,
        "momentum" => FusionKind.Momentum,
        "layered" => FusionKind.Layered,
        "subsets" => FusionKind.Subsets,
        _ => throw new ArgumentException($"unknown fusion '{name}'; expected can, momentum, layered or subsets"),
    };

    public static Precision ParsePrecision(string name) => name.ToLowerInvariant() switch
    {
        "auto" => Precision.Auto,
        "fp32" or "float32" => Precision.Fp32,
        "bf16" or "bfloat16" => Precision.Bf16,
        _ => throw new ArgumentException($"unknown precision '{name}'; expected auto, fp32 or bf16"),
    };

    public static Method ParseMethod(string name) => name.ToLowerInvariant() switch
    {
        "contrastive" or "simclr" => Method.Contrastive,
        "masked" or "mae" or "simmim" => Method.Masked,
        "fusion" or "can" => Method.Fusion,
        "supervised" => Method.Supervised,
        _ => throw new ArgumentException($"unknown method '{name}'; expected contrastive, masked or fusion (or supervised, the labelled baseline)"),
    };
}
