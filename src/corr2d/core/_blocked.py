"""Multi-channel convolution as an implicit matrix product over tap offsets.

The forward pass of a layer is ``out[o, q] = sum_k W[o, k] * patches[k, q]`` with one
row of ``patches`` per tap ``k = (c, u, v)`` and one column per output position ``q``.
Patch matrices (im2col) copy every input pixel ``kh * kw`` times to form that product.
This module forms it without copies, from one flat buffer per image:

* **Phases.**  With a stride ``s``, the input is split into its ``s_h * s_w`` phases
  (phase ``(r, t)`` holds pixels ``(r + s_h*a, t + s_w*b)``), so that consecutive
  outputs read consecutive pixels of one phase.  With stride 1 there is one phase, the
  padded image itself.
* **Wide rows.**  Output position ``q = i * row_width + j`` indexes the phase grid, so
  a run of consecutive ``q`` reads a run of consecutive pixels for every tap; positions
  with ``j >= ow`` are computed and dropped (``(kw - 1) * d / s`` columns per row).
  With stride 1 a row's right zero padding is the next row's left padding (the reads
  past a row's end land there), so a row holds ``left + width + right - shared``
  pixels and drops ``shared`` fewer positions, ``shared = min(left, right, (kw-1)*d)``:
  a 3x3 layer padded by 1 computes 33 positions per row of 32 outputs, not 34.
* **Offsets.**  Tap ``(c, u, v)`` reads ``flat[c * channel + phase(u, v) + q +
  shift(u, v)]``: one integer per tap, ``offsets[k]``.

The micro-kernels of :mod:`corr2d.core._microkernels` then keep an 8-channel by
48-position block (AVX-512, float32) in registers over all taps.  The forward pass
builds that layout band by band (:func:`band_plan`): each task rearranges one image's
band of output rows, with the phase rows below it that its taps reach, into its
thread's buffer while it is in that core's cache, sums it, and writes each channel's
rows of output in order.  No buffer larger than the input, the output and the weights
is allocated.

Everything here expects float32 or float64 arrays; :func:`suitable` says when the
engine should come here.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, NamedTuple

import numpy as np
from numba import get_num_threads, njit, prange
from numpy.typing import NDArray

from corr2d.core._bands import task_loop
from corr2d.core._loops import Loop
from corr2d.core._microkernels import (
    COLUMNS,
    OUTER_TAPS,
    OUTER_VECTORS,
    ROWS,
    TAPS,
    VECTOR_BYTES,
    copy_even_run,
    copy_run,
    dot_block,
    fma_block,
    fma_rows_block,
    next_task,
    outer_block,
    transpose_block,
)
from corr2d.core._padding import NO_PADS, Pads

__all__ = [
    "Bands",
    "Layout",
    "band_plan",
    "band_reference",
    "conv2d_blocked",
    "grad_weight_blocked",
    "lanes",
    "outer_gradient",
    "outer_gradient_reference",
    "phase_layout",
    "scratch",
    "shared_columns",
    "suitable",
]

#: Output positions per task of the weight gradient (a multiple of every lane count).
_SEGMENT = 512
#: Bytes of one band's rearranged input and sums in the forward pass: they stay in the
#: core's L2 cache (2 MiB on the reference CPU) beside the weights.
_BAND_BYTES = 2**20
#: The forward pass cuts a batch into at least this many tasks per thread where it has
#: rows enough (a thread woken late still finds some to take) ...
_TASKS_PER_THREAD = 4
#: ... and a batch of fewer images than threads (a stem's single image) into this many:
#: a helper joins the calling thread 25-45 us late and runs a few percent slower, so
#: with the stem's 8 bands of 130 us each the caller waited 60-100 us for the last one.
_FEW_IMAGES_TASKS_PER_THREAD = 12
_OPTIONS: dict[str, Any] = {"nogil": True, "error_model": "numpy", "boundscheck": False}
#: Largest scratch buffer (bytes) a thread keeps for its next call (:func:`scratch`).
_KEPT_BYTES = 32 * 2**20


class _Kept(threading.local):
    """Each thread's scratch buffers, by name, kept from one call to the next."""

    def __init__(self) -> None:
        self.buffers: dict[str, NDArray[Any]] = {}


_kept = _Kept()


def scratch(name: str, size: int, dtype: np.dtype[Any]) -> NDArray[Any]:
    """``size`` elements of ``dtype``, uninitialised, for one call's buffer ``name``: the
    memory of this thread's previous buffer of that name where it is large enough.

    A training step allocates and frees several buffers of megabytes; the C library hands
    such memory back to the system and the next step takes it again page by page (one
    fault per 4 KiB page, 2 us each measured here: 3.5 ms for a 7 MiB rearranged input).
    Buffers of up to ``_KEPT_BYTES`` are kept per thread; the caller must be done with
    the buffer before it asks for the same name again.
    """
    dtype = np.dtype(dtype)
    kept = _kept.buffers.get(name)
    if kept is not None and kept.dtype == dtype and kept.size >= size:
        return kept[:size]
    buffer = np.empty(size, dtype=dtype)
    if buffer.nbytes <= _KEPT_BYTES:
        _kept.buffers[name] = buffer
    return buffer


