"""``corr2d estimate``: recover the kernel that maps one image to another, solved."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer

from corr2d.cli import _streaming
from corr2d.cli._options import (
    ForceOption,
    MaxPixelsOption,
    Pair,
    SaveKernelOption,
    parse_size,
)
from corr2d.cli._pairs import channel_planes, infer_relation, predict, read_pair
from corr2d.cli._shared import (
    EXIT_HELP,
    Output,
    check_outputs,
    emit_warnings,
    make_console,
    matrix_table,
    save_kernel,
    shape_text,
)
from corr2d.io.images import DEFAULT_MAX_PIXELS

__all__ = ["EPILOG", "estimate_command"]


EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d estimate X.png Y.tif --size 3x3\n\n"
    "  corr2d estimate X.png Y.png --size 5x5 --method ridge --bias --save K.npy --plot figs/\n\n"
    + EXIT_HELP
)


def estimate_command(
    x_path: Annotated[
        Path, typer.Argument(metavar="X", help="The input image.", show_default=False)
    ],
    y_path: Annotated[
        Path, typer.Argument(metavar="Y", help="The filtered image.", show_default=False)
    ],
    size_option: Annotated[
        Pair,
        typer.Option(
            "--size", "-s", parser=parse_size, metavar="HxW", help="Kernel size, e.g. 5x5 or 3x7."
        ),
    ],
    method: Annotated[
        Literal["lstsq", "ridge", "fft", "gd"],
        typer.Option(
            help="Least squares, ridge, Fourier division (periodic data: Y the size of X, "
            "made with --boundary wrap), or gradient descent."
        ),
    ] = "lstsq",
    mode: Annotated[
        Literal["auto", "valid", "same", "full"],
        typer.Option(
            help="How Y's size relates to X's; 'auto' infers same/valid/full from the sizes."
        ),
    ] = "auto",
    bias: Annotated[bool, typer.Option("--bias", help="Also estimate a constant offset.")] = False,
    alpha: Annotated[
        float | None, typer.Option(min=0.0, help="Regularisation of ridge and fft.")
    ] = None,
    convolve: Annotated[
        bool, typer.Option("--convolve", help="Y was made by convolution, not correlation.")
    ] = False,
    save: SaveKernelOption = None,
    plot: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Draw the kernel and the residual image here."),
    ] = None,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
    chunks: _streaming.ChunksOption = None,
    scheduler: _streaming.SchedulerOption = None,
) -> None:
    """Recover the kernel K with Y = correlate(X, K) (+ bias) from two images.

    Pixel values are used as stored (no rescaling), so X and Y should share a scale:
    for an exact answer store Y as float TIFF ([bold]corr2d filter --scale none[/bold]).
    Colour images give one equation set per channel, solved together.
    """
    from corr2d import estimate_kernel

    size = size_option.pair
    if _streaming.wanted([x_path, y_path], None, chunks, scheduler):
        _streaming.load().estimate_files(
            x_path, y_path, size, method=method, mode=mode, bias=bias, alpha=alpha,
            convolve=convolve, save=save, plot=plot, force=force, max_pixels=max_pixels,
            chunks=chunks, address=scheduler,
        )  # fmt: skip
        return
    X, Y = read_pair(x_path, y_path, max_pixels)
    relation = infer_relation(X.shape, Y.shape, size, mode)
    boundary = "wrap" if method == "fft" else "fill"  # Fourier division: periodic data
    figure = plot / "estimate.png" if plot is not None else None
    outputs = check_outputs(
        [
            Output(save, "kernel", "--save") if save is not None else None,
            Output(plot, "folder", "--plot") if plot is not None else None,
            Output(figure, "figure", "--plot") if figure is not None else None,
        ],
        [x_path, y_path],
        force,
    )
    xs, ys = channel_planes(X), channel_planes(Y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = estimate_kernel(
            xs if len(xs) > 1 else xs[0],
            ys if len(ys) > 1 else ys[0],
            size,
            bias=bias,
            method=method,
            alpha=alpha,
            mode=relation,  # type: ignore[arg-type]
            boundary=boundary,  # type: ignore[arg-type]
            convolution=convolve,
        )
    emit_warnings(caught)

    from rich.table import Table

    console = make_console()
    console.print(matrix_table(result.kernel, title=f"kernel {shape_text(size)}", precision=6))
    facts = Table(box=None, show_header=False, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row(
        "method", f"{result.method} (Y from X: {relation}{', convolution' if convolve else ''})"
    )
    facts.add_row("bias", "none" if result.bias is None else f"{result.bias:.6g}")
    facts.add_row("residual (RMS)", f"{result.residual:.3e}")
    facts.add_row("rank", f"{result.rank} of {result.n_unknowns} unknowns")
    facts.add_row("condition number", f"{result.condition_number:.3e}")
    facts.add_row(
        "identifiable",
        "yes"
        if result.identifiable
        else f"NO: {result.n_unknowns - result.rank} combination(s) undetermined",
    )
    console.print(facts)
    with outputs:
        save_kernel(outputs, save, result.kernel)
        if figure is not None:
            from corr2d.plot import plot_kernel_estimate

            residual = np.stack(
                [
                    y - predict(x, result.kernel, result.bias or 0.0, relation, convolve, boundary)
                    for x, y in zip(xs, ys, strict=True)
                ],
                axis=-1,
            ).mean(axis=-1)
            plot_kernel_estimate(
                result.kernel,
                residual,
                outputs.stage(figure),
                title=f"{x_path.name} -> {y_path.name}",
            )
    if save is not None:
        console.print(f"kernel: {save}", markup=False)
    if figure is not None:
        console.print(f"figure: {figure}", markup=False)
