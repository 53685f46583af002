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
48-position block (AVX-512, float32) in registers over all taps.  No buffer larger than
the input, the output and the weights is allocated.

Everything here expects float32 or float64 arrays; :func:`suitable` says when the
engine should come here.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

import numpy as np
from numba import get_num_threads, prange
from numpy.typing import NDArray

from corr2d.core._loops import _CHUNKS, Loop
from corr2d.core._microkernels import (
    COLUMNS,
    OUTER_TAPS,
    OUTER_VECTORS,
    ROWS,
    TAPS,
    VECTOR_BYTES,
    dot_block,
    fma_block,
    outer_block,
)
from corr2d.core._padding import NO_PADS, Pads

__all__ = [
    "Layout",
    "conv2d_blocked",
    "grad_weight_blocked",
    "lanes",
    "phase_layout",
    "scratch",
    "shared_columns",
    "suitable",
]

#: Output positions per task of the weight gradient (a multiple of every lane count).
_SEGMENT = 512
#: Largest scratch buffer (bytes) a thread keeps for its next weight gradient.
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
    (top, bottom), (left, right) = pads
    hp, wp = height + top + bottom, width + left + right
    (kh, kw), (sh, sw), (dh, dw) = kernel_shape, stride, dilation
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    rows, row_width = -(-hp // sh), -(-wp // sw) - shared_columns(pads, kw, sw, dw)
    phase = rows * row_width
    channel = sh * sw * phase
    image_stride = channels * channel
    group_stride = (channels // groups) * channel
    reach = _padded(oh * row_width, multiple)

    c, u, v = np.meshgrid(
        np.arange(channels // groups), np.arange(kh), np.arange(kw), indexing="ij"
    )
    which = ((u * dh) % sh) * sw + (v * dw) % sw
    offsets = c * channel + which * phase + (u * dh // sh) * row_width + v * dw // sw
    offsets = np.ascontiguousarray(offsets.ravel(), dtype=np.int64)

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


@Loop
def _forward(  # type: ignore[no-untyped-def]
    flat, image_stride, group_stride, offsets, packed, bias, groups, row_width, block, out
):
    """out[n, o] for every image: one task per (image, block of ``block`` positions).

    ``packed`` holds each group's weights in blocks of ROWS output channels (zero rows
    pad the last block), tap-major; ``bias`` one value per padded channel.  Each task
    runs every channel block through :func:`fma_block` into a scratch row per channel,
    then copies the positions that are real outputs (``j < ow``) to ``out``.
    """
    n_batch, c_out, oh, ow = out.shape
    out_group = c_out // groups
    channel_blocks = bias.size // (groups * ROWS)
    taps = offsets.size
    span = oh * row_width
    blocks = (span + block - 1) // block
    tasks = n_batch * blocks
    chunks = min(tasks, _CHUNKS)
    for chunk in prange(chunks):
        scratch = np.empty(bias.size * block, dtype=out.dtype)
        for task in range(chunk * tasks // chunks, (chunk + 1) * tasks // chunks):
            n = task // blocks
            q0 = (task % blocks) * block
            for g in range(groups):
                source = n * image_stride + g * group_stride + q0
                for cb in range(channel_blocks):
                    b = g * channel_blocks + cb
                    fma_block(  # type: ignore[call-arg]
                        flat,
                        source,
                        offsets,
                        packed,
                        b * taps * ROWS,
                        bias,
                        b * ROWS,
                        scratch,
                        b * ROWS * block,
                        block,
                    )
            # copy the block's real outputs, one wide-row piece at a time
            q = q0
            end = min(q0 + block, span)
            while q < end:
                i = q // row_width
                j = q - i * row_width
                piece = min(end - q, row_width - j)
                if j < ow:
                    width = min(piece, ow - j)
                    start = q - q0
                    for g in range(groups):
                        for o in range(out_group):
                            row = (g * channel_blocks * ROWS + o) * block + start
                            out[n, g * out_group + o, i, j : j + width] = scratch[row : row + width]
                q += piece


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


@Loop
def _weight_gradient_outer(  # type: ignore[no-untyped-def]
    grad, width, flat, image_stride, group_stride, offsets, length, segment, partial
):
    """partial[chunk, g, k, o]: the weight gradient summed over the chunk's tasks, by
    :func:`outer_block`.

    ``grad`` is the output gradient (N, C_out, oh, ow); output position ``p`` of the
    wide rows (``width`` a row, ``length`` in all) is pixel (p // width, p % width).
    One task per (image, segment of positions): each group's gradient at the segment's
    positions is transposed into a scratch block of (positions, padded channels), zero
    at dropped positions and padded channels, then multiplied with every tap's pixels.
    Each chunk of tasks sums into its own ``partial[chunk]``.
    """
    chunks, groups, taps, padded = partial.shape
    n_batch, c_out, _, ow = grad.shape
    out_group = c_out // groups
    block = OUTER_VECTORS * (VECTOR_BYTES // grad.itemsize)
    segments = (length + segment - 1) // segment
    tasks = n_batch * segments
    partial[...] = 0
    for chunk in prange(chunks):
        target = partial[chunk].reshape(-1)
        scratch = np.zeros(segment * padded, dtype=grad.dtype)
        for task in range(chunk * tasks // chunks, (chunk + 1) * tasks // chunks):
            n = task // segments
            p0 = (task % segments) * segment
            run = min(segment, length - p0)
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
                    for o in range(out_group):
                        pixels = grad[n, g * out_group + o, i, j : j + live]
                        for t in range(live):
                            scratch[(p + t) * padded + o] = pixels[t]
                    scratch[(p + live) * padded : (p + piece) * padded] = 0
                    p += piece
                source = n * image_stride + g * group_stride + p0
                for o0 in range(0, padded, block):
                    for t0 in range(0, taps, OUTER_TAPS):
                        outer_block(  # type: ignore[call-arg]
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
    run: Any,
    pads: Pads = NO_PADS,
) -> NDArray[Any]:
    """``conv2d_valid`` of a batch zero-padded by ``pads``, by the blocked kernels, bias
    included.  ``run(loop, *args, work=...)`` is the engine's dispatcher.
    """
    n_batch = xp.shape[0]
    c_out, _, kh, kw = weight.shape
    out_group = c_out // groups
    block = COLUMNS * lanes(xp.dtype)
    layout = phase_layout(xp, pads, (kh, kw), stride, dilation, groups, block)
    taps = layout.offsets.size
    padded = _padded(out_group, ROWS)
    matrix = np.zeros((groups, padded, taps), dtype=xp.dtype)
    matrix[:, :out_group] = weight.reshape(groups, out_group, taps)
    packed = np.ascontiguousarray(
        matrix.reshape(groups, padded // ROWS, ROWS, taps).transpose(0, 1, 3, 2)
    ).reshape(-1)
    shifts = np.zeros((groups, padded), dtype=xp.dtype)
    if bias is not None:
        shifts[:, :out_group] = bias.reshape(groups, out_group)
    out = np.empty((n_batch, c_out, *layout.out_shape), dtype=xp.dtype)
    work = n_batch * groups * padded * taps * layout.reach
    run(
        _forward,
        *(layout.flat, layout.image_stride, layout.group_stride, layout.offsets, packed),
        *(shifts.reshape(-1), groups, layout.row_width, block, out),
        work=work,
    )
    return out


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
    run: Any,
    pads: Pads = NO_PADS,
) -> NDArray[Any]:
    """dL/dW of ``conv2d_valid`` (shape (C_out, C/groups, kh, kw)) for a batch
    zero-padded by ``pads``, by the blocked kernels.

    ``dW[o, k] = sum over n, q of g[n, o, q] * flat[n, offsets[k] + q]``.  With at
    least ``OUTER_VECTORS`` vectors of output channels per group, by outer products
    (:func:`_weight_gradient_outer`), else each entry a dot product over output
    positions, ROWS x TAPS of them per micro-kernel call.
    """
    n_batch, c_out, oh, ow = grad_output.shape
    c_group = xp.shape[1] // groups
    out_group = c_out // groups
    kh, kw = kernel_shape
    if out_group >= OUTER_VECTORS * lanes(xp.dtype):
        geometry = (kernel_shape, stride, dilation, groups)
        return _grad_weight_outer(xp, grad_output, *geometry, run, pads)
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
    run(
        _weight_gradient,
        *(wide, layout.flat, layout.image_stride, layout.group_stride, offsets),
        *(length, _SEGMENT, partial),
        work=work,
    )
    total = partial.sum(axis=0)[:, :out_group, :taps]
    return total.reshape(c_out, c_group, kh, kw)


#: Output positions per task of the outer-product weight gradient: the scratch block of
#: the transposed gradient (positions by channels) is reused by every tap block; 512
#: measured as fast as 128 on the 16- and 32-channel layers, a little faster on wider.
_OUTER_SEGMENT = 512


def _grad_weight_outer(
    xp: NDArray[Any],
    grad_output: NDArray[Any],
    kernel_shape: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    run: Any,
    pads: Pads,
) -> NDArray[Any]:
    """:func:`grad_weight_blocked` by outer products (see :func:`_weight_gradient_outer`)."""
    n_batch, c_out, oh, _ = grad_output.shape
    c_group = xp.shape[1] // groups
    out_group = c_out // groups
    layout = phase_layout(xp, pads, kernel_shape, stride, dilation, groups, 1, kept=True)
    length = oh * layout.row_width
    padded = _padded(out_group, OUTER_VECTORS * lanes(xp.dtype))
    taps = layout.offsets.size
    offsets = _tap_offsets(layout.offsets, OUTER_TAPS)
    chunks = _partial_sums(n_batch, length, _OUTER_SEGMENT)
    partial = scratch("partial", chunks * groups * offsets.size * padded, xp.dtype)
    partial = partial.reshape(chunks, groups, offsets.size, padded)
    run(
        _weight_gradient_outer,
        *(grad_output, layout.row_width, layout.flat, layout.image_stride, layout.group_stride),
        *(offsets, length, _OUTER_SEGMENT, partial),
        work=n_batch * groups * padded * offsets.size * length,
    )
    total = partial.sum(axis=0)[:, :taps, :out_group]  # (groups, taps, out_group)
    return np.ascontiguousarray(total.transpose(0, 2, 1)).reshape(c_out, c_group, *kernel_shape)
