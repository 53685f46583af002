"""``corr2d kernels``: list the named kernels, or show one with its parameters."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corr2d.cli._shared import (
    EXIT_HELP,
    make_console,
    matrix_table,
    number_text,
    shape_text,
)
from corr2d.kernel_spec import KernelSpecError, describe_kernel, load_kernel

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
        _show_one(console, name)
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


def _show_one(console: Any, spec: str) -> None:
    """The kernel a specification stands for: its line, its size and sum, its matrix."""
    header = describe_kernel(spec)
    try:
        matrix = load_kernel(spec)
    except KernelSpecError:
        if ":" in spec or "params:" not in header:
            raise
        console.print(header, markup=False)
        base = spec.strip()
        console.print(f"  (needs parameters: e.g. corr2d kernels '{base}:key=value')", markup=False)
        return
    console.print(header, markup=False)
    console.print(
        f"{shape_text(matrix.shape)}, weights sum to {number_text(float(matrix.sum()), 6)}",
        markup=False,
    )
    console.print(matrix_table(matrix, precision=6))
