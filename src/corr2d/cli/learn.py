"""``corr2d learn``: recover the kernel by training a ``Conv2D`` layer, as the chapter does."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer

from corr2d.cli._options import (
    ForceOption,
    MaxPixelsOption,
    Pair,
    SaveKernelOption,
    parse_size,
    positive,
)
from corr2d.cli._pairs import channel_planes, infer_relation, predict, read_pair
from corr2d.cli._shared import (
    EXIT_HELP,
    EXIT_INPUT,
    Output,
    check_outputs,
    emit_warnings,
    fail,
    make_console,
    matrix_table,
    save_kernel,
    shape_text,
)
from corr2d.io.images import DEFAULT_MAX_PIXELS

__all__ = ["EPILOG", "learn_command"]


EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d learn X.png Y.tif --size 3x3\n\n"
    "  corr2d learn X.png Y.png --size 1x2 --steps 50 --optimizer sgd --lr 0.03 --plot figs/\n\n"
    + EXIT_HELP
)


def learn_command(
    x_path: Annotated[
        Path, typer.Argument(metavar="X", help="The input image.", show_default=False)
    ],
    y_path: Annotated[
        Path, typer.Argument(metavar="Y", help="The target image.", show_default=False)
    ],
    size_option: Annotated[
        Pair,
        typer.Option("--size", "-s", parser=parse_size, metavar="HxW", help="Kernel size."),
    ],
    steps: Annotated[int, typer.Option(min=1, help="Training steps.")] = 300,
    lr: Annotated[float, typer.Option(callback=positive, help="Learning rate.")] = 0.05,
    optimizer: Annotated[Literal["sgd", "adam"], typer.Option(help="The optimiser.")] = "adam",
    loss: Annotated[
        Literal["mean_squared", "squared"],
        typer.Option(help="Mean squared error, or the chapter's summed squared error."),
    ] = "mean_squared",
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="Learn a bias too.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the initial kernel.")] = 0,
    save: SaveKernelOption = None,
    plot: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Draw the loss curve and the kernel here."),
    ] = None,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Learn the kernel mapping X to Y by training a Conv2D layer, as the chapter does.

    Y must be the size of X ('same' padding) or smaller by the kernel ('valid').  Both
    images are divided by the same factor (the largest value of X's type) for training,
    which leaves the kernel unchanged; the bias is reported in the images' units.
    """
    from corr2d import Conv2D, fit

    size = size_option.pair
    X, Y = read_pair(x_path, y_path, max_pixels)
    relation = infer_relation(X.shape, Y.shape, size, "auto")
    if relation == "full":
        fail("learn needs Y of X's size ('same') or smaller by the kernel ('valid')", EXIT_INPUT)
    figures = [plot / "learn_loss.png", plot / "learn_kernel.png"] if plot is not None else []
    outputs = check_outputs(
        [
            Output(save, "kernel", "--save") if save is not None else None,
            Output(plot, "folder", "--plot") if plot is not None else None,
            *(Output(figure, "figure", "--plot") for figure in figures),
        ],
        [x_path, y_path],
        force,
    )
    factor = float(np.iinfo(X.dtype).max) if X.dtype.kind in "ui" else 1.0
    xs = [x / factor for x in channel_planes(X)]
    ys = [y / factor for y in channel_planes(Y)]
    layer = Conv2D(size, bias=bias, padding="same" if relation == "same" else 0, rng=seed)
    console = make_console()
    console.print(
        f"training Conv2D({shape_text(size)}, bias={bias}, padding={relation!r}) with "
        f"{optimizer}, lr {lr:g}, {steps} steps, {loss} loss",
        markup=False,
    )
    every = max(1, steps // 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(
            layer,
            xs if len(xs) > 1 else xs[0],
            ys if len(ys) > 1 else ys[0],
            steps=steps,
            lr=lr,
            optimizer=optimizer,
            loss=loss,
            log_every=every,
            progress=True,
            print_fn=lambda line: console.print(line, markup=False),
        )
    emit_warnings(caught)
    kernel = layer.weight.data.reshape(size)
    console.print(matrix_table(kernel, title=f"learned kernel {shape_text(size)}", precision=6))
    if layer.bias is not None:
        console.print(f"bias: {float(layer.bias.data[0]) * factor:.6g}", markup=False)
    console.print(
        f"loss: {history.loss[0]:.4g} -> {history.loss[-1]:.4g} after {history.steps} steps",
        markup=False,
    )
    with outputs:
        save_kernel(outputs, save, kernel)
        if plot is not None:
            from corr2d.plot import plot_kernel_estimate, plot_loss

            plot_loss(
                history.loss,
                outputs.stage(figures[0]),
                title=f"learning a {shape_text(size)} kernel",
                ylabel=f"{loss.replace('_', ' ')} loss",
            )
            offset = float(layer.bias.data[0]) * factor if layer.bias is not None else 0.0
            residual = np.mean(
                [
                    (y - predict(x, kernel, offset / factor, relation, False)) * factor
                    for x, y in zip(xs, ys, strict=True)
                ],
                axis=0,
            )
            plot_kernel_estimate(
                kernel,
                residual,
                outputs.stage(figures[1]),
                titles=("learned kernel", "residual Y - K*X"),
            )
    if save is not None:
        console.print(f"kernel: {save}", markup=False)
    for figure in figures:
        console.print(f"figure: {figure}", markup=False)
