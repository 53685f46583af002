"""``corr2d learn``: recover the kernel by training a ``Conv2D`` layer, as the chapter does."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer

from corr2d.cli._options import (
    ForceOption,
    MaxPixelsOption,
    OriginOption,
    Pair,
    SaveKernelOption,
    non_negative,
    parse_size,
    positive,
)
from corr2d.cli._pairs import (
    Relation,
    check_job,
    colour_planes,
    explain_misfit,
    explained,
    predict,
    read_pair,
    relation_from_options,
    rounding_gap,
)
from corr2d.cli._shared import (
    EXIT_FAILURE,
    EXIT_HELP,
    EXIT_INTERRUPTED,
    CLIError,
    Output,
    Outputs,
    check_outputs,
    emit_warnings,
    make_console,
    matrix_table,
    save_kernel,
    shape_text,
)
from corr2d.cli.estimate import BoundaryOption, FillvalueOption, ModeOption
from corr2d.io.images import DEFAULT_MAX_PIXELS

__all__ = ["AGREEMENT", "EPILOG", "learn_command"]

#: The learned kernel counts as the closed-form one within this (largest entry difference,
#: relative to the closed-form kernel's largest entry).
AGREEMENT = 1e-3

EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d learn X.png Y.tif --size 3x3\n\n"
    "  corr2d learn X.png Y.png --size 1x2 --steps 50 --optimizer sgd --lr 0.03 --plot figs/\n\n"
    "Ctrl-C stops training at the current step: the kernel so far is written to --save and "
    "the figures to --plot, and the exit status is 130.\n\n" + EXIT_HELP
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
    steps: Annotated[int, typer.Option(min=1, help="Most training steps.")] = 500,
    tol: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Stop when the gradient's norm has fallen to this fraction of its first.",
        ),
    ] = 1e-10,
    optimizer: Annotated[
        Literal["cg", "adam", "sgd"],
        typer.Option(
            help="Conjugate gradients (exact steps for this quadratic loss), Adam, or the "
            "chapter's plain gradient descent."
        ),
    ] = "cg",
    lr: Annotated[
        float, typer.Option(callback=positive, help="Learning rate of adam and sgd.")
    ] = 0.05,
    loss: Annotated[
        Literal["mean_squared", "squared"],
        typer.Option(help="Mean squared error, or the chapter's summed squared error."),
    ] = "mean_squared",
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="Learn a bias too.")] = False,
    seed: Annotated[
        int, typer.Option(callback=non_negative, help="Seed of the initial kernel.")
    ] = 0,
    mode: ModeOption = "auto",
    boundary: BoundaryOption = "symm",
    fillvalue: FillvalueOption = 0.0,
    origin_option: OriginOption = None,
    save: SaveKernelOption = None,
    plot: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Draw the loss curve and the kernel here."),
    ] = None,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Learn the kernel mapping X to Y by training a Conv2D layer, as the chapter does.

    X is extended past its border by --boundary (filter's rule by default) and the layer
    trained on it until the gradient has fallen by --tol or --steps ran out; the result
    says which, and how far the learned kernel is from the closed-form (least-squares)
    one on the same data.  Both images are divided by the largest value of X's pixel type
    for training, which leaves the kernel unchanged; the bias is reported in the images'
    units.  Ctrl-C stops at the current step and writes what was learned so far; a run
    whose loss becomes inf or NaN fails and writes nothing.
    """
    from corr2d import estimate_kernel
    from corr2d.nn.train import check_steps

    size = size_option.pair
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
    check_steps(steps)  # before reading: the steps' history must fit in memory
    X, Y = read_pair(x_path, y_path, max_pixels)
    origin = origin_option.pair if origin_option is not None else None
    relation = relation_from_options(
        X.shape, Y.shape, size, mode, boundary, fillvalue, origin, False
    )
    check_job(X, Y, size, bias, "gd")
    factor = float(np.iinfo(X.dtype).max) if X.dtype.kind in "ui" else 1.0
    xs = [x / factor for x in colour_planes(X)]
    ys = [y / factor for y in colour_planes(Y)]
    console = make_console()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        solved = estimate_kernel(xs, ys, size, bias=bias, **relation.keywords())
    gap = None if solved.fits else rounding_gap(solved, xs, ys, relation, Y.dtype, factor)
    fits = explained(gap, solved)
    if not fits:
        sys.stderr.write(
            "corr2d: warning: "
            + explain_misfit(
                xs, ys, size, relation, bias, Y.dtype, solved.relative_residual, factor=factor
            )
            + "\n"
        )
    layer, history = _train(
        xs, ys, size, relation, bias, seed, steps, tol, optimizer, lr, loss, console
    )
    emit_warnings(caught)
    kernel = layer.weight.data.reshape(size).copy()
    learned_bias = float(layer.bias.data[0]) * factor if layer.bias is not None else None
    _print_result(console, kernel, learned_bias, history, solved, fits, steps, tol, loss)
    if history.interrupted:
        sys.stderr.write(
            f"corr2d: interrupted at step {history.steps}; writing the kernel learned so far\n"
        )
        sys.stderr.flush()
    _write(outputs, save, figures, kernel, learned_bias, history, xs, ys, factor, relation, loss)
    if save is not None:
        console.print(f"kernel: {save}", markup=False)
    for figure in figures:
        console.print(f"figure: {figure}", markup=False)
    if history.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


