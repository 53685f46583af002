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
``K``; the last row and column blocks overlap the one before them (they write, so a
value computed twice is written twice with the same bits).  The weight gradient is the
layers' outer products (:func:`corr2d.core._blocked.outer_gradient`), each input
channel a tap.

The loop sums in a fixed order for a given shape, in the order of ``k`` after the bias.
It serves where :func:`suitable` says: AVX-512 (elsewhere NumPy's BLAS is at least as
fast) and operands of at least one block.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.core._bands import task_loop
from corr2d.core._microkernels import COLUMNS, ROWS, VECTOR_BYTES, fma_block, next_task

__all__ = [
    "batched_product",
    "batched_product_reference",
    "suitable",
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
