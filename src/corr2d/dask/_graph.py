"""One Dask task per output block: gather the block's window, then call the core on it.

:func:`map_windows` turns the per-axis plans of :mod:`corr2d.dask._halo` into a task
graph.  Each output block depends on the input chunks its window reads; where it reads
only a strip of a chunk (a halo), a slicing task cuts that strip first, so a worker
receives the strip, not the whole neighbouring chunk.  The block's task copies the runs
into one contiguous window (the border rule included: mirrored runs reversed, the fill
value written), and hands the window to a function that runs the in-memory core on it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.dask._halo import FILL, AxisPlan, Run, Window

__all__ = ["BlockFunction", "WindowAssembler", "map_windows", "window_task"]

#: Computes one output block from its window; both have the two sliding axes last.
BlockFunction = Callable[[NDArray[Any]], NDArray[Any]]

_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class WindowAssembler:
    """Copies one output block's strips into its window (the sliding axes last)."""

    rows: Window
    cols: Window
    axes: tuple[int, int]
    lead: tuple[int, ...]  # the block's shape along the other axes
    dtype: np.dtype
    fill: Any

    def window(self, strips: tuple[NDArray[Any], ...]) -> NDArray[Any]:
        """The block's window, the sliding axes last, in the working dtype."""
        pieces = {}
        for strip, (row_read, col_read) in zip(
            strips, product(self.rows.reads, self.cols.reads), strict=True
        ):
            _check_int64(strip, self.dtype)
            pieces[row_read[0], col_read[0]] = (
                np.moveaxis(strip, self.axes, (-2, -1)),
                row_read[1],
                col_read[1],
            )
        window = np.empty((*self.lead, self.rows.length, self.cols.length), dtype=self.dtype)
        for row_run in self.rows.runs:
            for col_run in self.cols.runs:
                target = window[..., _span(row_run), _span(col_run)]
                if FILL in (row_run.chunk, col_run.chunk):
                    target[...] = self.fill
                    continue
                strip, row_lo, col_lo = pieces[row_run.chunk, col_run.chunk]
                target[...] = strip[..., _source(row_run, row_lo), _source(col_run, col_lo)]
        return window


@dataclass(frozen=True)
class _MapBlock:
    """The task of one output block: its window, then ``function(window)``."""

    assembler: WindowAssembler
    function: BlockFunction

    def __call__(self, *strips: NDArray[Any]) -> NDArray[Any]:
        out = self.function(self.assembler.window(strips))
        return np.moveaxis(out, (-2, -1), self.assembler.axes)


def _span(run: Run) -> slice:
    return slice(run.start, run.start + run.length)


def _source(run: Run, lo: int) -> slice:
    """The run's pixels within a strip that starts at pixel ``lo`` of the chunk."""
    first = run.first - lo
    if run.step == 1:
        return slice(first, first + run.length)
    last = first - run.length
    return slice(first, None if last < 0 else last, -1)


def _check_int64(strip: NDArray[Any], dtype: np.dtype) -> None:
    """uint64 values beyond int64 would wrap when an int64 window holds them."""
    if dtype == np.int64 and strip.dtype == np.uint64 and strip.size and strip.max() > _INT64_MAX:
        raise OverflowError(
            f"an input value {int(strip.max())} lies beyond int64's range, where integer "
            "results are exact; convert the input to float64 (or pass dtype=np.float64)"
        )


def map_windows(
    x: Any,
    axes: tuple[int, int],
    plans: tuple[AxisPlan, AxisPlan],
    function: BlockFunction,
    *,
    window_dtype: np.dtype,
    out_dtype: np.dtype,
    fill: Any = 0,
    other_chunks: dict[int, tuple[int, ...]] | None = None,
    name: str = "corr2d",
) -> Any:
    """A lazy array whose blocks are ``function(window)`` over the planned windows of ``x``.

    Parameters
    ----------
    x : dask.array.Array
        The input; its chunks along ``axes`` are the ones ``plans`` were made from.
    axes : (int, int)
        The two sliding axes of ``x`` (non-negative, distinct).
    plans : (AxisPlan, AxisPlan)
        The windows along ``axes[0]`` and ``axes[1]``.
    function : callable
        Maps a window, shape ``(*other_block_shape, rows, cols)``, to an output block
        with the sliding axes last; it must be picklable for a distributed scheduler.
    window_dtype, out_dtype : dtype
        The dtype windows are assembled in, and the output's.
    fill : scalar, optional
        The value of window positions outside the input under a constant border.
    other_chunks : dict, optional
        Output chunks along other axes, where they differ from the input's (the same
        number of chunks: a layer's channel axis, C_in in and C_out out).
    name : str, optional
        Prefix of the task names.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    token = tokenize(x.name, axes, plans, function, str(window_dtype), str(out_dtype), fill)
    out_name = f"{name}-{token}"
    strip_name = f"{name}-halo-{token}"
    chunks = [tuple(c) for c in x.chunks]
    for axis, plan in zip(axes, plans, strict=True):
        chunks[axis] = plan.chunks
    for axis, sizes in (other_chunks or {}).items():
        chunks[axis] = tuple(sizes)
    layer: dict[Any, Any] = {}
    for index in product(*[range(len(c)) for c in chunks]):
        assembler, dependencies = window_task(
            x, axes, plans, index, np.dtype(window_dtype), fill, strip_name, layer
        )
        out_key = (out_name, *index)
        layer[out_key] = (_MapBlock(assembler, function), *dependencies)
    graph = HighLevelGraph.from_collections(out_name, layer, dependencies=[x])
    meta = np.empty((0,) * x.ndim, dtype=out_dtype)
    return da.Array(graph, out_name, tuple(chunks), meta=meta)


def window_task(
    x: Any,
    axes: tuple[int, int],
    plans: tuple[AxisPlan, AxisPlan],
    index: tuple[int, ...],
    dtype: np.dtype,
    fill: Any,
    strip_name: str,
    layer: dict[Any, Any],
) -> tuple[WindowAssembler, list[Any]]:
    """The assembler of output block ``index`` and the keys of the strips it reads.

    Slicing tasks for strips (parts of chunks) are added to ``layer`` under
    ``strip_name``; whole chunks are read under their own keys.
    """
    rows = plans[0].windows[index[axes[0]]]
    cols = plans[1].windows[index[axes[1]]]
    dependencies = []
    for (row_chunk, row_lo, row_hi), (col_chunk, col_lo, col_hi) in product(rows.reads, cols.reads):
        source = list(index)
        source[axes[0]], source[axes[1]] = row_chunk, col_chunk
        source_key = (x.name, *source)
        whole_rows = (row_lo, row_hi) == (0, x.chunks[axes[0]][row_chunk])
        whole_cols = (col_lo, col_hi) == (0, x.chunks[axes[1]][col_chunk])
        if whole_rows and whole_cols:
            dependencies.append(source_key)
            continue
        strip_key = (strip_name, *source, row_lo, row_hi, col_lo, col_hi)
        if strip_key not in layer:
            selection = [slice(None)] * x.ndim
            selection[axes[0]] = slice(row_lo, row_hi)
            selection[axes[1]] = slice(col_lo, col_hi)
            layer[strip_key] = (operator.getitem, source_key, tuple(selection))
        dependencies.append(strip_key)
    lead = tuple(x.chunks[axis][index[axis]] for axis in range(x.ndim) if axis not in axes)
    return WindowAssembler(rows, cols, axes, lead, dtype, fill), dependencies
