using System.Text.Json;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Training;

namespace Contramask.Classification;

/// <summary>
/// Classifiers trained apart (on different encoders, in different modes, with different seeds) joined into one
/// ensemble. Members of one <c>finetune --members</c> run share their encoder and recipe, so their errors are alike;
/// members from different encoders can differ more, which is what averaging needs (Lakshminarayanan et al. 2017).
/// </summary>
public sealed partial class Classifier
{
    /// <summary>
    /// Joins the classifiers in <paramref name="folders"/> (every member of each) into one ensemble that averages
    /// their calibrated probabilities, and scores it and each member on <paramref name="validation"/> and, when
    /// given, <paramref name="test"/> (once; no choice is made here). They must take the same inputs the same way
    /// (classes, input shape, encoder architecture, image normalization or table schema) and must have learned from
    /// the same labels of the same data: the same data spec (so the same validation slice, which none of them
    /// trained on) and the same label draw, so the ensemble has seen no label any one of them has not. The parts'
    /// test-time shifts are dropped: choose the ensemble's with <see cref="ChooseTestTimeShift"/>.
    /// </summary>
    /// <param name="threads">Threads for scoring (0: the first classifier's run's).</param>
    public static Classifier Combine(IReadOnlyList<string> folders, IRecordSet validation, IRecordSet? test, Action<string>? progress = null, int threads = 0)
    {
        if (folders.Count < 2) throw new ArgumentException("an ensemble joins at least two classifiers");
        var repeated = folders.GroupBy(FolderPath).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null) throw new ArgumentException($"{repeated.Key} is given twice: its networks would count double in the ensemble");
        var infos = folders.Select(ReadInfo).ToList();
        var first = infos[0];
        for (int k = 1; k < infos.Count; k++) CheckJoinable(folders[0], first, folders[k], infos[k]);
        // A joined ensemble names its members' folders: the same classifier must not come in twice that way either.
        var sources = folders.Select((f, k) => infos[k].Members?.Select(m => m.Source).OfType<string>().Select(FolderPath).Distinct().ToList() is { Count: > 0 } s ? s : [FolderPath(f)]).ToList();
        var twice = sources.SelectMany(s => s).GroupBy(s => s).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new ArgumentException($"the classifier {twice.Key} is in more than one of these: its networks would count double in the ensemble");
        int count = infos.Sum(i => i.Members?.Count ?? 1);
        if (count > ClassifierOptions.MaxMembers)
            throw new ArgumentException($"these classifiers hold {count} networks; an ensemble takes at most {ClassifierOptions.MaxMembers}");

