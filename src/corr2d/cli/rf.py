"""``corr2d rf``: the receptive field of a stack of layers, as a table and a figure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corr2d.cli._options import (
    ForceOption,
    Pair,
    parse_size,
    parse_unit,
)
from corr2d.cli._shared import (
    EXIT_HELP,
    EXIT_USAGE,
    Output,
    check_outputs,
    fail,
    make_console,
    numpy_if_short,
    shape_text,
)

__all__ = ["EPILOG", "rf_command"]


EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d rf 2x2 2x2\n\n"
    "  corr2d rf 7x7/s2/p3 pool3x3/s2/p1 3x3 3x3 --input 224\n\n"
    "  corr2d rf 3x3 3x3/d2 3x3/d4 --input 32 --plot rf.png\n\n"
    "Layers are [bold][conv|pool]KxK[/bold] with optional [bold]/sS[/bold] stride, "
    "[bold]/pP[/bold] padding (or psame, pvalid) and [bold]/dD[/bold] dilation.\n\n" + EXIT_HELP
)


def rf_command(
    layers: Annotated[
        list[str],
        typer.Argument(
            metavar="LAYER...",
            help="The layers, first to last, e.g. 3x3/s2 (or in one argument: '3x3,3x3/s2').",
            show_default=False,
        ),
    ],
    input_option: Annotated[
        Pair | None,
        typer.Option(
            "--input",
            "-i",
            parser=parse_size,
            metavar="N|HxW",
            help="Input size: adds each layer's output size.",
        ),
    ] = None,
    unit_option: Annotated[
        Pair | None,
        typer.Option(
            "--unit",
            parser=parse_unit,
            metavar="ROW,COL",
            help="The output unit to locate and draw (default: the centre one).",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE.png", help="Draw the unit's receptive field over the input grid."
        ),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Receptive field of a stack of layers: size, jump and centre after each layer."""
    from rich import box
    from rich.table import Table

    from corr2d import empirical_receptive_field, parse_layer, receptive_field

    input_shape = input_option.pair if input_option is not None else None
    unit = unit_option.pair if unit_option is not None else None
    # '3x3,3x3/s2' and '3x3 3x3/s2' in one argument are two layers (no layer has a comma)
    layers = [part for argument in layers for part in argument.replace(",", " ").split()]
    if not layers:
        fail("give at least one layer, e.g. 3x3/s2", EXIT_USAGE)
    specs = []
    for index, text in enumerate(layers):
        try:
            specs.append(parse_layer(text))
        except ValueError as exc:
            fail(f"layer {index + 1} ({text!r}): {exc}", EXIT_USAGE)
    outputs = check_outputs([Output(plot, "figure", "--plot") if plot else None], [], force)
    field = receptive_field(specs, input_shape)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("layer", "output", "jump", "size", "start"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for row in field.rows:
        table.add_row(
            row.layer,
            "-" if row.output_shape is None else shape_text(row.output_shape),
            shape_text(row.jump),
            shape_text(row.size),
            ", ".join(f"{v:g}" for v in row.start),
        )
    console = make_console()
    console.print(table)
    rows, cols = field.size
    console.print(
        f"receptive field: {rows}x{cols} input pixels; jump {shape_text(field.jump)}", markup=False
    )
    out_shape = field.output_shape
    if unit is None:
        unit = (out_shape[0] // 2, out_shape[1] // 2) if out_shape is not None else (0, 0)
    if out_shape is not None and (unit[0] >= out_shape[0] or unit[1] >= out_shape[1]):
        fail(
            f"--unit {unit[0]},{unit[1]} is outside the output ({shape_text(out_shape)})",
            EXIT_USAGE,
        )
    window = field.to_input(*unit)
    console.print(
        f"unit ({unit[0]}, {unit[1]}) sees rows {window.rows[0]}..{window.rows[1] - 1}, "
        f"columns {window.cols[0]}..{window.cols[1] - 1}, centred on "
        f"({window.center[0]:g}, {window.center[1]:g})",
        markup=False,
    )
    if plot is not None:
        from corr2d.plot import plot_receptive_field

        grid = input_shape or (max(window.rows[1], 1), max(window.cols[1], 1))
        mask = None
        if input_shape is not None:
            # back-propagation through the stack: at most every pixel by every tap
            taps = sum(spec.kernel_size[0] * spec.kernel_size[1] for spec in specs)
            with numpy_if_short(2 * input_shape[0] * input_shape[1] * taps):
                mask = empirical_receptive_field(specs, input_shape, unit)
        with outputs:
            plot_receptive_field(
                grid,
                (window.rows, window.cols),
                outputs.stage(plot),
                mask=mask,
                title=f"unit ({unit[0]}, {unit[1]}) of {' -> '.join(layers)}",
            )
        console.print(f"figure: {plot}", markup=False)
