"""A layer's 'valid' correlation and its gradients in vectorised NumPy.

One whole-array operation per tap, as :mod:`corr2d.core._vectorised` does for images:
for each kernel position ``(u, v)`` the input's window of every output position is a
strided view of the padded input, and the channels are mixed by one matrix product per
group.  Nothing is compiled, so a short job (:func:`corr2d.core._engine.short_job`:
the chapter's demo on the command line) starts at once and never waits for a compiler.

Shapes as in :func:`corr2d.core._engine.conv2d_valid`: ``xp`` (N, C_in, Hp, Wp), padded;
``weight`` (C_out, C_in / groups, kH, kW); the output (N, C_out, oh, ow).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["backward", "forward", "output_size"]


def output_size(
    padded: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int]:
    """(oh, ow) of a 'valid' correlation of a ``padded`` (Hp, Wp) input."""
    return (
        (padded[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1,
        (padded[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1,
    )


def _window(
    xp: NDArray[Any],
    u: int,
    v: int,
    out_size: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> NDArray[Any]:
    """The pixels tap ``(u, v)`` reads for every output position: a (N, C, oh, ow) view."""
    top, left = u * dilation[0], v * dilation[1]
    bottom = top + (out_size[0] - 1) * stride[0] + 1
    right = left + (out_size[1] - 1) * stride[1] + 1
    return xp[:, :, top : bottom : stride[0], left : right : stride[1]]


def forward(
    xp: NDArray[Any],
    weight: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> NDArray[Any]:
    """``out[n, o, i, j] = sum_{c, u, v} weight[o, c, u, v] * xp[n, g*C_g + c, i*sh + u*dh,
    j*sw + v*dw]`` (``g`` the group of ``o``), the taps added one after another.

    Examples
    --------
    The chapter's edge kernel ``[[1, -1]]`` on a row that turns from 1 to 0:

    >>> import numpy as np
    >>> x = np.array([[[[1.0, 1.0, 0.0, 0.0]]]])
    >>> forward(x, np.array([[[[1.0, -1.0]]]]), (1, 1), (1, 1), 1)
    array([[[[0., 1., 0.]]]])
    """
    n_batch = xp.shape[0]
    c_out, c_group, kh, kw = weight.shape
    out_group = c_out // groups
    oh, ow = output_size(xp.shape[2:], (kh, kw), stride, dilation)
    # (kh, kw, groups, out_group, c_group): each tap's channel-mixing matrices
    taps = weight.reshape(groups, out_group, c_group, kh, kw).transpose(3, 4, 0, 1, 2)
    out = np.zeros((n_batch, groups, out_group, oh * ow), dtype=np.result_type(xp, weight))
    for u in range(kh):
        for v in range(kw):
            window = _window(xp, u, v, (oh, ow), stride, dilation)
            columns = window.reshape(n_batch, groups, c_group, oh * ow)
            out += np.matmul(taps[u, v], columns)
    return out.reshape(n_batch, c_out, oh, ow)


def backward(
    xp: NDArray[Any],
    weight: NDArray[Any],
    grad_output: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> tuple[NDArray[Any], NDArray[Any]]:
    """(dL/dxp, dL/dweight) of :func:`forward` for the output gradient ``grad_output``.

    Each tap's weight gradient is the output gradient against that tap's windows, summed
    over images and positions; each tap sends the output gradient back through its
    channel-mixing matrix to the pixels it read (no two outputs of one tap read the same
    pixel, so the windows are added into in place).

    Examples
    --------
    For the sum of the outputs (``grad_output`` all ones) each weight's gradient is the
    sum of the pixels it meets, and each pixel's the sum of the weights that meet it:

    >>> import numpy as np
    >>> x = np.array([[[[1.0, 2.0, 3.0]]]])
    >>> grad_x, grad_w = backward(x, np.array([[[[1.0, -1.0]]]]), np.ones((1, 1, 1, 2)),
    ...                           (1, 1), (1, 1), 1)
    >>> grad_w
    array([[[[3., 5.]]]])
    >>> grad_x
    array([[[[ 1.,  0., -1.]]]])
    """
    n_batch, c_in = xp.shape[:2]
    c_out, c_group, kh, kw = weight.shape
    out_group = c_out // groups
    oh, ow = grad_output.shape[2:]
    dtype = np.result_type(xp, weight, grad_output)
    gradients = grad_output.reshape(n_batch, groups, out_group, oh * ow)
    # (kh, kw, groups, c_group, out_group): each tap's matrices, transposed
    taps_t = weight.reshape(groups, out_group, c_group, kh, kw).transpose(3, 4, 0, 2, 1)
    grad_xp = np.zeros(xp.shape, dtype=dtype)
    grad_taps = np.empty((kh, kw, groups, out_group, c_group), dtype=dtype)
    for u in range(kh):
        for v in range(kw):
            window = _window(xp, u, v, (oh, ow), stride, dilation)
            columns = window.reshape(n_batch, groups, c_group, oh * ow)
            # sum over images of (out_group, P) @ (P, c_group)
            grad_taps[u, v] = np.matmul(gradients, columns.swapaxes(-1, -2)).sum(axis=0)
            back = np.matmul(taps_t[u, v], gradients)  # (N, groups, c_group, P)
            _window(grad_xp, u, v, (oh, ow), stride, dilation)[...] += back.reshape(
                n_batch, c_in, oh, ow
            )
    grad_weight = grad_taps.transpose(2, 3, 4, 0, 1).reshape(c_out, c_group, kh, kw)
    return grad_xp, grad_weight
