using System.CommandLine;
using Contramask.Data;
using Contramask.Mining;
using Contramask.Training;
using Spectre.Console;

namespace Contramask.Cli.Commands;

/// <summary>
/// <c>contramask mine</c>: clusters, neighbours, outliers, a t-SNE map, training curves and <c>report.md</c>,
/// from a run (embedding its data) or from an embeddings file (<see cref="Miner"/>, <see cref="MiningReport"/>).
/// </summary>
public static class MineCommand
{
    static readonly Option<string?> Run = new("--run") { Description = "Run folder: embed its data with its encoder (report in RUN/report.md)" };
    static readonly Option<string?> Data = new("--data") { Description = "With --run: data spec to mine (default: the run's own)" };
    static readonly Option<string?> Embeddings = new("--embeddings") { Description = "Or: an embeddings file from `contramask embed` (.parquet, .csv, .npy)" };
    static readonly Option<string?> Out = new("--out") { Description = "Folder for the results (default RUN/mining, or beside the embeddings file)" };
    static readonly Option<int?> K = new("--k") { Description = "Number of clusters (default: chosen by silhouette in --k-min..--k-max)" };
    static readonly Option<int> KMin = new("--k-min") { DefaultValueFactory = _ => 2 };
    static readonly Option<int> KMax = new("--k-max") { DefaultValueFactory = _ => 15 };
    static readonly Option<string?> NeighboursOf = new("--neighbours-of") { Description = "Comma-separated record ids whose nearest neighbours to list" };
    static readonly Option<bool> AllNeighbours = new("--all-neighbours") { Description = "List the nearest neighbours of every record" };
    static readonly Option<int> Neighbours = new("--neighbours") { Description = "Neighbours per record", DefaultValueFactory = _ => 10 };
    static readonly Option<int> Outliers = new("--outliers") { Description = "Top outliers to name (all are ranked in outliers.csv)", DefaultValueFactory = _ => 20 };
    static readonly Option<int> MapSample = new("--map-sample") { Description = "Records on the t-SNE map (a seeded sample; exact t-SNE up to 2,000, Barnes-Hut above, up to 200,000)", DefaultValueFactory = _ => 2000 };
    static readonly Option<bool> NoMap = new("--no-map") { Description = "Skip the t-SNE map (and the explorer, which shows it)" };
    static readonly Option<bool> NoExplorer = new("--no-explorer") { Description = "Skip explorer.html, the interactive map" };
    static readonly Option<bool> NoStream = new("--no-stream") { Description = "Load a folder or CSV run's data whole instead of reading it chunk by chunk (the default streams it)" };
    static readonly Option<bool> Duplicates = new("--duplicates") { Description = "Find near-duplicate groups (candidates by embedding, checked on the records when mining a run)" };
    static readonly Option<double?> DuplicateThreshold = new("--duplicate-threshold") { Description = "Similarity at which two records are duplicates (default: chosen from the data)" };
    static readonly Option<int> DuplicateShift = new("--duplicate-shift") { Description = "Images: pixels of shift under which two images still count as the same", DefaultValueFactory = _ => new DuplicateOptions().MaxShift };
    static readonly Option<bool> LabelIssues = new("--label-issues") { Description = "Rank records whose label looks wrong (confident learning; needs labels)" };
    static readonly Option<string> LabelEvidence = new("--label-evidence") { Description = "Probabilities the labels are judged by: probe (cross-validated linear probe), neighbours, both", DefaultValueFactory = _ => new LabelIssueOptions().Evidence.ToString().ToLowerInvariant() };
    static readonly Option<int> Seed = new("--seed") { DefaultValueFactory = _ => 0 };
    static readonly Option<bool> Json = new("--json") { Description = "Print mining.json to stdout instead of tables" };
    static readonly Option<bool> Quiet = new("--quiet") { Description = "No progress output" };

    public static Command Create()
    {
        var command = new Command("mine", "Clusters, nearest neighbours, outliers, a 2-D map, plots and a report from a run's embeddings");
        foreach (var option in new Option[] { Run, Data, Embeddings, Out, K, KMin, KMax, NeighboursOf, AllNeighbours, Neighbours, Outliers, MapSample, NoMap, NoExplorer, NoStream, Duplicates, DuplicateThreshold, DuplicateShift, LabelIssues, LabelEvidence, Seed, Json, Quiet })
            command.Add(option);
        command.SetAction(Execute);
        return command;
    }

