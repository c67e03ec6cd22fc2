using System.Text.Json;
using TorchSharp;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Models;
using Contramask.Training;
using static TorchSharp.torch;

namespace Contramask.Classification;

/// <summary>
/// A classifier on top of a pretrained encoder, trained from a run folder and a number of labels, saved as a folder
/// (<c>classifier.json</c>, <c>model.bin</c>, <c>confusion.png</c>) and applied to new records.
/// <code>
/// using var classifier = Classifier.Train("runs/mnist", null, new ClassifierOptions { Labels = LabelBudget.Parse("1%") });
/// classifier.Save("models/mnist-1pct");
/// using var loaded = Classifier.Load("models/mnist-1pct");
/// loaded.Predict(newImages, (start, probabilities) => { /* N×C, row-major */ });
/// </code>
/// Every choice (the probe's L2, early stopping, the temperature) is made on the data's validation slice; the test
/// split, when there is one, is scored once at the end.
/// </summary>
public sealed partial class Classifier : IDisposable
{
    public const string InfoFileName = "classifier.json";
    public const string WeightsFileName = "model.bin";
    public const string ConfusionFileName = "confusion.png";

    Classifier(IReadOnlyList<ClassifierNetwork> networks, ClassifierInfo info)
    {
        Networks = networks;
        Info = info;
        TestTimeShift = info.TestTimeShift;
        foreach (var network in networks) network.eval();
        standardize = ModelFactory.Standardizer(info.Encoder, LikeRecords(info), networks[0].parameters().First().device);
    }

    readonly Func<Tensor, Tensor> standardize;
    /// <summary>The classifier's network; one per member in an ensemble, whose probabilities are averaged.</summary>
    public IReadOnlyList<ClassifierNetwork> Networks { get; }
    public bool IsEnsemble => Networks.Count > 1;
    /// <summary>The network of a single classifier (an ensemble has several: <see cref="Networks"/>).</summary>
    public ClassifierNetwork Network => IsEnsemble
        ? throw new InvalidOperationException($"an ensemble of {Networks.Count} classifiers (finetune --members) has no single network; export and inspection take a classifier trained without --members")
        : Networks[0];
    public ClassifierInfo Info { get; private set; }
    /// <summary>The test-time shift <see cref="Predict"/> averages over: the classifier's own (<see cref="ClassifierInfo.TestTimeShift"/>)
    /// unless set; 0 predicts from the images alone, five times as fast when a shift was chosen.</summary>
    public int TestTimeShift { get; set; }
    public IReadOnlyList<string> Classes => Info.Classes;
    /// <summary>Fine-tuning was stopped by the user before its last step (the classifier holds the best check before that).</summary>
    public bool Interrupted => Info.FineTune?.Interrupted == true || Info.Members?.Any(m => m.FineTune?.Interrupted == true) == true || MissingMembers > 0;
    /// <summary>Members of an ensemble that Ctrl+C left untrained.</summary>
    public int MissingMembers => Info.Members is { } members ? Math.Max(0, Info.Options.Members - members.Count) : 0;
    /// <summary>Weights of an ensemble's member <paramref name="member"/>: <c>model.bin</c> for the first (and a single classifier), <c>model-K.bin</c> after.</summary>
    public static string MemberWeightsFileName(int member) => member == 0 ? WeightsFileName : $"model-{member}.bin";

