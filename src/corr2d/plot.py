"""Figures as PNG files: filters side by side, loss curves, kernels, receptive fields.

Every function draws on its own :class:`matplotlib.figure.Figure` with the Agg canvas
(no ``pyplot``, no global state, never a window) and writes the PNG atomically, refusing
to replace an existing file unless ``overwrite=True`` (see :func:`corr2d.io.write_image`).

Colour conventions: a signed array (one with negative values, or any kernel) is drawn
with the diverging map ``RdBu_r`` centred at 0 -- white is 0, red positive, blue
negative; an unsigned image in grey.  Small arrays (at most 12 by 12) are annotated with
their values, so the chapter's examples can be checked by eye.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d.io._atomic import atomic_write
from corr2d.io.errors import ImageWriteError

__all__ = [
    "plot_arrays",
    "plot_filter",
    "plot_kernel_estimate",
    "plot_loss",
    "plot_receptive_field",
]

#: Arrays with at most this many rows and columns get their values written in.
ANNOTATE_MAX = 12

_DPI = 100


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | os.PathLike[str], overwrite: bool) -> Path:
    file = Path(path)
    if file.suffix.lower() != ".png":
        raise ImageWriteError(f"{file}: figures are written as PNG; the name must end in .png")
    if not overwrite and file.exists():
        raise FileExistsError(f"{file}: already exists (use --force to replace it)")
    if not file.parent.is_dir():
        raise ImageWriteError(f"{file}: the folder {str(file.parent)!r} does not exist")
    atomic_write(file, lambda target: figure.savefig(target, format="png"), overwrite=overwrite)
    return file


def _as_display(array: ArrayLike) -> tuple[NDArray[Any], bool]:
    """A 2-D array or an RGB array in [0, 1] for ``imshow``, and whether it is RGB."""
    values = np.asarray(array)
    if values.ndim == 3 and values.shape[2] >= 3 and values.min() >= 0:
        rgb = values[..., :3].astype(np.float64)
        if values.dtype.kind in "ui":
            top = float(np.iinfo(values.dtype).max)
        else:
            top = float(rgb.max()) or 1.0
        return np.clip(rgb / top, 0.0, 1.0), True
    if values.ndim == 3:
        return values[..., : min(3, values.shape[2])].astype(np.float64).mean(axis=2), False
    return values.astype(np.float64), False


def _draw(
    figure: Any,
    axes: Any,
    array: ArrayLike,
    title: str,
    *,
    signed: bool | None = None,
    annotate: bool | None = None,
) -> None:
    from matplotlib.colors import Normalize

    values, rgb = _as_display(array)
    axes.set_title(title, fontsize=10)
    axes.set_xticks([])
    axes.set_yticks([])
    if rgb:
        axes.imshow(values, interpolation="nearest")
        return
    finite = values[np.isfinite(values)]
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 0.0
    is_signed = low < 0 if signed is None else signed
    if is_signed:
        peak = max(abs(low), abs(high)) or 1.0
        norm = Normalize(vmin=-peak, vmax=peak)
        cmap = "RdBu_r"
    else:
        norm = Normalize(vmin=low, vmax=high if high > low else low + 1.0)
        cmap = "gray"
    image = axes.imshow(values, cmap=cmap, norm=norm, interpolation="nearest")
    figure.colorbar(image, ax=axes, shrink=0.8)
    small = values.shape[0] <= ANNOTATE_MAX and values.shape[1] <= ANNOTATE_MAX
    if annotate if annotate is not None else small:
        for (row, col), value in np.ndenumerate(values):
            shade = norm(value)
            dark = shade > 0.75 or shade < 0.25 if is_signed else shade < 0.5
            axes.text(
                col,
                row,
                _format_value(value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )


def _format_value(value: float) -> str:
    if not np.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.3g}"


def plot_arrays(
    arrays: Sequence[ArrayLike],
    titles: Sequence[str],
    path: str | os.PathLike[str],
    *,
    signed: Sequence[bool | None] | None = None,
    suptitle: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Draw arrays side by side, each with its colour bar, and write a PNG.

    Parameters
    ----------
    arrays : sequence of array_like, each (H, W) or (H, W, C)
        Colour images with non-negative values are drawn in colour; other 3-D arrays as
        the mean of their colour channels.
    titles : sequence of str
        One per array.
    path : str or path-like
        The ``.png`` file to write.
    signed : sequence of bool or None, optional
        Per array: True forces the diverging map centred at 0, False the grey map, None
        (default) picks the diverging map when the array has a negative value.
    suptitle : str, optional
        A title over the whole figure.
    overwrite : bool, optional
        Replace an existing file (default False).

    Returns
    -------
    Path
        ``path``.
    """
    if len(arrays) != len(titles) or not arrays:
        raise ValueError(
            f"plot_arrays: `titles` must give one title per array, got {len(titles)} "
            f"for {len(arrays)}"
        )
    flags = list(signed) if signed is not None else [None] * len(arrays)
    figure = _new_figure(3.3 * len(arrays), 3.1 + (0.3 if suptitle else 0.0))
    panels = figure.subplots(1, len(arrays), squeeze=False)[0]
    for axes, array, title, flag in zip(panels, arrays, titles, flags, strict=True):
        _draw(figure, axes, array, title, signed=flag)
    if suptitle:
        figure.suptitle(suptitle, fontsize=11)
    return _save(figure, path, overwrite)


