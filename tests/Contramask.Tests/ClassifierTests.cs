using Contramask.Classification;
using Contramask.Cli;
using Contramask.Data;
using Contramask.Objectives;
using Contramask.Training;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>One contrastive ConvNet run on the embedded digits, pretrained once for every classifier test.</summary>
public sealed class DigitsRunFixture
{
    public DigitsRunFixture()
    {
        Folder = Fixture.TempFolder();
        var data = DataSpec.Parse("digits").Load();
        var config = PretrainConfig.DefaultsFor(data.Train, Method.Contrastive) with { Epochs = 6, BatchSize = 64, Threads = 2, MonitorChecks = 0, LearningRate = Fixture.ShortRunLearningRate };
        // A fixed recipe, not the moving defaults: the fine-tuning tests need an encoder their few steps can improve
        // on, and were written around this one (τ 0.2; at the CNN default of 0.5 six epochs on the digits give a probe
        // that the tests' short fine-tuning runs do not beat).
        config = config with { Objective = config.Objective with { Temperature = 0.2 } };
        using var trainer = Pretrainer.Start(config, Folder, data);
        trainer.Run();
    }

    public string Folder { get; }
}

[Collection("console")]
public class ClassifierTests(DigitsRunFixture run) : IClassFixture<DigitsRunFixture>
{
    static readonly ClassifierOptions Quick = new() { Labels = LabelBudget.Parse("10%"), Steps = 120, EvaluateEvery = 40, BatchSize = 64, Threads = 2, L2Grid = [1e-4, 1e-2] };

    [Fact]
    public void A_label_budget_draws_the_exact_count_with_every_class_and_the_same_records_each_time()
    {
        var labels = Enumerable.Range(0, 1000).Select(i => i < 900 ? i % 3 : 3).ToArray(); // class 3 is rare (100 records)
        var chosen = LabelBudget.Parse("37").Choose(labels, seed: 5);
        Assert.Equal(37, chosen.Length);
        Assert.Equal(4, chosen.Select(i => labels[i]).Distinct().Count());
        Assert.Equal(chosen, LabelBudget.Parse("37").Choose(labels, seed: 5));
        Assert.NotEqual(chosen, LabelBudget.Parse("37").Choose(labels, seed: 6));
        Assert.Equal(10, LabelBudget.Parse("1%").Choose(labels, 0).Length);
        Assert.Equal(1000, LabelBudget.Parse("all").Choose(labels, 0).Length);
        Assert.Equal(1000, LabelBudget.Parse("5000").Choose(labels, 0).Length);
        Assert.Throws<ArgumentException>(() => LabelBudget.Parse("0"));
        Assert.Throws<ArgumentException>(() => LabelBudget.Parse("150%"));
        Assert.Throws<ArgumentException>(() => LabelBudget.Parse("many"));
    }

    [Fact]
    public void Expected_calibration_error_and_confusion_match_a_hand_computed_case()
    {
        // Top-class confidences 0.9, 0.9 (one right) and 0.6, 0.6 (both right): bins (13/15, 14/15] and (8/15, 9/15].
        // ECE = 2/4·|0.5 − 0.9| + 2/4·|1 − 0.6| = 0.4.
        float[] p = [0.9f, 0.1f, 0.9f, 0.1f, 0.4f, 0.6f, 0.6f, 0.4f];
        var scores = ClassifierScores.Compute("val", p, 2, [0, 1, 1, 0]);
        Assert.Equal(0.4, scores.ExpectedCalibrationError, 6);
        Assert.Equal(0.75, scores.Accuracy, 6);
        Assert.Equal([[2, 0], [1, 1]], scores.Confusion);
        Assert.Equal(-(Math.Log(0.9) + Math.Log(0.1) + Math.Log(0.6) + Math.Log(0.6)) / 4, scores.NegativeLogLikelihood, 5);
    }

    [Fact]
    public void Temperature_scaling_cools_overconfident_logits()
    {
        // Logits that are right 70% of the time but claim near certainty.
        var labels = Enumerable.Range(0, 200).Select(i => (long)(i % 4)).ToArray();
        var predicted = labels.Select((l, i) => i % 10 < 7 ? l : (l + 1) % 4).ToArray();
        using var logits = nn.functional.one_hot(tensor(predicted), 4).to(ScalarType.Float32).mul(Runtime.Scalars.Of(12.0));
        double t = TemperatureScaling.Fit(logits, labels);
        Assert.True(t > 2, $"temperature {t}");
        using var y = tensor(labels);
        using var before = nn.functional.cross_entropy(logits, y);
        using var scaled = logits.div(Runtime.Scalars.Of(t));
        using var after = nn.functional.cross_entropy(scaled, y);
        Assert.True(after.item<float>() < before.item<float>() / 2);
    }

