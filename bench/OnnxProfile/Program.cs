// ONNX Runtime alone on one exported encoder: where its time goes (docs/PERFORMANCE.md, "Batch-1 latency").
//   export ENCODER CHANNELS SIZE OUT.onnx          the encoder with seed-0 random weights, exported as `speed --onnx` does
//   time MODEL.onnx CHANNELS SIZE BATCH THREADS [profile]
//                                                   20 warm-up calls, then calls for 4 s: the median; with `profile`,
//                                                   ONNX Runtime's own profiler's kernel time per operator type
// A/B comparisons of two graphs alternate `time` runs in separate processes: the machine's speed drifts by more
// than the differences looked for.
using System.Diagnostics;
using System.Text.Json;
using Contramask.Export;
using Microsoft.ML.OnnxRuntime;

try
{
    return args switch
    {
        ["export", var encoder, var channels, var size, var output] => Export(encoder, int.Parse(channels), int.Parse(size), output),
        ["time", var model, var channels, var size, var batch, var threads, .. var rest] =>
            Time(model, int.Parse(channels), int.Parse(size), int.Parse(batch), int.Parse(threads), rest is ["profile"]),
        _ => Usage(),
    };
}
catch (Exception e) when (e is FormatException or IOException or ArgumentException or OnnxRuntimeException)
{
    Console.Error.WriteLine($"error: {e.Message.ReplaceLineEndings(" ")}");
    return 2;
}

static int Usage()
{
    Console.Error.WriteLine("usage: export ENCODER CHANNELS SIZE OUT.onnx | time MODEL.onnx CHANNELS SIZE BATCH THREADS [profile]");
    return 2;
}

static int Export(string name, int channels, int size, string output)
{
    var (encoder, _, model) = InferenceSpeed.RandomEncoder(name, channels, size, size);   // what `speed --onnx` times
    encoder.Dispose();
    File.WriteAllBytes(output, model);
    Console.WriteLine($"Written {output}");
    return 0;
}

static int Time(string model, int channels, int size, int batch, int threads, bool profile)
{
    using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
    if (profile)
    {
        options.EnableProfiling = true;
        options.ProfileOutputPathPrefix = Path.Combine(Path.GetTempPath(), "onnx-profile");
    }
    using var session = new InferenceSession(model, options);
    var random = new Random(0);
    var pixels = Enumerable.Range(0, batch * channels * size * size).Select(_ => random.NextSingle()).ToArray();
    long[] shape = [batch, channels, size, size];
    string input = session.InputMetadata.Keys.First(), output = session.OutputMetadata.Keys.First();
    using var run = new RunOptions();
    void Call()
    {
        using var value = OrtValue.CreateTensorValueFromMemory(pixels, shape);
        using var results = session.Run(run, [input], [value], [output]);
        _ = results[0].GetTensorDataAsSpan<float>().ToArray();
    }
    for (int i = 0; i < 20; i++) Call();
    var times = new List<double>();
    var total = Stopwatch.StartNew();
    while (total.Elapsed.TotalSeconds < 4)
    {
        long start = Stopwatch.GetTimestamp();
        Call();
        times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }
    times.Sort();
    Console.WriteLine($"{Path.GetFileName(model)} batch {batch} threads {threads}: median {times[times.Count / 2]:F3} ms over {times.Count} calls");
    if (profile) PrintProfile(session.EndProfiling());
    return 0;
}

// The profile is a Chrome trace: one "<node>_kernel_time" event per node and call, and one "model_run" per call.
static void PrintProfile(string path)
{
    using var trace = JsonDocument.Parse(File.ReadAllBytes(path));
    var micros = new Dictionary<string, double>();
    var nodes = new Dictionary<string, int>();
    int runs = 0;
    foreach (var e in trace.RootElement.EnumerateArray())
    {
        string category = e.GetProperty("cat").GetString()!, name = e.GetProperty("name").GetString()!;
        if (category == "Session" && name == "model_run") runs++;
        if (category != "Node" || !name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
        var op = e.GetProperty("args").GetProperty("op_name").GetString()!;
        micros[op] = micros.GetValueOrDefault(op) + e.GetProperty("dur").GetDouble();
        nodes[op] = nodes.GetValueOrDefault(op) + 1;
    }
    File.Delete(path);
    double all = micros.Values.Sum();
    Console.WriteLine($"kernel time per run: {all / runs:F0} µs over {runs} runs");
    foreach (var (op, us) in micros.OrderByDescending(p => p.Value))
        Console.WriteLine($"  {op,-28} {us / runs,9:F1} µs  {(double)nodes[op] / runs,5:F1} nodes  {100 * us / all,5:F1}%");
}
