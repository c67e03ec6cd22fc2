using System.CommandLine;
using Contramask.Classification;
using Contramask.Data;
using Spectre.Console;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask finetune</c>: a classifier on a pretrained run's encoder from some or all labels (<see cref="Classifier.Train"/>).</summary>
public static class FinetuneCommand
{
    static readonly ClassifierOptions Defaults = new();
    static readonly Option<string?> Run = new("--run") { Description = "Run folder written by pretrain (or --classifier)" };
    static readonly Option<string[]> FromClassifier = new("--classifier") { Description = "Instead of --run: a classifier folder finetune wrote; no training, its test-time shift is chosen on the validation slice (as --test-time-shifts does) and it is written to --out (which may be the same folder). Given more than once: the classifiers (trained with the same labels of the same data, e.g. on different encoders) are joined into one ensemble first" };
    static readonly Option<bool> TestTimeShiftsOption = new("--test-time-shifts") { Description = "Images: after training, try averaging each image's prediction with its views shifted by 1/28 and 1/14 of the side on the validation slice, and keep the best (none if the image alone scores as well); a kept shift makes predict five times as costly" };
    static readonly Option<string?> Data = new("--data") { Description = "Labelled data spec (default: the run's own data; tables keep the run's schema)" };
    static readonly Option<string> Labels = new("--labels") { Description = "Labels to learn from: all, a count (600) or a share (1%), drawn stratified with the seed", DefaultValueFactory = _ => "all" };
    static readonly Option<string> Mode = new("--mode") { Description = "probe: frozen encoder + logistic regression; full: end-to-end fine-tuning from the probe's head; semi: full + the unlabelled rest of the training split (FixMatch-style pseudo-labels)", DefaultValueFactory = _ => Defaults.Mode.ToString().ToLowerInvariant() };
    static readonly Option<string> Out = new("--out") { Description = "Classifier folder to write (classifier.json, model.bin, confusion.png)", Required = true };
    static readonly Option<int?> Steps = new("--steps") { Description = $"Steps of end-to-end training; the best validation check is kept (default {ClassifierOptions.FullSteps} for full, {ClassifierOptions.SemiSteps} for semi)" };
    static readonly Option<string?> OptimizerOption = new("--optimizer") { Description = $"adamw, or sgd (Nesterov momentum 0.9 and L2 weight decay {ClassifierOptions.DefaultWeightDecay(ClassifierOptimizer.Sgd)}, FixMatch's optimizer) (default {Defaults.Optimizer.ToString().ToLowerInvariant()})" };
    static readonly Option<double?> LearningRate = new("--lr") { Description = $"Peak learning rate of the head; the encoder's is --encoder-lr-scale times it (default {ClassifierOptions.DefaultLearningRate(ClassifierOptimizer.AdamW)} with adamw, {ClassifierOptions.DefaultLearningRate(ClassifierOptimizer.Sgd)} with sgd)" };
    static readonly Option<double?> EncoderScale = new("--encoder-lr-scale") { Description = $"Encoder learning rate as a share of the head's (default {Defaults.EncoderRateScale})" };
    static readonly Option<double?> Threshold = new("--threshold") { Description = $"semi, or with --teacher: confidence a pseudo-label needs (default {ClassifierOptions.DefaultThreshold(false)}; with --teacher {ClassifierOptions.DefaultThreshold(true)})" };
    static readonly Option<double?> AverageDecay = new("--average-decay") { Description = "Validate and keep a moving average of the weights with this decay (FixMatch: 0.999; default: the trained weights)" };
    static readonly Option<string?> WeakViewOption = new("--weak-view") { Description = $"Images: the light view of labelled records, crop (pretraining's random resized crop) or shift (FixMatch's shifts by up to 12.5%) (default {Defaults.WeakView.ToString().ToLowerInvariant()})" };
    static readonly Option<int?> UnlabelledRatio = new("--unlabelled-ratio") { Description = $"semi: unlabelled records per labelled one in a step (FixMatch's mu); with --teacher, pseudo-labelled ones (default {Defaults.UnlabelledRatio})" };
    static readonly Option<int?> Patience = new("--patience") { Description = $"Validation checks (every {Defaults.EvaluateEvery} steps) without improvement before stopping (default: never; the best check is kept)" };
    static readonly Option<string?> StrongViewOption = new("--strong-view") { Description = $"semi or --teacher, images: the strong view, contrastive (pretraining's crops down to 35%, jitter, blur, noise) or affine (rotation up to 30°, shear up to 0.3, shifts, a light crop) (default {Defaults.StrongView.ToString().ToLowerInvariant()})" };
    static readonly Option<double?> Cutout = new("--cutout") { Description = $"semi or --teacher, images: the strong view ends with a square (grey unless --cutout-fill) of up to this share of the side (FixMatch's Cutout; 0 = none; default {Defaults.Cutout})" };
    static readonly Option<bool> JointBatch = new("--joint-batch") { Description = "semi: labelled, weak and strong views through the network as one batch, sharing BatchNorm's statistics (FixMatch's code; default: the weak views in a separate pass without gradient)" };
    static readonly Option<double?> CutoutFill = new("--cutout-fill") { Description = $"semi or --teacher, images: the Cutout square's value in the unit range (0 = black, 1 = white; default {Defaults.CutoutFill}, FixMatch's grey)" };
    static readonly Option<bool> Recalibrate = new("--bn-recalibration") { Description = "CNNs: re-estimate BatchNorm's statistics on clean training images before each validation check" };
    static readonly Option<bool> FromScratch = new("--from-scratch") { Description = "Baseline: the run's encoder architecture with random weights, trained on the same labels (full or semi)" };
    static readonly Option<string?> Teacher = new("--teacher") { Description = "full: a classifier folder whose confident predictions (--threshold) label the training records outside --labels; the new classifier learns from both (self-training, Noisy Student)" };
    static readonly Option<string?> StudentViewOption = new("--student-view") { Description = $"with --teacher: the view the student's records go through, strong (Noisy Student's input noise) or weak (default {Defaults.StudentView.ToString().ToLowerInvariant()})" };
    static readonly Option<bool> NoTest = new("--no-test") { Description = "Leave the test split unscored (while choosing settings on the validation slice)" };
    static readonly Option<int> Seed = new("--seed") { Description = "Seed of the label draw, batches and views", DefaultValueFactory = _ => 0 };
    static readonly Option<int> Members = new("--members") { Description = $"Train this many classifiers on the same labels (seeds SEED, SEED+1, …) and average their calibrated probabilities: a deep ensemble, one folder (default {Defaults.Members}: no ensemble; at most {ClassifierOptions.MaxMembers})", DefaultValueFactory = _ => Defaults.Members };
    static readonly Option<int> Threads = new("--threads") { Description = "CPU threads (0 = the run's setting)", DefaultValueFactory = _ => 0 };
    static readonly Option<bool> Quiet = new("--quiet") { Description = "No progress lines" };

