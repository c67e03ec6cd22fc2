using System.CommandLine;
using System.Text.Json;
using Contramask.Data;
using Contramask.Evaluation;
using Contramask.Runtime;
using Contramask.Training;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask mining-benchmark</c>: mining's answers scored against faults planted in real data (<see cref="MiningBenchmark"/>).</summary>
public static class MiningBenchmarkCommand
{
    static readonly Option<string?> Run = new("--run") { Description = "Run folder written by pretrain (its encoder embeds the records)" };
    static readonly Option<string?> Data = new("--data") { Description = "Image data spec holding the split to plant faults in" };
    static readonly Option<string?> Embeddings = new("--embeddings") { Description = "Instead: an embeddings file whose approximate neighbour search to score (recall@10 against exact, queries/s)" };
    static readonly Option<int> Queries = new("--queries") { Description = "--embeddings: random records to query", DefaultValueFactory = _ => 10_000 };
    static readonly Option<string> Expansions = new("--ef") { Description = "--embeddings: search breadths to score, comma-separated", DefaultValueFactory = _ => "64,128,256" };
    static readonly Option<int> Duplicates = new("--duplicates") { Description = "Near-duplicates to plant (copies shifted by a pixel or brightened ±10%); 0 skips", DefaultValueFactory = _ => 500 };
    static readonly Option<string> DuplicatesSplit = new("--duplicates-split") { Description = "Split to plant them in: train, val or test (choose settings on val; publish test)", DefaultValueFactory = _ => "test" };
    static readonly Option<double> FlipLabels = new("--flip-labels") { Description = "Fraction of labels to flip at random for the label-issue score; 0 skips", DefaultValueFactory = _ => 0.05 };
    static readonly Option<string> LabelsSplit = new("--labels-split") { Description = "Split whose labels to flip: train, val or test", DefaultValueFactory = _ => "train" };
    static readonly Option<string?> Evidence = new("--evidence") { Description = "Label-issue evidence to score: probe, neighbours, both (default: all three)" };
    static readonly Option<int> Select = new("--select") { Description = "Labels to pick with each selection strategy (and at random) for the linear-probe score; 0 skips", DefaultValueFactory = _ => 0 };
    static readonly Option<int> Seeds = new("--seeds") { Description = "Seeds per selection strategy (0..N-1)", DefaultValueFactory = _ => 3 };
    static readonly Option<bool> NoTest = new("--no-test") { Description = "Selection: score the validation slice only (while choosing a default)" };
    static readonly Option<int> Seed = new("--seed") { DefaultValueFactory = _ => 1 };
    static readonly Option<string> Out = new("--out") { Description = "JSON file for the scores", Required = true };

    public static Command Create()
    {
        var command = new Command("mining-benchmark", "Score near-duplicates and label issues against faults planted in real data, and label selection by a linear probe on the picks");
        foreach (var option in new Option[] { Run, Data, Embeddings, Queries, Expansions, Duplicates, DuplicatesSplit, FlipLabels, LabelsSplit, Evidence, Select, Seeds, NoTest, Seed, Out }) command.Add(option);
        command.SetAction(args =>
        {
            string outPath = args.GetValue(Out)!;
            RunFiles.EnsureWritable(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
            if (args.GetValue(Embeddings) is string embeddings)
            {
                var table = Mining.EmbeddingReader.Read(embeddings);
                var expansions = args.GetValue(Expansions)!.Split(',').Select(e => int.TryParse(e, out var v) && v > 0 ? v : throw new ArgumentException($"--ef {e}: expected positive integers")).ToArray();
                var scores = MiningBenchmark.ApproximateSearch(table, args.GetValue(Queries), expansions, args.GetValue(Seed), m => Cli.Info(m));
                RunFiles.WriteAllTextAtomic(outPath, JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["command"] = "contramask " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), ["embeddings"] = embeddings,
                    ["machine"] = MachineInfo.Current(), ["approximate_search"] = scores,
                }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
                Cli.Info($"Written {outPath}");
                return 0;
            }
            string run = args.GetValue(Run) ?? throw new ArgumentException("give --run RUN --data SPEC (planted faults) or --embeddings FILE (neighbour search)");
            if (args.GetValue(Data) is null) throw new ArgumentException("give --data SPEC: the image data to plant faults in");
            var state = Checkpoint.ReadState(run).State;
            var splits = DataSpec.Parse(args.GetValue(Data)!).LoadAny(state.Config.Table);
            var machine = MachineInfo.Current(state.Config.Threads);
            var report = new Dictionary<string, object?>
            {
                ["command"] = "contramask " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                ["run"] = run, ["data"] = args.GetValue(Data), ["seed"] = args.GetValue(Seed), ["machine"] = machine,
            };
            if (args.GetValue(Duplicates) is int count and > 0)
            {
                var split = Split(splits, args.GetValue(DuplicatesSplit)!) as ImageDataset
                    ?? throw new ArgumentException("near-duplicates are planted in images: give an image data spec");
                var scores = MiningBenchmark.Duplicates(run, split, count, args.GetValue(Seed), m => Cli.Info(m));
                report["duplicates"] = new { split = args.GetValue(DuplicatesSplit), scores };
            }
            if (args.GetValue(FlipLabels) is double fraction and > 0)
            {
                var kinds = args.GetValue(Evidence) is string e ? [Cli.Choice(e, "label evidence", default(Mining.LabelEvidence))] : (IReadOnlyList<Mining.LabelEvidence>?)null;
                var scores = MiningBenchmark.LabelIssues(run, Split(splits, args.GetValue(LabelsSplit)!), fraction, args.GetValue(Seed), kinds, m => Cli.Info(m));
                report["label_issues"] = new { split = args.GetValue(LabelsSplit), fraction, scores };
            }
            if (args.GetValue(Select) is int labels and > 0)
            {
                var scores = MiningBenchmark.Selection(run, splits, labels, Enumerable.Range(0, args.GetValue(Seeds)).ToArray(), null, !args.GetValue(NoTest), m => Cli.Info(m));
                report["selection"] = scores.Select(s => new { s.Strategy, s.Labels, s.Seeds, validation_accuracy = s.ValidationAccuracy, test_accuracy = s.TestAccuracy,
                    mean_validation = s.MeanValidation, mean_test = double.IsNaN(s.MeanTest) ? (double?)null : s.MeanTest, classes_covered = s.ClassesCovered, s.Seconds });
            }
            RunFiles.WriteAllTextAtomic(outPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
            Cli.Info($"Written {outPath}");
            return 0;
        });
        return command;
    }

    static IRecordSet Split(ISplits splits, string name) => name switch
    {
        "train" => splits.Train,
        "val" => splits.Validation ?? throw new ArgumentException("the data spec has no validation slice: add ,val=0.1"),
        "test" => splits.Test ?? throw new ArgumentException("the data spec has no test split"),
        _ => throw new ArgumentException($"unknown split '{name}': expected train, val or test"),
    };
}