    /// <summary>
    /// Trains a classifier on the run's encoder. <paramref name="cancel"/> (Ctrl+C) ends fine-tuning before its next
    /// step; the classifier is still finished from the best weights checked so far, with
    /// <see cref="FineTuneResult.Interrupted"/> set (see <see cref="Interrupted"/>).
    /// </summary>
    /// <param name="dataSpec">The data spec <paramref name="data"/> was read from, recorded in <c>classifier.json</c> so later
    /// choices (<see cref="TrainingData"/>) find the same validation slice; null when <paramref name="data"/> is the run's.</param>
    public static Classifier Train(string runFolder, ISplits? data, ClassifierOptions options, Action<string>? progress = null, Action<string>? warn = null,
        CancellationToken cancel = default, string? dataSpec = null)
    {
        options.Validate();
        options = options with { Steps = options.TotalSteps };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (state, checkpoint) = Checkpoint.ReadState(runFolder, warn);
        var config = state.Config;
        Runtime.TorchRuntime.Initialize(options.Threads > 0 ? options.Threads : config.Threads);
        data ??= DataSpec.ForRun(config.Data, state.Format).LoadAny(config.Table);
        var train = data.Train;
        if (train.Labels is not int[] trainLabels)
            throw new InvalidOperationException($"{train.Source} has no labels: a classifier needs labelled training records");
        var validation = data.Validation is { HasLabels: true } v ? v
            : throw new InvalidOperationException($"{train.Source} has no labelled validation slice to choose and stop by; keep the data spec's val= above 0");
        int classes = Math.Max(train.ClassCount, validation.ClassCount);
        if (classes < 2) throw new InvalidOperationException($"{train.Source} has {classes} class: a classifier needs at least 2");
        var input = InputShape.Of(train);
        if (config.Encoder.IsTable != (input.Kind == InputShape.Table))
            throw new InvalidOperationException($"the run's encoder ({config.Encoder}) does not take {input}");
        if (options.TestTimeShifts && input.Kind != InputShape.Image)
            throw new InvalidOperationException("test-time shifts are for images: a table classifier predicts from its rows as they are (leave out --test-time-shifts)");
        if (train is ImageDataset images && config.Normalization is { } normalization && normalization.Mean.Length != images.Channels)
            throw new InvalidOperationException($"{train.Source}: images have {images.Channels} channel(s), the run's encoder was trained on {normalization.Mean.Length} (add ,channels={normalization.Mean.Length} to the data spec)");
        if (train is TableDataset table && config.Table is { } runSchema && !EncoderEvaluator.SameFeatures(table.Schema, runSchema))
            throw new InvalidOperationException($"{train.Source} was encoded with another schema than the run's; load it with the run's schema");

        var labelled = options.Labels.Choose(train, options.Seed);
        var missingClasses = Enumerable.Range(0, classes).Except(labelled.Select(i => trainLabels[i])).ToList();
        if (missingClasses.Count > 0 && missingClasses.Any(c => trainLabels.Contains(c)))
            warn?.Invoke($"{options.Labels} labels leave {missingClasses.Count} class(es) without an example");
        int[]? unlabelled = options.Mode == ClassifierMode.Semi
            ? Enumerable.Range(0, train.Count).Except(labelled).ToArray() : null;
        if (options.Mode == ClassifierMode.Semi && unlabelled!.Length == 0)
            throw new InvalidOperationException("semi-supervised training needs unlabelled records: with --labels all there are none; use --mode full");
        progress?.Invoke($"{labelled.Length:N0} labelled records" + (unlabelled is null ? "" : $", {unlabelled.Length:N0} unlabelled")
            + $", {validation.Count:N0} validation");

        var classNames = train.ClassNames?.ToArray() ?? Enumerable.Range(0, classes).Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var teacher = options.Teacher is string teacherFolder
            ? TeacherLabels.From(teacherFolder, train, labelled, classNames, options.Threshold, options.Threads > 0 ? options.Threads : config.Threads, config.Data, progress, warn)
            : null;

        // From scratch, the encoder learns at the head's rate (no pretrained features to keep).
        if (options.FromScratch) options = options with { EncoderRateScale = 1, LayerDecay = 1 };
        var validationLabels = LabelsInModelOrder(validation, classNames);
        var test = options.ScoreTest && data.Test is { HasLabels: true } t ? t : null;
        var testLabels = test is null ? null : LabelsInModelOrder(test, classNames);
        var networks = new List<ClassifierNetwork>();
        var members = new List<ClassifierMember>();
        float[]? validationSum = null, testSum = null;
        try
        {
            for (int k = 0; k < options.Members; k++)
            {
                // An interrupted ensemble keeps the members it has (the one stopped holds its best check so far).
                if (k > 0 && cancel.IsCancellationRequested) break;
                if (options.Members > 1) progress?.Invoke($"member {k + 1} of {options.Members} (seed {options.Seed + k})");
                var memberClock = System.Diagnostics.Stopwatch.StartNew();
                // With test-time shifts, a single classifier's test split is scored once, after the shift is chosen; an
                // ensemble's members are still scored on it alone (their own figures, which choose nothing).
                bool memberTest = !(options.TestTimeShifts && options.Members == 1);
                var (network, member) = TrainMember(checkpoint, config, train, labelled, unlabelled, validation, validationLabels,
                    memberTest ? test : null, memberTest ? testLabels : null, classes,
                    options with { Seed = options.Seed + k }, teacher, progress, cancel);
                networks.Add(network);
                members.Add(member.Scores with { Seconds = memberClock.Elapsed.TotalSeconds });
                Accumulate(ref validationSum, member.ValidationProbabilities);
                if (member.TestProbabilities is not null) Accumulate(ref testSum, member.TestProbabilities);
            }
            var first = members[0];
            // Asked for an ensemble, it is written as one even when Ctrl+C left a single member, so classifier.json
            // shows how many of the members were trained.
            bool ensemble = options.Members > 1;
            var info = new ClassifierInfo
            {
                Mode = options.Mode.ToString().ToLowerInvariant() + (options.FromScratch ? " from scratch" : ""),
                Run = Path.GetFullPath(runFolder),
                Classes = classNames,
                Input = input,
                Encoder = config,
                Labels = options.Labels.ToString(),
                LabelledCount = labelled.Length,
                UnlabelledCount = unlabelled?.Length ?? 0,
                Teacher = teacher?.Summary,
                ProbeL2 = ensemble ? null : first.ProbeL2,
                Temperature = ensemble ? 1 : first.Temperature,
                FineTune = ensemble ? null : first.FineTune,
                Members = ensemble ? members : null,
                Options = options,
                Validation = ensemble ? ClassifierScores.Compute(EncoderEvaluator.Validation, Mean(validationSum!, networks.Count), classes, validationLabels) : first.Validation,
                Test = testLabels is null ? null
                    : ensemble ? ClassifierScores.Compute(EncoderEvaluator.Test, Mean(testSum!, networks.Count), classes, testLabels) : first.Test,
                Data = dataSpec is null ? null : FullSpec(dataSpec),
                Seconds = clock.Elapsed.TotalSeconds,
                Machine = Runtime.MachineInfo.Current(options.Threads > 0 ? options.Threads : config.Threads),
                Written = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'"),
            };
            var classifier = new Classifier(networks, info);
            if (options.TestTimeShifts) classifier.ChooseTestTimeShift(validation, test, progress);
            return classifier;
        }
        catch
        {
            foreach (var network in networks) network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Chooses the test-time shift (<see cref="TestTimeShifts"/>) on the labelled validation slice: every candidate's
    /// calibrated probabilities are scored there, the highest accuracy wins, a tie goes to the lower log-loss and then
    /// to the smaller shift (the image alone first). <see cref="Info"/> then holds the choice, the candidates' scores
    /// and the winner's validation scores; the test split, when given, is scored once with the winner (a test score
    /// made at another shift is dropped). The weights do not change. Images only.
    /// </summary>
    /// <param name="sameData">The records are those the classifier was scored on (its <see cref="ClassifierInfo.Test"/> at the
    /// kept shift may be reused); false when they were read from another data spec.</param>
    public void ChooseTestTimeShift(IRecordSet validation, IRecordSet? test, Action<string>? progress = null, bool sameData = true)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (Info.Input.Kind != InputShape.Image)
            throw new InvalidOperationException("test-time shifts are for images: a table classifier predicts from its rows as they are");
        var checks = new List<TestTimeCheck>();
        ClassifierScores? best = null;
        int bestShift = 0;
        foreach (int shift in TestTimeShifts.Candidates(Info.Input.Height, Info.Input.Width))
        {
            var scores = ScoreAt(validation, EncoderEvaluator.Validation, shift);
            checks.Add(new TestTimeCheck { Shift = shift, Accuracy = scores.Accuracy, NegativeLogLikelihood = scores.NegativeLogLikelihood });
            progress?.Invoke($"test-time shift {shift} px: validation accuracy {100 * scores.Accuracy:F2}%, log-loss {scores.NegativeLogLikelihood:F4}");
            if (best is null || scores.Accuracy > best.Accuracy || (scores.Accuracy == best.Accuracy && scores.NegativeLogLikelihood < best.NegativeLogLikelihood))
                (best, bestShift) = (scores, shift);
        }
        var testScores = sameData && bestShift == Info.TestTimeShift && Info.Test is { } known ? known
            : test is null ? null : ScoreAt(test, EncoderEvaluator.Test, bestShift);
        Info = Info with
        {
            TestTimeShift = bestShift, TestTimeChecks = checks, Validation = best!, Test = testScores,
            Seconds = Info.Seconds + clock.Elapsed.TotalSeconds, Written = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'"),
        };
        TestTimeShift = bestShift;
        progress?.Invoke(bestShift == 0 ? "test-time shifts: none kept (the images alone score best on validation)" : $"test-time shift kept: {bestShift} px");
    }

    /// <summary>
    /// The data a classifier learned from, for choices made after training (<see cref="ChooseTestTimeShift"/>):
    /// <paramref name="spec"/> when given (tables read with the model's schema), else the spec finetune was given
    /// (<see cref="ClassifierInfo.Data"/>), else the pretraining run's data as finetune reloads it, with the same
    /// validation slice.
    /// </summary>
    public static ISplits TrainingData(ClassifierInfo info, string? spec = null)
    {
        spec ??= info.Data;
        if (spec is not null) return DataSpec.Parse(spec).LoadAny(info.Encoder.Table);
        // A run from before validation slices reloads with val=0 (DataSpec.ForRun); without the run folder, the spec as recorded.
        int format = Directory.Exists(info.Run) ? Checkpoint.ReadState(info.Run).State.Format : new CheckpointState { Config = info.Encoder }.Format;
        return DataSpec.ForRun(info.Encoder.Data, format).LoadAny(info.Encoder.Table);
    }

    static void Accumulate(ref float[]? sum, float[] probabilities)
    {
        sum ??= new float[probabilities.Length];
        for (int i = 0; i < sum.Length; i++) sum[i] += probabilities[i];
    }

    static float[] Mean(float[] sum, int count) => sum.Select(v => v / count).ToArray();

    sealed record TrainedMember(ClassifierMember Scores, float[] ValidationProbabilities, float[]? TestProbabilities);

    /// <summary>One classifier: the probe's head, end-to-end training unless a probe, the temperature fitted on the
    /// validation logits, and its calibrated validation (and test) probabilities.</summary>
    static (ClassifierNetwork, TrainedMember) TrainMember(string checkpoint, PretrainConfig config, IRecordSet train, int[] labelled, int[]? unlabelled,
        IRecordSet validation, int[] validationLabels, IRecordSet? test, int[]? testLabels, int classes, ClassifierOptions options, TeacherLabels? teacher,
        Action<string>? progress, CancellationToken cancel)
    {
        Encoder encoder;
        if (options.FromScratch)
        {
            manual_seed(options.Seed);
            encoder = ModelFactory.BuildEncoder(config, train);
        }
        else encoder = EncoderEvaluator.LoadEncoder(checkpoint, config, train);
        var network = new ClassifierNetwork(encoder, classes);
        try
        {
            var standardize = ModelFactory.Standardizer(config, train, encoder.parameters().First().device);
            // LP-FT starts from the probe's head on pretrained features. Random features are no start: their
            // standardization statistics stop fitting after the first steps (losses above 10 were measured), so a
            // network from scratch starts from a plain randomly initialized head on unstandardized embeddings.
            double? l2 = options.FromScratch ? null : FitProbeHead(network, train, labelled, validation, standardize, options, classes, progress);
            FineTuneResult? fineTune = null;
            if (options.Mode != ClassifierMode.Probe)
                fineTune = FineTuner.Run(network, config, train, labelled, unlabelled, validation, options, progress, cancel, teacher);
            network.eval();

            // The validation logits fit the temperature and, calibrated with it, give the validation scores: one pass.
            using var validationLogits = FineTuner.Logits(network, validation, standardize);
            network.Temperature = TemperatureScaling.Fit(validationLogits, validationLabels.Select(l => (long)l).ToArray());
            var validationProbabilities = CalibratedProbabilities(validationLogits, network.Temperature);
            float[]? testProbabilities = null;
            if (test is not null)
            {
                testProbabilities = NetworkProbabilities(network, test, standardize);
            }
            var scores = new ClassifierMember
            {
                Seed = options.Seed,
                ProbeL2 = l2,
                Temperature = network.Temperature,
                FineTune = fineTune,
                Validation = ClassifierScores.Compute(EncoderEvaluator.Validation, validationProbabilities, classes, validationLabels),
                Test = testProbabilities is null ? null : ClassifierScores.Compute(EncoderEvaluator.Test, testProbabilities, classes, testLabels!),
            };
            return (network, new TrainedMember(scores, validationProbabilities, testProbabilities));
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Fits the logistic-regression head on the frozen encoder's embeddings of the labelled records, the L2 penalty
    /// chosen by validation accuracy; returns the penalty.
    /// </summary>
    static double FitProbeHead(ClassifierNetwork network, IRecordSet train, int[] labelled, IRecordSet validation, Func<Tensor, Tensor> standardize,
        ClassifierOptions options, int classes, Action<string>? progress)
    {
        using var scope = NewDisposeScope();
        var encoder = network.Encoder;
        encoder.eval();
        Tensor trainFeatures, validationFeatures;
        using (MixedPrecision.InFloat32(encoder))
        {
            trainFeatures = EmbeddingExtractor.Extract(x => encoder.forward(standardize(x)), train, labelled);
            validationFeatures = EmbeddingExtractor.Extract(x => encoder.forward(standardize(x)), validation);
        }
        var labels = labelled.Select(i => (long)train.Labels![i]).ToArray();
        var validationLabels = validation.Labels!.Select(l => (long)l).ToArray();
        LinearProbe? best = null;
        double bestL2 = options.L2Grid[0], bestAccuracy = -1;
        foreach (var l2 in options.L2Grid)
        {
            var probe = LinearProbe.Fit(trainFeatures, labels, classes, l2, seed: options.Seed);
            double accuracy = probe.Accuracy(validationFeatures, validationLabels);
            progress?.Invoke($"probe: L2 {l2:G2}, validation accuracy {100 * accuracy:F2}%");
            if (accuracy > bestAccuracy) { best?.Dispose(); best = probe; bestAccuracy = accuracy; bestL2 = l2; }
            else probe.Dispose();
        }
        using (best)
        {
            var (mean, std, weight, bias) = best!.State;
            network.SetHead(mean, std, weight, bias);
        }
        return bestL2;
    }

    /// <summary>Scores on a labelled split: accuracy, balanced accuracy, macro-F1, confusion matrix, calibration.</summary>
    public ClassifierScores Score(IRecordSet records, string split) => ScoreAt(records, split, TestTimeShift);

    ClassifierScores ScoreAt(IRecordSet records, string split, int shift)
    {
        var labels = LabelsInModelOrder(records, Classes);
        CheckFits(records);
        var probabilities = new float[(long)records.Count * Classes.Count];
        PredictAt(records, (start, batch) => batch.CopyTo(probabilities.AsSpan(start * Classes.Count)), 512, shift);
        return ClassifierScores.Compute(split, probabilities, Classes.Count, labels);
    }

    /// <summary>
    /// The records' labels as indices into the model's classes: matched by name when the records name their classes
    /// (a folder may list them in another order), else taken as they are; a class the model does not know is refused.
    /// </summary>
    static int[] LabelsInModelOrder(IRecordSet records, IReadOnlyList<string> classes)
    {
        if (records.Labels is not int[] labels) throw new InvalidOperationException($"{records.Source} has no labels to score against");
        if (records.ClassNames is { } names)
        {
            var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
            var unknown = names.Where((n, i) => !index.ContainsKey(n) && labels.Contains(i)).ToList();
            if (unknown.Count > 0)
                throw new InvalidOperationException($"{records.Source}: class(es) {string.Join(", ", unknown.Take(5))} are not among the model's ({string.Join(", ", classes.Take(10))})");
            return labels.Select(l => index[names[l]]).ToArray();
        }
        if (labels.Any(l => l < 0 || l >= classes.Count))
            throw new InvalidOperationException($"{records.Source}: labels run up to {labels.Max()}, the model knows {classes.Count} classes");
        return labels;
    }

    /// <summary>N×C probabilities, row-major, from logits the network already made, calibrated as <see cref="ClassifierNetwork.Probabilities"/> does: softmax(logits / T).</summary>
    static float[] CalibratedProbabilities(Tensor logits, double temperature)
    {
        using var scope = NewDisposeScope();
        using var t = temperature.ToScalar();
        return logits.div(t).softmax(1).contiguous().data<float>().ToArray();
    }

    /// <summary>One network's calibrated probabilities of every record, N×C row-major, at no test-time shift.</summary>
    static float[] NetworkProbabilities(ClassifierNetwork network, IRecordSet records, Func<Tensor, Tensor> standardize)
    {
        using var logits = FineTuner.Logits(network, records, standardize);
        return CalibratedProbabilities(logits, network.Temperature);
    }

    /// <summary>A folder's absolute path without a trailing separator, so that <c>A</c> and <c>A/</c> name one folder.</summary>
    public static string FolderPath(string folder) => Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);

    /// <summary>
    /// Calibrated class probabilities of every record, batch by batch (one dispose scope each): the batch's first
    /// record index and its N×C probabilities, row-major (valid only during the call).
    /// With a <see cref="TestTimeShift"/>, an image's probabilities are the mean over it and its four shifted views.
    /// </summary>
    public void Predict(IRecordSet records, Action<int, ReadOnlySpan<float>> onBatch, int batchSize = 512) => PredictAt(records, onBatch, batchSize, TestTimeShift);

    void PredictAt(IRecordSet records, Action<int, ReadOnlySpan<float>> onBatch, int batchSize, int shift)
    {
        CheckFits(records);
        if (shift != 0 && Info.Input.Kind != InputShape.Image) throw new InvalidOperationException("test-time shifts are for images");
        foreach (var network in Networks) network.eval();
        EmbeddingExtractor.ForEachBatch(x => TestTimeShifts.Average(view => Probabilities(standardize(view)), x, shift), records, Enumerable.Range(0, records.Count).ToArray(), batchSize, null,
            (start, probabilities) => onBatch(start, probabilities.data<float>().ToArray()));
    }

    /// <summary>Refuses records the model cannot read, naming what differs.</summary>
    public void CheckFits(IRecordSet records)
    {
        var expected = Info.Input;
        switch (records)
        {
            case ImageDataset images when expected.Kind == InputShape.Image:
                if (images.Channels != expected.Channels || images.Height != expected.Height || images.Width != expected.Width)
                    throw new InvalidOperationException($"{records.Source}: images are {images.Channels}×{images.Height}×{images.Width}, the model takes {expected.Channels}×{expected.Height}×{expected.Width}"
                        + $" (for a folder: folder:DIR,size={expected.Height},channels={expected.Channels})");
                break;
            case TableDataset rows when expected.Kind == InputShape.Table:
                var schema = Info.Encoder.Table!;
                if (!EncoderEvaluator.SameFeatures(rows.Schema, schema))
                    throw new InvalidOperationException($"{records.Source}: was not encoded with the model's schema; read it with PredictionData.Load");
                break;
            default:
                throw new InvalidOperationException($"{records.Source}: the model takes {expected}, not {(records is TableDataset ? "table rows" : "images")}");
        }
    }

    public void Save(string folder)
    {
        folder = Path.GetFullPath(folder);
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any() && !File.Exists(Path.Combine(folder, InfoFileName)))
            throw new IOException($"{folder}: exists and holds something other than a classifier; choose an empty or new folder");
        var parent = Path.GetDirectoryName(folder)!;
        RunFiles.EnsureWritable(parent);
        // Written whole into a sibling folder, then swapped in: a failure never leaves a half-written classifier.
        var temporary = folder + $".tmp-{Environment.ProcessId}";
        if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        Directory.CreateDirectory(temporary);
        var old = folder + $".old-{Environment.ProcessId}";
        try
        {
            for (int k = 0; k < Networks.Count; k++)
            {
                var weights = new MemoryStream();
                Networks[k].save(weights);
                WriteDurably(Path.Combine(temporary, MemberWeightsFileName(k)), weights.ToArray());
            }
            WriteDurably(Path.Combine(temporary, InfoFileName), System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(Info, PretrainConfig.Json)));
            var shown = Info.Test ?? Info.Validation;
            ConfusionPlot.Save(shown.Confusion, Classes, $"Confusion matrix, {(shown.Split == EncoderEvaluator.Test ? "test split" : "validation slice")} (accuracy {100 * shown.Accuracy:F2}%)",
                Path.Combine(temporary, ConfusionFileName));
            RunFiles.SyncFolder(temporary);
            if (Directory.Exists(folder)) Directory.Move(folder, old);
            Directory.Move(temporary, folder);
            RunFiles.SyncFolder(parent);
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        }
        finally
        {
            // A failed swap puts the previous classifier back under its name.
            if (!Directory.Exists(folder) && Directory.Exists(old)) Directory.Move(old, folder);
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        }
    }

