"""The `ivr` command line, one module per command group (check, call, graph, schema, init, serve, calls and
cancellations, synth, replay and transcribe). `main` is the entry point; commands import their layer's heavy
libraries only when they run, and a command whose extra is not installed says which one to install.
"""

from ivr.cli.main import main

__all__ = ["main"]
