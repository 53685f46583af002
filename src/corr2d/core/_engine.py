"""The one correlation core: a 'valid' 2-D correlation, by compiled loops or by FFT.

Every public function reduces its problem to :func:`correlate_valid` (one plane) or
:func:`conv2d_valid` (batched, multi-channel planes): it validates, pads the input
according to its border rule, and calls in here with contiguous arrays of the working
dtype.  Convolution is correlation with a flipped kernel, so there is no second loop.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "WORKSPACE_BYTES",
    "conv2d_valid",
    "correlate_valid",
    "direct_cost",
    "fft_cost",
    "num_threads",
    "pick_conv_method",
    "pick_method",
]

#: The largest patch (im2col) buffer the matrix-product path may allocate, in bytes.
#: Larger problems are tiled over output rows so that no buffer exceeds it.
WORKSPACE_BYTES = 16 * 2**20

Method = Literal["direct", "fft"]

#: Images with fewer outputs than this use the generic loops, not shape-unrolled ones.
_UNROLL_MIN_OUTPUTS = 128 * 128

# Cost model, in nanoseconds, measured on a 2-core AMD EPYC (AVX-512) with float32;
# float64 and complex data cost proportionally more per element in both paths, so the
# ratio, which is all the choice depends on, barely moves.  See bench/calibrate.py.
_DIRECT_NS_PER_TAP = 0.035
_DIRECT_NS_PER_OUTPUT = 0.25
_FFT_NS_PER_POINT_LOG = 0.11
_FFT_NS_PER_OUTPUT = 1.0


#: Below this many multiply-adds a loop runs on one thread: waking workers costs more.
SERIAL_WORK = 2**18

_parallel_lock = threading.Lock()
_configured = False


def num_threads() -> int:
    """Threads the core uses: numba's setting (``NUMBA_NUM_THREADS``, ``set_num_threads``)."""
    import numba

    return int(numba.get_num_threads())


def _configure_threading() -> None:
    """Prefer numba's own 'workqueue' threads unless the user chose a threading layer.

    With the OpenMP layer, merely importing OpenCV beside numba was measured to add
    about 12 ms to every parallel region on a 2-core machine; the workqueue layer adds
    microseconds.  It must not be entered from two Python threads at once, so
    :func:`run` serialises parallel regions (each one already uses every thread).
    """
    global _configured
    if _configured:
        return
    import numba

    config = numba.config
    if "NUMBA_THREADING_LAYER" not in os.environ and config.THREADING_LAYER == "default":  # type: ignore[attr-defined]
        config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]
    _configured = True


def _loops() -> Any:
    _configure_threading()
    from corr2d.core import _loops

    return _loops


def run(loop: Any, *args: Any, work: int) -> None:
    """Call a compiled parallel loop; ``work`` (multiply-adds) below SERIAL_WORK runs serially."""
    import numba

    _configure_threading()
    with _parallel_lock:
        if work >= SERIAL_WORK:
            loop(*args)
            return
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            loop(*args)
        finally:
            numba.set_num_threads(threads)


def direct_cost(out_shape: tuple[int, int], kernel_shape: tuple[int, int]) -> float:
    """Modelled time (ns, one thread) of the compiled loops for one plane."""
    outputs = out_shape[0] * out_shape[1]
    taps = kernel_shape[0] * kernel_shape[1]
    return outputs * (taps * _DIRECT_NS_PER_TAP + _DIRECT_NS_PER_OUTPUT)


def fft_cost(image_shape: tuple[int, int], kernel_shape: tuple[int, int]) -> float:
    """Modelled time (ns, one thread) of the tiled FFT path for one plane."""
    from corr2d.core._fft import tile_shape

    bh, bw = tile_shape(image_shape, kernel_shape)
    oh = image_shape[0] - kernel_shape[0] + 1
    ow = image_shape[1] - kernel_shape[1] + 1
    tiles = math.ceil(oh / (bh - kernel_shape[0] + 1)) * math.ceil(ow / (bw - kernel_shape[1] + 1))
    points = bh * bw
    # forward + inverse transform of each tile, plus the pointwise product and copies
    return tiles * 2 * points * math.log2(points) * _FFT_NS_PER_POINT_LOG + (
        oh * ow * _FFT_NS_PER_OUTPUT
    )


def pick_method(image_shape: tuple[int, int], kernel_shape: tuple[int, int]) -> Method:
    """'direct' or 'fft', whichever the cost model says is faster for one plane."""
    out_shape = (image_shape[0] - kernel_shape[0] + 1, image_shape[1] - kernel_shape[1] + 1)
    if direct_cost(out_shape, kernel_shape) <= fft_cost(image_shape, kernel_shape):
        return "direct"
    return "fft"


