"""The chapter's corr2d and the SciPy face, against hand-worked values and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import signal

import corr2d

MODES = ["full", "valid", "same"]
BOUNDARIES = ["fill", "wrap", "symm"]


def chapter_edge_image() -> np.ndarray:
    """The chapter's 6x8 image: ones, with black (zero) columns 2..5."""
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    return X


class TestChapterValues:
    def test_three_by_three_example_gives_19_25_37_43(self) -> None:
        X = np.arange(9.0).reshape(3, 3)
        K = np.array([[0.0, 1.0], [2.0, 3.0]])
        np.testing.assert_array_equal(corr2d.corr2d(X, K), [[19, 25], [37, 43]])

    def test_edge_kernel_marks_column_1_white_to_black_and_column_5_black_to_white(self) -> None:
        Y = corr2d.corr2d(chapter_edge_image(), np.array([[1.0, -1.0]]))
        expected = np.zeros((6, 7))
        expected[:, 1] = 1
        expected[:, 5] = -1
        np.testing.assert_array_equal(Y, expected)

    def test_edge_kernel_on_transposed_image_gives_all_zeros(self) -> None:
        Y = corr2d.corr2d(chapter_edge_image().T, np.array([[1.0, -1.0]]))
        assert Y.shape == (8, 5)
        np.testing.assert_array_equal(Y, 0)

    def test_output_shape_is_n_minus_k_plus_one_on_non_square_shapes(self, rng) -> None:
        X = rng.standard_normal((7, 11))
        K = rng.standard_normal((2, 5))
        assert corr2d.corr2d(X, K).shape == (6, 7)

    @pytest.mark.parametrize("method", ["direct", "fft"])
    def test_corr2d_equals_scipy_valid(self, rng, method) -> None:
        X = rng.standard_normal((40, 57))
        K = rng.standard_normal((6, 3))
        np.testing.assert_allclose(
            corr2d.corr2d(X, K, method=method),
            signal.correlate2d(X, K, "valid"),
            rtol=1e-10,
            atol=1e-10,
        )


small_shapes = st.tuples(st.integers(1, 9), st.integers(1, 9))


@st.composite
def image_kernel(draw, dtype=np.float64):
    image = draw(hnp.arrays(dtype, draw(small_shapes), elements=st.floats(-10, 10, width=32)))
    kernel = draw(hnp.arrays(dtype, draw(small_shapes), elements=st.floats(-10, 10, width=32)))
    return image, kernel


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("operation", ["correlate2d", "convolve2d"])
@given(data=image_kernel(), fillvalue=st.floats(-3, 3))
def test_matches_scipy_for_every_mode_boundary_and_shape(
    operation, mode, boundary, data, fillvalue
) -> None:
    """Same numbers as SciPy for odd, even, non-square and larger-than-image kernels."""
    image, kernel = data
    ours = getattr(corr2d, operation)
    reference = getattr(signal, operation)
    if mode == "valid":
        larger = all(a >= b for a, b in zip(image.shape, kernel.shape, strict=True))
        smaller = all(a <= b for a, b in zip(image.shape, kernel.shape, strict=True))
        if not (larger or smaller):
            with pytest.raises(ValueError, match="mode='valid'"):
                ours(image, kernel, mode, boundary, fillvalue)
            return
    expected = reference(image, kernel, mode, boundary, fillvalue)
    for method in ("direct", "fft"):
        got = ours(image, kernel, mode, boundary, fillvalue, method=method)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * (1 + abs(expected).max()))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("operation", ["correlate2d", "convolve2d"])
def test_complex_inputs_match_scipy(rng, operation, mode, boundary) -> None:
    image = rng.standard_normal((9, 12)) + 1j * rng.standard_normal((9, 12))
    kernel = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
    expected = getattr(signal, operation)(image, kernel, mode, boundary)
    for method in ("direct", "fft"):
        got = getattr(corr2d, operation)(image, kernel, mode, boundary, method=method)
        assert got.dtype == np.complex128
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("operation", ["correlate2d", "convolve2d"])
def test_valid_mode_swaps_inputs_like_scipy_also_for_complex(rng, operation) -> None:
    small = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    large = rng.standard_normal((6, 7)) + 1j * rng.standard_normal((6, 7))
    expected = getattr(signal, operation)(small, large, "valid")
    got = getattr(corr2d, operation)(small, large, "valid")
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


class TestDtypes:
    @pytest.mark.parametrize(
        ("dtype", "expected"),
        [
            (np.float32, np.float32),
            (np.float64, np.float64),
            (np.float16, np.float32),
            (np.complex64, np.complex64),
            (np.complex128, np.complex128),
            (np.uint8, np.int64),
            (np.int16, np.int64),
            (np.int64, np.int64),
            (np.bool_, np.int64),
        ],
    )
    def test_result_dtype_rules(self, dtype, expected) -> None:
        image = np.ones((5, 5), dtype=dtype)
        kernel = np.ones((2, 2), dtype=dtype)
        assert corr2d.correlate2d(image, kernel).dtype == expected
        assert corr2d.corr2d(image, kernel).dtype == expected

    def test_uint8_never_overflows_where_scipy_wraps(self) -> None:
        image = np.full((4, 4), 200, dtype=np.uint8)
        kernel = np.full((2, 2), 3, dtype=np.uint8)
        wrapped = signal.correlate2d(image, kernel, "valid")
        assert wrapped.dtype == np.uint8 and wrapped[0, 0] != 2400  # SciPy overflows
        np.testing.assert_array_equal(corr2d.correlate2d(image, kernel, "valid"), 2400)

    def test_dtype_argument_chooses_the_working_dtype(self) -> None:
        out = corr2d.correlate2d(np.ones((4, 4), np.int32), np.ones((2, 2)), dtype=np.float32)
        assert out.dtype == np.float32

    def test_mixed_float32_and_float64_promote_to_float64(self) -> None:
        out = corr2d.correlate2d(np.ones((4, 4), np.float32), np.ones((2, 2), np.float64))
        assert out.dtype == np.float64

    def test_float32_result_is_close_to_float64_result(self, rng) -> None:
        image = rng.standard_normal((64, 80))
        kernel = rng.standard_normal((5, 5))
        exact = corr2d.correlate2d(image, kernel, "valid")
        single = corr2d.correlate2d(image.astype(np.float32), kernel.astype(np.float32), "valid")
        np.testing.assert_allclose(single, exact, rtol=1e-4, atol=1e-4)

    def test_integer_inputs_are_exact(self, rng) -> None:
        image = rng.integers(-1000, 1000, (50, 60))
        kernel = rng.integers(-50, 50, (7, 7))
        exact = signal.correlate2d(image, kernel, "valid")  # int64: no overflow at this size
        out = corr2d.correlate2d(image, kernel, "valid")
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out, exact)