    static void WriteDurably(string path, byte[] bytes)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>A classifier folder's <c>classifier.json</c>, without loading the weights.</summary>
    public static ClassifierInfo ReadInfo(string folder)
    {
        var infoPath = Path.Combine(folder, InfoFileName);
        if (!File.Exists(infoPath)) throw new DataFormatException(folder, $"not a classifier folder: no {InfoFileName} (finetune writes one)");
        ClassifierInfo info;
        try { info = JsonSerializer.Deserialize<ClassifierInfo>(File.ReadAllText(infoPath), PretrainConfig.Json) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new DataFormatException(infoPath, $"not a valid classifier description: {e.Message}"); }
        if (info.Format != 1) throw new DataFormatException(infoPath, $"format {info.Format} is newer than this Contramask reads (1)");
        return info;
    }

    public static Classifier Load(string folder)
    {
        var info = ReadInfo(folder);
        int count = info.Members?.Count ?? 1;
        if (count < 1) throw new DataFormatException(Path.Combine(folder, InfoFileName), "an ensemble without members");
        for (int k = 0; k < count; k++)
            if (!File.Exists(Path.Combine(folder, MemberWeightsFileName(k))))
                throw new DataFormatException(folder, $"no {MemberWeightsFileName(k)} beside {InfoFileName}" + (count > 1 ? $" (it names {count} members)" : ""));
        Runtime.TorchRuntime.Initialize(info.Encoder.Threads);
        var networks = new List<ClassifierNetwork>();
        try
        {
            for (int k = 0; k < count; k++)
            {
                var weightsPath = Path.Combine(folder, MemberWeightsFileName(k));
                var network = new ClassifierNetwork(BuildEncoder(info), info.Classes.Count);
                networks.Add(network);
                try
                {
                    using var stream = File.OpenRead(weightsPath);
                    network.load(stream);
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or System.Runtime.InteropServices.ExternalException)
                {
                    throw new DataFormatException(weightsPath, $"weights do not fit the model described in {InfoFileName} ({e.Message.Split('\n')[0]})");
                }
            }
            return new Classifier(networks, info);
        }
        catch
        {
            foreach (var network in networks) network.Dispose();
            throw;
        }
    }

