"""Separable and low-rank kernels: the split, the path the cost model takes, and results
against SciPy within the 2-D loops' documented rounding bound.

The bound (docs/semantics.md): the 2-D sum of ``kh * kw`` products in a dtype of unit
roundoff ``u`` is within ``kh * kw * u * sum |K| |x|`` of the exact sum, output by
output; a split is taken only when its own bound stays inside that one (tap by tap on
the SciPy face, summed over the taps elsewhere, where ``|x|`` is bounded by its largest
value in the window).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import signal

import corr2d
from corr2d import Separable, kernels
from corr2d.core import _paths, _separable

MODES = ("full", "valid", "same")
BOUNDARIES = ("fill", "wrap", "symm")


def _u(dtype: type) -> float:
    return float(np.finfo(dtype).eps) / 2


def _per_tap_bound(x, kernel, mode, boundary, dtype) -> np.ndarray:
    """kh * kw * u * sum |K| |x| for every output, in float64."""
    kh, kw = kernel.shape
    magnitude = signal.correlate2d(
        np.abs(x).astype(np.float64), np.abs(kernel).astype(np.float64), mode, boundary
    )
    return kh * kw * _u(dtype) * magnitude


def _path(image, kernel, **options) -> str:
    k = np.asarray(kernel)
    extended = (image.shape[0] + k.shape[0] - 1, image.shape[1] + k.shape[1] - 1)
    return _paths.plan_image("test", extended, k, 1, image.dtype, **options).path


# ------------------------------------------------------------------- the split itself


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sigma", [0.8, 1.0, 3.0, 8.0])
def test_sampled_gaussians_split_tap_by_tap_tails_included(dtype, sigma) -> None:
    kernel = kernels.gaussian(sigma).astype(dtype)
    factors = _separable.factorize(kernel, 3, "per-tap")
    assert factors is not None and factors.rank == 1 and not factors.box
    product = np.outer(factors.columns[0], factors.rows[0]).astype(np.float64)
    # every tap, down to the tails a million times below the peak, to a few roundoffs
    relative = np.abs(product - kernel) / kernel
    assert relative.max() < 8 * _u(dtype)


def test_the_svd_would_not_keep_the_tails() -> None:
    """Why the split is a cross approximation: the SVD's rank-1 factors are exact only to
    about eps * max|K|, too coarse for a Gaussian's tails (2e-10 against a peak of 6e-4)
    to stay within the 2-D sum's per-tap rounding."""
    kernel = kernels.gaussian(8.0)  # 65 x 65
    allowance = (65 * 65 - (65 + 65 + 2)) * _u(np.float64)  # what the rule leaves per tap
    u, s, vt = np.linalg.svd(kernel)
    svd = s[0] * np.outer(u[:, 0], vt[0])
    assert (np.abs(svd - kernel) / kernel).max() > allowance
    factors = _separable.factorize(kernel, 1, "per-tap")
    assert factors is not None
    ours = np.outer(factors.columns[0], factors.rows[0])
    assert (np.abs(ours - kernel) / kernel).max() < 4 * _u(np.float64)


@pytest.mark.parametrize(
    ("name", "column", "row"),
    [
        ("sobel-dx", [1, 2, 1], [-1, 0, 1]),
        ("sobel-dy", [1, 0, -1], [-1, -2, -1]),
        ("prewitt-dx", [1, 1, 1], [-1, 0, 1]),
        ("scharr-dx", [3, 10, 3], [-1, 0, 1]),
    ],
)
def test_integer_kernels_split_into_integer_factors(name, column, row) -> None:
    kernel = kernels.get(name)
    factors = _separable.factorize(kernel, 1, integer=True)
    assert factors is not None
    np.testing.assert_array_equal(np.outer(factors.columns[0], factors.rows[0]), kernel)
    # the factors are integers (up to a common sign)
    assert np.array_equal(factors.columns[0], np.round(factors.columns[0]))
    assert np.array_equal(factors.rows[0], np.round(factors.rows[0]))
    expected = np.outer(column, row)
    assert np.array_equal(kernel, expected) or np.array_equal(kernel, -expected)


