"""Batched matrix products read in place, on the register-blocked micro-kernels.

A 1x1 layer is three products over a batch of ``N`` images of ``Q`` pixels each:

* forward, ``out[n] = W @ x[n] + b`` (W: C_out x C_in);
* input gradient, ``dx[n] = W.T @ g[n]``;
* weight gradient, ``dW = sum_n g[n] @ x[n].T``.

NCHW arrays hold each image's channels as rows of ``Q`` consecutive pixels, which is
what the micro-kernels of :mod:`corr2d.core._microkernels` read: channel ``k`` of image
``n`` starts at ``n * K * Q + k * Q``, one offset per "tap".  So the two products of
the form ``A @ B[n]`` (:func:`batched_product`) are :func:`fma_block` calls, a block of
``ROWS`` rows of ``A`` by ``COLUMNS`` vectors of pixels kept in registers over all of
``K``, and the weight gradient (:func:`weight_product`) :func:`outer_block` calls,
``OUTER_TAPS`` channels of ``x`` by ``OUTER_VECTORS`` vectors of rows of ``g``, one
outer product per pixel.  Only the output gradient of the weight gradient is
rearranged (transposed, pixels by rows); every other operand is read in place.  The
last row and column blocks of the first two overlap the one before them (they write,
so a value computed twice is written twice with the same bits).

Both loops sum in a fixed order for a given shape; :func:`fma_block` in the order of
``k`` after the bias, :func:`outer_block` image by image in the order of the pixels.  They serve
where :func:`suitable` says: AVX-512 (elsewhere NumPy's BLAS is at least as fast) and
operands of at least one block.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.core._bands import task_loop
from corr2d.core._microkernels import (
    COLUMNS,
    OUTER_TAPS,
    OUTER_VECTORS,
    ROWS,
    VECTOR_BYTES,
    fma_block,
    next_task,
    outer_block,
)

__all__ = [
    "batched_product",
    "batched_product_reference",
    "suitable",
    "weight_product",
    "weight_product_reference",
]


def suitable(dtype: np.dtype[Any], c_out: int, c_in: int, pixels: int) -> bool:
    """Whether the blocked products serve a 1x1 layer of ``c_in`` to ``c_out`` channels
    on images of ``pixels``: real floats on a CPU with 64-byte vectors, at least ``ROWS``
    channels in and out (the rows of the forward and the input-gradient products), at
    least a block of pixels."""
    if dtype not in (np.float32, np.float64) or VECTOR_BYTES != 64:
        return False
    return min(c_out, c_in) >= ROWS and pixels >= COLUMNS * VECTOR_BYTES // dtype.itemsize


def _row_starts(rows: int) -> NDArray[np.int64]:
    """First row of each block of ``ROWS``; the last block overlaps the one before."""
    return np.array([min(start, rows - ROWS) for start in range(0, rows, ROWS)], dtype=np.int64)


def _pack(matrix: NDArray[Any], starts: NDArray[np.int64]) -> NDArray[Any]:
    """Each block of ``ROWS`` rows of ``matrix`` (R, K) column-major: block ``b``'s
    ``ROWS`` values of column ``k`` at ``(b * K + k) * ROWS``, as :func:`fma_block`
    reads them."""
    blocks = np.stack([matrix[start : start + ROWS] for start in starts])
    return np.ascontiguousarray(blocks.transpose(0, 2, 1)).ravel()


@task_loop
def _product_task(packed, starts, bias, b, offsets, out, counter):  # type: ignore[no-untyped-def]
    """out[n, r, q] = bias[r] + sum over k of A[r, k] * b[n, k, q]: one task per image
    and block of pixels, every row block of ``A`` (``packed`` by :func:`_pack`)."""
    n_batch, rows, pixels = out.shape
    inner = offsets.size
    width = COLUMNS * (VECTOR_BYTES // out.itemsize)
    column_blocks = (pixels + width - 1) // width
    source, target = b.reshape(-1), out.reshape(-1)
    while True:
        task = next_task(counter)  # type: ignore[call-arg,var-annotated]
        if task >= n_batch * column_blocks:
            break
        n = task // column_blocks
        q0 = min((task % column_blocks) * width, pixels - width)
        for block in range(starts.size):
            r0 = starts[block]
            fma_block(
                source,
                n * inner * pixels + q0,
                offsets,
                packed,
                block * inner * ROWS,
                bias,
                r0,
                target,
                (n * rows + r0) * pixels + q0,
                pixels,
            )


def batched_product(
    matrix: NDArray[Any], b: NDArray[Any], bias: NDArray[Any] | None, threads: int
) -> NDArray[Any]:
    """``matrix @ b[n] + bias[:, None]`` for every ``n``: ``matrix`` (R, K), ``b``
    (N, K, Q) contiguous, of one dtype, where :func:`suitable`; returns (N, R, Q)."""
    from corr2d.core._pool import run_tasks

    n_batch, inner, pixels = b.shape
    rows = matrix.shape[0]
    starts = _row_starts(rows)
    added = np.zeros(rows, dtype=b.dtype) if bias is None else np.ascontiguousarray(bias)
    offsets = np.arange(inner, dtype=np.int64) * pixels
    out = np.empty((n_batch, rows, pixels), dtype=b.dtype)
    packed = _pack(np.ascontiguousarray(matrix), starts)
    run_tasks(_product_task, packed, starts, added, b, offsets, out, threads=threads)
    return out


def batched_product_reference(
    matrix: NDArray[Any], b: NDArray[Any], bias: NDArray[Any] | None
) -> NDArray[Any]:
    """The slow twin of :func:`batched_product`: the sums written out, term by term."""
    n_batch, inner, pixels = b.shape
    rows = matrix.shape[0]
    out = np.zeros((n_batch, rows, pixels), dtype=b.dtype)
    for n in range(n_batch):
        for r in range(rows):
            for q in range(pixels):
                total = b.dtype.type(0) if bias is None else bias[r]
                for k in range(inner):
                    total += matrix[r, k] * b[n, k, q]
                out[n, r, q] = total
    return out


@task_loop
def _weight_task(g_t, x, offsets, partial, counter):  # type: ignore[no-untyped-def]
    """partial[t, r] = sum over n and pixels p of g_t[n, p, r] * x[n, t, p]: one task per
    ``OUTER_TAPS`` channels of ``x`` (each task's sums its own), every block of
    ``OUTER_VECTORS`` vectors of rows, by :func:`outer_block`."""
    n_batch, pixels, padded = g_t.shape
    channels = x.shape[1]
    taps = partial.shape[0]
    block = OUTER_VECTORS * (VECTOR_BYTES // g_t.itemsize)
    flat_g, flat_x, target = g_t.reshape(-1), x.reshape(-1), partial.reshape(-1)
    while True:
        t0 = next_task(counter) * OUTER_TAPS  # type: ignore[call-arg]
        if t0 >= taps:
            break
        for n in range(n_batch):
            for r0 in range(0, padded, block):
                outer_block(
                    flat_g,
                    n * pixels * padded + r0,
                    padded,
                    flat_x,
                    n * channels * pixels,
                    offsets,
                    t0,
                    pixels,
                    target,
                    t0 * padded + r0,
                    padded,
                )


def weight_product(g: NDArray[Any], x: NDArray[Any], threads: int) -> NDArray[Any]:
    """``sum over n of g[n] @ x[n].T``: ``g`` (N, R, Q), ``x`` (N, K, Q) contiguous, of one
    dtype, where :func:`suitable`; returns (R, K).

    The output gradient is transposed first (pixels by rows, the rows padded with zeros
    to whole blocks of vectors), so that each pixel's rows are vectors and every
    multiply-add of :func:`outer_block` adds to a different accumulator."""
    from corr2d.core._pool import run_tasks

    n_batch, rows, pixels = g.shape
    channels = x.shape[1]
    block = OUTER_VECTORS * (VECTOR_BYTES // g.itemsize)
    padded = -(-rows // block) * block
    g_t = np.empty((n_batch, pixels, padded), dtype=g.dtype)
    g_t[:, :, :rows] = g.transpose(0, 2, 1)
    g_t[:, :, rows:] = 0
    taps = -(-channels // OUTER_TAPS) * OUTER_TAPS
    # the padding taps read channel 0 again; their sums are dropped
    offsets = np.zeros(taps, dtype=np.int64)
    offsets[:channels] = np.arange(channels) * pixels
    partial = np.zeros((taps, padded), dtype=g.dtype)
    run_tasks(_weight_task, g_t, x, offsets, partial, threads=threads)
    return np.ascontiguousarray(partial[:channels, :rows].T)


def weight_product_reference(g: NDArray[Any], x: NDArray[Any]) -> NDArray[Any]:
    """The slow twin of :func:`weight_product`: the sums written out, term by term."""
    n_batch, rows, pixels = g.shape
    channels = x.shape[1]
    out = np.zeros((rows, channels), dtype=g.dtype)
    for r in range(rows):
        for k in range(channels):
            total = g.dtype.type(0)
            for n in range(n_batch):
                for p in range(pixels):
                    total += g[n, r, p] * x[n, k, p]
            out[r, k] = total
    return out
