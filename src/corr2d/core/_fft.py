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
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

__all__ = [
    "NO_SCALE",
    "Scale",
    "conv2d_fft",
    "correlate_valid_fft",
    "fft_error_bound",
    "next_fast_len",
    "scaling",
    "tile_shape",
]

#: Working set of one band (its input, spectrum and inverse: about 12 bytes per
#: point in float32) above which bands are made shorter.  On a 2-core Zen 5, 2048²
#: with a 31x31 kernel took 22 ms in bands of 256 rows and 34 ms in 256x256 tiles.
_BAND_BYTES = 8 * 2**20
#: Images wider than this are tiled along their width as well.
_MAX_BAND_WIDTH = 8192
#: Tile lengths along the width of images wider than ``_MAX_BAND_WIDTH``.
_WIDTH_CANDIDATES = (1024, 2048, 4096)


def next_fast_len(n: int, real: bool = True) -> int:
    """The smallest length >= ``n`` whose only prime factors are 2, 3 and 5 (real
    transforms) or 2, 3, 5, 7 and 11 (complex): ``scipy.fft.next_fast_len``'s answer,
    without importing SciPy for the cost model."""
    primes = (2, 3, 5) if real else (2, 3, 5, 7, 11)
    length = max(1, n)
    while True:
        rest = length
        for p in primes:
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return length
        length += 1


