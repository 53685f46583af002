"""The ``corr2d`` command line (typer and rich), a thin layer over the library.

``main`` is the console script's entry point; ``app`` is the typer application.
"""

from corr2d.cli.app import EXIT_CODES, CLIError, app, main

__all__ = ["EXIT_CODES", "CLIError", "app", "main"]
