"""Figures as PNG files: filters side by side, loss curves, kernels, receptive fields.

Every function draws on its own :class:`matplotlib.figure.Figure` with the Agg canvas
(no ``pyplot``, no global state, never a window) and writes the PNG atomically, refusing
to replace an existing file unless ``overwrite=True`` (see :func:`corr2d.io.write_image`).

How arrays are drawn:

* **pixels** (``uint8``/``uint16`` arrays, or any colour array with values in
  ``[0, 1]``) are drawn as the image they are: colour as colour, grey in grey from
  black (0) to white (255, 65535 or 1.0);
* **signed** arrays (a negative value, or any kernel) with the diverging map ``RdBu_r``
  centred at 0 -- white is 0, red positive, blue negative -- its limits the 99th
  percentile of ``|v|`` for arrays of 1000 values or more (so one outlier does not wash
  out the rest; the colour bar's arrows mark clipped values) and ``max |v|`` below;
* other arrays in grey from their minimum to their maximum, with a colour bar.

Cells of small arrays are labelled with their values, all to the same decimals (two
significant digits of the largest, three up to 5x5), in a font sized so the longest
label fills at most 80% of a cell, and left unlabelled when that font would be under
5.5 points (past about 12x12 cells in a panel of these figures); so kernels stay
legible up to 15x15 and beyond.
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
    "plot_layer_chain",
    "plot_loss",
    "plot_receptive_field",
]

#: The smallest font (points) a cell label is written in; smaller cells get none.
MIN_LABEL_POINTS = 5.5
#: Arrays with more values than this use percentile limits rather than the extremes.
ROBUST_MIN_SIZE = 1000
#: The percentile of ``|v|`` that bounds the colour scale of a large signed array.
ROBUST_PERCENTILE = 99.0

_DPI = 100
_PANEL_INCHES = 3.3


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


def _pixels(values: NDArray[Any]) -> NDArray[np.float64] | None:
    """``values`` as an image in [0, 1] if they are pixels (see the module notes), else None."""
    if values.dtype in (np.uint8, np.uint16):
        shown = values.astype(np.float64) / float(np.iinfo(values.dtype).max)
    elif values.ndim == 3 and values.shape[2] in (3, 4) and values.dtype.kind == "f":
        finite = values[np.isfinite(values)]
        if finite.size == 0 or finite.min() < 0 or finite.max() > 1:
            return None
        shown = values.astype(np.float64)
    else:
        return None
    if shown.ndim == 3:
        shown = shown[..., :3] if shown.shape[2] >= 3 else shown[..., 0]
    return shown


def _plane(values: NDArray[Any]) -> NDArray[np.float64]:
    """A 2-D array for a colour map: the mean of the colour channels of a 3-D array."""
    if values.ndim == 3:
        colour = values[..., :3] if values.shape[2] >= 3 else values[..., :1]
        return colour.astype(np.float64).mean(axis=2)
    return values.astype(np.float64)


def _signed_limit(values: NDArray[np.float64]) -> float:
    magnitude = np.abs(values[np.isfinite(values)])
    if magnitude.size == 0:
        return 1.0
    if magnitude.size >= ROBUST_MIN_SIZE:
        limit = float(np.percentile(magnitude, ROBUST_PERCENTILE))
    else:
        limit = float(magnitude.max())
    return limit if limit > 0 else (float(magnitude.max()) or 1.0)


_Labels = tuple[Any, NDArray[np.float64], Any, bool]

#: Arrays up to this many rows and columns are drawn cell by cell; larger ones (photos)
#: are resampled smoothly to the panel, which shows them without aliasing.
CELLS_MAX = 128


def _interpolation(values: NDArray[Any]) -> str:
    return "nearest" if max(values.shape[:2]) <= CELLS_MAX else "antialiased"


def _draw(
    figure: Any,
    axes: Any,
    array: ArrayLike,
    title: str,
    *,
    signed: bool | None = None,
) -> _Labels | None:
    """Draw one array on ``axes`` by the rules of the module notes.

    Returns what :func:`_label_cells` needs to label its cells once the figure is laid
    out, or None for an image drawn as pixels.
    """
    from matplotlib.colors import Normalize

    values = np.asarray(array)
    axes.set_title(title, fontsize=10)
    axes.set_xticks([])
    axes.set_yticks([])
    pixels = _pixels(values) if signed is None else None
    if pixels is not None:
        if pixels.ndim == 3:
            axes.imshow(pixels, interpolation=_interpolation(pixels))
            return None
        shown = axes.imshow(
            pixels, cmap="gray", vmin=0.0, vmax=1.0, interpolation=_interpolation(pixels)
        )
        top = float(np.iinfo(values.dtype).max) if values.dtype.kind == "u" else 1.0
        bar = figure.colorbar(shown, ax=axes, shrink=0.8, ticks=[0.0, 0.5, 1.0])
        bar.ax.set_yticklabels([_format_value(v * top) for v in (0.0, 0.5, 1.0)])
        return None
    plane = _plane(values)
    finite = plane[np.isfinite(plane)]
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 0.0
    is_signed = low < 0 if signed is None else signed
    if is_signed:
        limit = _signed_limit(plane)
        norm = Normalize(vmin=-limit, vmax=limit)
        cmap = "RdBu_r"
        extend = "both" if max(-low, high) > limit * (1 + 1e-12) else "neither"
    else:
        norm = Normalize(vmin=low, vmax=high if high > low else low + 1.0)
        cmap = "gray"
        extend = "neither"
    image = axes.imshow(plane, cmap=cmap, norm=norm, interpolation=_interpolation(plane))
    figure.colorbar(image, ax=axes, shrink=0.8, extend=extend)
    return (axes, plane, norm, is_signed)


def _label_all(figure: Any, pending: Sequence[_Labels | None]) -> None:
    """Lay the figure out once, then label the cells of every array that asked."""
    if not any(item is not None for item in pending):
        return
    figure.canvas.draw()  # lay out, so each panel's size on the page is known
    for item in pending:
        if item is not None:
            _label_cells(figure, *item)


def _label_cells(figure: Any, axes: Any, plane: NDArray[Any], norm: Any, signed: bool) -> None:
    """Write each value in its cell, in a font that fits; nothing if the cells are tiny."""
    box = axes.get_window_extent()
    rows, cols = plane.shape
    cell_points = min(box.width / cols, box.height / rows) * 72.0 / figure.dpi
    if cell_points * 0.7 < MIN_LABEL_POINTS:
        return
    texts = _cell_texts(plane, digits=3 if max(rows, cols) <= 5 else 2)
    # Measure the longest label at 10 points; labels fill at most 80% of a cell's width.
    probe = axes.text(0, 0, max(texts, key=len), fontsize=10.0)
    width_at_10 = probe.get_window_extent(figure.canvas.get_renderer()).width
    probe.remove()
    cell_pixels = min(box.width / cols, box.height / rows)
    size = min(9.0, cell_points * 0.7, 10.0 * 0.8 * cell_pixels / max(width_at_10, 1.0))
    if size < MIN_LABEL_POINTS:
        return
    for (row, col), text in zip(np.ndindex(rows, cols), texts, strict=True):
        shade = norm(plane[row, col])
        dark = shade > 0.75 or shade < 0.25 if signed else shade < 0.5
        axes.text(
            col,
            row,
            text,
            ha="center",
            va="center",
            fontsize=size,
            color="white" if dark else "black",
        )


def _cell_texts(plane: NDArray[Any], digits: int) -> list[str]:
    """Cell labels on one scale: ``digits`` significant digits of the largest value.

    Every label has the same number of decimals (trailing zeros dropped), so values far
    below the largest read as 0 -- as their colour does -- instead of as ``7.2e-09``.
    """
    values = plane.ravel()
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e6:
        return [_format_value(value) for value in values]
    peak = float(np.abs(finite).max()) if finite.size else 0.0
    decimals = 0 if peak == 0 else int(np.clip(digits - 1 - np.floor(np.log10(peak)), 0, 8))
    texts = []
    for value in values:
        if not np.isfinite(value):
            texts.append(str(value))
            continue
        text = f"{value:.{decimals}f}"
        text = text.rstrip("0").rstrip(".") if "." in text else text
        texts.append("0" if text in ("-0", "") else text)
    return texts


def _format_value(value: float, digits: int = 3) -> str:
    if not np.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{int(value)}"
    return f"{value:.{digits}g}"


def plot_arrays(
    arrays: Sequence[ArrayLike],
    titles: Sequence[str],
    path: str | os.PathLike[str],
    *,
    signed: Sequence[bool | None] | None = None,
    suptitle: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Draw arrays side by side and write a PNG.

    Parameters
    ----------
    arrays : sequence of array_like, each (H, W) or (H, W, C)
        Drawn by the rules of the module notes: pixels as the image they are, signed
        arrays centred at 0 with robust limits, others in grey, each with a colour bar
        (but colour images).
    titles : sequence of str
        One per array.
    path : str or path-like
        The ``.png`` file to write.
    signed : sequence of bool or None, optional
        Per array: True forces the diverging map centred at 0, False the grey map from
        the minimum to the maximum, None (default) the rules above.
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
    figure = _new_figure(_PANEL_INCHES * len(arrays), 3.1 + (0.3 if suptitle else 0.0))
    panels = figure.subplots(1, len(arrays), squeeze=False)[0]
    pending = [
        _draw(figure, axes, array, title, signed=flag)
        for axes, array, title, flag in zip(panels, arrays, titles, flags, strict=True)
    ]
    if suptitle:
        figure.suptitle(suptitle, fontsize=11)
    _label_all(figure, pending)
    return _save(figure, path, overwrite)


def plot_filter(
    image: ArrayLike,
    kernel: ArrayLike,
    output: ArrayLike,
    path: str | os.PathLike[str],
    *,
    response: ArrayLike | None = None,
    titles: Sequence[str] = ("input", "kernel", "output"),
    suptitle: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Input, kernel and output side by side, and the signed response if there is one.

    Parameters
    ----------
    image, kernel, output : array_like
        ``output`` is drawn as it is: pass the pixels written to a file to see that
        image (colour as colour), or a response to see its values.
    response : array_like, optional
        The filter response before it became pixels.  If it has negative values it is
        drawn as a fourth panel, centred at 0 with robust limits (the mean of the
        colour channels for a colour image).
    titles : sequence of 3 str, optional
    suptitle : str, optional
    overwrite : bool, optional

    Returns
    -------
    Path
        ``path``.

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
    arrays = [image, kernel, output]
    names = list(titles)
    flags: list[bool | None] = [None, True, None]
    output_array = np.asarray(output)
    if output_array.dtype.kind in "ui":
        names[2] = f"{names[2]} ({output_array.dtype}, as written)"
    if response is not None:
        values = np.asarray(response)
        if values.size and float(np.nanmin(values)) < 0:
            arrays.append(values)
            names.append("signed response" + (" (channel mean)" if values.ndim == 3 else ""))
            flags.append(True)
    return plot_arrays(arrays, names, path, signed=flags, suptitle=suptitle, overwrite=overwrite)


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


_Window = tuple[tuple[int, int], tuple[int, int]]

#: The colour of each link of a chain: a unit and the window it reads one level down.
_CHAIN_COLOURS = ("tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:brown")


def plot_layer_chain(
    arrays: Sequence[ArrayLike],
    units: Sequence[tuple[int, int]],
    windows: Sequence[_Window],
    path: str | os.PathLike[str],
    *,
    field: _Window | None = None,
    titles: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
    suptitle: str | None = None,
    overwrite: bool = False,
) -> Path:
    """A stack of layers as grids of values, and the window each chosen unit reads.

    Parameters
    ----------
    arrays : sequence of array_like, each 2-D
        The input, then each layer's output: ``arrays[0]`` is read by layer 1, whose
        output is ``arrays[1]``, and so on.  Drawn with their values in the cells.
    units : sequence of (int, int)
        ``units[i]`` is a unit (row, column) of ``arrays[i + 1]``, outlined.
    windows : sequence of ((row_start, row_stop), (col_start, col_stop))
        ``windows[i]``: the cells of ``arrays[i]`` that ``units[i]`` reads (stops
        exclusive), outlined in the unit's colour and joined to it by a line.
    path : str or path-like
        The ``.png`` file to write.
    field : ((row_start, row_stop), (col_start, col_stop)), optional
        The receptive field of the last unit in ``arrays[0]``, shaded.
    titles : sequence of str, optional
        One per array, over its panel.
    symbols : sequence of str, optional
        One short name per array, for the legend (default ``level 0``, ``level 1``...).
    suptitle : str, optional
    overwrite : bool, optional

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    The chapter's two stacked 2x2 layers: the last unit reads all of the 2x2 hidden
    layer, whose unit (0, 0) reads the top-left 2x2 of the input; together, all 3x3.

    >>> import numpy as np, os, tempfile
    >>> from corr2d import corr2d
    >>> from corr2d.plot import plot_layer_chain
    >>> X = np.arange(9.0).reshape(3, 3); K = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> Y = corr2d(X, K); Z = corr2d(Y, K)
    >>> path = os.path.join(tempfile.mkdtemp(), "chain.png")
    >>> plot_layer_chain([X, Y, Z], [(0, 0), (0, 0)], [((0, 2), (0, 2)), ((0, 2), (0, 2))],
    ...                  path, field=((0, 3), (0, 3))).name
    'chain.png'
    """
    from matplotlib.patches import ConnectionPatch, Rectangle

    grids = [np.asarray(array, dtype=np.float64) for array in arrays]
    if len(grids) < 2 or any(grid.ndim != 2 for grid in grids):
        raise ValueError("plot_layer_chain: `arrays` must be at least two 2-D arrays")
    if len(units) != len(grids) - 1 or len(windows) != len(grids) - 1:
        raise ValueError(
            f"plot_layer_chain: `units` and `windows` must have {len(grids) - 1} entries "
            f"(one per layer), got {len(units)} and {len(windows)}"
        )
    short = list(symbols) if symbols is not None else [f"level {i}" for i in range(len(grids))]
    names = list(titles) if titles is not None else short
    tallest = max(grid.shape[0] for grid in grids)
    widths = [max(grid.shape[1], 2) for grid in grids]
    cell = min(0.75, 9.0 / (sum(widths) + 1.2 * len(grids)))
    figure = _new_figure(cell * (sum(widths) + 1.2 * len(grids)) + 0.6, cell * tallest + 2.2)
    panels = figure.subplots(1, len(grids), gridspec_kw={"width_ratios": widths})
    for axes, grid, name in zip(panels, grids, names, strict=True):
        cols = grid.shape[1]
        spare = (max(cols, 2) - cols) / 2
        axes.set_xlim(-0.5 - spare, cols - 0.5 + spare)
        axes.set_ylim(tallest - 0.5, -0.5)
        axes.set_aspect("equal")
        axes.axis("off")
        axes.set_title(name, fontsize=10)
        for (row, col), value in np.ndenumerate(grid):
            axes.add_patch(
                Rectangle((col - 0.5, row - 0.5), 1, 1, facecolor="none", edgecolor="0.4")
            )
            axes.text(col, row, _format_value(value), ha="center", va="center", fontsize=11)
    if field is not None:
        (r0, r1), (c0, c1) = field
        panels[0].add_patch(
            Rectangle(
                (c0 - 0.5, r0 - 0.5),
                c1 - c0,
                r1 - r0,
                facecolor="0.8",
                edgecolor="none",
                zorder=0.5,
                label=f"receptive field of the last unit: {r1 - r0}x{c1 - c0}",
            )
        )
    for level, (unit, window) in enumerate(zip(units, windows, strict=True)):
        colour = _CHAIN_COLOURS[level % len(_CHAIN_COLOURS)]
        (r0, r1), (c0, c1) = window
        below, above = panels[level], panels[level + 1]
        below.add_patch(
            Rectangle(
                (c0 - 0.5 + 0.06 * level, r0 - 0.5 + 0.06 * level),
                c1 - c0 - 0.12 * level,
                r1 - r0 - 0.12 * level,
                fill=False,
                edgecolor=colour,
                lw=3,
                zorder=3,
                label=f"{short[level + 1]}[{unit[0]}, {unit[1]}] reads "
                f"{r1 - r0}x{c1 - c0} of {short[level]}",
            )
        )
        above.add_patch(
            Rectangle(
                (unit[1] - 0.5, unit[0] - 0.5), 1, 1, fill=False, edgecolor=colour, lw=3, zorder=3
            )
        )
        figure.add_artist(
            ConnectionPatch(
                xyA=(c1 - 0.5, (r0 + r1) / 2 - 0.5),
                coordsA="data",
                axesA=below,
                xyB=(unit[1] - 0.5, unit[0]),
                coordsB="data",
                axesB=above,
                color=colour,
                lw=1.5,
                arrowstyle="-|>",
            )
        )
    figure.legend(loc="outside lower center", ncols=1, fontsize=9, frameon=False)
    if suptitle:
        figure.suptitle(suptitle, fontsize=11)
    return _save(figure, path, overwrite)


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
