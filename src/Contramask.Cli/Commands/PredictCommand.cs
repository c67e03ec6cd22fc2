using System.CommandLine;
using System.Text.Json;
using Contramask.Classification;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask predict</c>: a classifier folder over every record of some data → a predictions file.</summary>
public static class PredictCommand
{
    static readonly Option<string> Model = new("--model") { Description = "Classifier folder written by finetune", Required = true };
    static readonly Option<string> Data = new("--data") { Description = "Data spec: every record of it is predicted (any split; labels optional; a flat folder of images works)", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "Predictions file: .parquet or .csv (id, label, predicted, confidence, top1..3 with p1..3)", Required = true };
    static readonly Option<int> Batch = new("--batch") { Description = "Records per batch", DefaultValueFactory = _ => 512 };
    static readonly Option<bool> Json = new("--json") { Description = "Print a JSON summary (records, seconds, counts per class, accuracy where labelled) instead of text" };
    static readonly Option<bool> Quiet = new("--quiet") { Description = "No progress bar" };
    static readonly Option<bool> NoShift = new("--no-test-time-shift") { Description = "Predict from each image alone even when the classifier chose test-time shifts on validation (five times as fast, the validation-chosen accuracy not guaranteed)" };

    public static Command Create()
    {
        var command = new Command("predict", "Predict the class of every record with a finetuned classifier; write id, predicted class, confidence and the top 3");
        foreach (var option in new Option[] { Model, Data, Out, Batch, Json, Quiet, NoShift }) command.Add(option);
        command.SetAction(args =>
        {
            int batch = args.GetValue(Batch);
            if (batch is < 1 or > 65536) throw new ArgumentOutOfRangeException(null, $"batch {batch} is out of range: expected 1 to 65536");
            string outPath = args.GetValue(Out)!;
            using var classifier = Classifier.Load(args.GetValue(Model)!);
            if (args.GetValue(NoShift)) classifier.TestTimeShift = 0;
            // The format is checked before any record is read.
            _ = Path.GetExtension(outPath).ToLowerInvariant() is ".parquet" or ".pq" or ".csv" ? 0
                : throw new ArgumentException($"{outPath}: unknown predictions format '{Path.GetExtension(outPath)}'; use .parquet or .csv");
            bool json = args.GetValue(Json);
            var skipped = new List<string>();
            // A folder of image files or a CSV file is streamed (read chunk by chunk while the model runs); other data is loaded.
            var summary = PredictionData.Stream(args.GetValue(Data)!, classifier.Info, skipped) is { } streamed
                ? ConsoleProgress.Count("predicting", args.GetValue(Quiet) || json, progress => Predictor.Run(classifier, streamed.Parts, streamed.Count, outPath, progress, batch))
                : ConsoleProgress.Count("predicting", args.GetValue(Quiet) || json, progress => Predictor.Run(classifier, PredictionData.Load(args.GetValue(Data)!, classifier.Info), outPath, progress, batch));
            Cli.Skipped(skipped);
            if (json) Console.WriteLine(JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
            else
            {
                Cli.Info($"Written {summary.Records:N0} predictions to {outPath} in {summary.Seconds:F1} s ({summary.RecordsPerSecond:N0} records/s)"
                    + (summary.Accuracy is double a ? $"; {100 * a:F2}% right on the {summary.Labelled:N0} labelled records" : ""));
            }
            return 0;
        });
        return command;
    }
}
