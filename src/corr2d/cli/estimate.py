"""``corr2d estimate``: recover the kernel that maps one image to another, solved."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer

from corr2d.cli import _streaming
from corr2d.cli._options import (
    BOUNDARY_HELP,
    BOUNDARY_NAMES,
    Boundary,
    ForceOption,
    MaxPixelsOption,
    OriginOption,
    Pair,
    SaveKernelOption,
    parse_size,
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
    EXIT_HELP,
    EXIT_USAGE,
    Output,
    check_outputs,
    emit_warnings,
    fail,
    make_console,
    matrix_table,
    numpy_if_short,
    save_kernel,
    shape_text,
)
from corr2d.io.images import DEFAULT_MAX_PIXELS

__all__ = ["EPILOG", "estimate_command"]


EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d filter X.png Y.tif --kernel sobel-dy --scale none\n"
    "  corr2d estimate X.png Y.tif --size 3x3\n\n"
    "  corr2d estimate X.png Y.png --size 5x5 --method ridge --bias --save K.npy --plot figs/\n\n"
    "  corr2d estimate X.png Y.tif --size 3x3 --boundary wrap --method fft\n\n" + EXIT_HELP
)

ModeOption = Annotated[
    Literal["auto", "valid", "same", "full"],
    typer.Option(
        help="How Y's size relates to X's, as in corr2d filter; 'auto' infers same, valid or "
        "full from the sizes."
    ),
]
BoundaryOption = Annotated[
    Boundary,
    typer.Option(
        help="How X was extended past its border when Y was made (same and full); the "
        "default is corr2d filter's. " + BOUNDARY_HELP
    ),
]
FillvalueOption = Annotated[
    float, typer.Option(help="The value outside X for --boundary fill/constant.")
]


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
            help="Least squares, ridge, Fourier division (periodic data: --boundary wrap), "
            "or the chapter's gradient descent."
        ),
    ] = "lstsq",
    mode: ModeOption = "auto",
    boundary: BoundaryOption = "symm",
    fillvalue: FillvalueOption = 0.0,
    origin_option: OriginOption = None,
    bias: Annotated[bool, typer.Option("--bias", help="Also estimate a constant offset.")] = False,
    alpha: Annotated[
        float | None, typer.Option(min=0.0, help="Regularisation of ridge and fft.")
    ] = None,
    steps: Annotated[int, typer.Option(min=1, help="Most steps of --method gd.")] = 500,
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
    """Recover the kernel K with Y = correlate2d(X, K, mode, boundary) (+ bias).

    Pixel values are used as stored (no rescaling), so X and Y should share a scale:
    for an exact answer store Y as float TIFF ([bold]corr2d filter --scale none[/bold]).
    The border rule defaults to filter's, so filter's output needs no flags here.
    Colour images give one equation set per channel, solved together.  The result
    reports the fit (relative residual) beside identifiability (rank): above 1e-3 (for
    8/16-bit Y: with a pixel more than one level from the model) the pair is not a
    correlation under these settings, and a line says the likely cause.
    """
    from corr2d import estimate_kernel

    size = size_option.pair
    if _streaming.wanted([x_path, y_path], None, chunks, scheduler):
        _streaming.load().estimate_files(
            x_path, y_path, size, method=method, mode=mode, bias=bias, alpha=alpha,
            convolve=convolve, boundary=BOUNDARY_NAMES[boundary], fillvalue=fillvalue,
            origin=origin_option.pair if origin_option is not None else None, save=save,
            plot=plot, force=force, max_pixels=max_pixels, chunks=chunks, address=scheduler,
        )  # fmt: skip
        return
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
    X, Y = read_pair(x_path, y_path, max_pixels)
    origin = origin_option.pair if origin_option is not None else None
    relation = relation_from_options(
        X.shape, Y.shape, size, mode, boundary, fillvalue, origin, convolve
    )
    if method == "fft" and (relation.boundary != "wrap" or relation.mode == "valid"):
        fail(
            "--method fft needs periodic data: Y of X's size (or full) made with --boundary "
            f"wrap, here {relation.describe()}; give --boundary wrap, or another --method",
            EXIT_USAGE,
        )
    check_job(X, Y, size, bias, method)
    # a short job runs on vectorised NumPy rather than wait for compiled loops;
    # gradient descent passes over the data three times a step
    passes = 3 * steps if method == "gd" else 1
    with numpy_if_short(passes * X.size * size[0] * size[1]):
        xs, ys = colour_planes(X), colour_planes(Y)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = estimate_kernel(
                xs,
                ys,
                size,
                bias=bias,
                method=method,
                alpha=alpha,
                steps=steps,
                progress=_gd_progress(steps) if method == "gd" else None,
                **relation.keywords(),
            )
        emit_warnings(caught)
        gap = None if result.fits else rounding_gap(result, xs, ys, relation, Y.dtype)
        fits = explained(gap, result)
        misfit = (
            None
            if fits
            else explain_misfit(
                xs, ys, size, relation, bias, Y.dtype, result.relative_residual, method
            )
        )
        _print_result(result, size, relation, misfit, gap, Y.dtype)
        with outputs:
            save_kernel(outputs, save, result.kernel)
            if figure is not None:
                from corr2d.plot import plot_kernel_estimate

                residual = np.mean(
                    [
                        y - predict(x, result.kernel, result.bias or 0.0, relation)
                        for x, y in zip(xs, ys, strict=True)
                    ],
                    axis=0,
                )
                plot_kernel_estimate(
                    result.kernel,
                    residual,
                    outputs.stage(figure),
                    title=f"{x_path.name} -> {y_path.name}",
                )
        console = make_console()
        if save is not None:
            console.print(f"kernel: {save}", markup=False)
        if figure is not None:
            console.print(f"figure: {figure}", markup=False)


def _verdict(result: Any, fits: bool, y_dtype: np.dtype) -> str:
    """The fit row's verdict: explained, explained up to the pixels' rounding, or not."""
    if not fits:
        return "(Y NOT explained)"
    if result.fits:
        return "(Y explained)"
    return f"(Y explained up to {y_dtype} rounding)"


def _print_result(
    result: Any,
    size: tuple[int, int],
    relation: Relation,
    misfit: str | None,
    gap: float | None,
    y_dtype: np.dtype,
) -> None:
    """The kernel table and the facts; the misfit line (stderr) when Y is not explained."""
    from rich.table import Table

    console = make_console()
    console.print(matrix_table(result.kernel, title=f"kernel {shape_text(size)}", precision=6))
    facts = Table(box=None, show_header=False, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("method", f"{result.method} ({result.solver})")
    facts.add_row("Y from X", relation.describe())
    facts.add_row("bias", "none" if result.bias is None else f"{result.bias:.6g}")
    largest = f" (largest {gap:.2f} pixel levels)" if gap is not None else ""
    facts.add_row("residual (RMS)", f"{result.residual:.3e}{largest}")
    facts.add_row(
        "fit",
        f"relative residual {result.relative_residual:.2e} "
        + _verdict(result, misfit is None, y_dtype),
    )
    facts.add_row("rank", f"{result.rank} of {result.n_unknowns} unknowns")
    facts.add_row("condition number", f"{result.condition_number:.3e}")
    facts.add_row(
        "identifiable",
        "yes"
        if result.identifiable
        else f"NO: {result.n_unknowns - result.rank} combination(s) undetermined",
    )
    console.print(facts)
    if misfit is not None:
        sys.stderr.write(f"corr2d: warning: {misfit}\n")
        sys.stderr.flush()


def _gd_progress(steps: int) -> Any:
    """Gradient descent's progress: a bar on a terminal, else a line every tenth."""
    if sys.stderr.isatty():
        return True
    every = max(1, steps // 10)

    def report(step: int, loss: float) -> None:
        from corr2d.nn.train import format_loss

        if step % every == 0 or step == 1:
            sys.stderr.write(
                f"gradient descent: step {step} of at most {steps}, loss {format_loss(loss)}\n"
            )
            sys.stderr.flush()

    return report