def pick_conv_method(
    padded_shape: tuple[int, int, int, int],
    weight_shape: tuple[int, int, int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> Method:
    """'direct' or 'fft' for :func:`conv2d_valid`.

    Strided layers always take 'direct' (the FFT would compute every skipped output).
    With several channels per group the FFT path also pays a channel contraction per
    frequency, so it is priced as a kernel twice as large along each axis.
    """
    if stride != (1, 1):
        return "direct"
    c_out, c_group, kh, kw = weight_shape
    eff = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    if c_group * (c_out // groups) > 1:
        eff = (2 * eff[0], 2 * eff[1])
    if eff[0] > padded_shape[2] or eff[1] > padded_shape[3]:
        return "direct"
    return pick_method(padded_shape[2:], eff)


def correlate_valid(
    x: NDArray[Any],
    kernel: NDArray[Any],
    method: Method,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
) -> NDArray[Any]:
    """out[i, j] = sum over (u, v) of x[i*sh + u*dh, j*sw + v*dw] * kernel[u, v].

    ``x`` and ``kernel`` are contiguous 2-D arrays of one floating or complex dtype and
    the kernel's dilated extent fits in ``x``.  No conjugation happens here.
    """
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = kernel.shape
    oh = (x.shape[0] - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[1] - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((oh, ow), dtype=x.dtype)
    if method == "fft":
        from corr2d.core._fft import correlate_valid_fft

        if dilation != (1, 1):
            dilated = np.zeros((dh * (kh - 1) + 1, dw * (kw - 1) + 1), dtype=kernel.dtype)
            dilated[::dh, ::dw] = kernel
            kernel = dilated
        if stride == (1, 1):
            correlate_valid_fft(x, kernel, out, num_threads())
        else:
            full = np.empty(
                (x.shape[0] - kernel.shape[0] + 1, x.shape[1] - kernel.shape[1] + 1), dtype=x.dtype
            )
            correlate_valid_fft(x, kernel, full, num_threads())
            out[...] = full[::sh, ::sw][:oh, :ow]
        return out
    loops = _loops()
    work = oh * ow * kh * kw
    if stride == (1, 1) and dilation == (1, 1):
        from corr2d.core._unrolled import unrolled_loop

        # a loop unrolled for this kernel shape compiles once (about a second, then
        # cached on disk); small images are not worth it
        unrolled = unrolled_loop(kh, kw) if oh * ow >= _UNROLL_MIN_OUTPUTS else None
        if unrolled is not None:
            run(unrolled, x, kernel, out, work=work)
        else:
            run(loops.correlate_valid, x, kernel, 1, 1, out, work=work)
    elif stride == (1, 1):
        run(loops.correlate_valid, x, kernel, dh, dw, out, work=work)
    else:
        run(loops.correlate_valid_strided, x, kernel, sh, sw, dh, dw, out, work=work)
    return out


def conv2d_valid(
    xp: NDArray[Any],
    weight: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    method: Method,
) -> NDArray[Any]:
    """Batched multi-channel 'valid' correlation of a padded NCHW input.

    xp is (N, C_in, Hp, Wp) and weight (C_out, C_in/groups, kH, kW), both contiguous and
    of one dtype; returns (N, C_out, oh, ow).  Three strategies compute the same sums:

    * single-channel groups (C_in/groups == 1 and C_out/groups == 1, e.g. the chapter's
      one-channel layer or a depthwise layer): the 2-D core, plane by plane;
    * 'fft': whole-plane transforms contracted over channels (then subsampled by stride);
    * otherwise ('direct'): patch matrices (im2col) tiled to at most ``WORKSPACE_BYTES``,
      each multiplied by the weight matrix with NumPy's BLAS.
    """
    n_batch, c_in, hp, wp = xp.shape
    c_out, c_group, kh, kw = weight.shape
    (sh, sw), (dh, dw) = stride, dilation
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((n_batch, c_out, oh, ow), dtype=xp.dtype)
    out_group = c_out // groups
    eff_shape = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    if method == "fft":
        from corr2d.core._fft import conv2d_fft

        if stride == (1, 1):
            conv2d_fft(xp, weight, groups, dilation, out, num_threads())
        else:
            full = np.empty(
                (n_batch, c_out, hp - eff_shape[0] + 1, wp - eff_shape[1] + 1), dtype=xp.dtype
            )
            conv2d_fft(xp, weight, groups, dilation, full, num_threads())
            out[...] = full[:, :, ::sh, ::sw][:, :, :oh, :ow]
        return out

    if c_group == 1 and out_group == 1:
        for n in range(n_batch):
            for c in range(c_in):
                out[n, c] = correlate_valid(xp[n, c], weight[c, 0], "direct", stride, dilation)
        return out

    loops = _loops()
    if stride == (1, 1) and c_group * kh * kw < 16:
        # few taps per output: the direct loops beat building a patch matrix
        run(loops.conv_direct, xp, weight, groups, dh, dw, out, work=out.size * c_group * kh * kw)
        return out

    patch = c_group * kh * kw
    rows_per_tile = max(1, min(oh, WORKSPACE_BYTES // (patch * ow * xp.dtype.itemsize)))
    workspace = np.empty(patch * rows_per_tile * ow, dtype=xp.dtype)
    weight_matrix = weight.reshape(groups, out_group, patch)
    for n in range(n_batch):
        for g in range(groups):
            image = xp[n, g * c_group : (g + 1) * c_group]
            target = out[n, g * out_group : (g + 1) * out_group]
            for row0 in range(0, oh, rows_per_tile):
                rows = min(rows_per_tile, oh - row0)
                tile = workspace[: patch * rows * ow].reshape(patch, rows * ow)
                run(loops.im2col, image, kh, kw, sh, sw, dh, dw, row0, tile, work=tile.size)
                if rows == oh:  # the whole image in one tile: multiply straight into out
                    np.matmul(weight_matrix[g], tile, out=target.reshape(out_group, oh * ow))
                else:
                    block = weight_matrix[g] @ tile
                    target[:, row0 : row0 + rows, :] = block.reshape(out_group, rows, ow)
    return out
