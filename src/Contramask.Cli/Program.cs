return Contramask.Cli.CliApp.Run(args);