@pytest.mark.parametrize("name", ["laplacian-4", "laplacian-8", "sharpen", "emboss"])
def test_kernels_of_rank_two_do_not_split_into_one_pair(name) -> None:
    kernel = kernels.get(name)
    assert np.linalg.matrix_rank(kernel) >= 2
    assert _separable.factorize(kernel, 1) is None
    assert kernels.factors(name) is None


def test_box_kernels_are_recognised_as_boxes() -> None:
    factors = _separable.factorize(kernels.box(15).astype(np.float32), 3)
    assert factors is not None and factors.box and factors.rank == 1
    assert not _separable.factorize(kernels.gaussian(2.0), 3).box


def test_random_rank_two_kernels_split_in_sum_not_tap_by_tap(rng) -> None:
    """Two random outer products cancel somewhere: tap by tap the passes would lose
    digits there, so only the summed rule accepts them."""
    kernel = sum(np.outer(rng.standard_normal(9), rng.standard_normal(9)) for _ in range(2))
    assert _separable.factorize(kernel, 4, "per-tap") is None
    factors = _separable.factorize(kernel, 4, "summed")
    assert factors is not None and factors.rank == 2
    product = sum(np.outer(c, r) for c, r in zip(factors.columns, factors.rows, strict=True))
    np.testing.assert_allclose(product, kernel, rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1e-2, 1e-4, 1e-6])
def test_almost_separable_kernels_do_not_split(rng, dtype, size) -> None:
    """An outer product plus a perturbation above the dtype's rounding is not separable:
    no split of any rank the cost model could use passes either rule."""
    base = np.outer(rng.random(7) + 0.5, rng.random(7) + 0.5)
    kernel = (base * (1 + size * rng.standard_normal((7, 7)))).astype(dtype)
    if dtype == np.float32 and size < 1e-5:
        pytest.skip("within float32's per-tap allowance (33 roundoffs for 7x7)")
    for rule in ("per-tap", "summed"):
        assert _separable.factorize(kernel, 3, rule) is None
    image = rng.random((300, 300)).astype(dtype)
    assert _path(image, kernel) == "direct"
    assert _path(image, kernel, rule="per-tap") == "direct"


# ------------------------------------------------------------------- against SciPy


