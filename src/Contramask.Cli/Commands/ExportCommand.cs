using System.CommandLine;
using System.Text.Json;
using Contramask.Data;
using Contramask.Export;

namespace Contramask.Cli.Commands;

/// <summary><c>contramask export</c>: a run's encoder or a classifier → an ONNX model, checked against TorchSharp first (<see cref="ModelExport"/>).</summary>
public static class ExportCommand
{
    static readonly Option<string?> Run = new("--run") { Description = "Run folder written by pretrain: exports its encoder (default file: encoder.onnx or encoder.safetensors in it)" };
    static readonly Option<string?> Model = new("--model") { Description = "Classifier folder written by finetune: exports encoder + head with probabilities (default file: model.onnx or model.safetensors in it)" };
    static readonly Option<string> Format = new("--format") { Description = "onnx (opset 17, dynamic batch, input normalization inside, metadata with shape, classes and table schema) | safetensors (the weights under PyTorch's names, same metadata)", DefaultValueFactory = _ => "onnx" };
    static readonly Option<string?> Out = new("--out") { Description = "File to write" };
    static readonly Option<string?> Data = new("--data") { Description = $"Data spec whose first {ModelExport.CheckRecords} records check the export (default: the model's own data)" };
    static readonly Option<string?> Reference = new("--reference") { Description = $"safetensors: also write the first {ModelExport.CheckRecords} records' inputs and TorchSharp's outputs to this safetensors file (bench/load_in_pytorch.py checks against them)" };
    static readonly Option<bool> Json = new("--json") { Description = "Print a JSON summary (file, bytes, records checked, largest difference per output)" };

    public static Command Create()
    {
        var command = new Command("export", $"Export an encoder or a classifier for ONNX Runtime; written only if its outputs match TorchSharp's within {ModelExport.Tolerance:G1}");
        foreach (var option in new Option[] { Run, Model, Format, Out, Data, Reference, Json }) command.Add(option);
        command.SetAction(args =>
        {
            string? run = args.GetValue(Run), model = args.GetValue(Model), outPath = args.GetValue(Out);
            if ((run is null) == (model is null)) throw new ArgumentException("give one of --run (a pretraining run) or --model (a classifier folder)");
            var format = args.GetValue(Format)!.ToLowerInvariant() switch
            {
                "onnx" => ExportFormat.Onnx,
                "safetensors" => ExportFormat.Safetensors,
                var other => throw new ArgumentException($"unknown format '{other}'; expected onnx or safetensors"),
            };
            if (outPath is not null) Training.RunFiles.EnsureWritable(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
            ISplits? data = null;
            if (args.GetValue(Data) is string spec)
            {
                // Tables are encoded with the model's own schema.
                var schema = run is not null ? Training.Checkpoint.ReadState(run).State.Config.Table : Classification.Classifier.ReadInfo(model!).Encoder.Table;
                data = DataSpec.Parse(spec).LoadAny(schema);
            }
            var reference = args.GetValue(Reference);
            if (reference is not null && format != ExportFormat.Safetensors) throw new ArgumentException("--reference goes with --format safetensors (an ONNX export is checked by ONNX Runtime itself)");
            var report = run is not null ? ModelExport.Run(run, data, outPath, format, reference) : ModelExport.Classifier(model!, data, outPath, format, reference);
            if (model is not null && Classification.Classifier.ReadInfo(model).TestTimeShift is > 0 and var shift)
                Cli.Warn($"the classifier averages its predictions over test-time shifts of {shift} px; the exported network predicts from the image alone (as predict --no-test-time-shift)");
            if (args.GetValue(Json)) Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            else if (format == ExportFormat.Safetensors) Cli.Info($"Written {report.Path} ({report.Bytes / 1024.0 / 1024.0:F1} MB; weights under PyTorch's names, read back and compared)");
            else Cli.Info($"Written {report.Path} ({report.Bytes / 1024.0 / 1024.0:F1} MB); ONNX Runtime matches TorchSharp on {report.CheckedRecords} records: largest difference "
                + string.Join(", ", report.MaxDifference.Select(d => $"{d.Key} {d.Value:G2}")) + $" (tolerance {report.Tolerance:G1})");
            return 0;
        });
        return command;
    }
}
