using System.CommandLine;
using System.Globalization;
using Contramask.Data;
using Contramask.Mining;
using Contramask.Training;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask select</c>: which training records to label first, from the run's embeddings alone (<see cref="LabelSelection"/>).</summary>
public static class SelectCommand
{
    static readonly Option<string> Run = new("--run") { Description = "Run folder written by pretrain", Required = true };
    static readonly Option<string?> Data = new("--data") { Description = "Data spec whose training split to pick from (default: the run's own)" };
    static readonly Option<int> Count = new("--n") { Description = "Records to pick", DefaultValueFactory = _ => 100 };
    static readonly Option<string> Strategy = new("--strategy") { Description = "typical (TypiClust: the most typical record of each of n k-means clusters), coreset (k-center greedy), balanced (equal shares of --clusters groups, typical within), random", DefaultValueFactory = _ => new SelectionOptions().Strategy.ToString().ToLowerInvariant() };
    static readonly Option<int> Clusters = new("--clusters") { Description = "balanced: groups to share the picks among", DefaultValueFactory = _ => new SelectionOptions().Clusters };
    static readonly Option<int> Seed = new("--seed") { DefaultValueFactory = _ => 0 };
    static readonly Option<string?> Out = new("--out") { Description = "CSV to write (order,id,cluster,score; default RUN/select-STRATEGY-N.csv); finetune --labels FILE learns from exactly these records" };
    static readonly Option<bool> Quiet = new("--quiet") { Description = "No progress output" };

    public static Command Create()
    {
        var command = new Command("select", "Pick the training records whose labels would teach a classifier most, without any labels");
        foreach (var option in new Option[] { Run, Data, Count, Strategy, Clusters, Seed, Out, Quiet }) command.Add(option);
        command.SetAction(args =>
        {
            string run = args.GetValue(Run)!;
            bool quiet = args.GetValue(Quiet);
            var strategy = Cli.Choice(args.GetValue(Strategy), "strategy", new SelectionOptions().Strategy);
            int count = args.GetValue(Count);
            if (count < 1) throw new ArgumentException($"--n {count}: expected at least 1 record to pick");
            if (args.GetValue(Clusters) < 2) throw new ArgumentException($"--clusters {args.GetValue(Clusters)}: expected at least 2");
            var outPath = args.GetValue(Out) ?? Path.Combine(run, $"select-{strategy.ToString().ToLowerInvariant()}-{count}.csv");
            RunFiles.EnsureWritable(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
            var state = Checkpoint.ReadState(run, m => Cli.Warn(m)).State;
            var data = args.GetValue(Data) is string spec ? DataSpec.Parse(spec).LoadAny(state.Config.Table) : null;
            var (config, splits, encoder) = EmbeddingExport.Load(run, data, m => Cli.Warn(m));
            var pool = splits.Train;
            if (count < 1 || count > pool.Count) throw new ArgumentException($"--n {count}: expected 1 to the {pool.Count:N0} training records");
            EmbeddingTable table;
            using (encoder)
                table = ConsoleProgress.Count("embedding", quiet, p => EmbeddingExport.Compute(encoder, config, new RecordSplits(pool), p));
            using var scope = TorchSharp.torch.NewDisposeScope();
            var picks = LabelSelection.Select(table.ToTensor(), count, new SelectionOptions { Strategy = strategy, Clusters = args.GetValue(Clusters), Seed = args.GetValue(Seed) },
                quiet ? null : m => Cli.Info(m));
            var lines = picks.Select(p => $"{p.Order},{CsvText.Field(table.Ids[p.Row])},{p.Cluster},{p.Score.ToString("R", CultureInfo.InvariantCulture)}");
            RunFiles.WriteAllTextAtomic(outPath, "order,id,cluster,score\n" + string.Join("\n", lines) + "\n");
            string? sheet = null;
            if (pool is ImageDataset images)
                sheet = ContactSheet.Write(images, picks.Select(p => p.Row).Chunk(20).ToList(), Path.ChangeExtension(outPath, ".png"));
            Cli.Info($"Picked {picks.Count} of {pool.Count:N0} training records ({strategy.ToString().ToLowerInvariant()}): {outPath}{(sheet is null ? "" : $" and {sheet}")}");
            Cli.Info($"Label them, then: contramask finetune --run {run} --labels {outPath} --out CLASSIFIER_FOLDER");
            return 0;
        });
        return command;
    }
}