def _train(
    xs: list[Any],
    ys: list[Any],
    size: tuple[int, int],
    relation: Relation,
    bias: bool,
    seed: int,
    steps: int,
    tol: float,
    optimizer: str,
    lr: float,
    loss: str,
    console: Any,
) -> tuple[Any, Any]:
    """Train a 'valid' Conv2D on X extended by the border rule; Ctrl-C stops it early."""
    from corr2d import Conv2D, fit

    inputs = [relation.extend(x, size) for x in xs]
    layer = Conv2D(size, bias=bias, rng=seed)
    console.print(
        f"training Conv2D({shape_text(size)}, bias={bias}) on X extended for "
        f"{relation.describe()}, with {optimizer}"
        + (f" (lr {lr:g})" if optimizer != "cg" else "")
        + f", {loss} loss, at most {steps} steps to a gradient {tol:g} of its first",
        markup=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(
            layer,
            inputs if len(inputs) > 1 else inputs[0],
            ys if len(ys) > 1 else ys[0],
            steps=steps,
            lr=lr,
            optimizer=optimizer,  # type: ignore[arg-type]
            loss=loss,  # type: ignore[arg-type]
            tol=tol,
            log_every=max(1, min(steps // 20, 10)),
            progress=None,
            print_fn=lambda line: console.print(line, markup=False),
            interruptible=True,
        )
    if history.diverged:
        remedy = (
            f"lower --lr, got {lr:g}"
            if optimizer != "cg"
            else "the images' values are too large for float64 sums: rescale them"
        )
        raise CLIError(
            f"training diverged: the loss became {history.loss[-1]} at step {history.steps} "
            f"({remedy}); nothing written",
            EXIT_FAILURE,
        )
    emit_warnings(caught)
    return layer, history


def _print_result(
    console: Any,
    kernel: Any,
    learned_bias: float | None,
    history: Any,
    solved: Any,
    fits: bool,
    steps: int,
    tol: float,
    loss: str,
) -> None:
    """The kernel, why training stopped, and how far it is from the closed-form kernel."""
    from corr2d.nn.train import format_loss

    size = kernel.shape
    console.print(matrix_table(kernel, title=f"learned kernel {shape_text(size)}", precision=6))
    if learned_bias is not None:
        console.print(f"bias: {learned_bias:.6g}", markup=False)
    reached = history.gradient_norm[-1] / history.gradient_norm[0] if history.steps else 0.0
    if history.converged:
        stop = f"converged after {history.steps} steps (gradient {reached:.1e} of its first)"
    elif history.interrupted:
        stop = f"interrupted at step {history.steps} (gradient {reached:.1e} of its first)"
    else:
        stop = (
            f"NOT converged: --steps {steps} ran out with the gradient at {reached:.1e} of "
            f"its first (--tol {tol:g})"
        )
    console.print(
        f"{loss.replace('_', ' ')} loss: {format_loss(history.loss[0])} -> "
        f"{format_loss(history.loss[-1])}; {stop}",
        markup=False,
    )
    distance = float(np.abs(kernel - solved.kernel).max())
    scale = max(float(np.abs(solved.kernel).max()), np.finfo(np.float64).tiny)
    if distance <= AGREEMENT * scale:
        verdict = f"agrees within {AGREEMENT:g}"
    else:
        verdict = f"does NOT agree yet (more than {AGREEMENT:g} of its largest entry)"
    console.print(
        f"closed-form kernel (least squares on the same data): largest difference "
        f"{distance:.2e}; the learned kernel {verdict}",
        markup=False,
    )
    if not fits:
        console.print(
            f"fit: relative residual {solved.relative_residual:.2e} even for the closed-form "
            "kernel: Y is NOT explained by a correlation under these settings",
            markup=False,
        )


def _write(
    outputs: Outputs,
    save: Path | None,
    figures: list[Path],
    kernel: Any,
    learned_bias: float | None,
    history: Any,
    xs: list[Any],
    ys: list[Any],
    factor: float,
    relation: Relation,
    loss: str,
) -> None:
    """The kernel file and the figures, all or nothing."""
    with outputs:
        save_kernel(outputs, save, kernel)
        if figures:
            from corr2d.plot import plot_kernel_estimate, plot_loss

            plot_loss(
                history.loss,
                outputs.stage(figures[0]),
                title=f"learning a {shape_text(kernel.shape)} kernel",
                ylabel=f"{loss.replace('_', ' ')} loss",
            )
            offset = (learned_bias or 0.0) / factor
            residual = np.mean(
                [
                    (y - predict(x, kernel, offset, relation)) * factor
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
