"""The FFT path: tiled (overlap-save) 'valid' correlation with ``scipy.fft``.

Correlation of ``x`` with ``k`` is circular correlation on a tile of size ``(bh, bw)``
as long as the outputs read no wrapped-around pixel, i.e. for the first
``(bh - kh + 1, bw - kw + 1)`` outputs of each tile.  Tiles therefore overlap by
``kernel - 1`` pixels (overlap-save), every tile is transformed once, multiplied by
the kernel's transform and transformed back, and only its valid part is kept.  The
tile size is chosen to minimise transform work per output pixel, so memory stays
bounded by a few tiles per row of tiles, whatever the image size.

Error bound
-----------
Each output is a sum of ``kh*kw`` products computed through two transforms of length
``L = bh*bw``.  Its absolute error relative to the exact sum is bounded, in practice,
by about ``eps * log2(L) * sqrt(sum|x_tile|^2) * sqrt(sum|k|^2)``, where ``eps`` is
the machine epsilon of the working dtype (1.2e-7 for float32, 2.2e-16 for float64) and
the sums run over the tile.  :func:`fft_error_bound` returns a safe version of that
figure, which the test suite checks against the direct loops.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

__all__ = ["conv2d_fft", "correlate_valid_fft", "fft_error_bound", "tile_shape"]

# Tiles below 256 pay more in per-call overhead than they save in overlap.
_CANDIDATES = (256, 512, 1024, 2048)


def _tile_length(n: int, k: int) -> int:
    """Tile length along one axis of length ``n`` (input) with kernel length ``k``."""
    out = n - k + 1
    whole = scipy.fft.next_fast_len(n, real=True)
    best, best_cost = whole, whole * math.log2(max(whole, 2)) / out
    for length in _CANDIDATES:
        if length < 2 * k or length >= whole:
            continue
        valid = length - k + 1
        tiles = math.ceil(out / valid)
        cost = tiles * length * math.log2(length) / out
        if cost < best_cost:
            best, best_cost = length, cost
    return best


def tile_shape(image_shape: tuple[int, int], kernel_shape: tuple[int, int]) -> tuple[int, int]:
    """The FFT tile (bh, bw) used for a 'valid' correlation of these shapes."""
    return (
        _tile_length(image_shape[0], kernel_shape[0]),
        _tile_length(image_shape[1], kernel_shape[1]),
    )


def fft_error_bound(x: NDArray[Any], kernel: NDArray[Any]) -> float:
    """A bound on ``max |fft - exact|`` for :func:`correlate_valid_fft` on these inputs.

    The bound is ``4 * eps * log2(L) * ||x||_2 * ||k||_2`` with ``L`` the tile size;
    using the whole image's norm instead of one tile's makes it safe for every tile.
    """
    bh, bw = tile_shape(x.shape, kernel.shape)
    eps = float(np.finfo(np.result_type(x, kernel)).eps)
    norm_x = float(np.linalg.norm(x.ravel()))
    norm_k = float(np.linalg.norm(kernel.ravel()))
    return 4.0 * eps * math.log2(bh * bw) * norm_x * norm_k


def correlate_valid_fft(
    x: NDArray[Any], kernel: NDArray[Any], out: NDArray[Any], workers: int
) -> None:
    """out[i, j] = sum over (u, v) of x[i + u, j + v] * kernel[u, v], by tiled FFTs.

    ``x`` and ``kernel`` share ``out``'s dtype (float32, float64, complex64, complex128);
    float32 data is transformed in single precision.
    """
    height, width = x.shape
    kh, kw = kernel.shape
    oh, ow = out.shape
    bh, bw = tile_shape((height, width), (kh, kw))
    step_h, step_w = bh - kh + 1, bw - kw + 1
    tiles_h, tiles_w = math.ceil(oh / step_h), math.ceil(ow / step_w)
    real = not np.iscomplexobj(out)

    # Circular correlation with k is circular convolution with k flipped, whose
    # transform is conj(F(conj(k))); for real k that is conj(rfft2(k)).
    if real:
        kernel_f = np.conj(scipy.fft.rfft2(kernel, s=(bh, bw), workers=workers))
    else:
        kernel_f = np.conj(scipy.fft.fft2(np.conj(kernel), s=(bh, bw), workers=workers))

    # Zero-extend x so that every tile is whole; the extra outputs are discarded.
    padded_h = (tiles_h - 1) * step_h + bh
    padded_w = (tiles_w - 1) * step_w + bw
    if (padded_h, padded_w) != (height, width):
        extended = np.zeros((padded_h, padded_w), dtype=x.dtype)
        extended[:height, :width] = x
        x = extended
    s0, s1 = x.strides
    tiles = as_strided(
        x,
        shape=(tiles_h, tiles_w, bh, bw),
        strides=(step_h * s0, step_w * s1, s0, s1),
        writeable=False,
    )
    for ti in range(tiles_h):
        row_tiles = tiles[ti]
        if real:
            spectrum = scipy.fft.rfft2(row_tiles, workers=workers)
            spectrum *= kernel_f
            result = scipy.fft.irfft2(spectrum, s=(bh, bw), workers=workers)
        else:
            spectrum = scipy.fft.fft2(row_tiles, workers=workers)
            spectrum *= kernel_f
            result = scipy.fft.ifft2(spectrum, workers=workers)
        i0 = ti * step_h
        rows = min(step_h, oh - i0)
        valid = result[:, :rows, :step_w]  # (tiles_w, rows, step_w)
        band = valid.transpose(1, 0, 2).reshape(rows, tiles_w * step_w)
        out[i0 : i0 + rows] = band[:, :ow]


def conv2d_fft(
    xp: NDArray[Any],
    weight: NDArray[Any],
    groups: int,
    dilation: tuple[int, int],
    out: NDArray[Any],
    workers: int,
) -> None:
    """Multi-channel stride-1 'valid' correlation by whole-plane FFTs.

    xp is the padded input (N, C_in, Hp, Wp), weight (C_out, C_in/groups, kH, kW),
    out (N, C_out, oh, ow).  The dilated kernel is transformed once; each image's
    channels are transformed, contracted with the kernel spectra over the input
    channels of each group, and transformed back.
    """
    n_batch, _, hp, wp = xp.shape
    c_out, c_group, kh, kw = weight.shape
    oh, ow = out.shape[2:]
    dh, dw = dilation
    eff_h, eff_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    real = not np.iscomplexobj(out)
    fast_h = scipy.fft.next_fast_len(hp, real=real)
    fast_w = scipy.fft.next_fast_len(wp, real=real)
    dilated = np.zeros((c_out, c_group, eff_h, eff_w), dtype=weight.dtype)
    dilated[:, :, ::dh, ::dw] = weight
    transform = scipy.fft.rfft2 if real else scipy.fft.fft2
    inverse = scipy.fft.irfft2 if real else scipy.fft.ifft2
    kernel_f = np.conj(transform(np.conj(dilated), s=(fast_h, fast_w), workers=workers))
    out_group = c_out // groups
    kernel_f = kernel_f.reshape(groups, out_group, c_group, *kernel_f.shape[-2:])
    for n in range(n_batch):
        image_f = transform(xp[n], s=(fast_h, fast_w), workers=workers)
        image_f = image_f.reshape(groups, c_group, *image_f.shape[-2:])
        product = np.einsum("goc...,gc...->go...", kernel_f, image_f)
        product = product.reshape(c_out, *product.shape[-2:])
        planes = inverse(product, s=(fast_h, fast_w), workers=workers)
        out[n] = planes[:, :oh, :ow]