    static int Execute(ParseResult args)
    {
        string? runFolder = args.GetValue(Run), embeddingsPath = args.GetValue(Embeddings);
        if ((runFolder is null) == (embeddingsPath is null)) throw new ArgumentException("give either --run RUN or --embeddings FILE");
        bool quiet = args.GetValue(Quiet) || args.GetValue(Json);
        Action<string>? progress = quiet ? null : m => Cli.Info(m);
        var options = new MiningOptions
        {
            K = args.GetValue(K), KMin = args.GetValue(KMin), KMax = args.GetValue(KMax), Neighbours = args.GetValue(Neighbours),
            NeighbourIds = args.GetValue(NeighboursOf)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            AllNeighbours = args.GetValue(AllNeighbours), TopOutliers = args.GetValue(Outliers), MapSample = args.GetValue(MapSample),
            Map = !args.GetValue(NoMap), Explorer = !args.GetValue(NoExplorer), Seed = args.GetValue(Seed), Duplicates = args.GetValue(Duplicates),
            DuplicateSettings = new DuplicateOptions { Threshold = args.GetValue(DuplicateThreshold), MaxShift = args.GetValue(DuplicateShift) },
            LabelIssues = args.GetValue(LabelIssues),
            LabelIssueSettings = new LabelIssueOptions
            {
                Evidence = Cli.Choice(args.GetValue(LabelEvidence), "label evidence", new LabelIssueOptions().Evidence),
                Seed = args.GetValue(Seed),
            },
        };
        options.Validate();

        EmbeddingTable table;
        RecordLookup? records = null;
        CheckpointState? state = null;
        string? dataSummary = null;
        string outFolder;
        if (runFolder is not null)
        {
            var read = Checkpoint.ReadState(runFolder, m => Cli.Warn(m));
            state = read.State;
            var spec = args.GetValue(Data) is string given ? DataSpec.Parse(given) : DataSpec.ForRun(state.Config.Data, state.Format);
            if (!args.GetValue(NoStream) && EmbeddingExport.CanStream(spec))
            {
                // A folder or a CSV file is streamed: embedded chunk by chunk, its records read again only where an answer needs them.
                var skipped = new List<string>();
                (table, records) = ConsoleProgress.Count("embedding", quiet, p => EmbeddingExport.ComputeStreamed(runFolder, spec, p, skipped));
                Cli.Skipped(skipped);
                dataSummary = $"{spec} ({table.Count:N0} records, streamed from disk in file order)";
            }
            else
            {
                var data = args.GetValue(Data) is not null ? spec.LoadAny(state.Config.Table) : null;
                var (config, splits, encoder) = EmbeddingExport.Load(runFolder, data, m => Cli.Warn(m));
                using (encoder)
                    table = ConsoleProgress.Count("embedding", quiet, p => EmbeddingExport.Compute(encoder, config, splits, p));
                records = new RecordLookup(EmbeddingExport.Parts(splits));
                dataSummary = string.Join(" + ", EmbeddingExport.Parts(splits).Select(p => p.ToString()));
            }
            outFolder = args.GetValue(Out) ?? Path.Combine(runFolder, "mining");
        }
        else
        {
            table = EmbeddingReader.Read(embeddingsPath!);
            outFolder = args.GetValue(Out) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(embeddingsPath!))!, Path.GetFileNameWithoutExtension(embeddingsPath!) + "-mining");
        }

        var result = Miner.Run(table, outFolder, options, records, progress);
        var files = result.Files.ToList();
        var metrics = runFolder is null ? null : Path.Combine(runFolder, MetricsLog.FileName);
        if (metrics is not null && File.Exists(metrics)) files.AddRange(Plots.TrainingCurves(metrics, outFolder, m => Cli.Warn(m)).Select(f => Path.GetFileName(f)));
        var reportPath = runFolder is not null ? Path.Combine(runFolder, "report.md") : Path.Combine(outFolder, "report.md");
        MiningReport.Write(reportPath, result with { Files = files }, outFolder, state, runFolder, dataSummary, table);

        if (args.GetValue(Json))
        {
            Console.WriteLine(File.ReadAllText(Path.Combine(outFolder, "mining.json")));
            return 0;
        }
        if (!args.GetValue(Quiet)) Print(result, table);
        Cli.Info($"Written {string.Join(", ", files)} in {outFolder}, and {reportPath}");
        return 0;
    }

    static void Print(MiningResult result, EmbeddingTable table)
    {
        var c = result.Clusters;
        var clusters = new Table().Title($"{c.K} clusters" + (c.Nmi is double nmi ? $" · NMI {nmi:F3} · ARI {c.Ari:F3}" : ""))
            .AddColumn("cluster").AddColumn(new TableColumn("size").RightAligned()).AddColumn("commonest label").AddColumn("most central");
        foreach (var s in c.Clusters)
            clusters.AddRow(s.Cluster.ToString(), s.Size.ToString("N0"), s.TopLabel is null ? "–" : Markup.Escape($"{s.TopLabel} ({s.TopLabelShare:P0})"),
                Markup.Escape(string.Join(", ", s.Central.Take(3).Select(i => table.Ids[i]))));
        AnsiConsole.Write(clusters);
        var outliers = new Table().Title("top outliers").AddColumn("rank").AddColumn("record").AddColumn("label").AddColumn(new TableColumn("score").RightAligned());
        foreach (var o in result.Outliers.Take(10)) outliers.AddRow(o.Rank.ToString(), Markup.Escape(o.Id), Markup.Escape(o.Label), o.Score.ToString("F4"));
        AnsiConsole.Write(outliers);
        if (result.Duplicates is { } d)
        {
            Cli.Info($"near-duplicates: {d.Groups.Count:N0} group(s) holding {d.RecordsInGroups:N0} records ({d.Groups.Count(g => g.Exact):N0} exact), {d.Measure} ≥ {d.Threshold:F4} ({d.Rule})");
            foreach (var g in d.Groups.Take(5)) Cli.Info($"  group {g.Group}{(g.Exact ? " (identical)" : "")}: {string.Join(", ", g.Members.Take(6).Select(m => table.Ids[m]))}{(g.Members.Length > 6 ? ", …" : "")}");
        }
        if (result.LabelIssues is { } issues)
        {
            Cli.Info($"label issues: {issues.Issues.Count:N0} record(s) whose label looks wrong (out-of-sample accuracy {issues.OutOfSampleAccuracy:P1}); the first:");
            foreach (var i in issues.Issues.Take(5)) Cli.Info($"  {table.Ids[i.Row]}: labelled {table.LabelName(i.Row)}, looks like {table.ClassName(i.Suggested)} (p(label) {i.GivenProbability:F3})");
        }
        if (result.MapKnnAccuracy is double m) Cli.Info($"t-SNE map: a 5-NN vote in 2-D recovers {m:P1} of the labels");
    }
}
