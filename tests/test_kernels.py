"""Hand-designed kernels: each test states the behaviour the kernel's docstring promises.

Oracles: polynomials with known derivatives, hand-worked stencils, and
``scipy.ndimage``'s separable filters.
"""

from __future__ import annotations

from math import factorial

import numpy as np
import pytest
import scipy.ndimage as ndi

from corr2d import correlate2d, kernels


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def grid(height: int = 9, width: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Row coordinate y and column coordinate x of every pixel."""
    y, x = np.mgrid[0:height, 0:width]
    return y.astype(float), x.astype(float)


# --- finite differences ----------------------------------------------------------------------


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("axis", ["x", "y"])
def test_degree_d_difference_of_a_degree_d_polynomial_is_d_factorial_times_a_d(
    order: int, axis: str, rng: np.random.Generator
) -> None:
    """The minimal kernel (size d + 1) turns a_d t**d + ... into the constant d! a_d."""
    coefficients = rng.integers(-3, 4, size=order + 1).astype(float)
    coefficients[-1] = rng.choice([-2.0, 1.0, 3.0])
    y, x = grid()
    t = x if axis == "x" else y
    image = np.polynomial.polynomial.polyval(t, coefficients)
    kernel = kernels.finite_difference(order, axis)
    assert max(kernel.shape) == order + 1 and min(kernel.shape) == 1
    out = correlate2d(image, kernel, mode="valid")
    np.testing.assert_allclose(out, factorial(order) * coefficients[-1], atol=1e-6)


def test_minimal_difference_kernels_are_signed_binomials() -> None:
    """Hand-worked: orders 1..4 give [-1 1], [1 -2 1], [-1 3 -3 1], [1 -4 6 -4 1]."""
    assert kernels.finite_difference(1).tolist() == [[-1, 1]]
    assert kernels.finite_difference(2).tolist() == [[1, -2, 1]]
    assert kernels.finite_difference(3).tolist() == [[-1, 3, -3, 1]]
    assert kernels.finite_difference(4, "y").ravel().tolist() == [1, -4, 6, -4, 1]


@pytest.mark.parametrize(
    ("order", "offsets", "expected"),
    [
        (1, [-1, 0, 1], [-0.5, 0, 0.5]),
        (1, [-2, -1, 0, 1, 2], np.array([1, -8, 0, 8, -1]) / 12),
        (2, [-2, -1, 0, 1, 2], np.array([-1, 16, -30, 16, -1]) / 12),
        (1, [0, 1, 2], [-1.5, 2, -0.5]),
        (0, [-1, 0, 1], [0, 1, 0]),
        (1, [-0.5, 0.5], [-1, 1]),
    ],
)
def test_fornberg_weights_match_published_stencils(
    order: int, offsets: list[float], expected: list[float]
) -> None:
    """Fornberg's weights equal the textbook stencils (Fornberg 1988, Table 1)."""
    np.testing.assert_allclose(kernels.fornberg_weights(order, offsets), expected, atol=1e-15)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("accuracy", [2, 4, 6])
def test_central_differences_are_exact_below_degree_order_plus_accuracy(
    order: int, accuracy: int, rng: np.random.Generator
) -> None:
    """Accuracy p: the centre value is exact on polynomials of degree < d + p."""
    kernel = kernels.finite_difference(order, "x", accuracy=accuracy)
    size = kernel.shape[1]
    assert size % 2 == 1 and size == 2 * ((order + 1) // 2) - 1 + accuracy
    degree = order + accuracy - 1
    coefficients = rng.normal(size=degree + 1)
    t = np.arange(size + 6, dtype=float) - 3
    values = np.polynomial.polynomial.polyval(t, coefficients)[None, :]
    got = correlate2d(values, kernel, mode="valid")[0]
    centres = t[size // 2 : size // 2 + got.size]
    derivative = np.polynomial.polynomial.polyder(coefficients, order)
    expected = np.polynomial.polynomial.polyval(centres, derivative)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-8)


def test_second_derivative_kernels() -> None:
    """[1, -2, 1] gives 2 on x**2 and y**2, 0 on lines, -2 on a one-pixel ridge."""
    y, x = grid()
    assert np.allclose(correlate2d(x**2, kernels.SECOND_DX, "valid"), 2)
    assert np.allclose(correlate2d(y**2, kernels.SECOND_DY, "valid"), 2)
    assert np.allclose(correlate2d(3 * x - 2 * y, kernels.SECOND_DX, "valid"), 0)
    ridge = np.zeros((3, 7))
    ridge[:, 3] = 1
    out = correlate2d(ridge, kernels.SECOND_DX, "valid")
    assert out[0].tolist() == [0, 1, -2, 1, 0]


def test_laplacian_of_x2_plus_y2_is_four_everywhere_inside() -> None:
    """The 4-neighbour Laplacian gives 4 on x**2 + y**2; the 8-neighbour one gives 3 * 4."""
    y, x = grid()
    image = x**2 + y**2
    np.testing.assert_array_equal(correlate2d(image, kernels.LAPLACIAN_4, "valid"), 4.0)
    np.testing.assert_array_equal(correlate2d(image, kernels.LAPLACIAN_8, "valid"), 12.0)


def test_laplacian_4_matches_scipy_ndimage_laplace(rng: np.random.Generator) -> None:
    """scipy.ndimage.laplace sums [1, -2, 1] along each axis: LAPLACIAN_4 inside."""
    image = rng.normal(size=(8, 9))
    expected = ndi.laplace(image)[1:-1, 1:-1]
    np.testing.assert_allclose(correlate2d(image, kernels.LAPLACIAN_4, "valid"), expected)


# --- edge detectors --------------------------------------------------------------------------

DERIVATIVE_NAMES = [
    "edge-dx", "edge-dy", "forward-dx", "forward-dy", "central-dx", "central-dy",
    "second-dx", "second-dy", "laplacian-4", "laplacian-8", "sobel-dx", "sobel-dy",
    "scharr-dx", "scharr-dy", "prewitt-dx", "prewitt-dy", "roberts-diag",
    "roberts-antidiag", "sobel-diag", "sobel-antidiag",
]  # fmt: skip


@pytest.mark.parametrize("name", DERIVATIVE_NAMES)
def test_edge_and_derivative_kernels_give_zero_on_a_constant_image(name: str) -> None:
    """No change, no response: every derivative kernel sums to zero."""
    out = correlate2d(np.full((7, 8), 5.0), kernels.get(name), mode="valid")
    np.testing.assert_array_equal(out, 0.0)


@pytest.mark.parametrize("name", ["sobel-dx", "scharr-dx", "prewitt-dx", "central-dx"])
def test_x_derivative_on_a_step_along_x_is_an_up_down_line(name: str) -> None:
    """A step at column 5 (an edge running up-down) lights up a line of columns around
    it, the same value down every row, positive because the image grows to the right."""
    image = np.zeros((7, 10))
    image[:, 5:] = 1.0
    out = correlate2d(image, kernels.get(name), mode="same", boundary="symm")
    lit = np.flatnonzero(np.abs(out).sum(axis=0))
    assert lit.tolist() == [4, 5]
    assert (out[:, lit] > 0).all()
    assert (out == out[0]).all()  # constant down the columns
    transposed = correlate2d(image.T, kernels.get(name), mode="same", boundary="symm")
    np.testing.assert_array_equal(transposed, 0.0)  # blind to left-right edges


@pytest.mark.parametrize("name", ["sobel-dy", "scharr-dy", "prewitt-dy", "central-dy"])
def test_y_derivative_on_a_step_along_y_is_a_left_right_line(name: str) -> None:
    """The same with the axes swapped: a step down the rows gives a line of rows."""
    image = np.zeros((10, 7))
    image[5:, :] = 1.0
    out = correlate2d(image, kernels.get(name), mode="same", boundary="symm")
    lit = np.flatnonzero(np.abs(out).sum(axis=1))
    assert lit.tolist() == [4, 5]
    assert (out[lit] > 0).all()


def test_chapter_edge_kernel_on_the_chapter_image() -> None:
    """[[1, -1]] on the 6x8 image with a dark middle: +1 at column 1, -1 at column 5."""
    image = np.ones((6, 8))
    image[:, 2:6] = 0
    out = correlate2d(image, kernels.EDGE_DX, mode="valid")
    expected = np.zeros((6, 7))
    expected[:, 1], expected[:, 5] = 1, -1
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(correlate2d(image.T, kernels.EDGE_DX, mode="valid"), 0)
    np.testing.assert_array_equal(correlate2d(image.T, kernels.EDGE_DY, mode="valid"), expected.T)


@pytest.mark.parametrize(
    ("kernel", "smooth", "scipy_filter"),
    [
        (kernels.SOBEL_DX, kernels.SOBEL_SMOOTH, ndi.sobel),
        (kernels.PREWITT_DX, kernels.PREWITT_SMOOTH, ndi.prewitt),
        (kernels.SCHARR_DX, kernels.SCHARR_SMOOTH, None),
    ],
)
def test_separable_edge_kernels_equal_their_1d_definition(
    kernel: np.ndarray, smooth: np.ndarray, scipy_filter: object, rng: np.random.Generator
) -> None:
    """Derivative [-1, 0, 1] along x then smoothing along y, as scipy's test_sobel01 does;
    and, where SciPy has the filter, its output away from the border."""
    image = rng.normal(size=(9, 12))
    separable = ndi.correlate1d(image, kernels.CENTRAL_DIFF, axis=1)
    separable = ndi.correlate1d(separable, smooth, axis=0)
    np.testing.assert_allclose(correlate2d(image, kernel, "valid"), separable[1:-1, 1:-1])
    transposed_kernel = correlate2d(image, kernel.T, "valid")
    separable_y = ndi.correlate1d(
        ndi.correlate1d(image, kernels.CENTRAL_DIFF, axis=0), smooth, axis=1
    )
    np.testing.assert_allclose(transposed_kernel, separable_y[1:-1, 1:-1])
    if scipy_filter is not None:
        for axis, k in ((1, kernel), (0, kernel.T)):
            expected = scipy_filter(image, axis=axis)[1:-1, 1:-1]
            np.testing.assert_allclose(correlate2d(image, k, "valid"), expected)


def test_y_kernels_are_the_transposes_of_the_x_kernels() -> None:
    """Every *_DY constant is its *_DX twin transposed."""
    for stem in ["EDGE", "FORWARD", "CENTRAL", "SECOND", "SOBEL", "SCHARR", "PREWITT"]:
        np.testing.assert_array_equal(
            getattr(kernels, f"{stem}_DY"), getattr(kernels, f"{stem}_DX").T
        )


def test_scharr_matches_opencv() -> None:
    """OpenCV's Scharr(dx=1) correlates with SCHARR_DX (checked away from the border)."""
    cv2 = pytest.importorskip("cv2")
    image = np.random.default_rng(3).normal(size=(9, 10))
    for dx, dy, kernel in ((1, 0, kernels.SCHARR_DX), (0, 1, kernels.SCHARR_DY)):
        expected = cv2.Scharr(image, cv2.CV_64F, dx, dy)[1:-1, 1:-1]
        np.testing.assert_allclose(correlate2d(image, kernel, "valid"), expected, atol=1e-12)


def test_derivative_kernels_measure_the_slope_with_their_documented_scale() -> None:
    """On f = x: central gives 1, Sobel 8, Scharr 32, Prewitt 6 (the smoothing sums)."""
    _, x = grid()
    for kernel, scale in [
        (kernels.CENTRAL_DX, 1),
        (kernels.FORWARD_DX, 1),
        (kernels.SOBEL_DX, 8),
        (kernels.SCHARR_DX, 32),
        (kernels.PREWITT_DX, 6),
        (kernels.EDGE_DX, -1),
    ]:
        np.testing.assert_allclose(correlate2d(x, kernel, "valid"), scale)


def test_diagonal_detectors_ignore_edges_along_their_own_diagonal() -> None:
    """A step across the main diagonal (X = 1 where column >= row) is invisible to the
    down-right derivatives and seen by the down-left ones."""
    y, x = grid(8, 8)
    image = (x >= y).astype(float)
    for name in ["roberts-diag", "sobel-diag"]:
        np.testing.assert_array_equal(correlate2d(image, kernels.get(name), "valid"), 0)
    for name in ["roberts-antidiag", "sobel-antidiag"]:
        assert np.abs(correlate2d(image, kernels.get(name), "valid")).sum() > 0
    # Roberts along the anti-diagonal: X[i+1, j] - X[i, j+1] = -1 on a two-pixel band.
    out = correlate2d(image, kernels.ROBERTS_ANTIDIAG, "valid")
    i, j = np.nonzero(out)
    assert set(j - i) == {-1, 0} and (out[i, j] == -1).all()


@pytest.mark.parametrize("base", ["central", "forward", "sobel"])
@pytest.mark.parametrize(("vx", "vy"), [(1, 0), (0, 1), (1, 1), (3, -4), (-2, 0.5)])
def test_directional_derivative_of_a_plane_is_v_dot_gradient(
    base: str, vx: float, vy: float
) -> None:
    """On f = a x + b y the kernel gives (vx a + vy b) / |v| exactly."""
    y, x = grid()
    a, b = 0.75, -2.0
    kernel = kernels.directional_derivative(vx, vy, base=base)
    out = correlate2d(a * x + b * y, kernel, mode="valid")
    np.testing.assert_allclose(out, (vx * a + vy * b) / np.hypot(vx, vy), atol=1e-12)


def test_directional_derivative_is_blind_to_an_edge_along_its_direction() -> None:
    """A step edge running along v = (1, 1) gives 0; across it, the response is largest."""
    y, x = grid(8, 8)
    image = (x - y >= 0).astype(float)
    along = kernels.directional_derivative(1, 1)
    across = kernels.directional_derivative(1, -1)
    np.testing.assert_allclose(correlate2d(image, along, "valid"), 0.0, atol=1e-15)
    assert np.abs(correlate2d(image, across, "valid")).max() > 0.5


# --- smoothing and integration --------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 3, (2, 5)])
def test_box_kernel_sums_to_one_and_keeps_constants(size: int | tuple[int, int]) -> None:
    """A mean filter: weights equal, sum 1, a constant image stays constant."""
    kernel = kernels.box(size)
    assert np.isclose(kernel.sum(), 1.0) and np.ptp(kernel) == 0
    np.testing.assert_allclose(correlate2d(np.full((6, 6), 7.0), kernel, "valid"), 7.0)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7, (0.8, 2.0)])