    [Fact]
    public void A_probe_classifier_learns_from_few_labels_and_predicts_the_same_after_save_and_load()
    {
        using var classifier = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Probe });
        var info = classifier.Info;
        Assert.Equal(10, info.Classes.Count);
        Assert.InRange(info.LabelledCount, 125, 135); // 10% of 1,293, at least one per class
        Assert.Null(info.FineTune);
        // Ten classes: chance is 10%; a contrastive encoder's probe on 130 labels does far better.
        Assert.True(info.Validation.Accuracy > 0.7, $"validation accuracy {info.Validation.Accuracy}");
        Assert.NotNull(info.Test);
        Assert.Equal(359, info.Test!.Count);
        Assert.Equal(359, info.Test.Confusion.Sum(row => row.Sum()));

        var folder = Path.Combine(Fixture.TempFolder(), "model");
        classifier.Save(folder);
        Assert.True(File.Exists(Path.Combine(folder, Classifier.ConfusionFileName)));
        using var loaded = Classifier.Load(folder);
        var test = DataSpec.Parse("digits").Load().Test!;
        float[] Probabilities(Classifier c)
        {
            var all = new float[test.Count * 10];
            c.Predict(test, (start, p) => p.CopyTo(all.AsSpan(start * 10)));
            return all;
        }
        var before = Probabilities(classifier);
        var after = Probabilities(loaded);
        Assert.Equal(before, after);
        Assert.Equal(info.Temperature, loaded.Network.Temperature, 5);
        // Scoring the loaded model reproduces the saved test figure.
        Assert.Equal(info.Test.Accuracy, loaded.Score(test, "test").Accuracy, 6);
    }

    [Fact]
    public void An_ensemble_averages_its_members_probabilities_and_its_first_member_is_the_single_classifier()
    {
        var options = Quick with { Mode = ClassifierMode.Full, Steps = 40, EvaluateEvery = 20 };
        using var single = Classifier.Train(run.Folder, null, options);
        using var ensemble = Classifier.Train(run.Folder, null, options with { Members = 2 });
        var info = ensemble.Info;
        Assert.True(ensemble.IsEnsemble);
        Assert.Equal([0, 1], info.Members!.Select(m => m.Seed));
        Assert.Null(info.FineTune);
        Assert.Equal(2, info.Options.Members);
        // Member 0 is what a run without --members trains: the same labels (drawn with the base seed) and seed.
        Assert.Equal(single.Info.Validation.Accuracy, info.Members![0].Validation.Accuracy, 9);
        Assert.Equal(single.Info.Test!.NegativeLogLikelihood, info.Members[0].Test!.NegativeLogLikelihood, 5);
        Assert.Equal(single.Info.LabelledCount, info.LabelledCount);
        // The second member trained with its own seed on the first member's labels, not on seed 1's label draw.
        Assert.False(Tensors.Same(ensemble.Networks[0].Encoder.parameters().First(), ensemble.Networks[1].Encoder.parameters().First()));
        using (var seedOne = Classifier.Train(run.Folder, null, options with { Seed = 1 }))
            Assert.NotEqual(seedOne.Info.Validation.NegativeLogLikelihood, info.Members[1].Validation.NegativeLogLikelihood, 6);
        // A single classifier's settings serialize as before the option existed (benchmark --finetune matches them).
        Assert.DoesNotContain("members", System.Text.Json.JsonSerializer.Serialize(single.Info.Options, PretrainConfig.Json));
        // The ensemble scores the mean of the members' probabilities: by Jensen's inequality its log-loss is at most
        // the members' mean, and it is neither member's own.
        var members = info.Members.Select(m => m.Test!.NegativeLogLikelihood).ToArray();
        double ensembleLoss = info.Test!.NegativeLogLikelihood;
        Assert.True(ensembleLoss <= members.Average() + 1e-6, $"ensemble {ensembleLoss}, members {string.Join(", ", members)}");
        Assert.All(members, m => Assert.NotEqual(m, ensembleLoss, 6));

        var folder = Path.Combine(Fixture.TempFolder(), "ensemble");
        ensemble.Save(folder);
        Assert.True(File.Exists(Path.Combine(folder, Classifier.MemberWeightsFileName(1))));
        using (var loaded = Classifier.Load(folder))
        {
            var test = DataSpec.Parse("digits").Load().Test!;
            Assert.Equal(2, Classifier.ReadInfo(folder).Options.Members);
            // Predictions are the mean of the members' calibrated probabilities.
            var predicted = new float[test.Count * 10];
            loaded.Predict(test, (start, p) => p.CopyTo(predicted.AsSpan(start * 10)));
            var standardize = ModelFactory.Standardizer(info.Encoder, test, CPU);
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                var inputs = standardize(test.Inputs(Enumerable.Range(0, 8).ToArray()));
                var mean = loaded.Networks[0].Probabilities(inputs).add(loaded.Networks[1].Probabilities(inputs), Runtime.Scalars.One).div(Runtime.Scalars.Of(2.0)).data<float>().ToArray();
                for (int i = 0; i < mean.Length; i++) Assert.Equal(mean[i], predicted[i], 5);
            }
            for (int r = 0; r < test.Count; r++) Assert.Equal(1.0, predicted.AsSpan(r * 10, 10).ToArray().Sum(), 4);
            var scores = loaded.Score(test, "test");
            Assert.Equal(info.Test.Accuracy, scores.Accuracy, 6);
            Assert.Equal(info.Test.NegativeLogLikelihood, scores.NegativeLogLikelihood, 4);
            var refused = Assert.Throws<InvalidOperationException>(() => loaded.Network);
            Assert.Contains("ensemble of 2", refused.Message);
        }
        var export = Assert.Throws<DataFormatException>(() => Contramask.Export.ModelExport.Classifier(folder));
        Assert.Contains("ensemble of 2 classifiers", export.Message);
        File.Delete(Path.Combine(folder, Classifier.MemberWeightsFileName(1)));
        var missing = Assert.Throws<DataFormatException>(() => Classifier.Load(folder));
        Assert.Contains("no model-1.bin", missing.Message);
        Assert.Throws<ArgumentException>(() => Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Probe, Members = 2 }));
    }

    [Fact]
    public void Test_time_shifts_move_the_image_with_its_edges_repeated()
    {
        using var scope = NewDisposeScope();
        var image = arange(16, ScalarType.Float32).reshape(1, 1, 4, 4); // row y holds 4y … 4y+3
        var views = TestTimeShifts.Views(image, 1).Select(v => v[0, 0].data<float>().ToArray()).ToList();
        Assert.Equal(4, views.Count);
        float[] Grid(Func<int, int, int> source) => Enumerable.Range(0, 16).Select(i => (float)source(i / 4, i % 4)).ToArray();
        Assert.Equal(Grid((y, x) => 4 * Math.Max(y - 1, 0) + x), views[0]);      // down: row 0 repeats row 0
        Assert.Equal(Grid((y, x) => 4 * Math.Min(y + 1, 3) + x), views[1]);      // up
        Assert.Equal(Grid((y, x) => 4 * y + Math.Max(x - 1, 0)), views[2]);      // right
        Assert.Equal(Grid((y, x) => 4 * y + Math.Min(x + 1, 3)), views[3]);      // left
        // The average runs the model on the image and its four views and means the results.
        var mean = TestTimeShifts.Average(x => x.mean([2, 3]), image, 1).item<float>();
        Assert.Equal(views.Prepend(image[0, 0].data<float>().ToArray()).Average(v => v.Average()), mean, 4);
        Assert.Equal([0, 1, 2], TestTimeShifts.Candidates(8, 8));
        Assert.Equal([0, 1, 2], TestTimeShifts.Candidates(28, 28));
        Assert.Equal([0, 8, 16], TestTimeShifts.Candidates(224, 224));
        Assert.Equal([0, 1], TestTimeShifts.Candidates(2, 2));
    }

    [Fact]
    public void A_test_time_shift_is_chosen_on_validation_and_predictions_average_the_shifted_views()
    {
        var options = Quick with { Mode = ClassifierMode.Full, Steps = 40, EvaluateEvery = 20 };
        using var plain = Classifier.Train(run.Folder, null, options);
        using var shifted = Classifier.Train(run.Folder, null, options with { TestTimeShifts = true });
        var info = shifted.Info;
        // The same training (the option acts after it): the first candidate, the image alone, is the plain classifier.
        var tried = info.TestTimeChecks!;
        Assert.Equal([0, 1, 2], tried.Select(c => c.Shift));
        Assert.Equal(plain.Info.Validation.Accuracy, tried[0].Accuracy, 9);
        Assert.Equal(plain.Info.Validation.NegativeLogLikelihood, tried[0].NegativeLogLikelihood, 5);
        Assert.Null(plain.Info.TestTimeChecks);
        Assert.DoesNotContain("test_time", System.Text.Json.JsonSerializer.Serialize(plain.Info.Options, PretrainConfig.Json));
        // The winner: best validation accuracy, then lowest log-loss; its validation scores are the classifier's.
        var best = tried.OrderByDescending(c => c.Accuracy).ThenBy(c => c.NegativeLogLikelihood).First();
        Assert.Equal(best.Shift, info.TestTimeShift);
        Assert.Equal(best.Accuracy, info.Validation.Accuracy, 9);
        Assert.Equal(best.Shift, shifted.TestTimeShift);
        var checks = tried.Select(c => (c.Accuracy, c.NegativeLogLikelihood)).ToList();
        Assert.Equal(checks.Count, checks.Distinct().Count()); // shifts change the predictions

        var test = DataSpec.Parse("digits").Load().Test!;
        var folder = Path.Combine(Fixture.TempFolder(), "shifted");
        shifted.Save(folder);
        using var loaded = Classifier.Load(folder);
        Assert.Equal(info.TestTimeShift, loaded.TestTimeShift);
        Assert.Equal(info.Test!.Accuracy, loaded.Score(test, "test").Accuracy, 9);
        // Predict at shift 2 is the mean of the network's probabilities over the images and their four 2-pixel views.
        loaded.TestTimeShift = 2;
        var predicted = new float[test.Count * 10];
        loaded.Predict(test, (start, p) => p.CopyTo(predicted.AsSpan(start * 10)));
        var standardize = ModelFactory.Standardizer(info.Encoder, test, CPU);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var images = test.Inputs(Enumerable.Range(0, 8).ToArray());
            var sum = loaded.Network.Probabilities(standardize(images));
            foreach (var view in TestTimeShifts.Views(images, 2)) sum = sum.add(loaded.Network.Probabilities(standardize(view)), Runtime.Scalars.One);
            var mean = sum.div(Runtime.Scalars.Of(5.0)).data<float>().ToArray();
            for (int i = 0; i < mean.Length; i++) Assert.Equal(mean[i], predicted[i], 5);
            var alone = loaded.Network.Probabilities(standardize(images)).data<float>().ToArray();
            Assert.Contains(Enumerable.Range(0, alone.Length), i => Math.Abs(alone[i] - predicted[i]) > 1e-3);
        }
        Assert.Equal(tried[2].Accuracy, loaded.Score(DataSpec.Parse("digits").Load().Validation!, "val").Accuracy, 9);
    }

    [Fact]
    public void A_trained_classifier_gets_its_test_time_shift_from_the_command_line_and_predict_can_skip_it()
    {
        var folder = Fixture.TempFolder();
        var model = Path.Combine(folder, "model");
        var (code, _, error) = CliTests.Run("finetune", "--run", run.Folder, "--data", "digits", "--labels", "200", "--mode", "full", "--steps", "40", "--out", model, "--quiet");
        Assert.True(code == 0, error);
        Assert.Equal(0, Classifier.ReadInfo(model).TestTimeShift);
        // The data spec it was given is kept, for --classifier to find the same validation slice without --data.
        Assert.Equal("digits", Classifier.ReadInfo(model).Data);
        var chosen = Path.Combine(folder, "chosen");
        (code, var output, error) = CliTests.Run("finetune", "--classifier", model, "--out", chosen, "--quiet");
        Assert.True(code == 0, error);
        Assert.Contains("test-time shift on validation: 0 px", output);
        var info = Classifier.ReadInfo(chosen);
        Assert.Equal(3, info.TestTimeChecks!.Count);
        Assert.Equal(info.TestTimeChecks.MaxBy(c => c.Accuracy)!.Accuracy, info.Validation.Accuracy, 9);
        // No training: the weights are the same bytes.
        Assert.Equal(File.ReadAllBytes(Path.Combine(model, Classifier.WeightsFileName)), File.ReadAllBytes(Path.Combine(chosen, Classifier.WeightsFileName)));
        // predict applies the chosen shift; --no-test-time-shift predicts from the images alone, as the plain classifier does.
        string Predictions(string classifier, params string[] extra)
        {
            var csv = Path.Combine(folder, $"p{Guid.NewGuid():N}.csv");
            var (c, _, e) = CliTests.Run(["predict", "--model", classifier, "--data", "digits", "--out", csv, "--quiet", .. extra]);
            Assert.True(c == 0, e);
            return File.ReadAllText(csv);
        }
        Assert.Equal(Predictions(model), Predictions(chosen, "--no-test-time-shift"));
        // Whichever shift won here, a classifier whose file keeps a 1-pixel shift predicts with it unless told not to.
        var forced = Path.Combine(folder, "forced");
        Directory.CreateDirectory(forced);
        foreach (var file in Directory.GetFiles(chosen)) File.Copy(file, Path.Combine(forced, Path.GetFileName(file)));
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(forced, Classifier.InfoFileName)))!;
        json["test_time_shift"] = 1;
        File.WriteAllText(Path.Combine(forced, Classifier.InfoFileName), json.ToJsonString());
        Assert.NotEqual(Predictions(model), Predictions(forced));
        Assert.Equal(Predictions(model), Predictions(forced, "--no-test-time-shift"));

        (code, _, error) = CliTests.Run("finetune", "--classifier", model, "--out", chosen, "--labels", "10");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("--labels sets how a classifier trains; --classifier does not train", error);
        (code, _, error) = CliTests.Run("finetune", "--classifier", model, "--run", run.Folder, "--out", chosen);
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("give one of --run", error);
        (code, _, error) = CliTests.Run("finetune", "--out", chosen);
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("give --run", error);
        (code, _, error) = CliTests.Run("finetune", "--classifier", folder, "--out", chosen);
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("not a classifier folder", error);
    }

    [Fact]
    public void Classifiers_trained_apart_join_into_one_ensemble_only_when_they_learned_from_the_same_labels()
    {
        var folder = Fixture.TempFolder();
        var options = Quick with { Mode = ClassifierMode.Full, Steps = 40, EvaluateEvery = 20 };
        string TrainTo(string name, ClassifierOptions o)
        {
            using var trained = Classifier.Train(run.Folder, null, o);
            var path = Path.Combine(folder, name);
            trained.Save(path);
            return path;
        }
        var full = TrainTo("full", options);
        var probe = TrainTo("probe", options with { Mode = ClassifierMode.Probe });
        var pair = TrainTo("pair", options with { Members = 2 });
        var data = DataSpec.Parse("digits").Load();
        var validation = data.Validation!;
        using var joined = Classifier.Combine([full, probe, pair], validation, data.Test);
        var info = joined.Info;
        Assert.Equal(4, joined.Networks.Count);
        Assert.Equal("full + probe", info.Mode);
        Assert.Equal(4, info.Options.Members);
        var members = info.Members!;
        Assert.Equal([full, probe, pair, pair], members.Select(m => m.Source));
        Assert.Equal(["full", "probe", "full", "full"], members.Select(m => m.Mode));
        Assert.Equal([0, 0, 0, 1], members.Select(m => m.Seed));
        // A member's scores are its own network's, as the classifier it came from wrote them.
        Assert.Equal(Classifier.ReadInfo(probe).Validation.Accuracy, members[1].Validation.Accuracy, 9);
        Assert.Equal(Classifier.ReadInfo(pair).Members![1].Test!.Accuracy, members[3].Test!.Accuracy, 9);

        // The ensemble's probabilities are the mean of its four networks': (full + probe + 2 · pair) / 4, pair being the mean of two.
        float[] Predicted(Classifier c)
        {
            var p = new float[validation.Count * 10];
            c.Predict(validation, (start, batch) => batch.CopyTo(p.AsSpan(start * 10)));
            return p;
        }
        float[] expected;
        using (var a = Classifier.Load(full))
        using (var b = Classifier.Load(probe))
        using (var c = Classifier.Load(pair))
        {
            var (pa, pb, pc) = (Predicted(a), Predicted(b), Predicted(c));
            expected = pa.Select((v, i) => (v + pb[i] + 2 * pc[i]) / 4).ToArray();
            Assert.Contains(Enumerable.Range(0, pa.Length), i => Math.Abs(pa[i] - pb[i]) > 1e-2); // the parts differ
        }
        var predicted = Predicted(joined);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], predicted[i], 1e-5f);
        int right = 0;
        for (int r = 0; r < validation.Count; r++)
        {
            int best = 0;
            for (int j = 1; j < 10; j++) if (expected[10 * r + j] > expected[10 * r + best]) best = j;
            if (best == validation.Labels![r]) right++;
        }
        Assert.Equal((double)right / validation.Count, info.Validation.Accuracy, 9);
        var saved = Path.Combine(folder, "joined");
        joined.Save(saved);
        using (var loaded = Classifier.Load(saved)) Assert.Equal(predicted, Predicted(loaded));

        // Another seed drew other labels: joined, the ensemble would have seen labels neither part has.
        var other = TrainTo("other", options with { Seed = 3 });
        var refused = Assert.Throws<ArgumentException>(() => Classifier.Combine([full, other], validation, null));
        Assert.Contains("learned from the labels 10% (drawn with seed 3)", refused.Message);
        // A classifier twice, directly or inside a joined ensemble, would count double.
        Assert.Contains("is given twice", Assert.Throws<ArgumentException>(() => Classifier.Combine([full, probe, full], validation, null)).Message);
        Assert.Contains("is in more than one of these", Assert.Throws<ArgumentException>(() => Classifier.Combine([saved, full], validation, null)).Message);
        // Joined again, members keep the folder, run and mode they came from.
        var probe2 = TrainTo("probe2", options with { Mode = ClassifierMode.Probe, L2Grid = [1.0] });
        using (var again = Classifier.Combine([saved, probe2], validation, null))
        {
            Assert.Equal([full, probe, pair, pair, probe2], again.Info.Members!.Select(m => m.Source));
            Assert.Equal(["full", "probe", "full", "full", "probe"], again.Info.Members!.Select(m => m.Mode));
        }
        // From the command line: joined, then its test-time shift chosen; a refusal is one line and exit 2, no folder.
        var (code, output, error) = CliTests.Run("finetune", "--classifier", full, "--classifier", probe, "--out", Path.Combine(folder, "cli"));
        Assert.True(code == 0, error);
        Assert.Contains("member 2 (seed 0, probe)", output);
        Assert.Contains("test-time shift on validation: 0 px", output);
        Assert.Equal(2, Classifier.ReadInfo(Path.Combine(folder, "cli")).Members!.Count);
        (code, _, error) = CliTests.Run("finetune", "--classifier", full, "--classifier", other, "--out", Path.Combine(folder, "refused"));
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("an ensemble's members must agree on it", error);
        Assert.False(Directory.Exists(Path.Combine(folder, "refused")));
        // Scored on other data, the slice could hold records the members learned from; written over a member, its folder is gone.
        (code, _, error) = CliTests.Run("finetune", "--classifier", full, "--classifier", probe, "--data", "digits,val=0.3", "--out", Path.Combine(folder, "refused"));
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("is not the data the classifiers learned from", error);
        (code, _, error) = CliTests.Run("finetune", "--classifier", full, "--classifier", probe, "--out", probe);
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("is one of the classifiers joined", error);
        Assert.False(Directory.Exists(Path.Combine(folder, "refused")));
    }

    [Fact]
    public void An_interrupted_ensemble_keeps_the_members_trained_so_far_and_says_so()
    {
        var options = Quick with { Mode = ClassifierMode.Full, Steps = 40, EvaluateEvery = 20, Members = 3 };
        // Stopped at the first check of the second member: two members, the second from its best check so far.
        using var cancel = new CancellationTokenSource();
        bool second = false;
        using var stopped = Classifier.Train(run.Folder, null, options, progress: m =>
        {
            if (m.StartsWith("member 2 of 3", StringComparison.Ordinal)) second = true;
            if (second && m.StartsWith("fine-tuning: step 20/", StringComparison.Ordinal)) cancel.Cancel();
        }, cancel: cancel.Token);
        Assert.True(stopped.Interrupted);
        Assert.Equal(2, stopped.Info.Members!.Count);
        Assert.Equal(1, stopped.MissingMembers);
        Assert.True(stopped.Info.Members[1].FineTune!.Interrupted);
        Assert.Equal(3, stopped.Info.Options.Members);
        // Stopped in the first member: still written as an ensemble (of one), so the file says members are missing.
        using var early = new CancellationTokenSource();
        using var first = Classifier.Train(run.Folder, null, options, progress: m => { if (m.StartsWith("fine-tuning: step 20/", StringComparison.Ordinal)) early.Cancel(); }, cancel: early.Token);
        Assert.Single(first.Info.Members!);
        Assert.Equal(2, first.MissingMembers);
        var folder = Path.Combine(Fixture.TempFolder(), "early");
        first.Save(folder);
        using var loaded = Classifier.Load(folder);
        Assert.True(loaded.Interrupted);
        Assert.False(loaded.IsEnsemble);
    }

    [Fact]
    public void Full_fine_tuning_trains_the_encoder_past_the_probe()
    {
        using var probe = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Probe });
        using var full = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full });
        var result = full.Info.FineTune!;
        Assert.True(result.BestStep > 0, "no validation check beat the probe's head");
        Assert.True(full.Info.Validation.Accuracy > probe.Info.Validation.Accuracy);
        Assert.False(Tensors.Same(probe.Network.Encoder.parameters().First(), full.Network.Encoder.parameters().First()));
        // The kept weights are those of the best check: re-scoring the validation slice gives its accuracy again.
        Assert.Equal(result.BestValidationAccuracy, full.Info.Validation.Accuracy, 6);
        Assert.False(full.Interrupted);
        Assert.Equal(Quick.Steps, result.Steps);
    }

    [Fact]
    public void Cancelling_fine_tuning_stops_before_the_next_step_and_keeps_the_best_check_so_far()
    {
        using var cancel = new CancellationTokenSource();
        // Cancelled at the first validation check (step 40 of 120): training ends there and the classifier is still finished.
        using var stopped = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full },
            progress: m => { if (m.StartsWith("fine-tuning: step 40/", StringComparison.Ordinal)) cancel.Cancel(); }, cancel: cancel.Token);
        var result = stopped.Info.FineTune!;
        Assert.True(stopped.Interrupted);
        Assert.Equal(40, result.Steps);
        Assert.InRange(result.BestStep, 0, 40);
        Assert.Equal(result.BestValidationAccuracy, stopped.Info.Validation.Accuracy, 6);
        var folder = Path.Combine(Fixture.TempFolder(), "stopped");
        stopped.Save(folder);
        using var loaded = Classifier.Load(folder);
        Assert.True(loaded.Interrupted);
    }

    [Fact]
    public void Sigterm_during_finetune_writes_the_classifier_of_the_best_check_so_far_and_exits_130()
    {
        if (!OperatingSystem.IsLinux()) return;
        var outFolder = Path.Combine(Fixture.TempFolder(), "model");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "Contramask.Cli.dll"), "finetune", "--run", run.Folder, "--labels", "10%",
            "--mode", "full", "--steps", "1000000", "--threads", "1", "--out", outFolder }) start.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(start)!;
        using var checkedOnce = new ManualResetEventSlim();
        var error = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data?.Contains("fine-tuning: step 100/", StringComparison.Ordinal) == true) checkedOnce.Set(); };
        process.ErrorDataReceived += (_, e) => { lock (error) error.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            Assert.True(checkedOnce.Wait(TimeSpan.FromSeconds(120)), $"no validation check within 2 minutes: {error}");
            using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
            Assert.True(process.WaitForExit(60_000), "did not stop within a minute");
            process.WaitForExit();
        }
        finally
        {
            // A failed wait must not leave a million-step fine-tune running behind the test.
            if (!process.HasExited) process.Kill();
        }
        Assert.Equal(130, process.ExitCode);
        lock (error) Assert.Contains("interrupted after", error.ToString());
        using var saved = Classifier.Load(outFolder);
        Assert.True(saved.Interrupted);
        Assert.InRange(saved.Info.FineTune!.Steps, 100, 999_999);
    }

    [Fact]
    public void Fine_tuning_that_only_gets_worse_hands_back_the_probe_unchanged()
    {
        // A learning rate that wrecks the weights: no check beats step 0, so the kept weights are the probe's.
        using var probe = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Probe });
        using var wrecked = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full, LearningRate = 3, EncoderRateScale = 1, Steps = 80 });
        Assert.Equal(0, wrecked.Info.FineTune!.BestStep);
        Assert.Equal(80, wrecked.Info.FineTune.Steps);
        foreach (var (a, b) in probe.Network.state_dict().Values.Zip(wrecked.Network.state_dict().Values).Where(p => p.First.dtype == ScalarType.Float32 && p.First.numel() > 1))
            Assert.True(Tensors.Same(a, b));
        Assert.Equal(probe.Info.Validation.Accuracy, wrecked.Info.Validation.Accuracy, 6);
    }

    [Fact]
    public void The_classifier_keeps_its_standardization_and_temperature_as_buffers_once()
    {
        using var network = new ClassifierNetwork(new Contramask.Models.VisionTransformer(1, 8, 8, 4, 16, 2, 2), 3);
        var keys = network.state_dict().Keys.ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Equal(3, keys.Count(k => k is "featureMean" or "featureStd" or "temperature"));
        // Layer-wise decay finds a ViT's layers by the encoder's parameter names: patch embedding lowest, norm at the top.
        var scales = network.named_parameters().Where(p => p.name.StartsWith("encoder.", StringComparison.Ordinal))
            .ToDictionary(p => p.name, p => FineTuner.LayerScale(p.name, 2, 0.5));
        Assert.All(scales.Where(s => s.Key.Contains("patchEmbedding")), s => Assert.Equal(0.125, s.Value));
        Assert.All(scales.Where(s => s.Key.Contains("blocks.0.")), s => Assert.Equal(0.25, s.Value));
        Assert.All(scales.Where(s => s.Key.Contains("blocks.1.")), s => Assert.Equal(0.5, s.Value));
        Assert.Contains(scales, s => s.Key.Contains("patchEmbedding"));
        Assert.Contains(scales, s => s.Key.Contains("blocks.1."));
        Assert.Equal(1, FineTuner.LayerScale("encoder.norm.weight", 2, 0.5));
        Assert.Equal(1, FineTuner.LayerScale("encoder.blocks.0.weight", -1, 0.5)); // not a ViT
    }

    [Fact]
    public void FixMatch_consistency_averages_over_every_unlabelled_record_with_the_weak_views_hard_labels()
    {
        // Weak logits: rows 0 and 2 are confident (softmax ≥ 0.95), rows 1 and 3 are not.
        using var weak = tensor(new float[] { 10, 0, 0, 1, 0, 0, 0, 0, 10, 0.5f, 0, 0 }).view(4, 3);
        using var strong = tensor(new float[] { 1, 2, 3, 0, 0, 0, 2, 2, 0, 5, 5, 5 }).view(4, 3);
        var (loss, confident) = FineTuner.Consistency(strong, weak, 0.95);
        using (loss)
        {
            Assert.Equal(2, confident);
            // Row 0's target is class 0, row 2's class 2; the mean is over all four rows.
            double Ce(float[] logits, int target) => -(logits[target] - Math.Log(logits.Sum(v => Math.Exp(v))));
            double expected = (Ce([1, 2, 3], 0) + Ce([2, 2, 0], 2)) / 4;
            Assert.Equal(expected, loss.item<float>(), 4);
        }
    }

    [Fact]
    public void Labels_are_matched_to_the_models_classes_by_name()
    {
        using var classifier = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Probe });
        var test = DataSpec.Parse("digits").Load().Test!;
        // The same images with the class list reversed (label l becomes 9 − l, named as before).
        var names = test.ClassNames ?? Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var reversed = new ImageDataset(test.Pixels, test.Count, test.Channels, test.Height, test.Width,
            test.Labels!.Select(l => 9 - l).ToArray(), names.Reverse().ToArray(), null, "reversed");
        Assert.Equal(classifier.Score(test, "test").Accuracy, classifier.Score(reversed, "test").Accuracy, 6);
        var outPath = Path.Combine(Fixture.TempFolder(), "p.csv");
        var summary = Predictor.Run(classifier, [reversed], outPath);
        Assert.Equal(classifier.Info.Test!.Accuracy, summary.Accuracy!.Value, 6);
        var unknown = new ImageDataset(test.Pixels, test.Count, test.Channels, test.Height, test.Width,
            test.Labels, names.Select(n => "x" + n).ToArray(), null, "renamed");
        Assert.Contains("not among the model's", Assert.Throws<InvalidOperationException>(() => classifier.Score(unknown, "test")).Message);
    }

    [Fact]
    public void From_scratch_trains_the_same_architecture_from_random_weights_without_a_probe_head()
    {
        using var scratch = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full, FromScratch = true, Steps = 200 });
        Assert.Null(scratch.Info.ProbeL2);
        Assert.Equal(1, scratch.Info.Options.EncoderRateScale);
        Assert.Equal("full from scratch", scratch.Info.Mode);
        // Standardizing random features with their step-0 statistics made the loss explode (above 10) and no check
        // beat step 0; from a plain head it learns.
        Assert.True(scratch.Info.FineTune!.BestStep > 0);
        Assert.True(scratch.Info.Validation.Accuracy > 0.6, $"validation accuracy {scratch.Info.Validation.Accuracy}");
        Assert.Throws<ArgumentException>(() => Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Probe, FromScratch = true }));
    }

    [Fact]
    public void The_moving_average_follows_the_weights_with_a_warm_up_and_copies_counters()
    {
        using var layer = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2));
        Dictionary<string, Tensor> Copy() => layer.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var average = Copy();
        var start = Copy();
        using (no_grad()) foreach (var p in layer.parameters()) p.add_(1.0f);
        using (no_grad()) layer.forward(randn(4, 2)); // moves BatchNorm's running statistics and its counter
        var now = Copy();
        // At step 0 the warm-up's (1 + 0)/(10 + 0) = 0.1 caps the decay of 0.9: the average moves 90% of the way.
        FineTuner.Average(layer, average, decay: 0.9, step: 0);
        foreach (var name in average.Keys)
        {
            if (average[name].is_floating_point())
                Assert.True(allclose(average[name], start[name] * 0.1 + now[name] * 0.9, 1e-5, 1e-6), name);
            else Assert.Equal(now[name].item<long>(), average[name].item<long>());
        }
        // Late in a run the decay itself holds: 0.9 of the average, 0.1 of the weights.
        var before = average.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        FineTuner.Average(layer, average, decay: 0.9, step: 1000);
        foreach (var name in average.Keys.Where(n => average[n].is_floating_point()))
            Assert.True(allclose(average[name], before[name] * 0.9 + now[name] * 0.1, 1e-5, 1e-6), name);
    }

    [Fact]
    public void With_a_moving_average_the_kept_weights_are_the_average_and_score_what_validation_saw()
    {
        using var plain = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full });
        using var averaged = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full, AverageDecay = 0.99 });
        var result = averaged.Info.FineTune!;
        Assert.True(result.BestStep > 0, "no check of the averaged weights beat the probe's head");
        // The same seed and steps: the averaged weights are not the trained ones …
        Assert.False(Tensors.Same(plain.Network.Encoder.parameters().First(), averaged.Network.Encoder.parameters().First()));
        // … and they are what was validated: re-scoring the validation slice gives the kept check's accuracy.
        Assert.Equal(result.BestValidationAccuracy, averaged.Info.Validation.Accuracy, 6);
        Assert.Throws<ArgumentOutOfRangeException>(() => (Quick with { AverageDecay = 1 }).Validate());
    }

    [Fact]
    public void Fine_tuning_with_nesterov_sgd_learns_beyond_the_probe_and_records_its_optimizer()
    {
        // Choosing the optimizer brings its own rate and decay unless they are set.
        using var classifier = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full, Optimizer = ClassifierOptimizer.Sgd });
        var result = classifier.Info.FineTune!;
        Assert.True(result.BestStep > 0, "no SGD check beat the probe's head");
        Assert.Equal(ClassifierOptimizer.Sgd, classifier.Info.Options.Optimizer);
        Assert.Equal((0.03, 5e-4), (classifier.Info.Options.LearningRate, classifier.Info.Options.WeightDecay));
        Assert.Equal((1e-3, 0.05), (Quick.LearningRate, Quick.WeightDecay));
        Assert.Equal(0.01, (Quick with { Optimizer = ClassifierOptimizer.Sgd, LearningRate = 0.01 }).LearningRate);
    }

    [Fact]
    public void With_batch_norm_recalibration_the_kept_encoder_normalizes_with_clean_image_statistics()
    {
        var config = Checkpoint.ReadState(run.Folder).State.Config;
        var train = DataSpec.Parse("digits").Load().Train;
        // Running statistics after one more recalibration on clean training images: unchanged when the kept weights
        // already carry them, different when they still describe the augmented views fine-tuning trained on.
        double Drift(Classifier classifier)
        {
            static Dictionary<string, Tensor> Statistics(Classifier c) => c.Network.state_dict()
                .Where(kv => kv.Key.Contains("running_")).ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            var before = Statistics(classifier);
            Assert.NotEmpty(before);
            BatchNormRecalibration.Run(classifier.Network.Encoder, train, ModelFactory.Standardizer(config, train, CPU), 0);
            return Statistics(classifier).Max(kv => (kv.Value - before[kv.Key]).abs().max().item<float>());
        }
        using var recalibrated = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full, RecalibrateBatchNorm = true });
        using var plain = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Full });
        Assert.True(recalibrated.Info.FineTune!.BestStep > 0, "fine-tuning never beat the probe: the test would check the pretrained statistics");
        Assert.True(Drift(recalibrated) < 1e-4, "the kept statistics are not the clean images'");
        Assert.True(Drift(plain) > 1e-2, "without recalibration the statistics should describe the augmented views");
        Assert.Equal(recalibrated.Info.FineTune!.BestValidationAccuracy, recalibrated.Info.Validation.Accuracy, 6);
    }

    [Fact]
    public void Semi_supervised_training_pseudo_labels_the_unlabelled_rest()
    {
        using var semi = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Semi, Steps = 40, UnlabelledRatio = 2, Threshold = 0.5 });
        Assert.Equal(1293 - semi.Info.LabelledCount, semi.Info.UnlabelledCount);
        Assert.True(semi.Info.FineTune!.PseudoLabelShare > 0.1, $"pseudo-labelled share {semi.Info.FineTune.PseudoLabelShare}");
        Assert.Throws<InvalidOperationException>(() => Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Semi, Labels = LabelBudget.All }));
    }

    [Fact]
    public void A_joint_batch_moves_batch_norm_once_per_step_where_separate_passes_move_it_twice()
    {
        // BatchNorm counts the training-mode batches it normalizes: FixMatch's one batch of labelled, weak and strong
        // views is one per step; the default's no-grad weak pass plus the graded pass are two.
        static long Batches(Classifier c) => c.Network.Encoder.named_buffers().First(b => b.name.EndsWith("num_batches_tracked")).buffer.item<long>();
        // The kept weights and buffers are those of the best check, so the counters are read against its step.
        var semi = Quick with { Mode = ClassifierMode.Semi, UnlabelledRatio = 2, Threshold = 0.5 };
        using var probe = Classifier.Train(run.Folder, null, Quick with { Mode = ClassifierMode.Probe });
        using var joint = Classifier.Train(run.Folder, null, semi with { JointBatch = true });
        using var separate = Classifier.Train(run.Folder, null, semi);
        int jointStep = joint.Info.FineTune!.BestStep, separateStep = separate.Info.FineTune!.BestStep;
        Assert.True(jointStep > 0 && separateStep > 0, "a run kept the probe's weights: the counters would be the pretrained ones");
        Assert.Equal(jointStep, Batches(joint) - Batches(probe));
        Assert.Equal(2 * separateStep, Batches(separate) - Batches(probe));
        Assert.True(joint.Info.FineTune!.PseudoLabelShare > 0.1, $"pseudo-labelled share {joint.Info.FineTune.PseudoLabelShare}");
    }

    [Fact]
    public void Finetune_and_predict_from_the_command_line_with_a_clear_error_for_data_of_another_shape()
    {
        var folder = Fixture.TempFolder();
        var model = Path.Combine(folder, "model");
        var (code, output, error) = CliTests.Run("finetune", "--run", run.Folder, "--labels", "200", "--mode", "full", "--steps", "40", "--out", model, "--quiet");
        Assert.True(code == 0, error);
        Assert.Contains("calibration error", output);
        var info = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(model, "classifier.json"))).RootElement;
        Assert.Equal(200, info.GetProperty("labelled_count").GetInt32());
        Assert.Equal(10, info.GetProperty("test").GetProperty("confusion").GetArrayLength());

        var csv = Path.Combine(folder, "predictions.csv");
        (code, output, error) = CliTests.Run("predict", "--model", model, "--data", "digits", "--out", csv, "--json");
        Assert.True(code == 0, error);
        var summary = System.Text.Json.JsonDocument.Parse(output).RootElement;
        Assert.Equal(1797, summary.GetProperty("records").GetInt64());
        Assert.True(summary.GetProperty("accuracy").GetDouble() > 0.7);
        var lines = File.ReadAllLines(csv);
        Assert.Equal("id,label,predicted,confidence,top1,p1,top2,p2,top3,p3", lines[0]);
        Assert.Equal(1798, lines.Length);
        var first = lines[1].Split(',');
        Assert.Equal(first[2], first[4]);
        Assert.True(float.Parse(first[5], System.Globalization.CultureInfo.InvariantCulture) >= float.Parse(first[7], System.Globalization.CultureInfo.InvariantCulture));

        // 28×28 IDX images for an 8×8 model: one line naming both shapes, no output file.
        var parquet = Path.Combine(folder, "p.parquet");
        (code, _, error) = CliTests.Run("predict", "--model", model, "--data", $"idx:{Fixture.Path("idx")}", "--out", parquet);
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("images are 1×28×28, the model takes 1×8×8", error);
        Assert.False(File.Exists(parquet));
        (code, _, error) = CliTests.Run("predict", "--model", folder, "--data", "digits", "--out", parquet);
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("not a classifier folder", error);
    }

    [Fact]
    public void A_table_classifier_predicts_rows_without_a_label_column_and_names_a_missing_feature_column()
    {
        var folder = Fixture.TempFolder();
        var csv = Fixture.Path("tables", "mixed.csv");
        var runFolder = Path.Combine(folder, "run");
        var (code, _, error) = CliTests.Run("pretrain", "--data", $"csv:{csv},split=30,val=0.2", "--label", "label", "--id", "id", "--method", "fusion",
            "--epochs", "2", "--batch-size", "8", "--out", runFolder, "--quiet", "--threads", "2", "--monitor", "0");
        Assert.True(code == 0, error);
        var model = Path.Combine(folder, "model");
        (code, _, error) = CliTests.Run("finetune", "--run", runFolder, "--mode", "full", "--steps", "20", "--out", model, "--quiet");
        Assert.True(code == 0, error);
        (code, _, error) = CliTests.Run("finetune", "--classifier", model, "--out", Path.Combine(folder, "shifted"));
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("test-time shifts are for images", error);
        // Refused before training, not after it (a trained table classifier was once lost to the late refusal).
        (code, var shiftOutput, error) = CliTests.Run("finetune", "--run", runFolder, "--mode", "full", "--steps", "20", "--test-time-shifts", "--out", Path.Combine(folder, "shifted"));
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("test-time shifts are for images", error);
        Assert.DoesNotContain("fine-tuning: step", shiftOutput);
        Assert.False(Directory.Exists(Path.Combine(folder, "shifted")));

        // The same rows without the label column: unlabelled, ids kept.
        var rows = File.ReadAllLines(csv).Select(l => CsvColumns(l)).ToList();
        int labelColumn = rows[0].IndexOf("label"), cityColumn = rows[0].IndexOf("city");
        var unlabelled = Path.Combine(folder, "new.csv");
        File.WriteAllLines(unlabelled, rows.Select(r => string.Join(',', r.Where((_, i) => i != labelColumn).Select(Contramask.Mining.CsvText.Field))));
        var outPath = Path.Combine(folder, "predictions.parquet");
        (code, var output, error) = CliTests.Run("predict", "--model", model, "--data", $"csv:{unlabelled}", "--out", outPath, "--json");
        Assert.True(code == 0, error);
        var summary = System.Text.Json.JsonDocument.Parse(output).RootElement;
        Assert.Equal(40, summary.GetProperty("records").GetInt64());
        Assert.Equal(0, summary.GetProperty("labelled").GetInt64());
        var (ids, predicted) = ReadPredictions(outPath);
        Assert.Equal(rows.Skip(1).Select(r => r[0]), ids);
        Assert.All(predicted, p => Assert.Contains(p, new[] { "yes", "no" }));

        // Partly labelled, one label the model never saw: still predicted; only the labelled rows count for accuracy.
        var partly = Path.Combine(folder, "partly.csv");
        File.WriteAllLines(partly, rows.Select((r, n) => string.Join(',', r.Select((v, i) => i != labelColumn || n == 0 ? v : n % 2 == 0 ? "" : n == 1 ? "maybe" : v)
            .Select(Contramask.Mining.CsvText.Field))));
        (code, output, error) = CliTests.Run("predict", "--model", model, "--data", $"csv:{partly}", "--out", Path.Combine(folder, "partly.csv.out.csv"), "--json");
        Assert.True(code == 0, error);
        summary = System.Text.Json.JsonDocument.Parse(output).RootElement;
        Assert.Equal(40, summary.GetProperty("records").GetInt64());
        Assert.Equal(20, summary.GetProperty("labelled").GetInt64());
        Assert.Contains(",maybe,", File.ReadAllText(Path.Combine(folder, "partly.csv.out.csv")));

        var noCity = Path.Combine(folder, "no-city.csv");
        File.WriteAllLines(noCity, rows.Select(r => string.Join(',', r.Where((_, i) => i != cityColumn).Select(Contramask.Mining.CsvText.Field))));
        (code, _, error) = CliTests.Run("predict", "--model", model, "--data", $"csv:{noCity}", "--out", outPath + ".2.parquet");
        Assert.Equal(CliApp.BadInputExitCode, code);
        Assert.Contains("city", error);
        Assert.Contains("absent", error);
    }

    static (string[] Ids, string[] Predicted) ReadPredictions(string path)
    {
        using var stream = File.OpenRead(path);
        var reader = Parquet.ParquetReader.CreateAsync(stream).GetAwaiter().GetResult();
        try { return Read(reader); }
        finally { reader.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    }

    static (string[] Ids, string[] Predicted) Read(Parquet.ParquetReader reader)
    {
        var fields = reader.Schema.GetDataFields();
        var ids = new List<string>();
        var predicted = new List<string>();
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            foreach (var (name, into) in new[] { ("id", ids), ("predicted", predicted) })
            {
                var values = new string?[group.RowCount];
                group.ReadAsync(fields.First(f => f.Name == name), values.AsMemory()).GetAwaiter().GetResult();
                into.AddRange(values.Select(v => v ?? ""));
            }
        }
        return (ids.ToArray(), predicted.ToArray());
    }

    static List<string> CsvColumns(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        foreach (char c in line)
        {
            if (c == '"') quoted = !quoted;
            else if (c == ',' && !quoted) { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        fields.Add(current.ToString());
        return fields;
    }
}