def _separable_cases(rng):
    a, b = rng.standard_normal(5), rng.standard_normal(7)
    yield "rank-1", np.outer(a, b)
    yield "gaussian", kernels.gaussian(1.5)
    yield "gaussian-anisotropic", kernels.gaussian((1.0, 2.5))
    yield "box", kernels.box((5, 9))
    yield "sobel", kernels.get("sobel-dx")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_split_kernels_against_scipy_within_the_2d_bound(rng, dtype, mode, boundary) -> None:
    x = rng.standard_normal((67, 83)).astype(dtype)
    for _, kernel in _separable_cases(rng):
        k = kernel.astype(dtype)
        exact = signal.correlate2d(x.astype(np.float64), k.astype(np.float64), mode, boundary)
        bound = _per_tap_bound(x, k, mode, boundary, dtype)
        for split in (True, None):
            out = corr2d.correlate2d(x, k, mode, boundary, separable=split)
            assert out.dtype == dtype
            assert np.all(np.abs(out - exact) <= bound)
        conv = corr2d.convolve2d(x, k, mode, boundary, separable=True)
        exact = signal.convolve2d(x.astype(np.float64), k.astype(np.float64), mode, boundary)
        assert np.all(
            np.abs(conv - exact) <= _per_tap_bound(x, k[::-1, ::-1], mode, boundary, dtype)
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rank_two_kernels_against_scipy_within_the_summed_bound(rng, dtype) -> None:
    """corr2d (not the SciPy face) runs a random rank-2 kernel as two pairs of passes;
    each output is within kh * kw * u * sum|K| * max|x in its window|."""
    kernel = sum(np.outer(rng.standard_normal(11), rng.standard_normal(11)) for _ in range(2))
    k = kernel.astype(dtype)
    x = rng.standard_normal((400, 500)).astype(dtype)
    assert _path(x, k) == "separable"
    out = corr2d.corr2d(x, k)
    exact = signal.correlate2d(x.astype(np.float64), k.astype(np.float64), "valid")
    window_max = signal.correlate2d(np.abs(x).astype(np.float64), np.ones(k.shape), "valid")
    bound = 121 * _u(dtype) * np.abs(k).astype(np.float64).sum() * window_max
    assert np.all(np.abs(out - exact) <= bound)


@pytest.mark.parametrize("name", sorted(kernels.names(separable=True)))
def test_named_separable_kernels_against_scipy(rng, name) -> None:
    x = rng.random((40, 50))
    split = kernels.factors(name)
    assert split is not None
    np.testing.assert_array_equal(np.asarray(split), kernels.get(name))  # tap for tap
    exact = signal.correlate2d(x, kernels.get(name), "same", "symm")
    bound = _per_tap_bound(x, kernels.get(name), "same", "symm", np.float64)
    assert np.all(np.abs(corr2d.correlate2d(x, split, "same", "symm") - exact) <= bound)


def test_describe_and_names_say_which_kernels_are_separable() -> None:
    assert kernels.describe("gaussian").endswith("; separable")
    assert kernels.describe("sobel-dx").endswith("; separable")
    assert not kernels.describe("laplacian-4").endswith("separable")
    assert set(kernels.names(separable=True)) | set(kernels.names(separable=False)) == set(
        kernels.names()
    )
    assert kernels.factors("directional", vx=1, vy=0) is not None  # along an axis
    assert kernels.factors("directional", vx=1, vy=1) is None


# ------------------------------------------------------------------- the paths


def test_the_cost_model_splits_gaussians_and_boxes_but_not_small_random_kernels(rng) -> None:
    image = rng.random((512, 512)).astype(np.float32)
    assert _path(image, kernels.gaussian(2.0).astype(np.float32)) == "separable"
    assert _path(image, rng.random((3, 3)).astype(np.float32)) == "direct"
    integer_image = (image * 255).astype(np.uint8)
    assert _path(integer_image, kernels.box(15).astype(np.float32)) == "box"


def test_separable_keyword_forces_and_forbids_the_split(rng) -> None:
    x = rng.random((64, 64))
    gaussian = kernels.gaussian(1.0)
    assert _path(x, gaussian, separable=False) == "direct"
    assert _path(x, kernels.get("sobel-dx"), separable=True) == "separable"
    np.testing.assert_allclose(
        corr2d.correlate2d(x, gaussian, "same", separable=False),
        corr2d.correlate2d(x, gaussian, "same", separable=True),
        rtol=1e-13,
        atol=1e-15,
    )
    with pytest.raises(ValueError, match=r"correlate2d: `separable` must be False or None"):
        corr2d.correlate2d(x, kernels.get("laplacian-4"), separable=True)
    with pytest.raises(TypeError, match=r"corr2d: `separable` must be True, False or None"):
        corr2d.corr2d(x, gaussian, separable="yes")  # type: ignore[arg-type]


def test_a_separable_pair_can_be_passed_directly(rng) -> None:
    x = rng.standard_normal((30, 40))
    column, row = rng.standard_normal(4), rng.standard_normal(6)
    pair = Separable(column, row)
    kernel = np.outer(column, row)
    assert np.asarray(pair).shape == pair.shape == (4, 6)
    for mode in MODES:
        exact = signal.correlate2d(x, kernel, mode)
        bound = _per_tap_bound(x, kernel, mode, "fill", np.float64)
        assert np.all(np.abs(corr2d.correlate2d(x, pair, mode) - exact) <= bound)
        exact = signal.convolve2d(x, kernel, mode)
        assert np.all(np.abs(corr2d.convolve2d(x, pair, mode) - exact) <= bound[::1, ::1] * 2)
    np.testing.assert_allclose(corr2d.corr2d(x, pair), signal.correlate2d(x, kernel, "valid"))
    with pytest.raises(ValueError, match=r"Separable: `row` must be 1-D"):
        Separable(column, kernel)


def test_integer_images_with_integer_kernels_stay_exact_through_the_split(rng) -> None:
    x = rng.integers(0, 256, (300, 400)).astype(np.uint8)
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.int64)
    exact = signal.correlate2d(x.astype(np.int64), sobel, "same", "symm")
    out = corr2d.correlate2d(x, sobel, "same", "symm", separable=True)
    np.testing.assert_array_equal(out, exact)
    big = rng.integers(0, 2**20, (200, 200)).astype(np.int64)
    out = corr2d.correlate2d(big, np.ones((9, 9), dtype=np.int64), "same")
    np.testing.assert_array_equal(out, signal.correlate2d(big, np.ones((9, 9), np.int64), "same"))


