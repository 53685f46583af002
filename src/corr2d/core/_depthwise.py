"""Depthwise layers: one kernel per channel, every image and channel in one call.

A depthwise layer (``groups == C_in == C_out``, and the chapter's one-channel layer) is
``N * C`` independent 2-D correlations of small planes.  Run one plane at a time, each
call pays the core's fixed costs (a 56x56 plane's sums take microseconds); here every
plane is a task of one loop, shared by the calling thread and its helpers
(:mod:`corr2d.core._pool`): register blocks that read the plane in place, its zero
padding masked off in the loads (:mod:`corr2d.core._depthwise_blocks`), or, for
larger kernels, rows narrower than a vector or wider padding,
:func:`corr2d.core._unrolled.planes_task`; the bias is added to each
finished sum.  The backward pass of the usual layers ('same' columns, small kernels) is
one loop too (:func:`backward`): for each plane, while its output gradient is in cache,
the input's gradient (the same sums on the output gradient with the flipped kernel),
the weight gradient's per-channel dot products and the bias gradient's sum.  Other
layers take the plane loop for the input's gradient and, for the weight's,
:func:`corr2d.core._unrolled.plane_gradient` (or :func:`weight_gradient_task` for large
kernels, and for non-finite inputs where the output rows are narrower than the planes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.core._bands import _gather, task_loop
from corr2d.core._engine import threads_for
from corr2d.core._microkernels import IMAGE_COLUMNS, IMAGE_ROWS, VECTOR_BYTES, next_task
from corr2d.core._padding import Pads

__all__ = [
    "backward",
    "backward_serves",
    "depthwise",
    "serves",
    "weight_gradient",
    "weight_gradient_task",
]


def serves(
    dtype: np.dtype[Any],
    kernel_shape: tuple[int, ...],
    out_shape: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> bool:
    """Whether the plane loop takes this layer: real floats, stride and dilation 1, and
    kernels of up to ``MAX_TAPS`` taps (summed in one expression) or planes with at least
    one register block of outputs (for the blocked loop)."""
    from corr2d.core._unrolled import MAX_TAPS

    if dtype not in (np.float32, np.float64) or stride != (1, 1) or dilation != (1, 1):
        return False
    if kernel_shape[0] * kernel_shape[1] <= MAX_TAPS:
        return True
    width = IMAGE_COLUMNS * VECTOR_BYTES // np.dtype(dtype).itemsize
    return out_shape[0] >= IMAGE_ROWS and out_shape[1] >= width


def _tables(shape: tuple[int, ...], pads: Pads) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    from corr2d.core._paths import index_tables

    return index_tables(shape[-2], shape[-1], 1, pads, "constant")


def depthwise(
    x: NDArray[Any], weight: NDArray[Any], bias: NDArray[Any] | None, pads: Pads
) -> NDArray[Any]:
    """conv2d of ``x`` (N, C, H, W), zero-padded by ``pads``, with ``weight`` (C, 1, kh,
    kw), groups C, stride 1: (N, C, oh, ow), plus ``bias``."""
    from corr2d.core._pool import run_tasks

    n_batch, channels, height, width = x.shape
    kh, kw = weight.shape[2:]
    (top, bottom), (left, right) = pads
    oh, ow = height + top + bottom - kh + 1, width + left + right - kw + 1
    out = np.empty((n_batch, channels, oh, ow), dtype=x.dtype)
    planes = np.ascontiguousarray(x).reshape(n_batch * channels, height, width)
    # the bias is added to each finished sum; -0.0 (for none) changes no value
    added = np.full(channels, -0.0, dtype=x.dtype) if bias is None else bias
    work = out.size * kh * kw
    if _blocks_serve(x.dtype, (kh, kw), ow, pads):
        from corr2d.core._depthwise_blocks import driver

        loop = driver(kh, kw)
        kernels = np.ascontiguousarray(weight.reshape(channels, kh * kw))
        args: tuple[Any, ...] = (planes, kernels, added)
    else:
        from corr2d.core._unrolled import planes_task

        loop = planes_task(kh, kw).serial
        rows, cols = _tables(x.shape, pads)
        args = (planes, rows, cols, np.ascontiguousarray(weight[:, 0]), added)
    run_tasks(
        loop,
        *args,
        out.reshape(n_batch * channels, oh, ow),
        *(top, left),
        threads=threads_for(work),
        work=work,
    )
    return out


def _blocks_serve(dtype: np.dtype[Any], kernel_shape: tuple[int, int], ow: int, pads: Pads) -> bool:
    """Whether the register-blocked plane loop (:mod:`corr2d.core._depthwise_blocks`)
    takes these planes (kernels of up to ``MAX_SIDE`` rows and columns, output rows of
    at least one vector, at most ``kw - 1`` columns of padding a side)."""
    from corr2d.core._depthwise_blocks import serves

    return serves(dtype, kernel_shape, ow, *pads[1])


def backward_serves(kernel_shape: tuple[int, ...], pads: Pads, inner: bool) -> bool:
    """Whether :func:`backward` takes a depthwise layer (stride and dilation 1, as
    :func:`serves` checked) whose planes are zero-padded by ``pads``: the input's
    own gradient wanted (``inner``), kernels of up to ``MAX_TAPS`` taps, output rows as
    wide as the planes', and at most ``kh - 1`` rows of padding on either side."""
    from corr2d.core._unrolled import MAX_TAPS

    kh, kw = kernel_shape[-2:]
    (top, bottom), (left, right) = pads
    return inner and kh * kw <= MAX_TAPS and left + right == kw - 1 and max(top, bottom) <= kh - 1


