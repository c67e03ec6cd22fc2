using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Mining;
using Contramask.Objectives;
using Contramask.Training;
using static TorchSharp.torch;

namespace Contramask.Tests;

/// <summary>
/// TorchSharp turns a number into a temporary <c>Scalar</c> (a finalizable wrapper of a native object) and passes
/// only its native handle to libtorch; if a garbage collection finalizes the wrapper during that native call,
/// libtorch reads freed memory: an exception ("Expected false to be true … toFloat"), or silently a wrong number.
/// These tests run Contramask's own code paths (training steps of every objective and the optimizer, the
/// evaluation protocol, mining) while a second thread forces collections and finalizers without pause, and
/// require the same results, bit for bit, as a quiet run. On code with implicit number-to-Scalar conversions they
/// fail within seconds (measured before the fix: see docs/ENGINEERING.md, "Scalar lifetimes").
/// </summary>
public class ScalarLifetimeTests
{
    /// <summary>Runs <paramref name="work"/> while another thread collects garbage and runs finalizers continuously.</summary>
    static T UnderCollectionPressure<T>(Func<T> work)
    {
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }) { IsBackground = true };
        collector.Start();
        try { return work(); }
        finally { stop.Cancel(); collector.Join(); }
    }

    static float[] Weights(nn.Module module) =>
        module.parameters().SelectMany(p => p.detach().cpu().flatten().data<float>().ToArray()).ToArray();

    static (float[] Weights, double[] Losses) Train(ISplits data, PretrainConfig config)
    {
        var losses = new List<double>();
        using var trainer = Pretrainer.Start(config, Fixture.TempFolder(), data);
        trainer.Run(p => losses.Add(p.Loss));
        return (Weights(trainer.Objective), losses.ToArray());
    }

    public static TheoryData<string, Method, string> TrainingPaths() => new()
    {
        { "images", Method.Contrastive, "convnet" },
        { "images", Method.Masked, "convnet" },
        { "images", Method.Fusion, "convnet" },
        { "images", Method.Masked, "vit-mini" },
        { "images", Method.Fusion, "vit-mini" },
        { "table", Method.Contrastive, "mlp" },
        { "table", Method.Masked, "mlp" },
        { "table", Method.Fusion, "mlp" },
        { "table", Method.Fusion, "ft-transformer" },
    };

    [Theory]
    [MemberData(nameof(TrainingPaths))]
    public void Training_steps_are_unchanged_by_garbage_collections_during_native_calls(string kind, Method method, string encoder)
    {
        ISplits data = kind == "images" ? DigitsDataset.Load() : DataSpec.Parse($"csv:{Fixture.Path("tables", "digits.csv")},header=no,label=column65").LoadTable();
        var defaults = PretrainConfig.DefaultsFor(data.Train, method, encoder);
        // CAN's denoising term on for images, so its noise path runs too.
        var config = defaults with
        {
            Epochs = 1, BatchSize = 64, Threads = 1,
            Objective = defaults.Objective with { WeightNoise = kind == "images" ? 0.3 : 0 },
        };
        var quiet = Train(data, config);
        var pressed = UnderCollectionPressure(() => Train(data, config));
        Assert.Equal(quiet.Losses, pressed.Losses);
        Assert.Equal(quiet.Weights, pressed.Weights);
    }

    [Fact]
    public void Evaluation_and_mining_are_unchanged_by_garbage_collections_during_native_calls()
    {
        using var g = new Generator(5);
        using var train = randn(600, 16, generator: g);
        using var test = randn(200, 16, generator: g);
        var trainLabels = Enumerable.Range(0, 600).Select(i => i % 3).ToArray();
        var testLabels = Enumerable.Range(0, 200).Select(i => i % 3).ToArray();
        string Everything()
        {
            var scores = EvaluationProtocol.Run("x", train, trainLabels, test, testLabels, 3, seed: 1);
            var map = Tsne.Embed(test, iterations: 60);
            var outliers = OutlierScores.Compute(test);
            var (neighbours, _) = NearestNeighbours.Find(test, 5);
            // Every figure of the protocol (its JSON, per-probe scores included), the map, outliers and neighbours.
            return string.Join(";", System.Text.Json.JsonSerializer.Serialize(scores with { Seconds = 0 }, PretrainConfig.Json),
                string.Join(",", map.Cast<float>()), string.Join(",", outliers), string.Join(",", neighbours.SelectMany(n => n)));
        }
        var quiet = Everything();
        var pressed = UnderCollectionPressure(Everything);
        Assert.Equal(quiet, pressed);
    }
}
