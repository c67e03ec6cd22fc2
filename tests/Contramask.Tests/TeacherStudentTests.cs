using Contramask.Classification;
using Contramask.Data;
using Contramask.Training;

namespace Contramask.Tests;

/// <summary>Self-training (<c>finetune --teacher</c>, Noisy Student): what the teacher labels, and that the student learns from it.</summary>
[Collection("console")]
public class TeacherStudentTests(DigitsRunFixture run) : IClassFixture<DigitsRunFixture>
{
    static readonly ClassifierOptions Quick = new() { Labels = LabelBudget.Parse("10%"), Steps = 120, EvaluateEvery = 40, BatchSize = 64, Threads = 2, L2Grid = [1e-4, 1e-2] };

    string TrainTeacher()
    {
        using var teacher = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Probe });
        var folder = Path.Combine(Fixture.TempFolder(), "teacher");
        teacher.Save(folder);
        return folder;
    }

    [Fact]
    public void A_teacher_labels_only_unlabelled_training_records_at_its_threshold_and_mostly_right()
    {
        var teacherFolder = TrainTeacher();
        var train = DataSpec.Parse("digits").Load().Train;
        var labelled = Quick.Labels.Choose(train, Quick.Seed);
        var classes = Enumerable.Range(0, 10).Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var confident = TeacherLabels.From(teacherFolder, train, labelled, classes, threshold: 0.9, threads: 2);
        var loose = TeacherLabels.From(teacherFolder, train, labelled, classes, threshold: 0.2, threads: 2);

        Assert.Equal(train.Count - labelled.Length, confident.Offered);
        Assert.Empty(confident.Indices.Intersect(labelled));
        Assert.Empty(loose.Indices.Intersect(labelled));
        // A higher threshold keeps a subset of the records a lower one keeps, with the same labels.
        Assert.True(confident.Indices.Length < loose.Indices.Length, $"{confident.Indices.Length} at 0.9, {loose.Indices.Length} at 0.2");
        Assert.Subset(loose.Indices.ToHashSet(), confident.Indices.ToHashSet());
        var looseLabel = loose.Indices.Zip(loose.Classes).ToDictionary(p => p.First, p => p.Second);
        Assert.All(confident.Indices.Zip(confident.Classes), p => Assert.Equal(looseLabel[p.First], p.Second));
        // Ten classes: a probe on 130 labels is far better than chance, and surer predictions are righter.
        Assert.True(loose.Agreement > 0.7, $"agreement {loose.Agreement}");
        Assert.True(confident.Agreement >= loose.Agreement, $"{confident.Agreement} at 0.9, {loose.Agreement} at 0.2");

        // The student's targets: the true label where it has one, the teacher's elsewhere.
        var targets = TeacherLabels.Targets(train, confident);
        foreach (var i in labelled) Assert.Equal(train.Labels![i], targets[i]);
        for (int k = 0; k < confident.Indices.Length; k++) Assert.Equal(confident.Classes[k], targets[confident.Indices[k]]);
    }

    [Fact]
    public void A_student_learns_what_its_teacher_says_not_the_held_back_labels()
    {
        // A teacher that calls every unlabelled record a 0. Validation is scored against "everything is 0" too, so
        // the kept check is the one that learnt the teacher's labels best: a student that learns from its teacher
        // predicts 0 for most validation records; one that (wrongly) learnt the held-back true labels would not.
        var data = DataSpec.Parse("digits").Load();
        var train = data.Train;
        var options = Quick with { Mode = ClassifierMode.Full, Labels = LabelBudget.Parse("20"), Teacher = "fabricated", EvaluateEvery = 40 };
        var labelled = options.Labels.Choose(train, options.Seed);
        var rest = Enumerable.Range(0, train.Count).Except(labelled).ToArray();
        var teacher = new TeacherLabels("fabricated", rest, new int[rest.Length], rest.Length, 0.95, null);
        var allZero = new Relabelled(data.Validation!, new int[data.Validation!.Count]);

        TorchSharp.torch.manual_seed(3);
        var (state, checkpoint) = Checkpoint.ReadState(run.Folder);
        using var network = new ClassifierNetwork(Evaluation.EncoderEvaluator.LoadEncoder(checkpoint, state.Config, train), 10);
        var result = FineTuner.Run(network, state.Config, train, labelled, null, allZero, options, teacher: teacher);
        Assert.True(result.BestValidationAccuracy > 0.8, $"{100 * result.BestValidationAccuracy:F0}% of validation records predicted 0");
    }

    /// <summary>A record set with other labels (to score a network against what a teacher said).</summary>
    sealed class Relabelled(IRecordSet inner, int[] labels) : IRecordSet
    {
        public int Count => inner.Count;
        public int[]? Labels => labels;
        public IReadOnlyList<string>? ClassNames => inner.ClassNames;
        public string Source => inner.Source;
        public string RecordId(int index) => inner.RecordId(index);
        public TorchSharp.torch.Tensor Inputs(ReadOnlySpan<int> indices) => inner.Inputs(indices);
    }

    [Fact]
    public void A_teacher_that_learnt_from_labels_outside_the_budget_is_refused()
    {
        var teacherFolder = TrainTeacher();  // 10% of the labels, seed 0
        var error = Assert.Throws<DataFormatException>(() => Classifier.Train(run.Folder, null,
            Quick with { Mode = ClassifierMode.Full, Labels = LabelBudget.Parse("5%"), Teacher = teacherFolder }));
        Assert.Contains("outside this classifier's budget", error.Message);
        var missing = Path.Combine(Fixture.TempFolder(), "no-such-teacher");
        error = Assert.Throws<DataFormatException>(() => Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full, Teacher = missing }));
        Assert.Equal($"{missing}: does not exist (--teacher takes a classifier folder written by finetune)", error.Message);
    }

    [Fact]
    public void A_student_of_a_saved_teacher_records_it_and_beats_chance()
    {
        var teacherFolder = TrainTeacher();
        using var student = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full, Teacher = teacherFolder, Threshold = 0.5 });
        var summary = student.Info.Teacher!;
        Assert.Equal(Path.GetFullPath(teacherFolder), summary.Teacher);
        Assert.InRange(summary.PseudoLabelled, 1, summary.Offered);
        Assert.Equal(1293 - student.Info.LabelledCount, summary.Offered);
        Assert.True(student.Info.Validation.Accuracy > 0.7, $"validation accuracy {student.Info.Validation.Accuracy}");
        var folder = Path.Combine(Fixture.TempFolder(), "student");
        student.Save(folder);
        Assert.Equal(summary, Classifier.ReadInfo(folder).Teacher);
    }

    [Fact]
    public void A_teacher_folder_that_is_not_a_classifier_is_refused_naming_it()
    {
        var empty = Fixture.TempFolder();
        var error = Assert.Throws<DataFormatException>(() => Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full, Teacher = empty }));
        Assert.Contains(empty, error.Message);
        Assert.Contains("not a classifier folder", error.Message);
    }

    [Fact]
    public void The_threshold_defaults_to_the_teachers_unless_set()
    {
        Assert.Equal(0.95, new ClassifierOptions { Mode = ClassifierMode.Semi }.Threshold);
        Assert.Equal(ClassifierOptions.DefaultThreshold(teacher: true), new ClassifierOptions { Teacher = "t" }.Threshold);
        Assert.NotEqual(ClassifierOptions.DefaultThreshold(teacher: true), ClassifierOptions.DefaultThreshold(teacher: false));
        Assert.Equal(0.9, new ClassifierOptions { Teacher = "t", Threshold = 0.9 }.Threshold);
    }
}
