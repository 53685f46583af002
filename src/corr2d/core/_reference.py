"""Slow, obviously correct twins of the fast loops.

These are the chapter's loops, written for reading rather than speed.  The test suite
checks them on hand-worked values first, then uses them as an oracle for the compiled
and FFT paths.  Nothing here is used by the public functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["conv2d_reference", "corr2d_reference"]


def corr2d_reference(X: NDArray[Any], K: NDArray[Any]) -> NDArray[Any]:
    """The chapter's 'valid' 2-D cross-correlation, one output element at a time.

    ``Y[i, j] = sum(X[i:i + kh, j:j + kw] * K)`` for ``0 <= i <= n_h - k_h`` and
    ``0 <= j <= n_w - k_w``.

    >>> X = np.arange(9.0).reshape(3, 3)
    >>> corr2d_reference(X, np.array([[0.0, 1.0], [2.0, 3.0]]))
    array([[19., 25.],
           [37., 43.]])
    """
    kh, kw = K.shape
    Y = np.zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1), dtype=np.result_type(X, K))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + kh, j : j + kw] * K).sum()
    return Y


def conv2d_reference(
    x: NDArray[Any],
    weight: NDArray[Any],
    bias: NDArray[Any] | None = None,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> NDArray[Any]:
    """A multi-channel, strided, dilated, grouped cross-correlation by nested loops.

    ``x`` is (N, C_in, H, W), ``weight`` is (C_out, C_in / groups, kH, kW) and
    ``padding`` gives zeros ((top, bottom), (left, right)).  Output element
    ``out[n, o, i, j]`` is ``bias[o]`` plus the sum over the input channels ``c`` of
    group ``g = o // (C_out / groups)`` and the kernel taps ``(u, v)`` of
    ``x_pad[n, c, i * s_h + u * d_h, j * s_w + v * d_w] * weight[o, c - g * C_in/groups, u, v]``.
    """
    n_batch = x.shape[0]
    c_out, c_per_group, kh, kw = weight.shape
    out_per_group = c_out // groups
    xp = np.pad(x, ((0, 0), (0, 0), padding[0], padding[1]))
    hp, wp = xp.shape[2:]
    oh = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n_batch, c_out, oh, ow), dtype=np.result_type(x, weight))
    for n in range(n_batch):
        for o in range(c_out):
            g = o // out_per_group
            for i in range(oh):
                for j in range(ow):
                    total = out.dtype.type(0)
                    for c in range(c_per_group):
                        for u in range(kh):
                            for v in range(kw):
                                row = i * stride[0] + u * dilation[0]
                                col = j * stride[1] + v * dilation[1]
                                total += xp[n, g * c_per_group + c, row, col] * weight[o, c, u, v]
                    out[n, o, i, j] = total
            if bias is not None:
                out[n, o] += bias[o]
    return out