def plot_filter(
    image: ArrayLike,
    kernel: ArrayLike,
    output: ArrayLike,
    path: str | os.PathLike[str],
    *,
    titles: Sequence[str] = ("input", "kernel", "output"),
    suptitle: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Input, kernel and output side by side; kernel and signed outputs centred at 0.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from corr2d import corr2d
    >>> from corr2d.plot import plot_filter
    >>> X = np.ones((6, 8)); X[:, 2:6] = 0
    >>> K = np.array([[1.0, -1.0]])
    >>> path = plot_filter(X, K, corr2d(X, K), os.path.join(tempfile.mkdtemp(), "edges.png"))
    >>> path.suffix
    '.png'
    """
    return plot_arrays(
        [image, kernel, output],
        list(titles),
        path,
        signed=[None, True, None],
        suptitle=suptitle,
        overwrite=overwrite,
    )


def plot_loss(
    losses: ArrayLike,
    path: str | os.PathLike[str],
    *,
    title: str = "training loss",
    ylabel: str = "loss",
    overwrite: bool = False,
) -> Path:
    """The loss of every step on a logarithmic y axis (linear if a loss is <= 0).

    Parameters
    ----------
    losses : array_like, shape (steps,)
        ``losses[i]`` is the loss of step ``i + 1``.
    path : str or path-like
        The ``.png`` file to write.
    title, ylabel : str, optional
        Labels.
    overwrite : bool, optional
        Replace an existing file (default False).

    Returns
    -------
    Path
        ``path``.
    """
    values = np.asarray(losses, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("plot_loss: `losses` must be non-empty, got an empty array")
    steps = np.arange(1, values.size + 1)
    figure = _new_figure(5.0, 3.4)
    axes = figure.subplots()
    axes.plot(steps, values, marker="o" if values.size <= 50 else None, markersize=4)
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0:
        axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=11)
    axes.grid(True, which="both", alpha=0.3)
    return _save(figure, path, overwrite)


def plot_kernel_estimate(
    kernel: ArrayLike,
    residual: ArrayLike,
    path: str | os.PathLike[str],
    *,
    titles: Sequence[str] = ("estimated kernel", "residual Y - K*X"),
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """A kernel (centred at 0) beside the residual image ``Y - K * X``.

    Returns
    -------
    Path
        ``path``.
    """
    return plot_arrays(
        [kernel, residual],
        list(titles),
        path,
        signed=[True, True],
        suptitle=title,
        overwrite=overwrite,
    )


def plot_receptive_field(
    input_shape: tuple[int, int],
    region: tuple[tuple[int, int], tuple[int, int]],
    path: str | os.PathLike[str],
    *,
    mask: ArrayLike | None = None,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Shade the input pixels one output unit sees, over the input grid.

    Parameters
    ----------
    input_shape : (int, int)
        Height and width of the input grid to draw.
    region : ((row_start, row_stop), (col_start, col_stop))
        The receptive field of the unit in input coordinates, stops exclusive (as
        ``ReceptiveField.to_input`` gives it).  It may reach past the grid, into the
        padding; that part is hatched.
    path : str or path-like
        The ``.png`` file to write.
    mask : array_like of bool, shape ``input_shape``, optional
        The pixels the unit actually reads (``corr2d.empirical_receptive_field``),
        drawn darker; with dilation some pixels inside ``region`` are never read.
    title : str, optional
        Figure title.
    overwrite : bool, optional
        Replace an existing file (default False).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    The chapter's example: two stacked 2x2 layers on a 3x3 input see all of it.

    >>> import os, tempfile
    >>> from corr2d.plot import plot_receptive_field
    >>> path = os.path.join(tempfile.mkdtemp(), "rf.png")
    >>> plot_receptive_field((3, 3), ((0, 3), (0, 3)), path).name
    'rf.png'
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    height, width = int(input_shape[0]), int(input_shape[1])
    if height < 1 or width < 1:
        raise ValueError(f"plot_receptive_field: `input_shape` must be positive, got {input_shape}")
    (r0, r1), (c0, c1) = region
    top, bottom = min(0, r0), max(height, r1)
    left, right = min(0, c0), max(width, c1)
    rows, cols = bottom - top, right - left
    side = 4.5
    scale = side / max(rows, cols)
    figure = _new_figure(max(cols * scale, 4.0) + 1.0, rows * scale + 1.7)
    axes = figure.subplots()
    axes.add_patch(
        Rectangle((-0.5, -0.5), width, height, facecolor="#f2f2f2", edgecolor="none", zorder=0)
    )
    axes.add_patch(
        Rectangle(
            (c0 - 0.5, r0 - 0.5),
            c1 - c0,
            r1 - r0,
            facecolor="tab:orange",
            alpha=0.35,
            edgecolor="none",
            zorder=1,
            label=f"receptive field {r1 - r0}x{c1 - c0}",
        )
    )
    if mask is not None:
        read = np.asarray(mask, dtype=bool)
        if read.shape != (height, width):
            raise ValueError(
                f"plot_receptive_field: `mask` must have shape {(height, width)}, got {read.shape}"
            )
        overlay = np.ma.masked_where(~read, np.ones(read.shape))
        axes.imshow(
            overlay,
            cmap=ListedColormap(["tab:red"]),
            alpha=0.6,
            extent=(-0.5, width - 0.5, height - 0.5, -0.5),
            interpolation="nearest",
            zorder=2,
        )
        axes.add_patch(Rectangle((0, 0), 0, 0, facecolor="tab:red", alpha=0.6, label="pixels read"))
    if max(height, width) <= 64:
        for row in range(height + 1):
            axes.plot([-0.5, width - 0.5], [row - 0.5] * 2, color="#b0b0b0", lw=0.5, zorder=3)
        for col in range(width + 1):
            axes.plot([col - 0.5] * 2, [-0.5, height - 0.5], color="#b0b0b0", lw=0.5, zorder=3)
    axes.add_patch(
        Rectangle((-0.5, -0.5), width, height, fill=False, edgecolor="black", lw=1.2, zorder=4)
    )
    axes.add_patch(
        Rectangle(
            (c0 - 0.5, r0 - 0.5),
            c1 - c0,
            r1 - r0,
            fill=False,
            edgecolor="tab:red",
            lw=2.0,
            zorder=5,
        )
    )
    strips = [
        (r0, min(r1, 0), c0, c1),
        (max(r0, height), r1, c0, c1),
        (max(r0, 0), min(r1, height), c0, min(c1, 0)),
        (max(r0, 0), min(r1, height), max(c0, width), c1),
    ]
    label = "outside the input (padding)"
    for a0, a1, b0, b1 in strips:
        if a1 > a0 and b1 > b0:
            axes.add_patch(
                Rectangle(
                    (b0 - 0.5, a0 - 0.5),
                    b1 - b0,
                    a1 - a0,
                    fill=False,
                    hatch="//",
                    edgecolor="tab:red",
                    lw=0,
                    zorder=5,
                    label=label,
                )
            )
            label = "_nolegend_"
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(left - 0.5, right - 0.5)
    axes.set_ylim(bottom - 0.5, top - 0.5)
    axes.set_aspect("equal")
    axes.set_xlabel("column (x)")
    axes.set_ylabel("row (y)")
    figure.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    axes.set_title(title or f"receptive field on a {height}x{width} input", fontsize=10)
    return _save(figure, path, overwrite)
