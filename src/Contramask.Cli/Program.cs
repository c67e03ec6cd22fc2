using System.CommandLine;
using Contramask.Cli;
using Contramask.Cli.Commands;
using Contramask.Data;

var root = new RootCommand("Contramask: self-supervised (contrastive, masked, fused) pretraining of image encoders for data mining");
root.Add(PretrainCommand.Create());
root.Add(EvaluateCommand.Create());
root.Add(DemoCommand.Create());

try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is DataFormatException or ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
{
    // Bad input or options: one clear line, no stack trace.
    Cli.Error(e.Message);
    return 2;
}