def lanes(dtype: np.dtype[Any]) -> int:
    """Elements of ``dtype`` per vector register."""
    return VECTOR_BYTES // dtype.itemsize


def suitable(dtype: np.dtype[Any], out_group: int) -> bool:
    """Whether the blocked kernels serve this layer: real floats, and enough output
    channels per group to fill most of a block of ``ROWS``."""
    return dtype in (np.float32, np.float64) and 2 * out_group >= ROWS


class Layout(NamedTuple):
    """A padded batch rearranged for the blocked kernels (see the module notes)."""

    flat: NDArray[Any]  # every image's phases, then zeros the last reads may reach
    image_stride: int  # elements from one image to the next
    group_stride: int  # from one group's first channel to the next group's
    offsets: NDArray[np.int64]  # one per tap (c, u, v), in the weight's order
    row_width: int  # positions per wide output row
    out_shape: tuple[int, int]  # (oh, ow)
    reach: int  # positions read per image: oh * row_width, rounded up


def _padded(count: int, multiple: int) -> int:
    """``count`` rounded up to a multiple of ``multiple``."""
    return -(-count // multiple) * multiple


def _interior(start: int, step: int, pad: int, size: int) -> tuple[int, int, int]:
    """For the phase of padded pixels ``start, start + step, ...``: the index of its
    first pixel inside the image, how many are inside, and that pixel's image index."""
    first = max(0, -(-(pad - start) // step))
    source = start + step * first - pad
    count = max(0, -(-(size - source) // step)) if source < size else 0
    return first, count, source


def shared_columns(pads: Pads, kw: int, sw: int, dw: int) -> int:
    """Zero columns a wide row shares with the next (see the module notes): with stride
    1, as many as both sides pad and a window reaches past its first column."""
    (_, _), (left, right) = pads
    return min(left, right, dw * (kw - 1)) if sw == 1 else 0


def _wide_rows(
    shape: tuple[int, ...],
    pads: Pads,
    kernel_shape: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int, int]:
    """(oh, ow, row_width) of a batch of ``shape`` zero-padded by ``pads`` (module notes)."""
    (top, bottom), (left, right) = pads
    hp, wp = shape[2] + top + bottom, shape[3] + left + right
    (kh, kw), (sh, sw), (dh, dw) = kernel_shape, stride, dilation
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    return oh, ow, -(-wp // sw) - shared_columns(pads, kw, sw, dw)


def _offsets(
    c_group: int,
    kernel_shape: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    phase_rows: int,
    row_width: int,
) -> NDArray[np.int64]:
    """Tap ``(c, u, v)``'s offset in phases of ``phase_rows`` wide rows (module notes)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_shape, stride, dilation
    phase = phase_rows * row_width
    c, u, v = np.meshgrid(np.arange(c_group), np.arange(kh), np.arange(kw), indexing="ij")
    which = ((u * dh) % sh) * sw + (v * dw) % sw
    offsets = c * sh * sw * phase + which * phase + (u * dh // sh) * row_width + v * dw // sw
    return np.ascontiguousarray(offsets.ravel(), dtype=np.int64)


def phase_layout(
    x: NDArray[Any],
    pads: Pads,
    kernel_shape: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    multiple: int,
    kept: bool = False,
) -> Layout:
    """Rearrange ``x`` (N, C, H, W), zero-padded by ``pads``, so that tap ``k`` of output
    position ``q`` of image ``n``, group ``g`` is
    ``flat[n*image_stride + g*group_stride + offsets[k] + q]``.

    Consumers read ``reach`` positions per image (``oh * row_width`` rounded up to a
    ``multiple``); the buffer is long enough, and zero wherever it is not input.  The
    padding is written in place, so the padded batch itself is never built.  With
    ``kept``, ``flat`` is this thread's kept buffer (:func:`scratch`), valid until the
    thread's next layout that is kept.
    """
    n_batch, channels, height, width = x.shape
    (top, bottom), (left, _) = pads
    (sh, sw) = stride
    oh, ow, row_width = _wide_rows(x.shape, pads, kernel_shape, stride, dilation)
    rows = -(-(height + top + bottom) // sh)
    phase = rows * row_width
    channel = sh * sw * phase
    image_stride = channels * channel
    group_stride = (channels // groups) * channel
    reach = _padded(oh * row_width, multiple)

    offsets = _offsets(channels // groups, kernel_shape, stride, dilation, rows, row_width)

    last = (groups - 1) * group_stride + int(offsets.max()) + reach
    size = (n_batch - 1) * image_stride + max(last, image_stride)
    flat = scratch("layout", size, x.dtype) if kept else np.empty(size, dtype=x.dtype)
    flat[n_batch * image_stride :] = 0
    grid = flat[: n_batch * image_stride].reshape(n_batch, channels, sh, sw, rows, row_width)
    for r in range(sh):
        a0, na, y0 = _interior(r, sh, top, height)
        for t in range(sw):
            b0, nb, x0 = _interior(t, sw, left, width)
            target = grid[:, :, r, t]
            if na == 0 or nb == 0:
                target[...] = 0
                continue
            # zero only the frame around the image's pixels, then copy them
            target[:, :, :a0] = 0
            target[:, :, a0 + na :] = 0
            target[:, :, a0 : a0 + na, :b0] = 0
            target[:, :, a0 : a0 + na, b0 + nb :] = 0
            target[:, :, a0 : a0 + na, b0 : b0 + nb] = x[:, :, y0::sh, x0::sw]
    return Layout(flat, image_stride, group_stride, offsets, row_width, (oh, ow), reach)


class Bands(NamedTuple):
    """How the forward pass cuts a batch into tasks: (image, band of output rows), each
    band's rows of the phase layout rearranged into a buffer of its own."""

    rows: int  # output rows per band (the last band may have fewer)
    per_image: int  # bands per image
    phase_rows: int  # rows of each phase in a band's buffer: its output rows' reach
    row_width: int  # positions per wide output row (as in :class:`Layout`)
    offsets: NDArray[np.int64]  # one per tap, within a band's buffer
    out_shape: tuple[int, int]  # (oh, ow)
    size: int  # elements of a band's buffer: the phases, then zeros the reads may reach


@functools.lru_cache(maxsize=64)
def band_plan(
    shape: tuple[int, int, int, int],
    itemsize: int,
    pads: Pads,
    kernel_shape: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    multiple: int,
    tasks: int,
    out_channels: int,
    budget: int,
) -> Bands:
    """Bands of output rows for an input of ``shape`` (N, C, H, W) zero-padded by ``pads``:
    each band's buffer and its ``out_channels`` rows of sums within ``budget`` bytes
    where a row allows, and at least ``tasks`` tasks in all where there are rows enough.
    Consumers read ``multiple``-long runs of positions from a band's first, the last run
    rounded up.  The plans of the last few geometries are kept (a layer called again
    skips the tap offsets' arithmetic); their arrays must not be changed."""
    n_batch, channels = shape[:2]
    (kh, _), (sh, sw), (dh, _) = kernel_shape, stride, dilation
    oh, ow, row_width = _wide_rows(shape, pads, kernel_shape, stride, dilation)
    halo = dh * (kh - 1) // sh  # phase rows below a band's last output row that it reads
    row_bytes = (channels * sh * sw + out_channels) * row_width * itemsize
    fitting = max(1, budget // row_bytes - halo)
    count = max(-(-oh // fitting), min(oh, -(-tasks // n_batch)))
    rows = -(-oh // count)
    count = -(-oh // rows)
    phase_rows = rows + halo
    offsets = _offsets(channels // groups, kernel_shape, stride, dilation, phase_rows, row_width)
    channel = sh * sw * phase_rows * row_width
    last = (groups - 1) * (channels // groups) * channel + int(offsets.max())
    size = max(channels * channel, last + _padded(rows * row_width, multiple))
    return Bands(rows, count, phase_rows, row_width, offsets, (oh, ow), size)


@njit(**_OPTIONS)
def _fill_band(x, n, row0, top, left, sh, sw, phase_rows, row_width, buffer):  # type: ignore[no-untyped-def]
    """Phase rows ``row0 .. row0 + phase_rows - 1`` of image ``n`` of ``x`` (N, C, H, W),
    zero-padded by ``top`` rows and ``left`` columns (and zeros past its end), into
    ``buffer``: for channel c, phase (r, t), row a and column b,

        buffer[(((c*sh + r)*sw + t)*phase_rows + a)*row_width + b]
            = x[n, c, r + sh*(row0 + a) - top, t + sw*b - left]

    where that pixel is inside ``x``, else 0.  Nothing past those elements changes."""
    channels, height, width = x.shape[1:]
    source = x.reshape(-1)
    for c in range(channels):
        plane = (n * channels + c) * height * width
        for r in range(sh):
            for t in range(sw):
                b0 = max(0, -((t - left) // sw))  # first column inside the image
                x0 = t + sw * b0 - left
                inside = min(row_width - b0, -(-(width - x0) // sw)) if x0 < width else 0
                base = ((c * sh + r) * sw + t) * phase_rows * row_width
                for a in range(phase_rows):
                    y = r + sh * (row0 + a) - top
                    line = base + a * row_width
                    if y < 0 or y >= height or inside <= 0:
                        for b in range(row_width):
                            buffer[line + b] = 0
                        continue
                    first = plane + y * width + x0
                    for b in range(b0):
                        buffer[line + b] = 0
                    if sw == 1:
                        copy_run(source, first, buffer, line + b0, inside)  # type: ignore[call-arg]
                    elif sw == 2:
                        copy_even_run(source, first, buffer, line + b0, inside)  # type: ignore[call-arg]
                    else:
                        for b in range(inside):
                            buffer[line + b0 + b] = source[first + sw * b]
                    for b in range(b0 + inside, row_width):
                        buffer[line + b] = 0


def band_reference(
    x: NDArray[Any],
    n: int,
    row0: int,
    pads: Pads,
    stride: tuple[int, int],
    phase_rows: int,
    row_width: int,
) -> NDArray[Any]:
    """The slow twin of :func:`_fill_band`: the band sliced from image ``n`` zero-padded
    by ``pads`` (top and left as given, as much as needed below and to the right),
    shape (C, sh, sw, phase_rows, row_width)."""
    (top, _), (left, _) = pads
    sh, sw = stride
    channels, height, width = x.shape[1:]
    rows = sh * (row0 + phase_rows) + sh
    cols = sw * row_width + sw
    padded = np.zeros((channels, top + height + rows, left + width + cols), dtype=x.dtype)
    padded[:, top : top + height, left : left + width] = x[n]
    band = np.zeros((channels, sh, sw, phase_rows, row_width), dtype=x.dtype)
    for r in range(sh):
        for t in range(sw):
            rows_of_phase = padded[:, r::sh, t::sw]
            band[:, r, t] = rows_of_phase[:, row0 : row0 + phase_rows, :row_width]
    return band


@task_loop
def _forward_task(  # type: ignore[no-untyped-def]
    x,
    top,
    left,
    sh,
    sw,
    band_rows,
    phase_rows,
    row_width,
    offsets,
    weights,
    bias,
    groups,
    block,
    out,
    direct,
    workspace,
    slots,
    counter,
):
    """out[n, o] for every image of ``x`` (N, C, H, W), zero-padded by ``top`` rows and
    ``left`` columns: one task per (image, band of ``band_rows`` output rows).

    Each thread takes a row of ``workspace`` (claimed through ``slots``, a one-element
    counter: as many rows as threads): a band's buffer, whose tail past the phases it
    zeroes once, then (unless ``direct``) a scratch row of sums per channel.  A task
    rearranges its band into the buffer (:func:`_fill_band`) and runs every ``block``
    of positions through the micro-kernel for every channel block: with ``direct``
    (wide rows of at least a vector) :func:`fma_rows_block` stores the real outputs
    (``j < ow``) straight into ``out``; otherwise :func:`fma_block` sums into the
    scratch rows and the real outputs are copied to ``out`` after.  With ``direct``,
    ``weights`` and ``bias`` are the layer's own (C_out, ...) weights, flat, and one
    value per channel; otherwise ``weights`` holds each group's weights in blocks of
    ROWS output channels (zero rows pad the last block), tap-major, and ``bias`` one
    value per padded channel.
    """
    n_batch, channels = x.shape[:2]
    c_out, oh, ow = out.shape[1:]
    out_group = c_out // groups
    channel_blocks = (out_group + ROWS - 1) // ROWS
    padded = groups * channel_blocks * ROWS  # channels of the scratch rows
    taps = offsets.size
    bands = (oh + band_rows - 1) // band_rows
    group_stride = (channels // groups) * sh * sw * phase_rows * row_width
    length = (band_rows * row_width + block - 1) // block * block  # positions of a band
    mine = workspace[next_task(slots)]  # type: ignore[call-arg]
    buffer = mine[: mine.size - (0 if direct else padded * length)]
    scratch = mine[buffer.size :]
    for p in range(channels * sh * sw * phase_rows * row_width, buffer.size):
        buffer[p] = 0
    target = out.reshape(-1)
    while True:
        task = next_task(counter)
        if task >= n_batch * bands:
            break
        n = task // bands
        i0 = (task % bands) * band_rows
        rows = min(band_rows, oh - i0)
        _fill_band(x, n, i0, top, left, sh, sw, phase_rows, row_width, buffer)
        if direct:
            for q0 in range(0, rows * row_width, block):
                for g in range(groups):
                    for cb in range(channel_blocks):
                        o = g * out_group + cb * ROWS  # the block's first channel
                        fma_rows_block(
                            buffer,
                            g * group_stride + q0,
                            offsets,
                            weights,
                            o * taps,
                            bias,
                            o,
                            target,
                            ((n * c_out + o) * oh + i0) * ow,
                            oh * ow,
                            min(ROWS, out_group - cb * ROWS),
                            q0,
                            row_width,
                            ow,
                            rows * row_width,
                        )
            continue
        for q0 in range(0, rows * row_width, block):
            for g in range(groups):
                for cb in range(channel_blocks):
                    b = g * channel_blocks + cb
                    fma_block(
                        buffer,
                        g * group_stride + q0,
                        offsets,
                        weights,
                        b * taps * ROWS,
                        bias,
                        b * ROWS,
                        scratch,
                        b * ROWS * length + q0,
                        length,
                    )
        # the real outputs (j < ow) of each channel, row after row: one run of the
        # output written in order, never a few lines of every channel's plane at a time
        # (planes of 4 KiB multiples share the same few cache sets)
        for g in range(groups):
            for o in range(out_group):
                row = (g * channel_blocks * ROWS + o) * length
                at = ((n * c_out + g * out_group + o) * oh + i0) * ow
                for i in range(rows):
                    copy_run(scratch, row + i * row_width, target, at + i * ow, ow)


@Loop
def _weight_gradient(  # type: ignore[no-untyped-def]
    grad, flat, image_stride, group_stride, offsets, length, segment, partial
):
    """partial[chunk, g, o, k]: the weight gradient summed over the chunk's tasks.

    ``grad`` is (N, groups, padded out_group, length): the output gradient in wide rows,
    zero at dropped positions and padded channels.  One task per (image, segment of
    positions); each chunk of tasks sums into its own ``partial[chunk]``.
    """
    chunks, groups, rows, taps = partial.shape
    n_batch = grad.shape[0]
    segments = (length + segment - 1) // segment
    tasks = n_batch * segments
    partial[...] = 0
    for chunk in prange(chunks):
        target = partial[chunk].reshape(-1)
        for task in range(chunk * tasks // chunks, (chunk + 1) * tasks // chunks):
            n = task // segments
            p0 = (task % segments) * segment
            run = min(segment, length - p0)
            for g in range(groups):
                source = n * image_stride + g * group_stride + p0
                g_rows = grad[n, g].reshape(-1)
                for r0 in range(0, rows, ROWS):
                    for t0 in range(0, taps, TAPS):
                        dot_block(  # type: ignore[call-arg]
                            g_rows,
                            r0 * length + p0,
                            length,
                            flat,
                            source,
                            offsets,
                            t0,
                            run,
                            target,
                            (g * rows + r0) * taps + t0,
                            taps,
                        )


class _Fill(NamedTuple):
    """What :func:`_outer_task` needs to rearrange each image itself (as
    :func:`phase_layout` would): the batch (N, C, H, W), its zero padding on top and on
    the left, the stride and the phase rows.  An empty ``x``: nothing to rearrange."""

    x: NDArray[Any]
    top: int
    left: int
    sh: int
    sw: int
    rows: int


@task_loop
def _outer_task(  # type: ignore[no-untyped-def]
    grad,
    width,
    flat,
    image_stride,
    group_stride,
    offsets,
    length,
    segment,
    partial,
    bias,
    fill,
    workspace,
    slots,
    counter,
):
    """partial[chunk, g, k, o]: the weight gradient summed over the chunk's tasks, by
    :func:`outer_block`; bias[chunk, g, o]: the output gradient summed over them.

    ``grad`` is the output gradient (N, C_out, oh, ow); output position ``p`` of the
    wide rows (``width`` a row, ``length`` in all) is pixel (p // width, p % width).
    A task is an (image, segment of positions); the tasks are cut into
    ``partial.shape[0]`` chunks of consecutive tasks, and the threads claim whole chunks
    through ``counter``, so each chunk's sums run in one fixed order whichever thread
    takes it (and however many there are).  Each thread takes a row of ``workspace``
    through ``slots``: its scratch block of (positions, padded channels).  A task
    transposes each group's gradient at its positions into that block, by
    :func:`transpose_block` where a wide row has a block of positions, zero at dropped
    positions and padded channels, sums it over its positions (in the gradient's
    dtype, at most ``segment`` terms, then added to ``bias`` in float64), then
    multiplies it with every tap's pixels.

    With ``fill`` (an :class:`_Fill`), the chunks are whole images, and a chunk first
    rearranges each of its images into ``flat`` (:func:`_fill_band`, the whole image
    as one band, then zeros up to the next image) while the image is in the core's
    cache; else ``flat`` already holds every image.
    """
    chunks, groups, taps, padded = partial.shape
    n_batch, c_out, oh, ow = grad.shape
    out_group = c_out // groups
    size = VECTOR_BYTES // grad.itemsize
    block = OUTER_VECTORS * size
    segments = (length + segment - 1) // segment
    tasks = n_batch * segments
    flat_grad = grad.reshape(-1)
    plane = oh * ow
    mine = workspace[next_task(slots)]  # type: ignore[call-arg]
    scratch = mine[: segment * padded]
    sums = mine[segment * padded : (segment + 1) * padded]
    scratch[:] = 0  # the padded channels' columns stay zero
    while True:
        chunk = next_task(counter)
        if chunk >= chunks:
            break
        target = partial[chunk].reshape(-1)
        target[:] = 0
        bias[chunk] = 0
        first, end = chunk * tasks // chunks, (chunk + 1) * tasks // chunks
        if fill.x.size > 0:  # whole images
            first = chunk * n_batch // chunks * segments
            end = (chunk + 1) * n_batch // chunks * segments
        for task in range(first, end):
            n = task // segments
            p0 = (task % segments) * segment
            run = min(segment, length - p0)
            if fill.x.size > 0 and p0 == 0:
                image = flat[n * image_stride : (n + 1) * image_stride]
                written = fill.x.shape[1] * fill.sh * fill.sw * fill.rows * width
                _fill_band(
                    fill.x, n, 0, fill.top, fill.left, fill.sh, fill.sw, fill.rows, width, image
                )
                image[written:] = 0
            for g in range(groups):
                # one wide-row piece at a time, each channel's run read contiguously:
                # a channel per position would read one line of every plane in turn,
                # and planes of 4 KiB multiples share the same few cache sets
                p = 0
                while p < run:
                    i = (p0 + p) // width
                    j = p0 + p - i * width
                    piece = min(run - p, width - j)
                    live = max(0, min(piece, ow - j))
                    if live >= size and out_group >= size:
                        # square blocks transposed in registers; the last block of
                        # channels and of positions overlaps the one before it (fewer
                        # channels than a block: one by one, below)
                        for o_block in range(0, out_group, size):
                            o = min(o_block, out_group - size)
                            row = ((n * c_out + g * out_group + o) * oh + i) * ow + j
                            for t_block in range(0, live, size):
                                t = min(t_block, live - size)
                                transpose_block(
                                    flat_grad, row + t, plane, scratch, (p + t) * padded + o, padded
                                )
                    else:
                        for o in range(out_group):
                            pixels = grad[n, g * out_group + o, i, j : j + live]
                            for t in range(live):
                                scratch[(p + t) * padded + o] = pixels[t]
                    scratch[(p + live) * padded : (p + piece) * padded] = 0
                    p += piece
                # the bias gradient: whole rows of channels added, position by position
                sums[:] = 0
                for p in range(run):
                    row = scratch[p * padded : (p + 1) * padded]
                    for o in range(padded):
                        sums[o] += row[o]
                for o in range(padded):
                    bias[chunk, g, o] += sums[o]
                source = n * image_stride + g * group_stride + p0
                for o0 in range(0, padded, block):
                    for t0 in range(0, taps, OUTER_TAPS):
                        outer_block(
                            scratch,
                            o0,
                            padded,
                            flat,
                            source,
                            offsets,
                            t0,
                            run,
                            target,
                            (g * taps + t0) * padded + o0,
                            padded,
                        )


def conv2d_blocked(
    xp: NDArray[Any],
    weight: NDArray[Any],
    bias: NDArray[Any] | None,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    pads: Pads = NO_PADS,
    threads: int | None = None,
) -> NDArray[Any]:
    """``conv2d_valid`` of a batch zero-padded by ``pads``, by the blocked kernels, bias
    included, on ``threads`` threads (None: as many as the work is worth)."""
    from corr2d.core._engine import threads_for
    from corr2d.core._pool import run_tasks

    n_batch = xp.shape[0]
    c_out, _, kh, kw = weight.shape
    out_group = c_out // groups
    block = COLUMNS * lanes(xp.dtype)
    taps = weight[0].size
    padded = _padded(out_group, ROWS)
    oh, ow, _ = _wide_rows(xp.shape, pads, (kh, kw), stride, dilation)
    work = n_batch * groups * padded * taps * oh * ow
    if threads is None:
        threads = threads_for(work)
    bands = band_plan(
        xp.shape,
        xp.itemsize,
        pads,
        (kh, kw),
        stride,
        dilation,
        groups,
        block,
        (_FEW_IMAGES_TASKS_PER_THREAD if n_batch < threads else _TASKS_PER_THREAD) * threads,
        groups * padded,
        _BAND_BYTES,
    )
    direct = _stores_direct(bands.row_width, xp.dtype)
    if direct:  # the layer's own weights, read in place
        weights = np.ascontiguousarray(weight, dtype=xp.dtype).reshape(-1)
        shifts = np.zeros(c_out, xp.dtype) if bias is None else bias
        shifts = np.ascontiguousarray(shifts, dtype=xp.dtype)
    else:
        weights, shifts = _packed(weight, bias, groups, xp.dtype)
    out = np.empty((n_batch, c_out, oh, ow), dtype=xp.dtype)
    (top, _), (left, _) = pads
    length = _padded(bands.rows * bands.row_width, block)
    # a row per thread, kept by the calling thread from one call to the next
    row = bands.size + (0 if direct else groups * padded * length)
    workspace = scratch("forward", max(1, threads) * row, xp.dtype).reshape(-1, row)
    run_tasks(
        _forward_task,
        *(np.ascontiguousarray(xp), top, left, *stride, bands.rows, bands.phase_rows),
        *(bands.row_width, bands.offsets, weights, shifts, groups, block, out),
        *(direct, workspace, np.zeros(1, dtype=np.int64)),
        threads=threads,
        work=work,
    )
    return out


def _packed(
    weight: NDArray[Any], bias: NDArray[Any] | None, groups: int, dtype: np.dtype[Any]
) -> tuple[NDArray[Any], NDArray[Any]]:
    """The weights as :func:`fma_block` reads them (each group's in blocks of ROWS output
    channels, zero rows padding the last block, tap-major) and one bias value per padded
    channel, both flat."""
    c_out, taps = weight.shape[0], weight[0].size
    out_group = c_out // groups
    padded = _padded(out_group, ROWS)
    matrix = np.zeros((groups, padded, taps), dtype=dtype)
    matrix[:, :out_group] = weight.reshape(groups, out_group, taps)
    packed = np.ascontiguousarray(
        matrix.reshape(groups, padded // ROWS, ROWS, taps).transpose(0, 1, 3, 2)
    ).reshape(-1)
    shifts = np.zeros((groups, padded), dtype=dtype)
    if bias is not None:
        shifts[:, :out_group] = bias.reshape(groups, out_group)
    return packed, shifts.reshape(-1)


def _stores_direct(row_width: int, dtype: np.dtype[Any]) -> bool:
    """Whether the forward pass stores its sums straight into the output
    (:func:`fma_rows_block` needs wide rows of at least a vector)."""
    return row_width >= lanes(dtype)


def _tap_offsets(offsets: NDArray[np.int64], multiple: int) -> NDArray[np.int64]:
    """The taps' offsets padded with zeros to a multiple of ``multiple`` taps, as the
    micro-kernels take them: the extra taps read pixel 0 and their sums are dropped."""
    padded = np.zeros(_padded(offsets.size, multiple), dtype=np.int64)
    padded[: offsets.size] = offsets
    return padded


def _partial_sums(n_batch: int, length: int, segment: int) -> int:
    """How many partial weight gradients a task loop over ``segment``-long pieces of
    each image's ``length`` output positions keeps: one per task, at most two per thread."""
    tasks = n_batch * -(-length // segment)
    return max(1, min(tasks, 2 * get_num_threads()))


def grad_weight_blocked(
    xp: NDArray[Any],
    grad_output: NDArray[Any],
    kernel_shape: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    pads: Pads = NO_PADS,
    threads: int | None = None,
) -> tuple[NDArray[Any], NDArray[Any] | None]:
    """(dL/dW, dL/dbias or None) of ``conv2d_valid`` for a batch zero-padded by ``pads``,
    by the blocked kernels: dL/dW of shape (C_out, C/groups, kh, kw), dL/dbias (C_out,).

    ``dW[o, k] = sum over n, q of g[n, o, q] * flat[n, offsets[k] + q]``.  With at
    least ``OUTER_VECTORS`` vectors of output channels per group, by outer products
    (:func:`outer_gradient`), which sum dL/dbias on the way; else each entry a dot
    product over output positions, ROWS x TAPS of them per micro-kernel call, and no
    dL/dbias.  On ``threads`` threads (None: as many as the work is worth).
    """
    n_batch, c_out, oh, ow = grad_output.shape
    c_group = xp.shape[1] // groups
    out_group = c_out // groups
    kh, kw = kernel_shape
    if out_group >= OUTER_VECTORS * lanes(xp.dtype):
        geometry = (kernel_shape, stride, dilation, groups)
        return _grad_weight_outer(xp, grad_output, *geometry, pads, threads)
    layout = phase_layout(
        xp, pads, kernel_shape, stride, dilation, groups, lanes(xp.dtype), kept=True
    )
    length = layout.reach
    width = layout.row_width
    rows = _padded(out_group, ROWS)
    wide = scratch("gradient", n_batch * groups * rows * length, xp.dtype)
    wide = wide.reshape(n_batch, groups, rows, length)
    wide[...] = 0
    grid = wide[..., : oh * width].reshape(n_batch, groups, rows, oh, width)
    grid[:, :, :out_group, :, :ow] = grad_output.reshape(n_batch, groups, out_group, oh, ow)
    taps = layout.offsets.size
    offsets = _tap_offsets(layout.offsets, TAPS)
    chunks = _partial_sums(n_batch, length, _SEGMENT)
    partial = scratch("partial", chunks * groups * rows * offsets.size, xp.dtype)
    partial = partial.reshape(chunks, groups, rows, offsets.size)
    work = n_batch * groups * rows * offsets.size * length
    args = (wide, layout.flat, layout.image_stride, layout.group_stride, offsets)
    if threads == 1:
        _weight_gradient.serial(*args, length, _SEGMENT, partial)
    else:
        from corr2d.core._engine import run

        run(_weight_gradient, *args, length, _SEGMENT, partial, work=work)
    total = partial.sum(axis=0)[:, :out_group, :taps]
    return total.reshape(c_out, c_group, kh, kw), None


#: Most output positions per task of the outer-product weight gradient (the tasks of an
#: image are as long as each other): the scratch block of the transposed gradient
#: (positions by channels) is reused by every tap block.  512 measured as fast as 128
#: on the 16- and 32-channel layers, a little faster on wider.
OUTER_SEGMENT = 512
#: The outer-product weight gradient's partial sums: each sums a fixed run of
#: consecutive tasks, and the threads claim whole runs, so a faster core takes more
#: and the sums' order does not depend on the threads.
_OUTER_CHUNKS = 8


def outer_gradient(
    grad: NDArray[Any],
    row_width: int,
    flat: NDArray[Any],
    image_stride: int,
    group_stride: int,
    tap_offsets: NDArray[np.int64],
    length: int,
    groups: int,
    segment: int = OUTER_SEGMENT,
    threads: int | None = None,
    fill: _Fill | None = None,
) -> tuple[NDArray[Any], NDArray[Any]]:
    """(dL/dW as (groups, C_out/groups, taps), dL/dbias (C_out,)) by outer products
    (:func:`_outer_task`): ``dW[g, o, k] = sum over n, p of grad[n, g*C_out/groups + o,
    p // row_width, p % row_width] * flat[n*image_stride + g*group_stride +
    tap_offsets[k] + p]`` over the ``length`` wide-row positions ``p`` of each image;
    ``grad`` (N, C_out, oh, ow) contiguous, its positions past ``ow`` in a wide row
    counted as zero.  In tasks of at most ``segment`` positions, on ``threads`` threads
    (None: as many as the work is worth).  With ``fill``, ``flat`` is only a buffer of
    ``N * image_stride`` elements that the tasks fill image by image (in chunks of
    whole images)."""
    from corr2d.core._engine import threads_for
    from corr2d.core._pool import run_tasks

    n_batch, c_out = grad.shape[:2]
    out_group = c_out // groups
    padded = _padded(out_group, OUTER_VECTORS * lanes(grad.dtype))
    taps = tap_offsets.size
    offsets = _tap_offsets(tap_offsets, OUTER_TAPS)
    pieces = -(-length // segment)
    segment = -(-length // pieces)  # an image's tasks as long as each other
    chunks = max(1, min(n_batch * pieces, _OUTER_CHUNKS))
    if fill is None:
        fill = _Fill(np.empty((0, 0, 1, 1), dtype=grad.dtype), 0, 0, 1, 1, 0)
    else:
        chunks = min(n_batch, _OUTER_CHUNKS)
    partial = scratch("partial", chunks * groups * offsets.size * padded, grad.dtype)
    partial = partial.reshape(chunks, groups, offsets.size, padded)
    bias = np.empty((chunks, groups, padded), dtype=np.float64)
    work = n_batch * groups * padded * offsets.size * length
    if threads is None:
        threads = threads_for(work)
    row = (segment + 1) * padded  # a thread's transposed block and its sums
    workspace = scratch("outer", max(1, threads) * row, grad.dtype).reshape(-1, row)
    run_tasks(
        _outer_task,
        *(grad, row_width, flat, image_stride, group_stride, offsets, length, segment),
        *(partial, bias, fill, workspace, np.zeros(1, dtype=np.int64)),
        threads=threads,
        work=work,
    )
    total = partial.sum(axis=0)[:, :taps, :out_group]  # (groups, taps, out_group)
    weight = np.ascontiguousarray(total.transpose(0, 2, 1))
    return weight, bias.sum(axis=0)[:, :out_group].reshape(c_out).astype(grad.dtype)


def outer_gradient_reference(
    grad: NDArray[Any],
    row_width: int,
    flat: NDArray[Any],
    image_stride: int,
    group_stride: int,
    tap_offsets: NDArray[np.int64],
    length: int,
    groups: int,
) -> tuple[NDArray[Any], NDArray[Any]]:
    """The slow twin of :func:`outer_gradient`: each sum written out over the positions
    that are pixels (``p % row_width < ow``), in float64, returned in ``grad``'s dtype."""
    n_batch, c_out, _, ow = grad.shape
    out_group = c_out // groups
    weight = np.zeros((groups, out_group, tap_offsets.size))
    bias = np.zeros(c_out)
    for n in range(n_batch):
        for g in range(groups):
            for o in range(out_group):
                for p in range(length):
                    i, j = divmod(p, row_width)
                    if j >= ow:
                        continue
                    value = float(grad[n, g * out_group + o, i, j])
                    bias[g * out_group + o] += value
                    for k, offset in enumerate(tap_offsets):
                        pixel = flat[n * image_stride + g * group_stride + offset + p]
                        weight[g, o, k] += value * float(pixel)
    return weight.astype(grad.dtype), bias.astype(grad.dtype)


def _grad_weight_outer(
    xp: NDArray[Any],
    grad_output: NDArray[Any],
    kernel_shape: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    pads: Pads,
    threads: int | None,
) -> tuple[NDArray[Any], NDArray[Any]]:
    """:func:`grad_weight_blocked` by outer products (see :func:`outer_gradient`), on the
    batch rearranged as :func:`phase_layout` does: by the tasks themselves, an image as
    its chunk begins (the image then still in the core's cache for its products), where
    the batch has at least two images per thread; else beforehand."""
    from corr2d.core._engine import num_threads

    n_batch, channels, height = xp.shape[:3]
    c_group = channels // groups
    grad = np.ascontiguousarray(grad_output)
    oh, _, row_width = _wide_rows(xp.shape, pads, kernel_shape, stride, dilation)
    length = oh * row_width
    if n_batch >= 2 * (num_threads() if threads is None else threads):
        (top, bottom), (left, _) = pads
        (sh, sw) = stride
        rows = -(-(height + top + bottom) // sh)
        offsets = _offsets(c_group, kernel_shape, stride, dilation, rows, row_width)
        channel = sh * sw * rows * row_width
        group_stride = c_group * channel
        # each image followed by the zeros its last reads may reach
        last = (groups - 1) * group_stride + int(offsets.max()) + length
        image_stride = max(channels * channel, last)
        flat = scratch("layout", n_batch * image_stride, xp.dtype)
        fill = _Fill(np.ascontiguousarray(xp), top, left, sh, sw, rows)
    else:
        layout = phase_layout(xp, pads, kernel_shape, stride, dilation, groups, 1, kept=True)
        flat, image_stride, group_stride = layout.flat, layout.image_stride, layout.group_stride
        offsets, fill = layout.offsets, None
    weight, bias = outer_gradient(
        grad,
        row_width,
        flat,
        image_stride,
        group_stride,
        offsets,
        length,
        groups,
        threads=threads,
        fill=fill,
    )
    return weight.reshape(-1, c_group, *kernel_shape), bias