def _band_height(n: int, k: int, width: int) -> int:
    """Rows per band for an input of ``n`` rows, a kernel of ``k`` rows and tiles
    ``width`` points wide: a power of two within the working-set budget (64 at
    least), but no shorter than ``4 * (k - 1)``; the whole height when that is no
    longer."""
    whole = next_fast_len(n, real=True)
    budget = max(1, _BAND_BYTES // (12 * width))
    height = 1 << max(6, budget.bit_length() - 1)  # largest power of two <= budget, >= 64
    while height < 4 * (k - 1):
        height *= 2
    return whole if height >= whole else height


def _tile_width(n: int, k: int) -> int:
    """Tile length along a row of ``n`` points with a kernel of ``k`` columns."""
    whole = next_fast_len(n, real=True)
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


#: Scale exponents (x by 2**-a, the kernel by 2**-b, the result by 2**(a + b)).
Scale = tuple[int, int]
NO_SCALE: Scale = (0, 0)


def _peak(array: NDArray[Any]) -> float:
    """max |array| (within a factor sqrt(2) above for complex data); inf or NaN for
    non-finite data."""
    if array.dtype.kind == "c":
        return math.sqrt(2.0) * max(_peak(array.real), _peak(array.imag))
    return max(abs(float(array.max())), abs(float(array.min())))


def scaling(x: NDArray[Any], kernel: NDArray[Any], per_channel: bool = False) -> Scale | None:
    """How to keep the transforms of ``x`` and ``kernel`` inside the dtype's range.

    No output exceeds ``B = max|x| * sum|k|`` (for a layer's weight, ``per_channel``, the
    largest sum over its output channels), and no intermediate value of a transform of
    ``L`` points exceeds ``L**1.5 * B``.  When ``max|x|``, ``sum|k|`` and ``B`` lie
    within ``2**(+-maxexp/3)`` (``2**+-42`` for float32, ``2**+-341`` for float64), the
    data are transformed as they are: ``(0, 0)``.  Otherwise both are scaled by exact
    powers of two to a bound near 1, so nothing overflows (1e31 in float32 gave inf)
    or underflows: ``(a, b)``.  Returns None when ``B`` is within a factor 8 of the
    dtype's largest value, where rounding could push a finite sum to inf: the caller
    then uses the direct sum.
    """
    peak = _peak(x)
    rows = kernel.reshape(kernel.shape[0] if per_channel else 1, -1)
    weight = float(np.abs(rows).sum(axis=1, dtype=np.float64).max())
    if not (math.isfinite(peak) and math.isfinite(weight)):
        return None
    if peak == 0.0 or weight == 0.0:
        return NO_SCALE
    info = np.finfo(x.dtype)
    bound = peak * weight
    if not bound <= float(info.max) / 8:
        return None
    a, b = math.frexp(peak)[1], math.frexp(weight)[1]
    if max(abs(a), abs(b), abs(a + b)) <= info.maxexp // 3:
        return NO_SCALE
    return a, b


def _times_power_of_two(array: NDArray[Any], exponent: int) -> NDArray[Any]:
    """``array * 2**exponent``, exact wherever the result is a normal number, in steps
    that stay inside the dtype's range (2**-149 is a float32, 2**149 is not)."""
    while exponent:
        step = max(-100, min(100, exponent))
        array = array * array.dtype.type(2.0**step)
        exponent -= step
    return array


def _scaled_kernel(kernel: NDArray[Any], exponent: int) -> NDArray[Any]:
    """``kernel * 2**exponent`` computed in double precision (the kernel is small)."""
    if exponent == 0:
        return kernel
    wide = np.complex128 if kernel.dtype.kind == "c" else np.float64
    return (kernel.astype(wide) * 2.0**exponent).astype(kernel.dtype)


def correlate_valid_fft(
    x: NDArray[Any],
    kernel: NDArray[Any],
    out: NDArray[Any],
    workers: int,
    scale: Scale = NO_SCALE,
) -> None:
    """out[i, j] = sum over (u, v) of x[i + u, j + v] * kernel[u, v], by tiled FFTs.

    ``x`` and ``kernel`` share ``out``'s dtype (float32, float64, complex64, complex128);
    float32 data is transformed in single precision.  ``scale`` comes from
    :func:`scaling`: each band of ``x`` is multiplied by ``2**-a`` on its way in, the
    kernel by ``2**-b`` and the result by ``2**(a + b)``.
    """
    import scipy.fft

    kernel = _scaled_kernel(kernel, -scale[1])
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
        rows = _times_power_of_two(x[i0 : i0 + bh], -scale[0])
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
        valid = _times_power_of_two(valid, scale[0] + scale[1])
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
    scale: Scale = NO_SCALE,
) -> None:
    """Multi-channel stride-1 'valid' correlation by whole-plane FFTs.

    xp is the padded input (N, C_in, Hp, Wp), weight (C_out, C_in/groups, kH, kW),
    out (N, C_out, oh, ow).  The dilated kernel is transformed once; each image's
    channels are transformed, contracted with the kernel spectra over the input
    channels of each group, and transformed back.  ``scale`` is :func:`scaling`'s, with
    ``per_channel=True``.
    """
    import scipy.fft

    weight = _scaled_kernel(weight, -scale[1])
    n_batch, _, hp, wp = xp.shape
    c_out, c_group, kh, kw = weight.shape
    oh, ow = out.shape[2:]
    dh, dw = dilation
    eff_h, eff_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    real = not np.iscomplexobj(out)
    fast_h = next_fast_len(hp, real=real)
    fast_w = next_fast_len(wp, real=real)
    dilated = np.zeros((c_out, c_group, eff_h, eff_w), dtype=weight.dtype)
    dilated[:, :, ::dh, ::dw] = weight
    transform = scipy.fft.rfft2 if real else scipy.fft.fft2
    inverse = scipy.fft.irfft2 if real else scipy.fft.ifft2
    kernel_f = np.conj(transform(np.conj(dilated), s=(fast_h, fast_w), workers=workers))
    out_group = c_out // groups
    kernel_f = kernel_f.reshape(groups, out_group, c_group, *kernel_f.shape[-2:])
    for n in range(n_batch):
        image = _times_power_of_two(xp[n], -scale[0])
        image_f = transform(image, s=(fast_h, fast_w), workers=workers)
        image_f = image_f.reshape(groups, c_group, *image_f.shape[-2:])
        product = np.einsum("goc...,gc...->go...", kernel_f, image_f)
        product = product.reshape(c_out, *product.shape[-2:])
        planes = inverse(product, s=(fast_h, fast_w), workers=workers)
        out[n] = _times_power_of_two(planes[:, :oh, :ow], scale[0] + scale[1])
