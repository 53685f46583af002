"""Task loops over tiles of an image: separable passes, running sums and small 2-D kernels,
with the border rule and the pixel type handled tile by tile.

None of these loops pads or converts the whole image.  The image is read through two
tables: ``rows[i]`` is the source row of row ``i`` of the extended image, or -1 outside
it (the fill value), and ``cols[p]`` the source element of element ``p`` of an extended
row (``-1`` likewise).  Any border rule is such a pair of tables (SciPy's 'symm',
'wrap' and 'fill' for kernels of any size, PyTorch's 'reflect' and 'replicate').  An
interleaved colour row (RGBRGB...) is a row of ``width * channels`` elements whose taps
are ``channels`` elements apart, so a colour image is filtered in one call, in its own
layout.

Each task is a tile of output rows by output elements.  It gathers the part of the
extended image its outputs read into a small buffer (converting 8/16-bit pixels to the
working float type on the way; a plain copy for interior tiles), runs the passes from
:mod:`corr2d.core._microkernels` on it, and stores its outputs in the output's type
(rounded to nearest-even and clamped for 8/16-bit pixels).  The buffers stay in the
core's cache, so the image is read once and the output written once.

* :func:`separable_task` -- ``sum_s`` (pass down the rows with ``columns[s]``, then
  along them with ``rows_f[s]``): separable and low-rank kernels;
* :func:`box_task` -- running sums down the rows and along them, times one weight: box
  kernels on integer pixels, exact (every sum is an integer below 2**24 or 2**53);
* :func:`direct_task` -- every tap of a 2-D kernel, one output row at a time: small
  kernels that do not split, on colour images.

Tasks are claimed from a shared counter (:func:`corr2d.core._pool.run_tasks`).  The
loops are compiled once per combination of pixel, working and output types and cached
on disk (:mod:`corr2d.core._cache`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from corr2d.core._cache import attach_disk_cache, cache_folder
from corr2d.core._microkernels import (
    PASS_COLUMNS,
    PASS_ROWS,
    TAP_COLUMNS,
    VECTOR_BYTES,
    column_block,
    next_task,
    tap_block,
)

__all__ = [
    "box_task",
    "box_tile_plan",
    "direct_task",
    "separable_task",
    "task_loop",
    "tile_plan",
]

#: Bytes of a tile's buffer of first-pass results (it stays in a core's level-2 cache).
_TILE_BYTES = 320 * 1024
#: Output rows per tile, at most.
_TILE_ROWS = 64
#: Output elements per tile row (more for kernels whose extent would dominate).
_TILE_WIDTH = 1024

_options: dict[str, Any] = {"nogil": True, "error_model": "numpy", "boundscheck": False}


def task_loop(func: Any = None, *, reassociate: bool = False) -> Any:
    """Compile a task loop, cached in the checked folder of :mod:`corr2d.core._cache`
    (the helpers it calls are compiled into it).  With ``reassociate`` LLVM may reorder
    its sums (to vectorise a reduction), so its roundings are not the written order's."""
    if func is None:
        return lambda f: task_loop(f, reassociate=reassociate)
    options = {**_options, "fastmath": {"reassoc", "contract"}} if reassociate else _options
    dispatcher = njit(**options)(func)
    attach_disk_cache(dispatcher, cache_folder())
    return dispatcher


