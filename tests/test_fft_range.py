"""No silent inf or NaN from the FFT path on finite data, at any magnitude.

The oracle is SciPy's direct sum in float64 on data divided by a power of two (exact),
multiplied back: a result that is finite in float64 and within the dtype's range must
be finite, and as accurate as at ordinary magnitudes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

import corr2d
from corr2d.core import _fft


def scaled_reference(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The float64 'valid' correlation, safe from overflow and underflow: the data
    divided by powers of two (exact) to near 1, summed by SciPy, multiplied back."""
    ex = math.frexp(float(np.abs(x).max()))[1]
    ek = math.frexp(float(np.abs(k).max()))[1]
    core = signal.correlate2d(x.astype(np.float64) / 2.0**ex, k.astype(np.float64) / 2.0**ek)
    return core[k.shape[0] - 1 : x.shape[0], k.shape[1] - 1 : x.shape[1]] * 2.0**ex * 2.0**ek


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(got.astype(expected.dtype) - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("method", ["auto", "fft"])
def test_float32_data_of_magnitude_1e31_stay_finite(method) -> None:
    """The reported case: 'auto' picked the FFT and returned inf and NaN everywhere."""
    rng = np.random.default_rng(31)
    x = (rng.random((512, 512)) * 1e31).astype(np.float32)
    k = rng.random((31, 31)).astype(np.float32)
    assert corr2d.choose_method(x, k, "valid") == "fft"
    got = corr2d.corr2d(x, k, method=method)
    expected = scaled_reference(x, k)
    assert 1e33 < np.abs(expected).max() < 1e34
    assert np.isfinite(got).all()
    assert relative_error(got, expected) < 1e-5


def test_float64_data_near_1e304_stay_finite() -> None:
    rng = np.random.default_rng(304)
    x = rng.random((300, 300)) * 1e304
    k = rng.random((31, 31))
    got = corr2d.correlate2d(x, k, "valid", method="fft")
    assert np.isfinite(got).all()
    assert relative_error(got, scaled_reference(x, k)) < 1e-12


def test_sums_near_the_largest_float_take_the_direct_sum() -> None:
    """Within a factor 8 of float32's largest value the FFT's rounding could push a
    finite sum to inf, so even method='fft' computes those directly."""
    rng = np.random.default_rng(36)
    x = (rng.random((200, 200)) * 3e36).astype(np.float32)
    k = rng.random((15, 15)).astype(np.float32)
    assert _fft.scaling(x, k) is None
    direct = corr2d.corr2d(x, k, method="direct")
    assert np.isfinite(direct).all()
    np.testing.assert_array_equal(corr2d.corr2d(x, k, method="fft"), direct)
    np.testing.assert_array_equal(corr2d.corr2d(x, k), direct)


def test_tiny_data_keep_their_relative_accuracy() -> None:
    """Products of values near float32's smallest normal would underflow to zero."""
    rng = np.random.default_rng(38)
    x = (rng.random((256, 256)) * 1e-36).astype(np.float32)
    k = (rng.random((31, 31)) * 1e-5).astype(np.float32)
    got = corr2d.corr2d(x, k, method="fft")
    assert relative_error(got, scaled_reference(x, k)) < 1e-5


def test_layer_face_fft_on_huge_data_stays_finite() -> None:
    rng = np.random.default_rng(33)
    x = (rng.random((2, 4, 64, 64)) * 1e33).astype(np.float32)
    w = rng.random((8, 4, 9, 9)).astype(np.float32)
    got = corr2d.conv2d(x, w, padding=2, method="fft")
    direct = corr2d.conv2d(x, w, padding=2, method="direct")
    assert np.isfinite(got).all() and np.isfinite(direct).all()
    assert relative_error(got, direct.astype(np.float64)) < 1e-5
    huge = (rng.random((1, 4, 32, 32)) * 3e36).astype(np.float32)  # near the top: direct
    np.testing.assert_array_equal(
        corr2d.conv2d(huge, w, method="fft"), corr2d.conv2d(huge, w, method="direct")
    )


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64, np.complex64]),
    x_fraction=st.floats(-1.0, 1.0),
    k_fraction=st.floats(-1.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_fft_is_finite_and_accurate_across_the_dtypes_range(
    dtype, x_fraction, k_fraction, seed
) -> None:
    """Data and kernel scaled by powers of two drawn over the dtype's whole exponent
    range: wherever the exact result fits the dtype (and is not subnormal), the FFT's
    is finite and within its documented error bound."""
    rng = np.random.default_rng(seed)
    info = np.finfo(dtype)
    ex, ek = round(x_fraction * (info.maxexp - 2)), round(k_fraction * (info.maxexp - 2))
    shape_x, shape_k = (40, 48), (7, 9)
    x, k = rng.standard_normal(shape_x), rng.standard_normal(shape_k)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape_x)
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    with np.errstate(over="ignore", under="ignore"):
        x = (x * 2.0**ex).astype(dtype)
        k = (k * 2.0**ek).astype(dtype)
        if not np.abs(x).max() > 0 or not np.abs(k).max() > 0:
            return  # all underflowed
    if not (np.isfinite(x).all() and np.isfinite(k).all()):
        return
    # the stored values, exactly, in units of 2**ex and 2**ek
    x_units = x.astype(wide) * 2.0**-ex
    k_units = k.astype(wide) * 2.0**-ek
    expected = signal.correlate2d(x_units, k_units, "valid")  # in units of 2**(ex + ek)
    top = math.log2(float(np.abs(expected).max())) + ex + ek
    if not info.minexp + 24 < top < info.maxexp - 1:
        return  # the result itself overflows, or lies among the subnormals
    got = corr2d.corr2d(x, k, method="fft")
    assert np.isfinite(got).all()
    got_units = got.astype(wide) * 2.0 ** -(ex + ek)  # one scaling: no overflow on the way
    bound = (
        8
        * float(info.eps)
        * math.log2(x.size)
        * np.linalg.norm(np.abs(x_units))
        * np.linalg.norm(np.abs(k_units))
    )
    assert np.abs(got_units - expected).max() <= bound
