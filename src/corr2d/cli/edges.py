"""``corr2d edges``: the gradient magnitude of an image, or one derivative."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from corr2d.cli._options import (
    BOUNDARY_HELP,
    BOUNDARY_NAMES,
    Boundary,
    DtypeOption,
    ForceOption,
    MaxPixelsOption,
    MethodOption,
    ScaleOption,
)
from corr2d.cli._shared import (
    EXIT_HELP,
    Output,
    check_floating_output,
    check_inputs,
    check_outputs,
    check_pixels_writable,
    make_console,
    numpy_if_short,
    shape_text,
    write_pixels,
)
from corr2d.io.images import DEFAULT_MAX_PIXELS

__all__ = ["EPILOG", "edges_command"]


EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d edges photo.png magnitude.png\n\n"
    "  corr2d edges photo.png dx.png --operator scharr --axis x\n\n"
    "  corr2d edges scan.tif magnitude.tif --scale none\n\n" + EXIT_HELP
)


def edges_command(
    input: Annotated[Path, typer.Argument(metavar="INPUT", help="The image.", show_default=False)],
    output: Annotated[
        Path, typer.Argument(metavar="OUTPUT", help="The output image.", show_default=False)
    ],
    operator: Annotated[
        Literal["sobel", "scharr", "prewitt", "finite"],
        typer.Option(help="Derivative kernels; 'finite' is central differences."),
    ] = "sobel",
    axis: Annotated[
        Literal["x", "y"] | None,
        typer.Option(
            help="One signed derivative: 'x' along columns (edges running up-down), 'y' "
            "along rows.  Default: the gradient magnitude."
        ),
    ] = None,
    boundary: Annotated[Boundary, typer.Option(help=BOUNDARY_HELP)] = "symm",
    method: MethodOption = "auto",
    scale: ScaleOption = "auto",
    dtype: DtypeOption = "input",
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Edges: the gradient magnitude sqrt(dx^2 + dy^2), or one derivative with --axis.

    With [bold]--scale auto[/bold] the magnitude is kept where it fits the pixel type
    and otherwise scaled so the strongest edge is white ('abs'); a single derivative
    is drawn around mid-grey, 0 being grey ('signed').
    """
    from corr2d import kernels
    from corr2d.filtering import EDGE_OPERATORS, filter_work, gradient_image
    from corr2d.io import read_image

    check_inputs([input])
    check_floating_output(output, scale, dtype)
    outputs = check_outputs([Output(output, "image")], [input], force)
    with outputs:
        image = read_image(input, max_pixels=max_pixels)
        check_pixels_writable(output, image, dtype, scale)
        derivatives = 2 if axis is None else 1
        dx = kernels.get(EDGE_OPERATORS[operator][0])
        work = derivatives * filter_work(image.shape, dx, "same")
        with numpy_if_short(work):
            response = gradient_image(
                image,
                operator,
                axis,
                BOUNDARY_NAMES[boundary],  # type: ignore[arg-type]
                method=method,
            )
        # 'auto': a derivative is signed (0 is mid-grey); the magnitude is not ('abs').
        kernel = None
        if axis is not None:
            kernel = kernels.get(EDGE_OPERATORS[operator][0 if axis == "x" else 1])
        pixels = write_pixels(
            outputs,
            output,
            response,
            image,
            "abs" if scale == "auto" and axis is None else scale,
            dtype,
            kernel=kernel,
            alpha=image[..., -1] if image.ndim == 3 and image.shape[2] in (2, 4) else None,
        )
    what = "gradient magnitude" if axis is None else f"d/d{axis}"
    make_console().print(
        f"{input} -> {output} ({operator} {what}, {shape_text(pixels.shape)}, {pixels.dtype})",
        markup=False,
    )
