"""``corr2d kernels``: list the named kernels, or show one with its parameters."""

from __future__ import annotations

from typing import Annotated

import typer

from corr2d.cli._shared import (
    EXIT_HELP,
    make_console,
    matrix_table,
    shape_text,
)
from corr2d.kernel_spec import KernelSpecError, load_kernel

__all__ = ["EPILOG", "kernels_command"]


EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d kernels\n\n"
    "  corr2d kernels sobel-dx\n\n"
    "  corr2d kernels gaussian:sigma=0.8\n\n" + EXIT_HELP
)


def kernels_command(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME[:PARAMS]]", help="Show one kernel, with parameters, e.g. box:size=5."
        ),
    ] = None,
) -> None:
    """List the named kernels with their matrices, or show one."""
    from corr2d import kernels

    console = make_console()
    if name is not None:
        base, _, params = name.partition(":")
        try:
            text = kernels.describe(base)
        except ValueError:
            text = base
        try:
            matrix = load_kernel(name)
        except KernelSpecError:
            if params or text == base:
                raise
            console.print(text, markup=False)
            console.print(
                f"  (needs parameters: e.g. corr2d kernels '{base}:key=value')", markup=False
            )
            return
        console.print(text, markup=False)
        console.print(matrix_table(matrix, precision=6))
        return
    for entry in kernels.names():
        console.print(kernels.describe(entry), markup=False, style="bold")
        try:
            matrix = kernels.get(entry)
        except (TypeError, ValueError):
            console.print("  (needs parameters; see the line above)", markup=False)
            continue
        if max(matrix.shape) <= 5:
            console.print(matrix_table(matrix))
        else:
            console.print(f"  {shape_text(matrix.shape)} with the default parameters", markup=False)
