"""Which input pixels each output block of a sliding-window operation reads.

Along one axis, a sliding-window operation (a correlation, or a layer's strided
correlation) extends the input by a border rule, then computes output ``o`` from the
extended positions ``[stride * o, stride * o + extent)``.  For an output block
``[o0, o1)`` that is the *window* ``[stride * o0, stride * (o1 - 1) + extent)`` of the
extended axis.  This module maps every window position back to the input pixel it copies
(or to the fill value), and describes the window as a few *runs*: stretches that read
consecutive pixels, forwards or backwards, of one input chunk.  The border rule is
``np.pad``'s own, applied to the indices ``0 .. n - 1``, so every rule (and pads wider
than the input, which repeat the rule) means exactly what it means in memory.

Nothing here knows about Dask: it is arithmetic on chunk sizes, tested on its own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FILL",
    "AxisPlan",
    "Run",
    "Window",
    "merge_thin_chunks",
    "output_chunks",
    "plan_axis",
    "source_indices",
]

#: The chunk index of window positions that hold the fill value (``np.pad``'s constant).
FILL = -1


@dataclass(frozen=True)
class Run:
    """Window positions ``[start, start + length)`` reading one chunk, or the fill value.

    Position ``start + i`` copies pixel ``first + step * i`` of input chunk ``chunk``
    (counted from the chunk's start); ``step`` is +1 or -1 (a mirrored border).  For
    ``chunk == FILL`` the positions hold the fill value and ``first``/``step`` are unused.
    """

    start: int
    length: int
    chunk: int
    first: int
    step: int


@dataclass(frozen=True)
class Window:
    """The window of one output block along one axis.

    ``reads`` has one ``(chunk, lo, hi)`` per input chunk the window touches: the
    smallest stretch ``[lo, hi)`` of that chunk (counted from its start) covering every
    run that reads it.
    """

    length: int
    runs: tuple[Run, ...]
    reads: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class AxisPlan:
    """The output chunks along one axis and the window each one reads."""

    chunks: tuple[int, ...]
    windows: tuple[Window, ...]


def source_indices(length: int, pads: tuple[int, int], np_mode: str) -> NDArray[np.int64]:
    """The input index each position of the extended axis copies (``FILL`` for constants).

    Examples
    --------
    >>> source_indices(4, (2, 2), "symmetric")
    array([1, 0, 0, 1, 2, 3, 3, 2])
    >>> source_indices(3, (1, 2), "constant")
    array([-1,  0,  1,  2, -1, -1])
    """
    indices = np.arange(length, dtype=np.int64)
    if np_mode == "constant":
        return np.pad(indices, pads, mode="constant", constant_values=FILL)
    return np.pad(indices, pads, mode=np_mode)  # type: ignore[call-overload]


def output_chunks(input_chunks: tuple[int, ...], out_length: int, stride: int) -> tuple[int, ...]:
    """Output chunks that follow the input's: a cut after input pixel ``b`` becomes a cut
    after output ``ceil(b / stride)``, clipped to the output's length.

    With stride 1 and an output as long as the input ('same') the chunks are the input's;
    'full' lengthens the last chunk, 'valid' shortens (or drops) the last ones.

    Examples
    --------
    >>> output_chunks((4, 4, 2), 10, 1)
    (4, 4, 2)
    >>> output_chunks((4, 4, 2), 7, 1)
    (4, 3)
    >>> output_chunks((4, 4, 2), 5, 2)
    (2, 2, 1)
    """
    cuts = {0, out_length}
    for boundary in np.cumsum(input_chunks)[:-1]:
        cuts.add(min(out_length, -(-int(boundary) // stride)))
    ordered = sorted(cuts)
    return tuple(b - a for a, b in itertools.pairwise(ordered) if b > a)


def merge_thin_chunks(chunks: tuple[int, ...], minimum: int) -> tuple[int, ...]:
    """Merge neighbouring chunks until each holds at least ``minimum`` pixels.

    A window then reaches at most one chunk beyond its own on each side.  A thin
    remainder at the end joins the chunk before it.

    Examples
    --------
    >>> merge_thin_chunks((1, 1, 1, 1, 1), 2)
    (2, 3)
    >>> merge_thin_chunks((5, 1, 5), 3)
    (5, 6)
    """
    if minimum <= 1 or min(chunks) >= minimum:
        return tuple(chunks)
    merged: list[int] = []
    current = 0
    for size in chunks:
        current += size
        if current >= minimum:
            merged.append(current)
            current = 0
    if current:
        if merged:
            merged[-1] += current
        else:
            merged.append(current)
    return tuple(merged)


def plan_axis(
    input_chunks: tuple[int, ...],
    pads: tuple[int, int],
    np_mode: str,
    extent: int,
    stride: int = 1,
) -> AxisPlan:
    """The output chunks along one axis and, for each, the window it reads.

    Parameters
    ----------
    input_chunks : tuple of int
        The input's chunk sizes along the axis.
    pads : (int, int)
        Pixels added before and after the input by the border rule.
    np_mode : str
        The border rule as an ``np.pad`` mode ('constant', 'wrap', 'symmetric',
        'reflect', 'edge').
    extent : int
        Extended positions one output reads: the kernel's size, dilated.
    stride : int, optional
        Step between outputs.

    Examples
    --------
    Two chunks of 3 pixels, a 3-tap kernel and a mirrored border of 1 on each side
    ('same'): the first window reads pixel 0 mirrored, chunk 0 and one pixel of chunk 1.

    >>> plan = plan_axis((3, 3), (1, 1), "symmetric", 3)
    >>> plan.chunks
    (3, 3)
    >>> [(run.start, run.length, run.chunk, run.first) for run in plan.windows[0].runs]
    [(0, 1, 0, 0), (1, 3, 0, 0), (4, 1, 1, 0)]
    >>> plan.windows[0].reads
    ((0, 0, 3), (1, 0, 1))
    """
    length = int(sum(input_chunks))
    sources = source_indices(length, pads, np_mode)
    out_length = (len(sources) - extent) // stride + 1
    chunks = output_chunks(tuple(input_chunks), out_length, stride)
    starts = np.concatenate([[0], np.cumsum(input_chunks)]).astype(np.int64)
    owners = np.where(sources < 0, FILL, np.searchsorted(starts, sources, side="right") - 1)
    windows = []
    first_output = 0
    for size in chunks:
        begin = stride * first_output
        end = stride * (first_output + size - 1) + extent
        windows.append(_window(sources[begin:end], owners[begin:end], starts))
        first_output += size
    return AxisPlan(chunks, tuple(windows))


def _window(sources: NDArray[np.int64], owners: NDArray[np.int64], starts: NDArray[Any]) -> Window:
    """Split a window's source indices into runs, and what it reads from each chunk."""
    runs: list[Run] = []
    length = len(sources)
    position = 0
    while position < length:
        chunk = int(owners[position])
        rest = np.arange(length - position)
        if chunk == FILL:
            continues = owners[position:] == FILL
            first, step = 0, 1
        else:
            first = int(sources[position] - starts[chunk])
            backwards = (
                position + 1 < length
                and owners[position + 1] == chunk
                and sources[position + 1] == sources[position] - 1
            )
            step = -1 if backwards else 1
            continues = (owners[position:] == chunk) & (
                sources[position:] == sources[position] + step * rest
            )
        breaks = np.flatnonzero(~continues)
        run_length = int(breaks[0]) if breaks.size else length - position
        runs.append(Run(position, run_length, chunk, first, step))
        position += run_length
    spans: dict[int, tuple[int, int]] = {}
    for run in runs:
        if run.chunk == FILL:
            continue
        last = run.first + run.step * (run.length - 1)
        lo, hi = min(run.first, last), max(run.first, last) + 1
        if run.chunk in spans:
            old_lo, old_hi = spans[run.chunk]
            lo, hi = min(lo, old_lo), max(hi, old_hi)
        spans[run.chunk] = (lo, hi)
    reads = tuple((chunk, lo, hi) for chunk, (lo, hi) in sorted(spans.items()))
    return Window(length, tuple(runs), reads)
