using System.Diagnostics;
using Contramask.Classification;
using Contramask.Models;
using Contramask.Training;
using Contramask.Views;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Contramask.Export;

/// <summary>One encoder at one batch size: TorchSharp's and ONNX Runtime's embedding speed, measured side by side.</summary>
public sealed record InferenceSpeedRow(
    string Encoder, string Input, int Batch, int Threads,
    double TorchRecordsPerSecond, double OnnxRecordsPerSecond,
    double TorchMedianMs, double OnnxMedianMs, int TorchCalls, int OnnxCalls, double MaxDifference,
    int Rounds, double LatencyRatioMin, double LatencyRatioMax)
{
    /// <summary>ONNX Runtime's throughput over TorchSharp's (above 1: ONNX Runtime is faster).</summary>
    public double ThroughputRatio => OnnxRecordsPerSecond / TorchRecordsPerSecond;
    /// <summary>TorchSharp's median latency over ONNX Runtime's (above 1: ONNX Runtime answers sooner).</summary>
    public double LatencyRatio => TorchMedianMs / OnnxMedianMs;
}

/// <summary>
/// Embedding throughput and latency of an encoder in TorchSharp (evaluation mode, float32, no_grad, as <c>embed</c>
/// runs it) and in ONNX Runtime (the exported model, float32, default graph optimizations), on the same random
/// weights and images, in the same process with the same thread count. The two alternate in short rounds so a drift
/// of the machine's speed (on shared 2-core machines the same call has timed 50% slower a minute later) affects both
/// alike; each round's ratio of medians gives the spread. Each call's time includes making its input and reading its
/// output.
/// </summary>
public static class InferenceSpeed
{
    public static InferenceSpeedRow Measure(string encoderName, int channels, int height, int width, int batch, int threads,
        double secondsPerSide = 6, int rounds = 12)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), $"batch {batch} must be at least 1");
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), $"rounds {rounds} must be at least 1");
        var (built, normalization, model) = RandomEncoder(encoderName, channels, height, width);
        using var encoder = built;
        using var images = rand(batch, channels, height, width);
        var pixels = images.data<float>().ToArray();
        long[] shape = [batch, channels, height, width];

        using var sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
        using var session = new InferenceSession(model, sessionOptions);
        using var runOptions = new RunOptions();
        string[] inputNames = [OnnxModels.ImageInput], outputNames = [OnnxModels.Embedding];

        float[] TorchCall()
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return encoder.forward(normalization.Apply(tensor(pixels, shape))).data<float>().ToArray();
        }
        float[] OnnxCall()
        {
            using var value = OrtValue.CreateTensorValueFromMemory(pixels, shape);
            using var results = session.Run(runOptions, inputNames, [value], outputNames);
            return results[0].GetTensorDataAsSpan<float>().ToArray();
        }

        var torchFirst = TorchCall();
        var onnxFirst = OnnxCall();
        double difference = torchFirst.Zip(onnxFirst, (a, b) => (double)Math.Abs(a - b)).Max();
        for (int i = 0; i < 2; i++) { TorchCall(); OnnxCall(); }

        var torchTimes = new List<double>();
        var onnxTimes = new List<double>();
        var roundRatios = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            var torchRound = new List<double>();
            var onnxRound = new List<double>();
            Time(() => TorchCall(), secondsPerSide / rounds, torchRound);
            Time(() => OnnxCall(), secondsPerSide / rounds, onnxRound);
            roundRatios.Add(Median(torchRound) / Median(onnxRound));
            torchTimes.AddRange(torchRound);
            onnxTimes.AddRange(onnxRound);
        }
        double torchMedian = Median(torchTimes), onnxMedian = Median(onnxTimes);
        return new InferenceSpeedRow(encoderName, $"{height}x{width}x{channels}", batch, threads,
            batch / torchMedian, batch / onnxMedian, 1000 * torchMedian, 1000 * onnxMedian, torchTimes.Count, onnxTimes.Count, difference,
            rounds, roundRatios.Min(), roundRatios.Max());
    }

    /// <summary>
    /// The encoder compared: seed-0 random weights in evaluation mode, a fixed input standardization, and its ONNX
    /// export (bench/OnnxProfile times the same model on its own). The caller disposes the encoder.
    /// </summary>
    public static (ImageEncoder Encoder, ImageNormalization Normalization, byte[] Model) RandomEncoder(string encoderName, int channels, int height, int width)
    {
        manual_seed(0);
        var options = EncoderOptions.FromName(encoderName);
        var encoder = options.Build(channels, height, width);
        encoder.eval();
        var normalization = new ImageNormalization(Enumerable.Repeat(0.5f, channels).ToArray(), Enumerable.Repeat(0.25f, channels).ToArray());
        var config = new PretrainConfig { Encoder = options, Normalization = normalization };
        return (encoder, normalization, OnnxModels.Encoder(encoder, config, new InputShape(InputShape.Image, channels, height, width)).ToByteArray());
    }

    /// <summary>Calls <paramref name="call"/> until <paramref name="seconds"/> have passed (at least 3 times), adding each call's seconds.</summary>
    static void Time(Action call, double seconds, List<double> times)
    {
        var total = Stopwatch.StartNew();
        for (int n = 0; n < 3 || total.Elapsed.TotalSeconds < seconds; n++)
        {
            long start = Stopwatch.GetTimestamp();
            call();
            times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