def backward(
    x: NDArray[Any], weight: NDArray[Any], grad_output: NDArray[Any], pads: Pads
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """(dL/dx, dL/dweight, dL/dbias) of :func:`depthwise` where :func:`backward_serves`:
    every plane's three gradients in one pass, one channel per task."""
    from corr2d.core._pool import run_tasks
    from corr2d.core._unrolled import plane_backward

    n_batch, channels, height, width = x.shape
    kh, kw = weight.shape[2:]
    oh, ow = grad_output.shape[2:]
    rows, cols = _tables(x.shape, pads)
    flipped = np.ascontiguousarray(weight[:, 0, ::-1, ::-1])
    grad_x = np.empty_like(x)
    partial = np.empty((channels, kh, kw), dtype=x.dtype)
    grad_bias = np.empty(channels, dtype=x.dtype)
    work = 2 * grad_output.size * kh * kw
    run_tasks(
        plane_backward(kh, kw),
        *(x.reshape(n_batch * channels, height, width), rows, cols),
        *(grad_output.reshape(n_batch * channels, oh, ow), flipped),
        *(grad_x.reshape(n_batch * channels, height, width), partial, grad_bias),
        threads=threads_for(work),
        work=work,
    )
    return grad_x, partial[:, None], grad_bias


@task_loop(reassociate=True)
def weight_gradient_task(planes, rows, cols, grad, partial, counter):  # type: ignore[no-untyped-def]
    """partial[c, u, v] = sum over images n, output rows i and columns j of
    grad[n*C + c, i, j] * extended plane (n*C + c) at (i + u, j + v); one channel per
    task (its sums never shared).  Each sum is a dot product that LLVM vectorises with
    several accumulators (it may reorder the sum)."""
    count, oh, ow = grad.shape
    channels, kh, kw = partial.shape
    span = ow + kw - 1
    zero = np.zeros(1, dtype=grad.dtype)[0]
    gathered = np.zeros((oh + kh - 1) * span, dtype=grad.dtype)
    while True:
        c = next_task(counter)  # type: ignore[call-arg,var-annotated]
        if c >= channels:
            break
        sums = partial[c]
        sums[...] = 0
        for n in range(count // channels):
            p = n * channels + c
            _gather(planes[p], rows, cols, zero, 0, oh + kh - 1, 0, span, gathered, span)
            g = grad[p]
            for u in range(kh):
                for v in range(kw):
                    total = zero
                    for i in range(oh):
                        row = gathered[(i + u) * span + v : (i + u) * span + v + ow]
                        gi = g[i]
                        for j in range(ow):
                            total += gi[j] * row[j]
                    sums[u, v] += total


def weight_gradient(
    x: NDArray[Any], grad_output: NDArray[Any], kernel_shape: tuple[int, int], pads: Pads
) -> NDArray[Any]:
    """dL/dweight (C, 1, kh, kw) of :func:`depthwise` for ``grad_output`` (N, C, oh, ow)."""
    from corr2d.core._pool import run_tasks
    from corr2d.core._unrolled import MAX_TAPS, plane_gradient

    n_batch, channels, height, width = x.shape
    kh, kw = kernel_shape
    oh, ow = grad_output.shape[2:]
    rows, cols = _tables(x.shape, pads)
    partial = np.empty((channels, kh, kw), dtype=x.dtype)
    # with output rows narrower than the plane's, the flat loop also multiplies zero
    # gradients past each row's outputs with pixels of the next row: 0 * inf would be
    # NaN, so non-finite inputs take the row loop there
    flat = kh * kw <= MAX_TAPS and (ow == width or bool(np.isfinite(x).all()))
    run_tasks(
        plane_gradient(kh, kw) if flat else weight_gradient_task,
        *(x.reshape(n_batch * channels, height, width), rows, cols),
        *(grad_output.reshape(n_batch * channels, oh, ow), partial),
        threads=threads_for(grad_output.size * kh * kw),
        work=grad_output.size * kh * kw,
    )
    return partial[:, None]
