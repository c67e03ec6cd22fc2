using Contramask.Data;

namespace Contramask.Classification;

/// <summary>
/// Pseudo-labels a trained classifier (the teacher) gives the training records that have no label in this budget,
/// for a student to learn from beside the true labels: self-training as Noisy Student does it (Xie et al. 2020,
/// Algorithm 1: the teacher labels unlabelled data un-noised, and the student is trained with noise on both). The
/// teacher reads clean records in evaluation mode, with its calibrated probabilities; a record joins, with the hard
/// label of its top class, when that class is at least <c>threshold</c> sure (the paper's confidence filter; it also
/// offers soft labels and balances classes, which this does not).
/// </summary>
/// <param name="Indices">Training-split positions of the pseudo-labelled records (ascending; never a labelled one).</param>
/// <param name="Classes">The teacher's class for each, as an index into the student's classes.</param>
/// <param name="Offered">Records without a label in this budget, the teacher's candidates.</param>
/// <param name="Agreement">Share of the pseudo-labels equal to the records' held-back labels, when the data has them (a diagnostic; nothing is chosen by it).</param>
public sealed record TeacherLabels(string Teacher, int[] Indices, int[] Classes, int Offered, double Threshold, double? Agreement)
{
    /// <summary>
    /// The teacher's confident labels for the records of <paramref name="train"/> outside <paramref name="labelled"/>.
    /// Refused, in one line, when the folder is not a classifier, when the teacher's classes or inputs are not the
    /// student's, or when it learnt from labels outside the student's budget (its pseudo-labels would carry them).
    /// </summary>
    /// <param name="studentData">The data spec of the student's pretraining run; a teacher from other data gets a warning.</param>
    public static TeacherLabels From(string teacherFolder, IRecordSet train, int[] labelled, IReadOnlyList<string> classes, double threshold,
        int threads, string? studentData = null, Action<string>? progress = null, Action<string>? warn = null)
    {
        if (!Directory.Exists(teacherFolder))
            throw new DataFormatException(teacherFolder, "does not exist (--teacher takes a classifier folder written by finetune)");
        var info = Classifier.ReadInfo(teacherFolder);
        if (!info.Classes.SequenceEqual(classes))
            throw new DataFormatException(teacherFolder, $"the teacher's classes ({string.Join(", ", info.Classes.Take(10))}) are not this data's ({string.Join(", ", classes.Take(10))})");
        if (info.Input != InputShape.Of(train))
            throw new DataFormatException(teacherFolder, $"the teacher takes {info.Input}, this data is {InputShape.Of(train)}");
        // A teacher that saw more labels than the student may hands them on as pseudo-labels: the student's figures
        // would then not be figures of its budget.
        var taught = info.Options.Labels.Choose(train, info.Options.Seed);
        var outside = taught.Except(labelled).Count();
        if (outside > 0)
            throw new DataFormatException(teacherFolder, $"the teacher learnt from {taught.Length:N0} labels ({info.Labels}, seed {info.Options.Seed}), {outside:N0} of them outside this classifier's budget; train the student with the teacher's --labels and --seed, or a larger budget");
        if (studentData is not null && info.Encoder.Data != studentData)
            warn?.Invoke($"the teacher {teacherFolder} comes from a run on {info.Encoder.Data}, this one from {studentData}: if its labels came from records now in this validation slice, validation scores are optimistic");

        using var teacher = Classifier.Load(teacherFolder);
        // Loading sets the teacher's thread count; the student keeps its own.
        Runtime.TorchRuntime.Initialize(threads);

        var isLabelled = new bool[train.Count];
        foreach (var i in labelled) isLabelled[i] = true;
        var top = new int[train.Count];
        var confidence = new float[train.Count];
        int count = classes.Count;
        teacher.Predict(train, (start, probabilities) =>
        {
            for (int r = 0; r < probabilities.Length / count; r++)
            {
                var row = probabilities.Slice(r * count, count);
                int best = 0;
                for (int c = 1; c < count; c++) if (row[c] > row[best]) best = c;
                top[start + r] = best;
                confidence[start + r] = row[best];
            }
        });
        var indices = Enumerable.Range(0, train.Count).Where(i => !isLabelled[i] && confidence[i] >= threshold).ToArray();
        var chosen = indices.Select(i => top[i]).ToArray();
        double? agreement = train.Labels is int[] held && indices.Length > 0
            ? indices.Count(i => held[i] == top[i]) / (double)indices.Length : null;
        int offered = isLabelled.Count(l => !l);
        progress?.Invoke($"teacher {teacherFolder}: {indices.Length:N0} of {offered:N0} unlabelled records pseudo-labelled (confidence ≥ {threshold:G3})"
            + (agreement is double a ? $", {100 * a:F2}% of them agree with the held-back labels" : ""));
        return new TeacherLabels(Path.GetFullPath(teacherFolder), indices, chosen, offered, threshold, agreement);
    }

    /// <summary>What <c>classifier.json</c> keeps of it: the teacher, how many records it labelled, and their agreement.</summary>
    public TeacherSummary Summary => new(Teacher, Indices.Length, Offered, Threshold, Agreement);

    /// <summary>The student's target per training record: its true label, or the teacher's where it has none in this budget.</summary>
    public static long[] Targets(IRecordSet train, TeacherLabels? pseudo)
    {
        var labels = train.Labels ?? throw new InvalidOperationException($"{train.Source} has no labels");
        var targets = labels.Select(l => (long)l).ToArray();
        if (pseudo is not null)
            for (int k = 0; k < pseudo.Indices.Length; k++) targets[pseudo.Indices[k]] = pseudo.Classes[k];
        return targets;
    }
}

/// <summary>A student's teacher in <c>classifier.json</c>: its folder, the records it pseudo-labelled of those offered, at what confidence, and their agreement with held-back labels.</summary>
public sealed record TeacherSummary(string Teacher, int PseudoLabelled, int Offered, double Threshold, double? Agreement);
