using System.CommandLine;
using Contramask.Data;
using Contramask.Mining;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask embed</c>: a run's frozen encoder over every record → Parquet, CSV or .npy (<see cref="EmbeddingExport"/>).</summary>
public static class EmbedCommand
{
    static readonly Option<string> Run = new("--run") { Description = "Run folder written by pretrain", Required = true };
    static readonly Option<string?> Data = new("--data") { Description = "Data spec to embed (default: the run's own data; tables keep the run's schema); a folder:DIR or csv:FILE is streamed from disk in file order" };
    static readonly Option<string> Out = new("--out") { Description = "Output file: .parquet (default format), .csv or .npy (+ .ids.tsv)", Required = true };
    static readonly Option<bool> Quiet = new("--quiet") { Description = "No progress bar" };

    public static Command Create()
    {
        var command = new Command("embed", "Write the embedding of every record (training split, then test split) with its id and label");
        foreach (var option in new Option[] { Run, Data, Out, Quiet }) command.Add(option);
        command.SetAction(args =>
        {
            string runFolder = args.GetValue(Run)!, outPath = args.GetValue(Out)!;
            var format = EmbeddingWriter.FormatOf(outPath);
            var spec = args.GetValue(Data) is string given ? DataSpec.Parse(given) : null;
            long rows;
            if (spec is not null && EmbeddingExport.CanStream(spec))
            {
                // A folder of image files or a CSV file is streamed: read chunk by chunk while the encoder runs.
                var skipped = new List<string>();
                rows = ConsoleProgress.Count("embedding", args.GetValue(Quiet), progress => EmbeddingExport.WriteStreamed(runFolder, spec, outPath, format, progress, skipped));
                Cli.Skipped(skipped);
            }
            else
            {
                var data = spec?.LoadAny(Training.Checkpoint.ReadState(runFolder).State.Config.Table);
                rows = ConsoleProgress.Count("embedding", args.GetValue(Quiet), progress => EmbeddingExport.Write(runFolder, data, outPath, format, progress));
            }
            Cli.Info($"Written {rows:N0} embeddings to {outPath} ({format.ToString().ToLowerInvariant()})");
            return 0;
        });
        return command;
    }
}