@pytest.mark.parametrize(
    ("pixels", "top"), [(np.uint8, 255), (np.uint16, 65535), (np.int16, 32767), (np.int32, 2**30)]
)
def test_running_sums_are_exact_for_any_pixel_range(rng, pixels, top) -> None:
    """A box of ones on integer pixels (the running-sum path) equals SciPy's sum to the
    last bit, for pixels up to 2**30 and fill values outside the pixel type's range."""
    x = rng.integers(-top if pixels in (np.int16, np.int32) else 0, top, (230, 250))
    x = x.astype(pixels)
    box = np.ones((15, 17))
    assert _path(x, box) == "box"
    for boundary, fill in (("symm", 0), ("fill", -3), ("fill", 70000), ("wrap", 0)):
        exact = signal.correlate2d(x.astype(np.int64), box.astype(np.int64), "same", boundary, fill)
        out = corr2d.correlate2d(x, box, "same", boundary, fill)
        np.testing.assert_array_equal(out, exact.astype(np.float64))


@pytest.mark.parametrize("size", [12, 300])  # the NumPy path and the compiled loops
@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf, 2.5, -1.0, 1e300])
def test_box_with_a_fill_value_running_sums_cannot_hold_matches_scipy(rng, size, fill) -> None:
    """A fill value that is not a whole number, or too large for the integer sums, is
    correlated as SciPy does (by the passes), not refused or rounded."""
    x = rng.integers(0, 256, (size, size)).astype(np.uint8)
    box = np.full((15, 15), 1 / 225)
    out = corr2d.correlate2d(x, box, "same", "fill", fill)
    expected = signal.correlate2d(x.astype(np.float64), box, "same", "fill", fill)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=0)


def test_box_on_int64_pixels_beyond_exact_integer_sums_matches_scipy(rng) -> None:
    """int64 pixels near 2**62: window sums would overflow int64, so no running sums."""
    x = rng.integers(0, 2**62, (300, 300), dtype=np.int64)
    box = np.full((15, 15), 1 / 225)
    out = corr2d.correlate2d(x, box, "same", "symm")
    expected = signal.correlate2d(x.astype(np.float64), box, "same", "symm")
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=0)


def test_nan_and_inf_reach_the_same_outputs_as_the_2d_loops() -> None:
    x = np.ones((60, 70))
    x[10, 10], x[30, 40], x[50, 5] = np.nan, np.inf, -np.inf
    for kernel in (kernels.gaussian(1.5), kernels.get("sobel-dx"), kernels.box(5)):
        split = corr2d.correlate2d(x, kernel, "same", "symm", separable=True)
        plain = corr2d.correlate2d(x, kernel, "same", "symm", separable=False)
        np.testing.assert_array_equal(np.isnan(split), np.isnan(plain))
        np.testing.assert_array_equal(np.isposinf(split), np.isposinf(plain))
        np.testing.assert_array_equal(np.isneginf(split), np.isneginf(plain))


@given(
    image=hnp.arrays(
        np.float64, st.tuples(st.integers(1, 30), st.integers(1, 30)), elements=st.floats(-100, 100)
    ),
    column=hnp.arrays(np.float64, st.integers(2, 6), elements=st.floats(-3, 3)),
    row=hnp.arrays(np.float64, st.integers(2, 6), elements=st.floats(-3, 3)),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
)
def test_forced_split_matches_the_2d_sum_on_any_shape(image, column, row, mode, boundary) -> None:
    if mode == "valid" and (image.shape[0] < column.size or image.shape[1] < row.size):
        return  # SciPy's swap rule: the kernel becomes the image
    pair = Separable(column, row)
    kernel = np.asarray(pair)
    out = corr2d.correlate2d(image, pair, mode, boundary)
    exact = signal.correlate2d(image, kernel, mode, boundary)
    magnitude = signal.correlate2d(np.abs(image), np.abs(kernel), mode, boundary)
    assert np.all(
        np.abs(out - exact) <= (column.size + row.size + 2) * _u(np.float64) * magnitude + 1e-300
    )
