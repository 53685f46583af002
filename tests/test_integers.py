"""The integer rule: integer image and kernel give int64, exactly, or an OverflowError.

The oracle is Python's own integers (arbitrary precision): every result is compared
with a brute-force sum over object arrays, never with a float computation.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import signal

import corr2d

INT64_MAX = 2**63 - 1
INTEGER_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


def python_correlate(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """'valid' correlation in Python integers: an object array of exact sums."""
    xs, ks = x.astype(object), k.astype(object)
    kh, kw = k.shape
    out = np.empty((x.shape[0] - kh + 1, x.shape[1] - kw + 1), dtype=object)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = int((xs[i : i + kh, j : j + kw] * ks).sum())
    return out


def python_bound(x: np.ndarray, k: np.ndarray) -> int:
    return max(abs(int(v)) for v in x.ravel()) * sum(abs(int(v)) for v in k.ravel())


def assert_exact(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == np.int64
    assert got.shape == expected.shape
    assert [int(v) for v in got.ravel()] == [int(v) for v in expected.ravel()]


def test_uint8_times_uint8_is_int64_and_exact() -> None:
    image = np.full((4, 4), 200, dtype=np.uint8)
    kernel = np.full((2, 2), 4, dtype=np.uint8)
    out = corr2d.correlate2d(image, kernel, "valid")
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, 3200)
    pair = corr2d.corr2d(np.array([[200, 200]], np.uint8), np.array([[2, 2]], np.uint8))
    assert pair.dtype == np.int64 and pair[0, 0] == 800


def test_uint64_beyond_int64_is_refused_with_the_value_and_the_way_out() -> None:
    image = np.array([[2**64 - 1, 2**64 - 2]], dtype=np.uint64)
    for call in (
        lambda: corr2d.corr2d(image, np.array([[1, -1]])),
        lambda: corr2d.correlate2d(image, np.array([[1, -1]]), "valid"),
        lambda: corr2d.convolve2d(image, np.array([[1, -1]]), "valid"),
        lambda: corr2d.conv2d(image[None, None], np.array([[[[1, -1]]]])),
    ):
        with pytest.raises(OverflowError, match=r"18446744073709551615.*int64.*float64"):
            call()
    # the way out the message gives: float64, rounding accepted
    out = corr2d.corr2d(image, np.array([[1, -1]]), dtype=np.float64)
    assert out.dtype == np.float64


def test_bound_past_int64_is_refused_naming_bound_and_values() -> None:
    x = np.array([[2**62, 2**62 - 10, 5]], dtype=np.int64)
    with pytest.raises(OverflowError) as info:
        corr2d.corr2d(x, np.array([[1, -1]]))
    message = str(info.value)
    assert "corr2d" in message and "max|X| * sum|K|" in message
    assert f"{2**62} * 2" in message and str(2**63) in message and "float64" in message


def test_between_2_53_and_2_63_the_loops_run_on_int64() -> None:
    """Odd values past 2**53 are not floats: an exact answer needs int64 arithmetic."""
    x = np.array([[2**60 + 1, 2**60 + 3, 2**60 + 7, 5]], dtype=np.int64)
    k = np.array([[3, -1, 2]])
    assert 2**53 < python_bound(x, k) <= INT64_MAX
    assert_exact(corr2d.corr2d(x, k), python_correlate(x, k))
    out = corr2d.correlate2d(x, k, "same", boundary="symm")
    padded = np.pad(x, ((0, 0), (1, 1)), mode="symmetric")
    assert_exact(out, python_correlate(padded, k))


def test_large_integer_images_take_the_fast_loops_and_stay_exact(rng) -> None:
    """A 16-bit photograph-sized image: the float64 register-blocked loop, exact."""
    x = rng.integers(0, 2**16, size=(300, 260), dtype=np.uint16)
    k = rng.integers(-(2**20), 2**20, size=(5, 7))
    assert python_bound(x, k) <= 2**53
    expected = signal.correlate2d(x.astype(np.int64), k, "valid")  # int64, cannot wrap here
    out = corr2d.corr2d(x, k)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)


def _extreme_values(dtype: type) -> st.SearchStrategy[int]:
    info = np.iinfo(dtype)
    edges = [info.min, info.min + 1, -1, 0, 1, info.max - 1, info.max]
    return st.one_of(
        st.sampled_from([v for v in edges if info.min <= v <= info.max]),
        st.integers(int(info.min), int(info.max)),
    )


@st.composite
def integer_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    x_dtype = draw(st.sampled_from(INTEGER_DTYPES))
    k_dtype = draw(st.sampled_from(INTEGER_DTYPES))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
    x = draw(st.lists(_extreme_values(x_dtype), min_size=h * w, max_size=h * w))
    k = draw(st.lists(_extreme_values(k_dtype), min_size=kh * kw, max_size=kh * kw))
    return np.array(x, dtype=x_dtype).reshape(h, w), np.array(k, dtype=k_dtype).reshape(kh, kw)


@settings(max_examples=150, deadline=None)
@given(pair=integer_pairs())
def test_integer_extremes_against_python_integers(pair) -> None:
    x, k = pair
    fits = all(-(2**63) <= int(v) <= INT64_MAX for v in (*x.ravel(), *k.ravel()))
    if not fits or python_bound(x, k) > INT64_MAX:
        with pytest.raises(OverflowError, match="int64"):
            corr2d.corr2d(x, k)
        with pytest.raises(OverflowError, match="int64"):
            corr2d.conv2d(x[None, None], k[None, None])
        return
    expected = python_correlate(x, k)
    assert_exact(corr2d.corr2d(x, k), expected)
    assert_exact(corr2d.correlate2d(x, k, "valid"), expected)
    assert_exact(corr2d.convolve2d(x, k[::-1, ::-1], "valid"), expected)
    assert_exact(corr2d.conv2d(x[None, None], k[None, None])[0, 0], expected)


@settings(max_examples=40, deadline=None)
@given(
    pair=integer_pairs(),
    mode=st.sampled_from(["full", "same"]),
    boundary=st.sampled_from(["fill", "wrap", "symm"]),
    fill=st.integers(-(2**40), 2**40),
)
@example(  # a kernel beyond int64 with zero pixels: refused above, whatever the bound
    pair=(np.zeros((2, 2), np.uint64), np.array([[2**64 - 2]], np.uint64)),
    mode="full",
    boundary="fill",
    fill=0,
)
def test_scipy_face_modes_and_boundaries_against_python_integers(
    pair, mode, boundary, fill
) -> None:
    x, k = pair
    fits = all(-(2**63) <= int(v) <= INT64_MAX for v in (*x.ravel(), *k.ravel()))
    if not fits or max(abs(int(v)) for v in x.ravel()) > 2**62 or python_bound(x, k) > 2**61:
        return  # the refusal is tested above; here the arithmetic of the modes
    bound = python_bound(x, k)
    if boundary == "fill":  # the fill value enters the sums only for this border
        bound = max(bound, abs(fill) * sum(abs(int(v)) for v in k.ravel()))
    pads = [(n - 1, n - 1) for n in k.shape]
    modes = {"fill": "constant", "wrap": "wrap", "symm": "symmetric"}
    if boundary == "fill":
        padded = np.pad(x.astype(object), pads, mode="constant", constant_values=fill)
    else:
        padded = np.pad(x.astype(object), pads, mode=modes[boundary])
    full = python_correlate(padded, k)
    if mode == "same":
        top, left = k.shape[0] // 2, k.shape[1] // 2  # SciPy's centring of 'same'
        full = full[top : top + x.shape[0], left : left + x.shape[1]]
    if bound > INT64_MAX:
        with pytest.raises(OverflowError):
            corr2d.correlate2d(x, k, mode, boundary, fill)
        return
    assert_exact(corr2d.correlate2d(x, k, mode, boundary, fill), full)


def test_layer_face_channels_groups_and_bias_against_python_integers(rng) -> None:
    x = rng.integers(-(2**40), 2**40, size=(2, 4, 6, 7))
    w = rng.integers(-(2**10), 2**10, size=(6, 2, 3, 2))
    bias = rng.integers(-(2**50), 2**50, size=6)
    out = corr2d.conv2d(x, w, bias, stride=(2, 1), padding=1, groups=2)
    assert out.dtype == np.int64
    xp = np.pad(x.astype(object), ((0, 0), (0, 0), (1, 1), (1, 1)))
    for n in range(2):
        for o in range(6):
            g = o // 3
            total = sum(python_correlate(xp[n, 2 * g + c], w[o, c])[::2, :] for c in range(2))
            assert [int(v) for v in out[n, o].ravel()] == [
                int(v) + int(bias[o]) for v in total.ravel()
            ]


def test_layer_bias_counts_in_the_bound() -> None:
    x = np.full((1, 1, 2, 2), 2**31, dtype=np.int64)
    w = np.full((1, 1, 1, 1), 2**31, dtype=np.int64)
    assert corr2d.conv2d(x, w, [INT64_MAX - 2**62]).dtype == np.int64
    with pytest.raises(OverflowError, match=r"max\|bias\|"):
        corr2d.conv2d(x, w, [INT64_MAX - 2**62 + 1])


def test_integer_image_with_float_kernel_follows_promotion() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert corr2d.corr2d(image, np.ones((2, 2))).dtype == np.float64
    assert corr2d.correlate2d(image, np.ones((2, 2), np.complex64)).dtype == np.complex128
    assert corr2d.correlate2d(image, np.ones((2, 2), np.int8), fillvalue=0.5).dtype == np.float64
    layer = corr2d.conv2d(image[None], np.ones((1, 1, 2, 2), np.int8), bias=[0.5])
    assert layer.dtype == np.float64
    # dtype= overrides the rule
    assert corr2d.corr2d(image, np.ones((2, 2), np.int8), dtype=np.float32).dtype == np.float32
