"""The chapter "Convolutions for Images", end to end, on its own small examples.

:func:`chapter_demo` computes every result of the chapter with the library and returns
them in a :class:`ChapterDemo`; :func:`print_demo` prints them, and
:func:`write_demo_figures` draws them.  ``corr2d demo`` is these three calls.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from numpy.typing import NDArray

from corr2d.cli._options import ForceOption, non_negative
from corr2d.cli._shared import (
    EXIT_HELP,
    Output,
    check_outputs,
    make_console,
)

__all__ = [
    "CHAPTER_INITIAL_KERNEL",
    "EPILOG",
    "ChapterDemo",
    "chapter_demo",
    "demo_command",
    "draw_demo_figures",
    "print_demo",
    "write_demo_figures",
]

#: The initial 1x2 kernel the chapter's layer happened to draw; starting from it
#: reproduces the chapter's printed loss trace (4.949, 0.831, 0.140, 0.024, 0.004).
CHAPTER_INITIAL_KERNEL = ((0.00683409, 0.01299842),)

#: The figure files :func:`write_demo_figures` writes.
FIGURES = (
    "demo_correlation.png",
    "demo_edges.png",
    "demo_loss.png",
    "demo_receptive_field.png",
)


@dataclass(frozen=True)
class ChapterDemo:
    """Every result of the chapter, computed by the library.

    Attributes
    ----------
    X, K, Y : ndarray
        The 3x3 input ``arange(9)``, the kernel ``[[0, 1], [2, 3]]`` and their 'valid'
        correlation ``[[19, 25], [37, 43]]``.
    first_sum : str
        The arithmetic of ``Y[0, 0]``: ``0*0 + 1*1 + 3*2 + 4*3 = 19``.
    edge_image, edge_kernel, edges : ndarray
        The 6x8 image (ones, with columns 2 to 5 zero), the kernel ``[[1, -1]]`` and
        the 6x7 output: 1 in column 1 (white to black), -1 in column 5 (black to white).
    transposed : ndarray
        The kernel on the transposed image, 8x5 zeros: it sees only up-down edges.
    initial_kernel, learned_kernel : ndarray
        The 1x2 kernel before and after training ``Conv2D((1, 2), bias=False)`` on
        ``(edge_image, edges)``.
    losses : ndarray, shape (10,)
        The summed squared error of every step.
    seed : int or None
        The seed of the initial kernel, or None for the chapter's own start.
    flipped, convolved : ndarray
        ``K`` flipped in both axes, and ``convolve2d(X, flipped, 'valid')``, which
        equals ``Y``: convolution is correlation with the flipped kernel.
    rf_table : str
        The receptive-field table of two stacked 2x2 layers on the 3x3 input.
    rf_size : (int, int)
        Their receptive field, 3x3: the one output sees all nine inputs.
    rf_mask : ndarray of bool, shape (3, 3)
        The inputs that output ``(0, 0)`` depends on, measured by back-propagation.
    """

    X: NDArray[Any]
    K: NDArray[Any]
    Y: NDArray[Any]
    first_sum: str
    edge_image: NDArray[Any]
    edge_kernel: NDArray[Any]
    edges: NDArray[Any]
    transposed: NDArray[Any]
    initial_kernel: NDArray[Any]
    learned_kernel: NDArray[Any]
    losses: NDArray[Any]
    seed: int | None
    flipped: NDArray[Any]
    convolved: NDArray[Any]
    rf_table: str
    rf_size: tuple[int, int]
    rf_mask: NDArray[np.bool_]


def chapter_demo(seed: int | None = None, *, steps: int = 10, lr: float = 3e-2) -> ChapterDemo:
    """Run the chapter's examples with the library.

    Parameters
    ----------
    seed : int, optional
        Draw the initial 1x2 kernel from ``Conv2D``'s default initialisation with this
        seed.  Default: start from the chapter's own initial kernel
        (:data:`CHAPTER_INITIAL_KERNEL`), which reproduces its printed loss trace.
    steps, lr : optional
        Training steps and learning rate (the chapter's 10 and 3e-2).

    Returns
    -------
    ChapterDemo

    Examples
    --------
    >>> from corr2d.cli.demo import chapter_demo
    >>> demo = chapter_demo()
    >>> demo.Y
    array([[19., 25.],
           [37., 43.]])
    >>> [round(float(loss), 3) for loss in demo.losses[1::2]]
    [4.949, 0.831, 0.14, 0.024, 0.004]
    >>> demo.learned_kernel.round(4)
    array([[ 0.9895, -0.9874]])
    """
    from corr2d import (
        Conv2D,
        convolve2d,
        corr2d,
        empirical_receptive_field,
        fit,
        receptive_field,
    )

    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    Y = corr2d(X, K)
    terms = " + ".join(f"{X[a, b]:g}*{K[a, b]:g}" for a in range(2) for b in range(2))
    first_sum = f"{terms} = {Y[0, 0]:g}"

    edge_image = np.ones((6, 8))
    edge_image[:, 2:6] = 0.0
    edge_kernel = np.array([[1.0, -1.0]])
    edges = corr2d(edge_image, edge_kernel)
    transposed = corr2d(edge_image.T, edge_kernel)

    if seed is None:
        layer = Conv2D((1, 2), bias=False, init=np.array(CHAPTER_INITIAL_KERNEL))
    else:
        layer = Conv2D((1, 2), bias=False, rng=seed)
    initial_kernel = layer.weight.data.reshape(1, 2).copy()
    history = fit(layer, edge_image, edges, steps=steps, lr=lr, optimizer="sgd", loss="squared")
    learned_kernel = layer.weight.data.reshape(1, 2).copy()

    flipped = K[::-1, ::-1].copy()
    convolved = convolve2d(X, flipped, mode="valid")

    stack = ["2x2", "2x2"]
    field = receptive_field(stack, input_shape=(3, 3))
    mask = empirical_receptive_field(stack, (3, 3), (0, 0))
    return ChapterDemo(
        X=X,
        K=K,
        Y=Y,
        first_sum=first_sum,
        edge_image=edge_image,
        edge_kernel=edge_kernel,
        edges=edges,
        transposed=transposed,
        initial_kernel=initial_kernel,
        learned_kernel=learned_kernel,
        losses=np.asarray(history.loss),
        seed=seed,
        flipped=flipped,
        convolved=convolved,
        rf_table=str(field),
        rf_size=field.size,
        rf_mask=mask,
    )


def _matrix(array: NDArray[Any], precision: int = 4) -> str:
    return np.array2string(np.asarray(array) + 0.0, precision=precision, suppress_small=True)


def print_demo(demo: ChapterDemo, console: Any) -> None:
    """Print a :class:`ChapterDemo` section by section on a ``rich`` console.

    The text reads the same in a terminal and in a plain log: headings are rules,
    arrays are printed as NumPy prints them, and no markup is needed to follow it.
    """

    def section(title: str) -> None:
        console.print()
        console.rule(title, align="left")

    def show(label: str, array: NDArray[Any], precision: int = 4) -> None:
        console.print(f"{label}", style="bold", highlight=False)
        console.print(_matrix(array, precision), highlight=False, markup=False)

    section("1. The cross-correlation operator")
    show("X =", demo.X)
    show("K =", demo.K)
    show("corr2d(X, K) =", demo.Y)
    console.print(f"first output: {demo.first_sum}", highlight=False, markup=False)

    section("2. Edge detection")
    show("X: a 6x8 image, ones with columns 2 to 5 zero", demo.edge_image)
    show("K =", demo.edge_kernel)
    show(
        "corr2d(X, K): 1 at white-to-black (column 1), -1 at black-to-white (column 5)", demo.edges
    )
    show("corr2d(X.T, K): zero; K sees only edges that run up-down", demo.transposed)

    section("3. Learning a kernel")
    start = (
        "the chapter's initial kernel"
        if demo.seed is None
        else f"a random kernel, seed {demo.seed}"
    )
    console.print(
        f"Conv2D((1, 2), bias=False) from {start} {_matrix(demo.initial_kernel, 8)}, "
        f"{demo.losses.size} steps of SGD, lr 3e-2, squared error summed",
        highlight=False,
        markup=False,
    )
    for step in range(2, demo.losses.size + 1, 2):
        console.print(f"batch {step}, loss {demo.losses[step - 1]:.3f}", highlight=False)
    show("learned kernel =", demo.learned_kernel)

    section("4. Cross-correlation and convolution")
    show("K flipped in both axes =", demo.flipped)
    show("convolve2d(X, flipped K, 'valid') = corr2d(X, K) =", demo.convolved)
    console.print(
        "A layer that convolved would learn the flipped kernel and compute the same outputs.",
        highlight=False,
    )

    section("5. Receptive field")
    console.print(demo.rf_table, highlight=False, markup=False)
    rows, cols = demo.rf_size
    console.print(
        f"Two stacked 2x2 layers: the single output sees a {rows}x{cols} patch, all "
        f"{int(demo.rf_mask.sum())} inputs (measured by back-propagation).",
        highlight=False,
    )


def write_demo_figures(
    demo: ChapterDemo, folder: str | os.PathLike[str], *, overwrite: bool = False
) -> list[Path]:
    """Draw the demo: the 3x3 example, the edges, the loss curve, the receptive field.

    Writes the files named in :data:`FIGURES` into ``folder`` (which must exist) and
    returns their paths.  Existing files are refused unless ``overwrite`` is True, and
    that is checked for all four before any is written.
    """
    base = Path(folder)
    paths = [base / name for name in FIGURES]
    if not overwrite:
        for path in paths:
            if path.exists():
                raise FileExistsError(f"{path}: already exists (use --force to replace it)")
    draw_demo_figures(demo, paths, overwrite=overwrite)
    return paths


def draw_demo_figures(
    demo: ChapterDemo, paths: Sequence[str | os.PathLike[str]], *, overwrite: bool = False
) -> None:
    """Draw the four figures of :data:`FIGURES` into ``paths``, in that order."""
    from corr2d.plot import plot_filter, plot_layer_chain, plot_loss

    plot_filter(
        demo.X,
        demo.K,
        demo.Y,
        paths[0],
        titles=("X", "K", "corr2d(X, K)"),
        suptitle="the cross-correlation: 0*0 + 1*1 + 3*2 + 4*3 = 19",
        overwrite=overwrite,
    )
    plot_filter(
        demo.edge_image,
        demo.edge_kernel,
        demo.edges,
        paths[1],
        titles=("6x8 image", "K = [[1, -1]]", "corr2d(X, K)"),
        suptitle="edge detection: +1 white to black, -1 black to white",
        overwrite=overwrite,
    )
    plot_loss(
        demo.losses,
        paths[2],
        title="learning [[1, -1]]: squared error, SGD lr 3e-2",
        overwrite=overwrite,
    )
    from corr2d import corr2d, receptive_field

    # The chain X (3x3) -> Y (2x2) -> Z (1x1), with the window of one unit per level.
    Z = corr2d(demo.Y, demo.K)
    one_layer = receptive_field(["2x2"]).to_input(0, 0)
    window = (one_layer.rows, one_layer.cols)
    plot_layer_chain(
        [demo.X, demo.Y, Z],
        [(0, 0), (0, 0)],
        [window, window],
        paths[3],
        field=((0, demo.rf_size[0]), (0, demo.rf_size[1])),
        titles=("input X\n3x3", "Y = corr2d(X, K)\n2x2", "Z = corr2d(Y, K)\n1x1"),
        symbols=("X", "Y", "Z"),
        suptitle=f"two stacked 2x2 layers: Z[0, 0] sees {demo.rf_size[0]}x{demo.rf_size[1]} of X",
        overwrite=overwrite,
    )


EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d demo\n\n"
    "  corr2d demo --seed 1 --plot figures/\n\n" + EXIT_HELP
)


def demo_command(
    seed: Annotated[
        int | None,
        typer.Option(
            callback=non_negative,
            help="Draw the initial kernel with this seed (default: the chapter's "
            "own start, which reproduces its printed losses).",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Write the demo's four figures into this folder."),
    ] = None,
    force: ForceOption = False,
) -> None:
    """The chapter "Convolutions for Images", end to end.

    The 3x3 example ([[19, 25], [37, 43]]), the 6x8 edge image and its edges, the
    transposed image, learning the 1x2 kernel back, convolution as correlation with the
    flipped kernel, and the receptive field of two stacked 2x2 layers.
    """
    figures = [plot / name for name in FIGURES] if plot is not None else []
    outputs = check_outputs(
        [
            Output(plot, "folder", "--plot") if plot is not None else None,
            *(Output(path, "figure", "--plot") for path in figures),
        ],
        [],
        force,
    )
    from corr2d.core._engine import short_job

    with short_job():  # a few hundred multiply-adds: no compiled loop is worth loading
        demo = chapter_demo(seed)
    console = make_console()
    print_demo(demo, console)
    if plot is not None:
        with outputs:
            draw_demo_figures(demo, [outputs.stage(path) for path in figures])
        console.print()
        for path in figures:
            console.print(f"figure: {path}", markup=False)