    /// <summary>Calibrated class probabilities of standardized inputs; an ensemble's are its members' mean
    /// (Lakshminarayanan et al. 2017 average the members' predictive distributions).</summary>
    Tensor Probabilities(Tensor inputs)
    {
        if (!IsEnsemble) return Networks[0].Probabilities(inputs);
        using var scope = NewDisposeScope();
        var sum = Networks[0].Probabilities(inputs);
        for (int k = 1; k < Networks.Count; k++) sum = sum.add(Networks[k].Probabilities(inputs), Runtime.Scalars.One);
        using var count = Networks.Count.ToScalar();
        return sum.div(count).MoveToOuterDisposeScope();
    }

    static Encoder BuildEncoder(ClassifierInfo info) => info.Input.Kind == InputShape.Table
        ? info.Encoder.Encoder.BuildTable(new TableLayout(info.Encoder.Table ?? throw new DataFormatException(InfoFileName, "a table classifier without a schema")))
        : info.Encoder.Encoder.Build(info.Input.Channels, info.Input.Height, info.Input.Width);

    /// <summary>An empty record set of the model's kind, for the factory methods that ask for one (standardizer, layout).</summary>
    static IRecordSet LikeRecords(ClassifierInfo info) => info.Input.Kind == InputShape.Table
        ? new TableDataset(info.Encoder.Table!, [], [], 0, null, null, "model")
        : new ImageDataset([], 0, info.Input.Channels, info.Input.Height, info.Input.Width);

    public void Dispose()
    {
        foreach (var network in Networks) network.Dispose();
    }
}
