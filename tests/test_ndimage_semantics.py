"""The SciPy face against scipy.ndimage: its border names and its `origin`."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import ndimage, signal

from corr2d import convolve2d, correlate2d

#: The SciPy face's boundary names and ndimage's names for the same rule.
NDIMAGE_MODE = {
    "symm": "reflect",
    "mirror": "mirror",
    "nearest": "nearest",
    "wrap": "wrap",
    "fill": "constant",
}


@st.composite
def same_mode_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, str, tuple[int, int]]:
    height, width = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((height, width))
    kernel = rng.standard_normal((kh, kw))
    boundary = draw(st.sampled_from(sorted(NDIMAGE_MODE)))
    origin = (
        draw(st.integers(-(kh // 2), (kh - 1) // 2)),
        draw(st.integers(-(kw // 2), (kw - 1) // 2)),
    )
    return image, kernel, boundary, origin


@given(same_mode_cases(), st.floats(-3, 3))
def test_correlate2d_with_origin_equals_ndimage_correlate(case: tuple, fill: float) -> None:
    image, kernel, boundary, origin = case
    ours = correlate2d(image, kernel, "same", boundary, fill, origin=origin)
    theirs = ndimage.correlate(
        image, kernel, mode=NDIMAGE_MODE[boundary], cval=fill, origin=list(origin)
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@given(same_mode_cases(), st.floats(-3, 3))
def test_convolve2d_with_origin_equals_ndimage_convolve(case: tuple, fill: float) -> None:
    image, kernel, boundary, origin = case
    ours = convolve2d(image, kernel, "same", boundary, fill, origin=origin)
    theirs = ndimage.convolve(
        image, kernel, mode=NDIMAGE_MODE[boundary], cval=fill, origin=list(origin)
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(2, 2), (4, 4), (3, 4), (5, 2)])
def test_default_origin_is_scipy_signals_and_ndimage_minus_one_for_even(
    size: tuple[int, int], rng: np.random.Generator
) -> None:
    image = rng.standard_normal((9, 11))
    kernel = rng.standard_normal(size)
    expected_origin = [0 if n % 2 else -1 for n in size]
    ours = correlate2d(image, kernel, "same", "symm")
    np.testing.assert_allclose(ours, signal.correlate2d(image, kernel, "same", "symm"), atol=1e-12)
    np.testing.assert_allclose(
        ours, ndimage.correlate(image, kernel, mode="reflect", origin=expected_origin), atol=1e-12
    )
    ours = convolve2d(image, kernel, "same", "symm")
    np.testing.assert_allclose(ours, signal.convolve2d(image, kernel, "same", "symm"), atol=1e-12)
    np.testing.assert_allclose(
        ours, ndimage.convolve(image, kernel, mode="reflect", origin=expected_origin), atol=1e-12
    )


def test_a_four_by_four_box_matches_uniform_filter(rng: np.random.Generator) -> None:
    image = rng.random((20, 17))
    box = np.full((4, 4), 1 / 16)
    for origin in (0, -1, 1, -2):
        expected = ndimage.uniform_filter(image, 4, mode="reflect", origin=origin)
        ours = correlate2d(image, box, "same", "symm", origin=origin)
        np.testing.assert_allclose(ours, expected, atol=1e-12)
    # Without origin, SciPy.signal's placement: one pixel off uniform_filter's default.
    shifted = correlate2d(image, box, "same", "symm")
    assert not np.allclose(shifted, ndimage.uniform_filter(image, 4, mode="reflect"))


def test_mirror_and_nearest_worked_by_hand() -> None:
    row = np.array([[1.0, 2.0, 4.0, 8.0]])
    pick_left = np.array([[1.0, 0.0, 0.0]])  # correlation reads x[j - 1]
    # mirror: x[-1] = x[1] = 2; nearest: x[-1] = x[0] = 1; 'full' reads two pixels out.
    np.testing.assert_array_equal(correlate2d(row, pick_left, "same", "mirror"), [[2, 1, 2, 4]])
    np.testing.assert_array_equal(correlate2d(row, pick_left, "same", "nearest"), [[1, 1, 2, 4]])
    np.testing.assert_array_equal(
        correlate2d(row, pick_left, "full", "mirror"), [[4, 2, 1, 2, 4, 8]]
    )
    np.testing.assert_array_equal(
        correlate2d(row, pick_left, "full", "nearest"), [[1, 1, 1, 2, 4, 8]]
    )


def test_origin_errors_name_the_rule() -> None:
    image = np.ones((5, 5))
    with pytest.raises(ValueError, match=r"correlate2d: `origin` must be between -2 and 1"):
        correlate2d(image, np.ones((4, 4)), "same", origin=2)
    with pytest.raises(ValueError, match=r"convolve2d: `origin` must be None unless mode='same'"):
        convolve2d(image, np.ones((3, 3)), "full", origin=0)
    with pytest.raises(TypeError, match=r"`origin` must be an int or a tuple of one or two ints"):
        correlate2d(image, np.ones((3, 3)), "same", origin=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`boundary` must be one of .*'mirror', 'nearest'"):
        correlate2d(image, np.ones((3, 3)), "same", "reflect")  # type: ignore[arg-type]
