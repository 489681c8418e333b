"""`sessions fetch`: pure building blocks (inputs, records, output, summary, journal, options)
plus the runner that drives the library's batch engine and the thin Typer command."""