    public static Command Create()
    {
        var command = new Command("finetune", "Train a classifier on a pretrained encoder with all or a few labels; write it as a folder with its validation and test scores");
        foreach (var option in new Option[] { Run, FromClassifier, TestTimeShiftsOption, Data, Labels, Mode, Out, Steps, OptimizerOption, LearningRate, EncoderScale, Threshold, AverageDecay, WeakViewOption, StrongViewOption, UnlabelledRatio, Patience, Cutout, CutoutFill, JointBatch, Recalibrate, FromScratch, Teacher, StudentViewOption, NoTest, Seed, Members, Threads, Quiet }) command.Add(option);
        command.SetAction(args =>
        {
            string? runFolder = args.GetValue(Run);
            string outFolder = args.GetValue(Out)!;
            if (args.GetValue(FromClassifier) is { Length: > 0 } classifierFolders)
            {
                if (runFolder is not null) throw new ArgumentException("give one of --run (train a classifier) or --classifier (choose a trained one's test-time shift)");
                var training = command.Options.Where(o => o != FromClassifier && o != Data && o != Out && o != NoTest && o != Threads && o != Quiet && o != TestTimeShiftsOption)
                    .FirstOrDefault(o => args.GetResult(o) is { Implicit: false });
                if (training is not null) throw new ArgumentException($"{training.Name} sets how a classifier trains; --classifier does not train (it chooses the test-time shift of a trained one)");
                return FromTrained(classifierFolders, args.GetValue(Data), outFolder, !args.GetValue(NoTest), args.GetValue(Threads), args.GetValue(Quiet));
            }
            if (runFolder is null) throw new ArgumentException("give --run (a pretraining run to train a classifier on) or --classifier (a trained classifier)");
            var options = new ClassifierOptions
            {
                Optimizer = Cli.Choice(args.GetValue(OptimizerOption), "optimizer", Defaults.Optimizer),
                Mode = Cli.Choice(args.GetValue(Mode), "mode", Defaults.Mode),
                Labels = LabelBudget.Parse(args.GetValue(Labels)!),
                Seed = args.GetValue(Seed),
                Members = args.GetValue(Members),
                FromScratch = args.GetValue(FromScratch),
                ScoreTest = !args.GetValue(NoTest),
                Threads = args.GetValue(Threads),
                Steps = args.GetValue(Steps),
                EncoderRateScale = args.GetValue(EncoderScale) ?? Defaults.EncoderRateScale,
                AverageDecay = args.GetValue(AverageDecay),
                WeakView = Cli.Choice(args.GetValue(WeakViewOption), "weak view", Defaults.WeakView),
                StrongView = Cli.Choice(args.GetValue(StrongViewOption), "strong view", Defaults.StrongView),
                UnlabelledRatio = args.GetValue(UnlabelledRatio) ?? Defaults.UnlabelledRatio,
                Patience = args.GetValue(Patience),
                Cutout = args.GetValue(Cutout) ?? Defaults.Cutout,
                CutoutFill = args.GetValue(CutoutFill) ?? Defaults.CutoutFill,
                RecalibrateBatchNorm = args.GetValue(Recalibrate) || Defaults.RecalibrateBatchNorm,
                JointBatch = args.GetValue(JointBatch) || Defaults.JointBatch,
                Teacher = args.GetValue(Teacher),
                StudentView = Cli.Choice(args.GetValue(StudentViewOption), "student view", Defaults.StudentView),
                TestTimeShifts = args.GetValue(TestTimeShiftsOption),
            };
            if (options.Teacher is null && args.GetValue(StudentViewOption) is not null)
                throw new ArgumentException("--student-view sets how a student of --teacher sees its records: add --teacher");
            // Unless given, the threshold follows the teacher (ClassifierOptions.DefaultThreshold).
            if (args.GetValue(Threshold) is double threshold) options = options with { Threshold = threshold };
            // Unless given, the rate (and the weight decay) follow the optimizer (ClassifierOptions.DefaultLearningRate).
            if (args.GetValue(LearningRate) is double rate) options = options with { LearningRate = rate };
            options.Validate();
            var data = args.GetValue(Data) is string spec
                ? DataSpec.Parse(spec).LoadAny(Training.Checkpoint.ReadState(runFolder).State.Config.Table) : null;
            // Fail on an unwritable output before training, not after.
            Training.RunFiles.EnsureWritable(Path.GetDirectoryName(Path.GetFullPath(outFolder))!);
            bool quiet = args.GetValue(Quiet);
            using var interruption = new Interruption("Stopping fine-tuning after this step and writing the classifier from its best check so far");
            using var classifier = Classifier.Train(runFolder, data, options, quiet ? null : Cli.Info, Cli.Warn, interruption.Token, args.GetValue(Data));
            classifier.Save(outFolder);
            Print(classifier.Info);
            Cli.Info($"Written {Path.Combine(outFolder, Classifier.InfoFileName)}, {(classifier.IsEnsemble ? $"{classifier.Networks.Count} weight files ({Classifier.WeightsFileName}, {Classifier.MemberWeightsFileName(1)}, …)" : Classifier.WeightsFileName)} and {Classifier.ConfusionFileName}");
            if (classifier.Interrupted)
            {
                var f = classifier.Info.FineTune ?? classifier.Info.Members![^1].FineTune!;
                if (classifier.Info.Members is { } members)
                    Cli.Warn($"interrupted: the ensemble holds {members.Count} of {options.Members} members, the last one from its best check (step {f.BestStep:N0} of the {f.Steps:N0} it ran)"
                        + "; classifier.json lists the members trained");
                else
                    Cli.Warn($"interrupted after {f.Steps:N0} of {options.TotalSteps:N0} steps: the classifier holds the best check so far (step {f.BestStep:N0}); classifier.json says \"interrupted\": true");
                return Interruption.ExitCode;
            }
            return 0;
        });
        return command;
    }

