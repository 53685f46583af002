"""The same correlations as the compiled tile loops, in vectorised NumPy.

Each function takes the extended (already padded) image as a 2-D array of the working
dtype, rows of ``width * spacing`` elements whose taps are ``spacing`` apart, and does
one whole-array operation per tap: nothing is compiled, so small jobs start at once
(see ``SMALL_WORK`` in :mod:`corr2d.core._paths`), and each function is also the
plain, obviously correct twin the tests hold the compiled loops to.  They add the taps
in the order, and with the roundings, of the tile loops (:mod:`corr2d.core._bands`), so
the two give the same bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["box_sums", "direct", "separable"]


def _along_rows(
    extended: NDArray[Any],
    weights: NDArray[Any],
    spacing: int,
    width: int,
    start: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """``out[:, p] = start[:, p] + sum_v weights[v] * extended[:, p + v*spacing]`` for
    p < width (no ``start``: zero), added tap by tap."""
    first = 1 if start is None else 0
    out = weights[0] * extended[:, :width] if start is None else start
    product = np.empty_like(out)
    for v in range(first, weights.shape[0]):
        np.multiply(extended[:, v * spacing : v * spacing + width], weights[v], out=product)
        out += product
    return out


def _down_rows(extended: NDArray[Any], weights: NDArray[Any], height: int) -> NDArray[Any]:
    """``out[i] = sum_u weights[u] * extended[i + u]`` for i < height."""
    out = weights[0] * extended[:height]
    product = np.empty_like(out)
    for u in range(1, weights.shape[0]):
        np.multiply(extended[u : u + height], weights[u], out=product)
        out += product
    return out


def separable(
    extended: NDArray[Any], columns: NDArray[Any], rows: NDArray[Any], spacing: int
) -> NDArray[Any]:
    """'valid' correlation with ``sum_s columns[s][:, None] * rows[s][None, :]``, as
    ``rank`` pairs of 1-D passes (down the rows, then along them)."""
    rank, kh = columns.shape
    kw = rows.shape[1]
    height = extended.shape[0] - kh + 1
    width = extended.shape[1] - (kw - 1) * spacing
    total = None
    for s in range(rank):  # each term's taps added onto the sum of the terms before
        total = _along_rows(
            _down_rows(extended, columns[s], height), rows[s], spacing, width, total
        )
    assert total is not None
    return total


def direct(extended: NDArray[Any], kernel: NDArray[Any], spacing: int) -> NDArray[Any]:
    """'valid' correlation with a 2-D ``kernel``, one whole-array multiply-add per tap."""
    kh, kw = kernel.shape
    height = extended.shape[0] - kh + 1
    width = extended.shape[1] - (kw - 1) * spacing
    out = np.zeros((height, width), dtype=np.result_type(extended, kernel))
    product = np.empty_like(out)
    for u in range(kh):
        for v in range(kw):
            np.multiply(
                extended[u : u + height, v * spacing : v * spacing + width],
                kernel[u, v],
                out=product,
            )
            out += product
    return out


def box_sums(extended: NDArray[Any], kh: int, kw: int, spacing: int) -> NDArray[Any]:
    """Sums over every ``kh`` x ``kw`` window (taps ``spacing`` apart along a row) by
    cumulative sums, exact for integer arrays (in int64)."""
    values = extended.astype(np.int64) if extended.dtype.kind in "biu" else extended
    height = values.shape[0] - kh + 1
    width = values.shape[1] - (kw - 1) * spacing
    down = np.cumsum(values, axis=0, dtype=values.dtype)
    rows = down[kh - 1 :].copy()
    rows[1:] -= down[: height - 1]
    pixels = rows.reshape(height, -1, spacing)
    along = np.cumsum(pixels, axis=1, dtype=values.dtype)
    sums = along[:, kw - 1 :].copy()
    sums[:, 1:] -= along[:, : sums.shape[1] - 1]
    return sums.reshape(height, -1)[:, :width]
