"""The FFT path: tiled (overlap-save) 'valid' correlation with ``scipy.fft``.

Correlation of ``x`` with ``k`` is circular correlation on a tile of size ``(bh, bw)``
as long as the outputs read no wrapped-around pixel, i.e. for the first
``(bh - kh + 1, bw - kw + 1)`` outputs of each tile.  Tiles therefore overlap by
``kernel - 1`` pixels (overlap-save), every tile is transformed once, multiplied by
the kernel's transform and transformed back, and only its valid part is kept.

Tiles are bands of whole rows: a band of contiguous rows is transformed without
copying, and its row transforms run on contiguous memory.  A band is as tall as fits
a working-set budget (``_BAND_BYTES``, about what stays in cache), but at least four
times the kernel's height, so that at most a quarter of its rows are overlap.  Only
images wider than ``_MAX_BAND_WIDTH`` are tiled along their width too.  Memory stays
bounded by one band, whatever the image's height.

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

#: Working set of one band (its input, spectrum and inverse: about 12 bytes per
#: point in float32) above which bands are made shorter.  On a 2-core Zen 4, 2048²
#: with a 31x31 kernel took 22 ms in bands of 256 rows and 34 ms in 256x256 tiles.
_BAND_BYTES = 8 * 2**20
#: Images wider than this are tiled along their width as well.
_MAX_BAND_WIDTH = 8192
#: Tile lengths along the width of images wider than ``_MAX_BAND_WIDTH``.
_WIDTH_CANDIDATES = (1024, 2048, 4096)


def _band_height(n: int, k: int, width: int) -> int:
    """Rows per band for an input of ``n`` rows, a kernel of ``k`` rows and tiles
    ``width`` points wide: a power of two within the working-set budget (64 at
    least), but no shorter than ``4 * (k - 1)``; the whole height when that is no
    longer."""
    whole = scipy.fft.next_fast_len(n, real=True)
    budget = max(1, _BAND_BYTES // (12 * width))
    height = 1 << max(6, budget.bit_length() - 1)  # largest power of two <= budget, >= 64
    while height < 4 * (k - 1):
        height *= 2
    return whole if height >= whole else height


def _tile_width(n: int, k: int) -> int:
    """Tile length along a row of ``n`` points with a kernel of ``k`` columns."""
    whole = scipy.fft.next_fast_len(n, real=True)
    if whole <= _MAX_BAND_WIDTH:
        return whole
    out = n - k + 1
    best, best_cost = whole, whole * math.log2(whole) / out
    for length in _WIDTH_CANDIDATES:
        if length < 4 * (k - 1):
            continue
        tiles = math.ceil(out / (length - k + 1))
        cost = tiles * length * math.log2(length) / out
        if cost < best_cost:
            best, best_cost = length, cost
    return best


def tile_shape(image_shape: tuple[int, int], kernel_shape: tuple[int, int]) -> tuple[int, int]:
    """The FFT tile (bh, bw) used for a 'valid' correlation of these shapes."""
    bw = _tile_width(image_shape[1], kernel_shape[1])
    return _band_height(image_shape[0], kernel_shape[0], bw), bw


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

    # Each band of rows is transformed as is (rfft2 zero-extends a short last band).
    # With several tiles per band, each band is copied into one zero-extended buffer,
    # whose overlapping tiles are views; its columns past the image stay zero.
    if tiles_w > 1:
        extended = np.zeros((bh, (tiles_w - 1) * step_w + bw), dtype=x.dtype)
        s0, s1 = extended.strides
        tiles = as_strided(
            extended, shape=(tiles_w, bh, bw), strides=(step_w * s1, s0, s1), writeable=False
        )
    for ti in range(tiles_h):
        i0 = ti * step_h
        rows = x[i0 : i0 + bh]
        if tiles_w == 1:
            band = rows[None]
        else:
            extended[: rows.shape[0], :width] = rows
            extended[rows.shape[0] :] = 0  # below a short last band
            band = tiles
        if real:
            spectrum = scipy.fft.rfft2(band, s=(bh, bw), workers=workers)
            spectrum *= kernel_f
            result = scipy.fft.irfft2(spectrum, s=(bh, bw), workers=workers)
        else:
            spectrum = scipy.fft.fft2(band, s=(bh, bw), workers=workers)
            spectrum *= kernel_f
            result = scipy.fft.ifft2(spectrum, workers=workers)
        count = min(step_h, oh - i0)
        valid = result[:, :count, :step_w]  # (tiles_w, count, step_w)
        if tiles_w == 1:
            out[i0 : i0 + count] = valid[0, :, :ow]
        else:
            joined = valid.transpose(1, 0, 2).reshape(count, tiles_w * step_w)
            out[i0 : i0 + count] = joined[:, :ow]


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
