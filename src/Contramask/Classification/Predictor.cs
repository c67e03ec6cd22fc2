using System.Text.Json.Serialization;
using Contramask.Data;

namespace Contramask.Classification;

/// <summary>What <c>predict</c> did: records, time, how many went to each class, and the accuracy where records carried labels.</summary>
public sealed record PredictionSummary
{
    [JsonPropertyName("records")] public long Records { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
    [JsonPropertyName("records_per_second")] public double RecordsPerSecond => Seconds > 0 ? Records / Seconds : 0;
    [JsonPropertyName("out")] public required string Out { get; init; }
    [JsonPropertyName("predicted_counts")] public required IReadOnlyDictionary<string, long> PredictedCounts { get; init; }
    [JsonPropertyName("labelled")] public long Labelled { get; init; }
    /// <summary>Share of the labelled records predicted right (null when none carried a label).</summary>
    [JsonPropertyName("accuracy")] public double? Accuracy { get; init; }
    [JsonPropertyName("mean_confidence")] public double MeanConfidence { get; init; }
}

/// <summary>A classifier over every record of some data, streamed batch by batch into a predictions file.</summary>
public static class Predictor
{
    /// <summary>Convenience for record sets whose labels index their own class names.</summary>
    public static PredictionSummary Run(Classifier classifier, IReadOnlyList<IRecordSet> parts, string outPath, Action<long, long>? progress = null, int batchSize = 512) =>
        Run(classifier, parts.Select(PredictionPart.Of).ToList(), outPath, progress, batchSize);

    public static PredictionSummary Run(Classifier classifier, IReadOnlyList<PredictionPart> parts, string outPath, Action<long, long>? progress = null, int batchSize = 512)
    {
        foreach (var part in parts) classifier.CheckFits(part.Records);
        return Run(classifier, parts, parts.Sum(p => (long)p.Records.Count), outPath, progress, batchSize);
    }

    /// <summary>As above for parts that arrive one by one (a folder streamed in chunks, <see cref="PredictionData.StreamFolder"/>):
    /// each is checked when it comes; <paramref name="total"/> is for progress (records left out on the way make it an upper bound).</summary>
    public static PredictionSummary Run(Classifier classifier, IEnumerable<PredictionPart> parts, long total, string outPath, Action<long, long>? progress = null, int batchSize = 512)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var classes = classifier.Classes;
        long done = 0, labelled = 0, right = 0;
        double confidenceSum = 0;
        var counts = new long[classes.Count];
        using var writer = new PredictionWriter(outPath, classes);
        foreach (var part in parts)
        {
            classifier.CheckFits(part.Records);
            // Labels are compared by name: a part may order its classes differently from the model.
            classifier.Predict(part.Records, (start, probabilities) =>
            {
                int n = probabilities.Length / classes.Count;
                var ids = new string[n];
                var labels = new string?[n];
                for (int i = 0; i < n; i++)
                {
                    int record = start + i;
                    ids[i] = part.Records.RecordId(record);
                    var row = probabilities.Slice(i * classes.Count, classes.Count);
                    int best = 0;
                    for (int c = 1; c < row.Length; c++) if (row[c] > row[best]) best = c;
                    counts[best]++;
                    confidenceSum += row[best];
                    labels[i] = part.LabelOf(record);
                    if (labels[i] is not null)
                    {
                        labelled++;
                        if (labels[i] == classes[best]) right++;
                    }
                }
                writer.Write(ids, labels, probabilities);
                done += n;
                progress?.Invoke(done, total);
            }, batchSize);
        }
        writer.Complete();
        return new PredictionSummary
        {
            Records = done,
            Seconds = clock.Elapsed.TotalSeconds,
            Out = outPath,
            PredictedCounts = Enumerable.Range(0, classes.Count).ToDictionary(c => classes[c], c => counts[c]),
            Labelled = labelled,
            Accuracy = labelled > 0 ? (double)right / labelled : null,
            MeanConfidence = total > 0 ? confidenceSum / total : 0,
        };
    }
}