@pytest.mark.parametrize("truncate", [4.0, 2.5])
def test_gaussian_matches_scipy_ndimage_and_sums_to_one(
    sigma: float | tuple[float, float], truncate: float
) -> None:
    """The kernel is scipy.ndimage.gaussian_filter's response to a centred impulse."""
    kernel = kernels.gaussian(sigma, truncate=truncate)
    assert np.isclose(kernel.sum(), 1.0)
    h, w = kernel.shape
    impulse = np.zeros((h, w))
    impulse[h // 2, w // 2] = 1.0
    expected = ndi.gaussian_filter(impulse, sigma, mode="constant", truncate=truncate)
    np.testing.assert_allclose(kernel, expected, atol=1e-15)
    sigmas = sigma if isinstance(sigma, tuple) else (sigma, sigma)
    assert kernel.shape == tuple(2 * int(truncate * s + 0.5) + 1 for s in sigmas)


def test_integral_kernel_gives_running_sums_and_the_summed_area_table(
    rng: np.random.Generator,
) -> None:
    """Ones in 'full' mode: the first N outputs are np.cumsum; x then y: summed-area."""
    image = rng.integers(0, 9, size=(5, 7)).astype(float)
    h, w = image.shape
    running = correlate2d(image, kernels.integral(w), mode="full")[:, :w]
    np.testing.assert_array_equal(running, np.cumsum(image, axis=1))
    table = correlate2d(running, kernels.integral(h, "y"), mode="full")[:h, :]
    np.testing.assert_array_equal(table, image.cumsum(0).cumsum(1))


def test_trapezoid_integral_is_exact_on_linear_functions() -> None:
    """Trapezoid over 4 unit intervals of f(t) = 2t + 1 from t to t + 4: 8t + 20."""
    t = np.arange(10.0)
    out = correlate2d((2 * t + 1)[None, :], kernels.integral(5, rule="trapezoid"), "valid")
    np.testing.assert_allclose(out[0], 8 * t[:6] + 20)


def test_effects_keep_flat_areas_and_identity_is_the_identity(
    rng: np.random.Generator,
) -> None:
    """Sharpen and emboss sum to 1; IDENTITY in 'same' mode returns the image."""
    assert kernels.SHARPEN.sum() == 1 and kernels.EMBOSS.sum() == 1
    image = rng.normal(size=(5, 6))
    np.testing.assert_array_equal(correlate2d(image, kernels.IDENTITY, "same"), image)


# --- constants and registry ------------------------------------------------------------------


def test_constants_are_read_only_float64() -> None:
    """Module constants cannot be changed by accident; get() hands out copies."""
    for name in kernels.__all__:
        value = getattr(kernels, name)
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float64 and not value.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        kernels.SOBEL_DX[0, 0] = 5.0
    copy = kernels.get("sobel-dx")
    copy[0, 0] = 5.0
    assert kernels.SOBEL_DX[0, 0] == -1.0


def test_registry_lists_describes_and_builds_every_kernel() -> None:
    """Every name builds a fresh float64 2-D array and has a one-line description."""
    params = {"directional": {"vx": 1.0, "vy": 0.0}}
    listed = kernels.names()
    assert listed == sorted(listed) and "laplacian-4" in listed
    for name in listed:
        kernel = kernels.get(name, **params.get(name, {}))
        assert kernel.dtype == np.float64 and kernel.ndim == 2 and kernel.flags.writeable
        line = kernels.describe(name)
        assert line.startswith(f"{name}: ") and "\n" not in line
    np.testing.assert_array_equal(kernels.get("SOBEL_DX"), kernels.SOBEL_DX)
    np.testing.assert_array_equal(kernels.get("gaussian", sigma=2.0), kernels.gaussian(2.0))


def test_registry_errors_name_the_function_and_the_choices() -> None:
    """Unknown names list the choices; unknown parameters are refused."""
    with pytest.raises(ValueError, match=r"kernels.get: `name` must be one of .*'sobel-dx'"):
        kernels.get("sobel")
    with pytest.raises(TypeError, match="fixed kernel 'sobel-dx'"):
        kernels.get("sobel-dx", size=3)
    with pytest.raises(TypeError, match=r"among \['size'\]"):
        kernels.get("box", sigma=1.0)
    with pytest.raises(TypeError, match="kernel name"):
        kernels.get(3)
    with pytest.raises(ValueError, match=r"kernels\.describe"):
        kernels.describe("nope")


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: kernels.finite_difference(0), ValueError, r"`order` must be an int in \[1, 56\]"),
        (lambda: kernels.finite_difference(1.5), TypeError, "`order` must be an int"),
        (lambda: kernels.finite_difference(1, "z"), ValueError, "`axis` must be one of"),
        (lambda: kernels.finite_difference(2, accuracy=3), ValueError, "even"),
        (lambda: kernels.fornberg_weights(2, [0, 1]), ValueError, "longer than order"),
        (lambda: kernels.fornberg_weights(1, [0, 0, 1]), ValueError, "distinct"),
        (lambda: kernels.gaussian(0.0), ValueError, "`sigma` must be a finite real number > 0"),
        (lambda: kernels.gaussian(1.0, truncate=-1), ValueError, "`truncate`"),
        (lambda: kernels.box(0), ValueError, "`size` must be >= 1"),
        (lambda: kernels.integral(1, rule="trapezoid"), ValueError, "`length` must be an int >= 2"),
        (lambda: kernels.directional_derivative(0, 0), ValueError, "non-zero direction"),
        (lambda: kernels.directional_derivative("1", 0), TypeError, "`vx`"),
        (lambda: kernels.directional_derivative(10**400, 0), ValueError, "`vx` must be a finite"),
        (lambda: kernels.finite_difference(2000), ValueError, r"`order` must be .*56\], got 2000"),
        (lambda: kernels.get("finite-difference", order=2000), ValueError, "got 2000"),
        (lambda: kernels.finite_difference(1, accuracy=100), ValueError, "`accuracy`"),
        (lambda: kernels.box(100_000), MemoryError, r"kernels.box: `size` must be small enough"),
        (lambda: kernels.gaussian(1e15), MemoryError, r"`sigma` must be small enough"),
        (lambda: kernels.integral(10**15), MemoryError, r"`length` must be small enough"),
    ],
)
def test_bad_arguments_raise_with_the_house_message(
    call: object, error: type[Exception], pattern: str
) -> None:
    """Every error names the function, the argument, the rule and the value."""
    with pytest.raises(error, match=pattern):
        call()