    /// <summary><c>--classifier</c>: trained classifiers (several joined into one ensemble, <see cref="Classifier.Combine"/>), their
    /// test-time shift chosen on the data's validation slice (images), written to <paramref name="outFolder"/>.</summary>
    static int FromTrained(string[] folders, string? spec, string outFolder, bool scoreTest, int threads, bool quiet)
    {
        Training.RunFiles.EnsureWritable(Path.GetDirectoryName(Path.GetFullPath(outFolder))!);
        var first = Classifier.ReadInfo(folders[0]);
        if (folders.Length == 1 && first.Input.Kind != InputShape.Image)
            throw new InvalidOperationException("test-time shifts are for images: a table classifier predicts from its rows as they are (give several --classifier folders to join them into an ensemble)");
        if (folders.Length > 1)
        {
            if (spec is not null && Classifier.FullSpec(spec) != Classifier.FullSpec(Classifier.LearnedFrom(first)))
                throw new ArgumentException($"--data {spec} is not the data the classifiers learned from ({Classifier.LearnedFrom(first)}): an ensemble is scored on the validation slice none of them trained on; leave out --data");
            if (folders.Select(Classifier.FolderPath).Contains(Classifier.FolderPath(outFolder)))
                throw new ArgumentException($"--out {outFolder} is one of the classifiers joined: write the ensemble to a new folder, so its members' folders stay as they are");
        }
        var data = Classifier.TrainingData(first, spec);
        var validation = data.Validation is { HasLabels: true, Count: > 0 } v ? v
            : throw new InvalidOperationException($"{data.Train.Source} has no labelled validation slice to choose on; keep the data spec's val= above 0");
        var test = scoreTest && data.Test is { HasLabels: true } t ? t : null;
        using var classifier = folders.Length == 1 ? Classifier.Load(folders[0]) : Classifier.Combine(folders, validation, test, quiet ? null : Cli.Info, threads);
        if (threads > 0) Runtime.TorchRuntime.Initialize(threads);
        // With another --data, the classifier's own test score is of other records: scored again at the kept shift.
        if (first.Input.Kind == InputShape.Image) classifier.ChooseTestTimeShift(validation, test, quiet ? null : Cli.Info, sameData: spec is null);
        classifier.Save(outFolder);
        Print(classifier.Info);
        Cli.Info($"Written {Path.Combine(outFolder, Classifier.InfoFileName)}" + (classifier.IsEnsemble ? $" and {classifier.Networks.Count} weight files" : ""));
        return 0;
    }

