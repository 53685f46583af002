"""1x1 layers as matrix products: every image of the batch in one call.

A 1x1 convolution mixes channels pixel by pixel: for each image ``n`` and group ``g``,
``out[n, g] = W[g] @ x[n, g]`` with ``W[g]`` (C_out/groups, C_in/groups) and ``x[n, g]``
(C_in/groups, pixels).  NumPy's ``matmul`` broadcasts that over the batch and the groups
in one call; a stride takes every ``s``-th pixel first.  The backward pass is two more
products: ``dL/dx = W^T @ g`` (placed back on the strided pixels) and
``dL/dW = sum_n g[n] @ x[n]^T``.  Ungrouped, unstrided layers on CPUs with 64-byte
vectors take the register-blocked products of :mod:`corr2d.core._products` instead,
which read the NCHW arrays in place (NumPy's BLAS may run narrower vectors there), and
the weight gradient the layers' outer products
(:func:`corr2d.core._blocked.outer_gradient`), which sum the bias gradient on the way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.core._engine import threads_for

__all__ = ["pointwise", "pointwise_backward", "serves"]

#: Most pixels per task of the weight gradient's outer products: every input channel
#: is a tap, so a task's block of the input (256 channels of a 28x28 layer: 196 KiB)
#: stays in the core's L2 cache beside the transposed output gradient (64 channels:
#: 0.47 ms against 0.50 with the layers' 512).
_WEIGHT_SEGMENT = 256


def serves(dtype: np.dtype[Any], kernel_shape: tuple[int, ...]) -> bool:
    """Whether a layer is a 1x1 layer these products take: real floats."""
    return tuple(kernel_shape) == (1, 1) and dtype in (np.float32, np.float64)


def _blocked(xp: NDArray[Any], weight: NDArray[Any], stride: tuple[int, int], groups: int) -> bool:
    """Whether the register-blocked products take the layer (ungrouped, unstrided)."""
    from corr2d.core._engine import jit_enabled
    from corr2d.core._products import suitable

    if groups != 1 or stride != (1, 1) or not jit_enabled():
        return False
    return suitable(xp.dtype, weight.shape[0], weight.shape[1], xp[0, 0].size)


def _threads(xp: NDArray[Any], weight: NDArray[Any]) -> int:
    """Threads for each product of a layer on ``xp`` (its multiply-adds decide)."""
    return threads_for(xp.size * weight.shape[0])


def _pixels(xp: NDArray[Any], stride: tuple[int, int], groups: int) -> NDArray[Any]:
    """The pixels a 1x1 layer reads, (N, groups, C_in/groups, oh*ow)."""
    (sh, sw) = stride
    read = xp if stride == (1, 1) else np.ascontiguousarray(xp[:, :, ::sh, ::sw])
    n_batch, channels = read.shape[:2]
    return read.reshape(n_batch, groups, channels // groups, -1)


def pointwise(
    xp: NDArray[Any],
    weight: NDArray[Any],
    bias: NDArray[Any] | None,
    stride: tuple[int, int],
    groups: int,
) -> NDArray[Any]:
    """conv2d of the padded batch ``xp`` (N, C_in, Hp, Wp) with a 1x1 ``weight``
    (C_out, C_in/groups, 1, 1): (N, C_out, oh, ow), plus ``bias``."""
    n_batch = xp.shape[0]
    c_out, c_group = weight.shape[:2]
    oh = (xp.shape[2] - 1) // stride[0] + 1
    ow = (xp.shape[3] - 1) // stride[1] + 1
    if _blocked(xp, weight, stride, groups):
        from corr2d.core._products import batched_product

        pixels = xp.reshape(n_batch, c_group, oh * ow)
        product = batched_product(
            weight.reshape(c_out, c_group), pixels, bias, _threads(xp, weight)
        )
        return product.reshape(n_batch, c_out, oh, ow)
    matrices = weight.reshape(groups, c_out // groups, c_group)
    out = np.matmul(matrices, _pixels(xp, stride, groups))  # (N, groups, C_out/g, oh*ow)
    out = out.reshape(n_batch, c_out, oh, ow)
    if bias is not None:
        out += bias[:, None, None]
    return out


def pointwise_backward(
    xp: NDArray[Any],
    weight: NDArray[Any],
    grad_output: NDArray[Any],
    stride: tuple[int, int],
    groups: int,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None]:
    """(dL/dxp, dL/dweight, dL/dbias or None) of :func:`pointwise`: the register-blocked
    products sum dL/dbias on the way, NumPy's leave it to the caller (None)."""
    n_batch, c_out, oh, ow = grad_output.shape
    c_group = weight.shape[1]
    if _blocked(xp, weight, stride, groups):
        from corr2d.core._blocked import outer_gradient
        from corr2d.core._products import batched_product

        threads = _threads(xp, weight)
        rows = grad_output.reshape(n_batch, c_out, oh * ow)
        matrix = weight.reshape(c_out, c_group)
        grad_xp = batched_product(matrix.T, rows, None, threads).reshape(xp.shape)
        # dW = sum_n g[n] @ x[n].T: the layers' outer products, each input channel a
        # tap reading the image's pixels in place (a 1x1 layer has no dropped positions)
        pixels = oh * ow
        offsets = np.arange(c_group, dtype=np.int64) * pixels
        image = grad_output.reshape(n_batch, c_out, 1, pixels)
        geometry = (pixels, xp.reshape(-1), c_group * pixels, 0, offsets, pixels, 1)
        grad_weight, grad_bias = outer_gradient(
            image, *geometry, segment=_WEIGHT_SEGMENT, threads=threads
        )
        return grad_xp, grad_weight.reshape(weight.shape), grad_bias
    matrices = weight.reshape(groups, c_out // groups, c_group)
    grad = grad_output.reshape(n_batch, groups, c_out // groups, oh * ow)
    pixels = _pixels(xp, stride, groups)
    grad_weight = np.matmul(grad, pixels.transpose(0, 1, 3, 2)).sum(axis=0)
    grad_pixels = np.matmul(matrices.transpose(0, 2, 1), grad).reshape(n_batch, -1, oh, ow)
    if stride == (1, 1):
        grad_xp = grad_pixels
    else:
        grad_xp = np.zeros_like(xp)
        grad_xp[:, :, :: stride[0], :: stride[1]] = grad_pixels
    return grad_xp, grad_weight.reshape(weight.shape), None