        var parts = new List<Classifier>();
        try
        {
            foreach (var folder in folders) parts.Add(Load(folder));
            threads = threads > 0 ? threads : first.Encoder.Threads;
            Runtime.TorchRuntime.Initialize(threads); // each Load set its own run's
            var validationLabels = LabelsInModelOrder(validation, first.Classes);
            var testLabels = test is null ? null : LabelsInModelOrder(test, first.Classes);
            int classes = first.Classes.Count;
            var members = new List<ClassifierMember>();
            float[]? validationSum = null, testSum = null;
            for (int p = 0; p < parts.Count; p++)
            {
                var part = parts[p];
                part.CheckFits(validation);
                for (int k = 0; k < part.Networks.Count; k++)
                {
                    // Each network alone, at no shift: its member scores are its own, whatever its classifier had chosen.
                    var network = part.Networks[k];
                    progress?.Invoke($"member {members.Count + 1} of {count}: {Path.GetFileName(FolderPath(folders[p]))}");
                    var validationProbabilities = NetworkProbabilities(network, validation, part.standardize);
                    var testProbabilities = test is null ? null : NetworkProbabilities(network, test, part.standardize);
                    Accumulate(ref validationSum, validationProbabilities);
                    if (testProbabilities is not null) Accumulate(ref testSum, testProbabilities);
                    var trained = part.Info.Members?[k] ?? new ClassifierMember
                    {
                        Seed = part.Info.Options.Seed,
                        ProbeL2 = part.Info.ProbeL2,
                        Temperature = part.Info.Temperature,
                        FineTune = part.Info.FineTune,
                        Validation = part.Info.Validation,
                        Seconds = part.Info.Seconds,
                    };
                    // A member of an ensemble joined before keeps the folder, run and mode it came from.
                    members.Add(trained with
                    {
                        Source = trained.Source ?? FolderPath(folders[p]),
                        Run = trained.Run ?? part.Info.Run,
                        Mode = trained.Mode ?? part.Info.Mode,
                        Validation = ClassifierScores.Compute(EncoderEvaluator.Validation, validationProbabilities, classes, validationLabels),
                        Test = testProbabilities is null ? null : ClassifierScores.Compute(EncoderEvaluator.Test, testProbabilities, classes, testLabels!),
                    });
                }
            }
            var info = first with
            {
                Mode = string.Join(" + ", infos.Select(i => i.Mode).Distinct()),
                UnlabelledCount = infos.Max(i => i.UnlabelledCount),
                Teacher = infos.All(i => i.Teacher == first.Teacher) ? first.Teacher : null,
                ProbeL2 = null,
                Temperature = 1,
                FineTune = null,
                Members = members,
                TestTimeShift = 0,
                TestTimeChecks = null,
                Options = first.Options with { Members = count, TestTimeShifts = false },
                Validation = ClassifierScores.Compute(EncoderEvaluator.Validation, Mean(validationSum!, count), classes, validationLabels),
                Test = testSum is null ? null : ClassifierScores.Compute(EncoderEvaluator.Test, Mean(testSum, count), classes, testLabels!),
                // What the ensemble cost to train: its parts' time.
                Seconds = infos.Sum(i => i.Seconds),
                Machine = Runtime.MachineInfo.Current(threads),
                Written = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'"),
            };
            var networks = parts.SelectMany(p => p.Networks).ToList();
            var ensemble = new Classifier(networks, info);
            parts.Clear(); // the ensemble owns the networks now
            return ensemble;
        }
        finally
        {
            foreach (var part in parts) part.Dispose();
        }
    }

    /// <summary>Refuses a classifier that cannot share an ensemble with the first one, naming what differs.</summary>
    static void CheckJoinable(string firstFolder, ClassifierInfo first, string folder, ClassifierInfo info)
    {
        void Same(bool same, string what, string theirs, string ours)
        {
            if (!same) throw new ArgumentException($"{folder}: {what} {theirs}, {firstFolder} {ours}: an ensemble's members must agree on it");
        }
        static string Json<T>(T value) => JsonSerializer.Serialize(value, PretrainConfig.Json);
        Same(info.Classes.SequenceEqual(first.Classes), "has classes", $"({string.Join(", ", info.Classes.Take(10))})", $"({string.Join(", ", first.Classes.Take(10))})");
        Same(info.Input == first.Input, "takes", info.Input.ToString(), first.Input.ToString());
        Same(Json(info.Encoder.Encoder) == Json(first.Encoder.Encoder) && info.Encoder.Patch == first.Encoder.Patch, "has the encoder",
            Json(info.Encoder.Encoder), Json(first.Encoder.Encoder));
        Same(Json(info.Encoder.Normalization) == Json(first.Encoder.Normalization), "normalizes images by", Json(info.Encoder.Normalization), Json(first.Encoder.Normalization));
        Same(info.Encoder.Table is null == first.Encoder.Table is null
            && (info.Encoder.Table is null || EncoderEvaluator.SameFeatures(info.Encoder.Table, first.Encoder.Table!)), "reads", "another table schema", "its own");
        // The same data spec gives the same validation slice: none of the members trained on the records that score them.
        Same(FullSpec(LearnedFrom(info)) == FullSpec(LearnedFrom(first)), "learned from the data", LearnedFrom(info), LearnedFrom(first));
        Same(SameLabelDraw(info.Options, first.Options), "learned from the labels", Draw(info.Options), Draw(first.Options));
    }

    /// <summary>The data spec a classifier's labels and validation slice came from: finetune's --data, else its run's.</summary>
    public static string LearnedFrom(ClassifierInfo info) => info.Data ?? info.Encoder.Data;

    /// <summary>A data spec with absolute paths, to compare specs written from different folders.</summary>
    public static string FullSpec(string spec) => DataSpec.Parse(spec).WithFullPath().ToString();

    static bool SameLabelDraw(ClassifierOptions a, ClassifierOptions b)
    {
        var (x, y) = (a.Labels, b.Labels);
        if (x.IsAll || y.IsAll) return x.IsAll && y.IsAll;
        if (x.Ids is not null || y.Ids is not null) return x.Ids is { } ids && y.Ids is { } others && ids.SequenceEqual(others);
        return x.Count == y.Count && x.Fraction == y.Fraction && a.Seed == b.Seed;
    }

    static string Draw(ClassifierOptions o) => o.Labels.IsAll || o.Labels.Ids is not null ? o.Labels.ToString() : $"{o.Labels} (drawn with seed {o.Seed})";
}