    static void Print(ClassifierInfo info)
    {
        var table = new Table().Title(Markup.Escape($"{info.Mode} · {info.LabelledCount:N0} labels ({info.Labels}) · {info.Classes.Count} classes"
                + (info.Members is { } members ? $" · ensemble of {members.Count}" : "")))
            .AddColumn("metric").AddColumn(new TableColumn("validation").RightAligned());
        if (info.Test is not null) table.AddColumn(new TableColumn("test").RightAligned());
        var splits = new[] { info.Validation, info.Test }.OfType<ClassifierScores>().ToList();
        void Row(string name, Func<ClassifierScores, string> cell) => table.AddRow([name, .. splits.Select(cell)]);
        Row("accuracy %", s => $"{100 * s.Accuracy:F2}");
        Row("balanced accuracy %", s => $"{100 * s.BalancedAccuracy:F2}");
        Row("macro-F1 %", s => $"{100 * s.MacroF1:F2}");
        if (splits[0].RocAuc is not null) Row("ROC-AUC", s => $"{s.RocAuc:F3}");
        Row("calibration error (ECE) %", s => $"{100 * s.ExpectedCalibrationError:F2}");
        Row("records", s => $"{s.Count:N0}");
        // An ensemble's members, each alone: what averaging them added.
        foreach (var (member, k) in (info.Members ?? []).Select((m, k) => (m, k)))
            table.AddRow([$"member {k + 1} (seed {member.Seed}{(member.Source is { } source ? $", {Path.GetFileName(source)}" : "")}) accuracy %", .. new[] { member.Validation, member.Test }.Take(splits.Count).Select(s => s is null ? "" : $"{100 * s.Accuracy:F2}")]);
        AnsiConsole.Write(table);
        if (info.TestTimeChecks is { } checks)
            Cli.Info("test-time shift on validation: " + string.Join(", ", checks.Select(c => $"{c.Shift} px {100 * c.Accuracy:F2}%"))
                + $"; kept: {(info.TestTimeShift == 0 ? "none" : $"{info.TestTimeShift} px")}");
    }
}
