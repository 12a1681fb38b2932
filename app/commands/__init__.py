"""The command-line subcommands, each a thin front over app.files, app.live and dctnet."""