class TestNonFinite:
    def test_nan_propagates_only_to_windows_that_contain_it(self) -> None:
        image = np.zeros((6, 6))
        image[2, 3] = np.nan
        out = corr2d.correlate2d(image, np.ones((2, 2)), "valid", method="direct")
        nan_positions = set(zip(*np.nonzero(np.isnan(out)), strict=True))
        assert nan_positions == {(1, 2), (1, 3), (2, 2), (2, 3)}

    def test_inf_times_zero_weight_is_nan_as_ieee_says(self) -> None:
        image = np.zeros((3, 3))
        image[1, 1] = np.inf
        out = corr2d.corr2d(image, np.array([[0.0, 1.0]]), method="direct")
        assert np.isinf(out[1, 0]) and np.isnan(out[1, 1])  # 0 * inf is NaN

    def test_fft_method_refuses_non_finite_data(self) -> None:
        image = np.ones((8, 8))
        image[0, 0] = np.nan
        with pytest.raises(ValueError, match=r"correlate2d: `in1` must be finite for method='fft'"):
            corr2d.correlate2d(image, np.ones((3, 3)), method="fft")

    def test_auto_method_falls_back_to_direct_for_non_finite_data(self) -> None:
        image = np.ones((300, 300))
        image[150, 150] = np.inf
        assert corr2d.choose_method(image, np.ones((41, 41)), "valid") != "fft"
        out = corr2d.correlate2d(image, np.ones((41, 41)), "valid")
        assert np.isinf(out).sum() == 41 * 41
        assert np.isfinite(out).sum() == out.size - 41 * 41


class TestFlipIdentity:
    @given(data=image_kernel())
    def test_convolution_is_correlation_with_the_flipped_kernel(self, data) -> None:
        """convolve(X, K) == correlate(X, flip(K)) in 'full' and 'valid' modes."""
        image, kernel = data
        flipped = kernel[::-1, ::-1]
        np.testing.assert_allclose(
            corr2d.convolve2d(image, kernel, "full"),
            corr2d.correlate2d(image, flipped, "full"),
            atol=1e-9,
        )

    def test_same_mode_of_even_kernel_differs_by_one_index_between_the_two(self, rng) -> None:
        """'same' takes the 'full' output from k // 2 (correlation), (k - 1) // 2 (convolution)."""
        image = rng.standard_normal((6, 6))
        kernel = rng.standard_normal((2, 2))
        full = corr2d.correlate2d(image, kernel[::-1, ::-1], "full")
        np.testing.assert_allclose(corr2d.convolve2d(image, kernel, "same"), full[:6, :6])
        np.testing.assert_allclose(
            corr2d.correlate2d(image, kernel[::-1, ::-1], "same"), full[1:7, 1:7]
        )
        for name in ("correlate2d", "convolve2d"):  # and SciPy agrees
            np.testing.assert_allclose(
                getattr(corr2d, name)(image, kernel, "same"),
                getattr(signal, name)(image, kernel, "same"),
                atol=1e-12,
            )


@given(
    data=image_kernel(),
    a=st.floats(-3, 3),
    b=st.floats(-3, 3),
)
def test_linearity_in_the_image(data, a, b) -> None:
    """corr(a X1 + b X2, K) == a corr(X1, K) + b corr(X2, K)."""
    image, kernel = data
    other = np.cos(np.arange(image.size)).reshape(image.shape)
    left = corr2d.correlate2d(a * image + b * other, kernel)
    right = a * corr2d.correlate2d(image, kernel) + b * corr2d.correlate2d(other, kernel)
    np.testing.assert_allclose(left, right, atol=1e-8 * (1 + np.abs(left).max()))


def test_delta_kernel_is_the_identity(rng) -> None:
    image = rng.standard_normal((7, 9))
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    np.testing.assert_array_equal(corr2d.correlate2d(image, delta, "same"), image)


def test_non_contiguous_and_strided_views_are_accepted(rng) -> None:
    image = rng.standard_normal((20, 30))[::2, ::-3]
    kernel = rng.standard_normal((4, 3)).T
    np.testing.assert_allclose(
        corr2d.correlate2d(image, kernel, "same"),
        signal.correlate2d(image, kernel, "same"),
        atol=1e-12,
    )


def test_lists_are_accepted_like_scipy() -> None:
    np.testing.assert_array_equal(
        corr2d.correlate2d([[1, 2], [3, 4]], [[1]]), signal.correlate2d([[1, 2], [3, 4]], [[1]])
    )