def tile_plan(
    out_rows: int, out_elements: int, kh: int, reach: int, itemsize: int
) -> tuple[int, int]:
    """(rows, elements) of an output tile for a kernel of ``kh`` rows whose taps span
    ``reach`` elements along a row, so that one gather buffer fits ``_TILE_BYTES``."""
    width = min(out_elements, _TILE_WIDTH)
    if reach > width // 4:  # wide kernels: wider tiles, so that overlap stays below 1/4
        width = min(out_elements, 4 * reach)
    stride = width + reach + 64
    rows = _TILE_BYTES // (stride * itemsize)
    rows = max(PASS_ROWS * 4, min(rows, _TILE_ROWS))
    rows = -(-rows // PASS_ROWS) * PASS_ROWS
    return min(rows, out_rows), width


@njit(**_options)
def _lanes(buffer):  # type: ignore[no-untyped-def]
    return VECTOR_BYTES // buffer.itemsize


@njit(**_options)
def _store_rows(  # type: ignore[no-untyped-def]
    block,
    out,
    row0,
    col0,
    count,
    width,
    scratch,
    stride,
    spacing,
    weights,
    kh,
    kw,
    start,
    start_stride,
    use_start,
):
    """out[row0 + r, col0 : col0 + width] for r < count by :func:`tap_block` over
    ``block`` (rows ``stride`` apart), plus ``start`` (rows ``start_stride`` apart) if
    ``use_start``; the last block of a row moved back to end at ``width``, rows
    narrower than a block through ``scratch``."""
    step = TAP_COLUMNS * _lanes(block)
    flat = out.reshape(-1)
    row_stride = out.shape[1]
    for r in range(count):
        base = r * stride
        target = (row0 + r) * row_stride + col0
        if width >= step:
            q = 0
            while q < width:
                q = min(q, width - step)
                tap_block(  # type: ignore[call-arg]
                    block,
                    base + q,
                    stride,
                    spacing,
                    weights,
                    0,
                    kh,
                    kw,
                    start,
                    r * start_stride + q,
                    use_start,
                    flat,
                    target + q,
                )
                q += step
        else:
            tap_block(  # type: ignore[call-arg]
                block,
                base,
                stride,
                spacing,
                weights,
                0,
                kh,
                kw,
                start,
                r * start_stride,
                use_start,
                scratch,
                0,
            )
            flat[target : target + width] = scratch[:width]


@njit(**_options)
def _column_pass(source, base, sstride, weights, weights_base, kh, count, width, passed, pstride):  # type: ignore[no-untyped-def]
    """passed[r*pstride + p] = sum_u weights[weights_base + u] * source[base + (r + u)*sstride + p]
    for r < count and p < width.  Where there are at least a block's rows (columns) the
    last block is moved back to end at ``count`` (``width``), so nothing past the
    source's window is read; otherwise whole blocks read past it (a gather buffer's
    spare rows and columns) and compute outputs that are not used."""
    rows_step = PASS_ROWS
    step = PASS_COLUMNS * _lanes(passed)
    r = 0
    while r < count:
        if count >= rows_step:
            r = min(r, count - rows_step)
        p = 0
        while p < width:
            if width >= step:
                p = min(p, width - step)
            column_block(  # type: ignore[call-arg]
                source,
                base + r * sstride + p,
                sstride,
                weights,
                weights_base,
                kh,
                passed,
                r * pstride + p,
                pstride,
            )
            p += step
        r += rows_step


@njit(**_options)
def _contiguous(table, start, length):  # type: ignore[no-untyped-def]
    """Whether table[start : start + length] is first, first + 1, ... with first >= 0."""
    first = table[start]
    if first < 0 or table[start + length - 1] - first != length - 1:
        return False
    for p in range(start, start + length - 1):  # noqa: SIM110 (a plain loop for numba)
        if table[p + 1] - table[p] != 1:
            return False
    return True


@njit(**_options)
def _runs(cols, col0, width, starts):  # type: ignore[no-untyped-def]
    """Cut the extended row's elements col0 .. col0 + width into runs of consecutive
    source elements (the image's own stretch, and the mirrored or wrapped stretches of
    the border) and runs of the fill value: run ``i`` is ``starts[i] .. starts[i + 1]``
    (offsets from ``col0``).  Returns the number of runs."""
    runs = 0
    p = 0
    while p < width:  # a run: cols[p], cols[p] + 1, ... (or -1, -1, ...)
        starts[runs] = p
        runs += 1
        first = cols[col0 + p]
        p += 1
        while p < width and (
            (first < 0 and cols[col0 + p] < 0)
            or (first >= 0 and cols[col0 + p] == first + p - starts[runs - 1])
        ):
            p += 1
    starts[runs] = width
    return runs


@njit(**_options)
def _gather_row(flat, row_length, source, cols, col0, starts, runs, fill, buffer, base):  # type: ignore[no-untyped-def]
    """buffer[base + p] = source row ``source`` (-1: the fill value) of the flat image at
    the extended elements col0 + p, p < starts[runs], run by run, in the buffer's type."""
    for run in range(runs):  # explicit loops over views: slice assignment is not vectorised
        begin, end = starts[run], starts[run + 1]
        first = cols[col0 + begin]
        into = buffer[base + begin : base + end]
        if source < 0 or first < 0:
            for p in range(end - begin):
                into[p] = fill
        else:
            start = source * row_length + first
            taken = flat[start : start + end - begin]
            for p in range(end - begin):
                into[p] = taken[p]


@njit(**_options)
def _gather(src, rows, cols, fill, row0, count, col0, width, buffer, stride):  # type: ignore[no-untyped-def]
    """buffer[r*stride + p] = extended image at (row0 + r, col0 + p) for r < count,
    p < width, in the buffer's type; the rest of each buffer row is zero.

    The extended row is cut once into runs (:func:`_runs`) and each run is copied as a
    block."""
    starts = np.empty(width + 1, dtype=np.int64)
    runs = _runs(cols, col0, width, starts)
    flat = src.reshape(-1)
    row_length = src.shape[1]
    for r in range(count):
        base = r * stride
        _gather_row(flat, row_length, rows[row0 + r], cols, col0, starts, runs, fill, buffer, base)
        buffer[base + width : base + stride] = 0


@njit(**_options)
def _tile(task, tiles_across, tile_rows, tile_width, out):  # type: ignore[no-untyped-def]
    """(first row, first element, rows, elements) of tile ``task``."""
    row0 = (task // tiles_across) * tile_rows
    col0 = (task % tiles_across) * tile_width
    return row0, col0, min(tile_rows, out.shape[0] - row0), min(tile_width, out.shape[1] - col0)


@njit(**_options)
def _tiles(out, tile_rows, tile_width):  # type: ignore[no-untyped-def]
    return (-(-out.shape[0] // tile_rows)) * (-(-out.shape[1] // tile_width))


@njit(**_options)
def _image_stretch(cols, col0, width, starts):  # type: ignore[no-untyped-def]
    """(lo, hi): the longest run of consecutive image elements among the extended row's
    elements col0 + lo .. col0 + hi (``starts``: scratch of ``width + 1``)."""
    runs = _runs(cols, col0, width, starts)
    lo, hi = 0, 0
    for run in range(runs):
        begin, end = starts[run], starts[run + 1]
        if cols[col0 + begin] >= 0 and end - begin > hi - lo:
            lo, hi = begin, end
    return lo, hi


@njit(**_options)
def _gather_part(src, rows, cols, fill, row0, count, col0, lo, hi, starts, buffer, stride):  # type: ignore[no-untyped-def]
    """buffer[r*stride + p] = extended image at (row0 + r, col0 + p) for r < count and
    lo <= p < hi, in the buffer's type; nothing else in the buffer changes."""
    runs = _runs(cols, col0 + lo, hi - lo, starts)
    flat = src.reshape(-1)
    row_length = src.shape[1]
    for r in range(count):
        _gather_row(
            flat,
            row_length,
            rows[row0 + r],
            cols,
            col0 + lo,
            starts,
            runs,
            fill,
            buffer,
            r * stride + lo,
        )


@task_loop
def separable_task(  # type: ignore[no-untyped-def]
    src, rows, cols, fill, columns, rows_f, spacing, out, tile_rows, tile_width, counter
):
    """out = sum_s rows_f[s] along (columns[s] down (extended src)), tile by tile.

    ``columns`` (rank, kh) and ``rows_f`` (rank, kw) are in the working type; ``out``
    is (out rows, out elements), C-contiguous; taps along a row are ``spacing`` apart.
    """
    rank, kh = columns.shape
    kw = rows_f.shape[1]
    reach = (kw - 1) * spacing
    stride = tile_width + reach + 2 * PASS_COLUMNS * _lanes(columns)
    height = -(-tile_rows // PASS_ROWS) * PASS_ROWS
    gathered = np.zeros((height + kh - 1) * stride, dtype=columns.dtype)
    passed = np.zeros(height * stride, dtype=columns.dtype)
    flat_src = src.reshape(-1)
    src_stride = src.shape[1]
    partial = np.empty(tile_rows * tile_width + TAP_COLUMNS * _lanes(columns), columns.dtype)
    scratch = np.empty(TAP_COLUMNS * _lanes(columns), dtype=out.dtype)
    partial_scratch = np.empty(TAP_COLUMNS * _lanes(columns), dtype=columns.dtype)
    flat_columns = columns.reshape(-1)
    flat_rows = rows_f.reshape(-1)
    tiles_across = -(-out.shape[1] // tile_width)
    tiles = _tiles(out, tile_rows, tile_width)
    partial_2d = partial[: tile_rows * tile_width].reshape(tile_rows, tile_width)
    starts = np.empty(stride + 1, dtype=np.int64)
    while True:
        task = next_task(counter)  # type: ignore[call-arg,var-annotated]
        if task >= tiles:
            break
        row0, col0, count, width = _tile(task, tiles_across, tile_rows, tile_width, out)
        span = width + reach
        lo, hi = 0, 0  # the stretch of the tile's columns read in place (whole blocks)
        if count >= PASS_ROWS and _contiguous(rows, row0, count + kh - 1):
            lo, hi = _image_stretch(cols, col0, span, starts)
            if hi - lo < PASS_COLUMNS * _lanes(columns):
                lo, hi = 0, 0
        # gathered: elements 0 .. left and right .. span (all of them without a stretch)
        left, right = (lo, hi) if hi > lo else (span, span)
        if left > 0:
            _gather_part(
                src, rows, cols, fill, row0, count + kh - 1, col0, 0, left, starts, gathered, stride
            )
        if right < span:
            _gather_part(
                src,
                rows,
                cols,
                fill,
                row0,
                count + kh - 1,
                col0,
                right,
                span,
                starts,
                gathered,
                stride,
            )
        for s in range(rank):
            # the gathered parts first: a part narrower than a block computes a whole
            # block, which the stretch read in place then overwrites
            if left > 0:
                _column_pass(
                    gathered, 0, stride, flat_columns, s * kh, kh, count, left, passed, stride
                )
            if right < span:
                _column_pass(
                    gathered,
                    right,
                    stride,
                    flat_columns,
                    s * kh,
                    kh,
                    count,
                    span - right,
                    passed[right:],
                    stride,
                )
            if hi > lo:
                base = rows[row0] * src_stride + cols[col0 + lo]
                _column_pass(
                    flat_src,
                    base,
                    src_stride,
                    flat_columns,
                    s * kh,
                    kh,
                    count,
                    hi - lo,
                    passed[lo:],
                    stride,
                )
            row_weights = flat_rows[s * kw : (s + 1) * kw]
            if s == rank - 1:
                _store_rows(
                    passed,
                    out,
                    row0,
                    col0,
                    count,
                    width,
                    scratch,
                    stride,
                    spacing,
                    row_weights,
                    1,
                    kw,
                    partial,
                    tile_width,
                    1 if rank > 1 else 0,
                )
            else:
                _store_rows(
                    passed,
                    partial_2d,
                    0,
                    0,
                    count,
                    width,
                    partial_scratch,
                    stride,
                    spacing,
                    row_weights,
                    1,
                    kw,
                    partial,
                    tile_width,
                    1 if s > 0 else 0,
                )


@task_loop
def direct_task(src, rows, cols, fill, kernel, spacing, out, tile_rows, tile_width, counter):  # type: ignore[no-untyped-def]
    """out = the 2-D correlation of the extended src with ``kernel`` (working type), every
    tap of an output at once, tile by tile; taps along a row ``spacing`` apart."""
    kh, kw = kernel.shape
    reach = (kw - 1) * spacing
    stride = tile_width + reach + 2 * TAP_COLUMNS * _lanes(kernel)
    gathered = np.zeros((tile_rows + kh - 1) * stride, dtype=kernel.dtype)
    scratch = np.empty(TAP_COLUMNS * _lanes(kernel), dtype=out.dtype)
    weights = kernel.reshape(-1)
    tiles_across = -(-out.shape[1] // tile_width)
    tiles = _tiles(out, tile_rows, tile_width)
    while True:
        task = next_task(counter)  # type: ignore[call-arg,var-annotated]
        if task >= tiles:
            break
        row0, col0, count, width = _tile(task, tiles_across, tile_rows, tile_width, out)
        _gather(src, rows, cols, fill, row0, count + kh - 1, col0, width + reach, gathered, stride)
        _store_rows(
            gathered,
            out,
            row0,
            col0,
            count,
            width,
            scratch,
            stride,
            spacing,
            weights,
            kh,
            kw,
            gathered,
            0,
            0,
        )


def box_tile_plan(out_rows: int, out_elements: int, kh: int, reach: int) -> tuple[int, int]:
    """(rows, elements) of a running-sum tile.  Each tile first sums ``kh - 1`` rows
    that only start its window, so tiles are taller than the passes' (up to 4 times),
    and as wide."""
    width = min(out_elements, _TILE_WIDTH)
    if reach > width // 4:
        width = min(out_elements, 4 * reach)
    rows = min(max(_TILE_ROWS, 8 * (kh - 1)), 4 * _TILE_ROWS)
    return min(rows, out_rows), width


@njit(**_options)
def _box_levels(kw):  # type: ignore[no-untyped-def]
    """Rows of buffer :func:`_along_row` needs for ``kw`` taps: the column sums, then the
    sums of 2, 4, ... up to the largest power of two <= ``kw`` consecutive taps."""
    levels = 0
    while kw >> levels:
        levels += 1
    return levels


@njit(**_options)
def _add_row(sums, entering, leaving, slide):  # type: ignore[no-untyped-def]
    """sums[p] += entering[p] (- leaving[p] if ``slide``), over the length of ``sums``."""
    if slide:
        for p in range(sums.shape[0]):
            sums[p] += entering[p] - leaving[p]
    else:
        for p in range(sums.shape[0]):
            sums[p] += entering[p]


@njit(**_options)
def _doubled(levels, stride, span, kw, spacing, starts):  # type: ignore[no-untyped-def]
    """Sum the column sums in ``levels[:span]`` along the row by doubling: row ``j`` of
    ``levels`` (``stride`` apart) gets the sums of ``2**j`` consecutive taps (``spacing``
    apart) from row ``j - 1``.  ``starts[i]`` is set to where the ``i``-th part of
    ``kw``'s binary digits, largest first, starts in ``levels``, so that the window at
    ``p`` is ``sum_i levels[starts[i] + p]``; returns the number of parts."""
    length = span
    j = 0
    while (2 << j) <= kw:
        shift = (1 << j) * spacing
        length -= shift
        below = levels[j * stride : j * stride + length]
        ahead = levels[j * stride + shift : j * stride + shift + length]
        above = levels[(j + 1) * stride : (j + 1) * stride + length]
        for p in range(length):
            above[p] = below[p] + ahead[p]
        j += 1
    starts[0] = j * stride
    parts = 1
    taken = 1 << j
    for b in range(j - 1, -1, -1):
        if kw & (1 << b):
            starts[parts] = b * stride + taken * spacing
            parts += 1
            taken += 1 << b
    return parts


@njit(**_options)
def _along_row(levels, starts, parts, width, window, scaled, weight, top, target):  # type: ignore[no-untyped-def]
    """target[p] = weight * sum_i levels[starts[i] + p] for p < width (:func:`_doubled`),
    the sum converted to ``weight``'s type (through ``scaled``) before it is multiplied;
    for pixel outputs (``top`` > 0, the largest pixel value) rounded to nearest-even and
    clamped to 0 .. top.  The last pass adds up to four parts; ``window`` holds the sum
    of any parts before them, then as many zeros."""
    half = window.shape[0] // 2
    zeros = window[half : half + width]
    extra = zeros
    first = 0
    if parts > 4:  # kw has more than 4 binary digits set
        extra = window[:width]
        extra[:] = 0
        while parts - first > 3:
            a = levels[starts[first] : starts[first] + width]
            b = levels[starts[first + 1] : starts[first + 1] + width]
            for p in range(width):
                extra[p] += a[p] + b[p]
            first += 2
    a = levels[starts[first] : starts[first] + width]
    b = levels[starts[first + 1] : starts[first + 1] + width] if parts - first > 1 else zeros
    c = levels[starts[first + 2] : starts[first + 2] + width] if parts - first > 2 else zeros
    d = levels[starts[first + 3] : starts[first + 3] + width] if parts - first > 3 else extra
    converted = scaled[:width]
    if top > 0:
        low = top * 0
        for p in range(width):
            converted[p] = a[p] + b[p] + c[p] + d[p]
            target[p] = min(max(np.rint(weight * converted[p]), low), top)
    else:
        for p in range(width):
            converted[p] = a[p] + b[p] + c[p] + d[p]
            target[p] = weight * converted[p]


@task_loop
def box_task(  # type: ignore[no-untyped-def]
    src, rows, cols, fill, like, weight, kh, kw, spacing, top, out, tile_rows, tile_width, counter
):
    """out = weight * (sum of the extended src over each kh x kw window), by running
    sums, tile by tile.

    The sums are in ``like``'s type (an integer type they cannot overflow, or float64
    where they stay below 2**53: exact either way); ``fill`` must be a value of
    ``src``'s type; ``weight`` and ``top`` are in the working type, which multiplies each
    sum (converted to it) by ``weight``.  For pixel outputs ``top`` is the largest pixel
    value (results rounded to nearest-even and clamped), else 0.

    Down the rows, a tile keeps one row of column sums, which each output row updates by
    adding the extended row that enters the window and subtracting the one that leaves
    it (read in place where the tile's columns are the image's own, else gathered into a
    ring of ``kh + 1`` rows); along the row, the column sums are summed by doubling
    (:func:`_doubled`).  Every loop runs over whole rows of independent elements, so it
    vectorises.
    """
    reach = (kw - 1) * spacing
    stride = tile_width + reach
    ring_rows = kh + 1
    ring = np.empty(ring_rows * stride, dtype=src.dtype)
    levels = np.empty(_box_levels(kw) * stride, dtype=like.dtype)
    window = np.zeros(2 * tile_width, dtype=like.dtype)  # partial sums, then zeros
    scaled = np.full(tile_width, weight)  # the working type
    starts = np.empty(stride + 1, dtype=np.int64)
    parts_at = np.empty(64, dtype=np.int64)
    flat = src.reshape(-1)
    row_length = src.shape[1]
    tiles_across = -(-out.shape[1] // tile_width)
    tiles = _tiles(out, tile_rows, tile_width)
    while True:
        task = next_task(counter)  # type: ignore[call-arg,var-annotated]
        if task >= tiles:
            break
        row0, col0, count, width = _tile(task, tiles_across, tile_rows, tile_width, out)
        span = width + reach
        runs = _runs(cols, col0, span, starts)
        in_place = _contiguous(cols, col0, span)
        sums = levels[:span]
        sums[:] = 0
        leaving = ring[:span]
        for i in range(count + kh - 1):  # extended row row0 + i enters the window
            source = rows[row0 + i]
            if in_place and source >= 0:
                entering = flat[source * row_length + cols[col0] :][:span]
            else:
                slot = (i % ring_rows) * stride
                _gather_row(flat, row_length, source, cols, col0, starts, runs, fill, ring, slot)
                entering = ring[slot : slot + span]
            _add_row(sums, entering, leaving, i >= kh)
            if i >= kh - 1:
                parts = _doubled(levels, stride, span, kw, spacing, parts_at)
                target = out[row0 + i - kh + 1, col0 : col0 + width]
                _along_row(levels, parts_at, parts, width, window, scaled, weight, top, target)
            # the row that leaves the window next: row0 + i - kh + 1
            gone = rows[row0 + i - kh + 1] if i >= kh - 1 else -1
            if i >= kh - 1 and in_place and gone >= 0:
                leaving = flat[gone * row_length + cols[col0] :][:span]
            elif i >= kh - 1:
                slot = ((i - kh + 1) % ring_rows) * stride
                leaving = ring[slot : slot + span]
