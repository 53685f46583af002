"""estimate_kernel: exact recovery, identifiability, every solver and mode, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import signal

from corr2d import KernelEstimate, convolve2d, corr2d, correlate2d, estimate_kernel, lstsq
from corr2d import estimate as estimate_module


@pytest.fixture
def edge_image() -> np.ndarray:
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    return X


def test_chapter_pair_gives_back_the_edge_detector(edge_image):
    Y = corr2d(edge_image, [[1.0, -1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = estimate_kernel(edge_image, Y, (1, 2))
    np.testing.assert_allclose(result.kernel, [[1.0, -1.0]], atol=1e-12)
    assert (result.rank, result.n_unknowns, result.identifiable) == (2, 2, True)
    assert result.null_space.shape == (0, 2)
    assert result.residual < 1e-12


def test_two_by_two_kernel_on_the_chapter_image_is_not_identifiable(edge_image):
    kernel = np.array([[1.0, -1.0], [0.5, 0.25]])
    Y = corr2d(edge_image, kernel)
    with pytest.warns(
        UserWarning,
        match=r"rank 2 of 4 unknowns; only the column sums "
        r"K\[:, j\]\.sum\(\) \(every row of X is the same",
    ):
        result = estimate_kernel(edge_image, Y, (2, 2))
    assert (result.rank, result.identifiable) == (2, False)
    assert result.condition_number == np.inf
    # The minimum-norm solution: column sums kept, split evenly between the rows.
    np.testing.assert_allclose(result.kernel, [[0.75, -0.375], [0.75, -0.375]], atol=1e-12)
    np.testing.assert_allclose(result.kernel.sum(axis=0), kernel.sum(axis=0), atol=1e-12)
    assert result.residual < 1e-12
    # Moving along the null space changes no output.
    assert result.null_space.shape == (2, 4)
    for direction in result.null_space:
        np.testing.assert_allclose(corr2d(edge_image, direction.reshape(2, 2)), 0, atol=1e-12)
    assert "NOT identifiable" in str(result)


def test_two_by_two_kernel_from_a_random_image_is_recovered_exactly(rng):
    kernel = np.array([[1.0, -1.0], [0.5, 0.25]])
    X = rng.normal(size=(6, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = estimate_kernel(X, corr2d(X, kernel), 2)
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-12)
    assert result.identifiable and np.isfinite(result.condition_number)


def test_lstsq_recovers_a_random_7x7_kernel_from_a_512_pair_to_1e_8(rng):
    X = rng.normal(size=(512, 512))
    kernel = rng.normal(size=(7, 7))
    result = estimate_kernel(X, corr2d(X, kernel), (7, 7))
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-8, rtol=0)
    assert result.rank == 49 and result.condition_number < 2


def test_ridge_recovers_a_gaussian_blur_from_a_noisy_pair(rng):
    # A 5x5 Gaussian (sigma 1) seen through 1% noise: recovered to 2e-3 per entry.
    grid = np.arange(-2, 3)
    gauss = np.exp(-(grid[:, None] ** 2 + grid[None, :] ** 2) / 2)
    gauss /= gauss.sum()
    X = rng.uniform(size=(128, 128))
    Y = corr2d(X, gauss) + 0.01 * rng.normal(size=(124, 124))
    result = estimate_kernel(X, Y, 5, method="ridge", alpha=1e-3)
    np.testing.assert_allclose(result.kernel, gauss, atol=2e-3)
    assert result.residual == pytest.approx(0.01, rel=0.1)


@pytest.mark.parametrize("shape", [(3, 3), (3, 4), (2, 2)])
@pytest.mark.parametrize("mode", ["same", "full"])
@pytest.mark.parametrize("convolution", [False, True], ids=["correlation", "convolution"])
def test_fft_wiener_division_recovers_a_kernel_from_wrapped_data(shape, mode, convolution, rng):
    # Periodic data as correlate2d (and `corr2d filter --boundary wrap`) makes them: the
    # kernel centred, SciPy's offset for even kernels.
    X = rng.normal(size=(32, 30))
    kernel = rng.normal(size=shape)
    make = signal.convolve2d if convolution else signal.correlate2d
    Y = make(X, kernel, mode, "wrap")
    result = estimate_kernel(
        X, Y, shape, method="fft", mode=mode, boundary="wrap", convolution=convolution
    )
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-8)
    assert result.method == "fft" and result.solver == "fourier division"
    assert result.identifiable and result.relative_residual < 1e-8


def test_the_corner_anchored_circular_mode_is_the_centred_one_shifted(rng):
    # The former mode='circular' anchored the kernel at its top-left corner:
    # Y[i, j] = sum K[a, b] X[(i + a) % H, (j + b) % W].  Rolled by the top and left
    # border widths of 'same', such data are what correlate2d(..., 'same', 'wrap') makes.
    X = rng.normal(size=(16, 15))
    kernel = rng.normal(size=(4, 3))
    corner_anchored = corr2d(np.pad(X, ((0, 3), (0, 2)), mode="wrap"), kernel)
    centred = np.roll(corner_anchored, (1, 1), axis=(0, 1))  # ((4 - 1) // 2, (3 - 1) // 2)
    np.testing.assert_allclose(centred, signal.correlate2d(X, kernel, "same", "wrap"))
    for method in ("lstsq", "fft"):
        result = estimate_kernel(X, centred, (4, 3), method=method, mode="same", boundary="wrap")
        np.testing.assert_allclose(result.kernel, kernel, atol=1e-8)
    with pytest.raises(ValueError, match=r"periodic data: mode='same', boundary='wrap'"):
        estimate_kernel(X, corner_anchored, (4, 3), mode="circular")  # type: ignore[arg-type]


def test_gradient_descent_recovers_a_small_kernel(rng):
    X = rng.normal(size=(10, 10))
    kernel = rng.normal(size=(2, 2))
    result = estimate_kernel(X, corr2d(X, kernel) + 0.5, 2, method="gd", bias=True, steps=400)
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-6)
    assert result.bias == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("boundary", ["fill", "symm", "wrap", "mirror", "nearest"])
@pytest.mark.parametrize("convolution", [False, True], ids=["correlation", "convolution"])
@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (3, 3), (4, 4)])
def test_every_mode_and_boundary_of_scipy_gives_its_kernel_back(
    mode, boundary, convolution, shape, rng
):
    X = rng.normal(size=(7, 8))
    kernel = rng.normal(size=shape)
    make = convolve2d if convolution else correlate2d
    Y = make(X, kernel, mode, boundary, fillvalue=0.75)
    result = estimate_kernel(
        X,
        Y,
        shape,
        mode=mode,
        boundary=boundary,
        fillvalue=0.75,
        convolution=convolution,
    )
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-10)
    assert result.relative_residual < 1e-13 and result.fits
    assert (result.mode, result.boundary) == (mode, boundary)


@pytest.mark.parametrize("origin", [(0, 0), (-1, 0), (0, 1), (-2, -1)])
@pytest.mark.parametrize("convolution", [False, True], ids=["correlation", "convolution"])
def test_an_origin_places_the_same_window_as_in_correlate2d(origin, convolution, rng):
    X = rng.normal(size=(9, 10))
    kernel = rng.normal(size=(4, 3))
    make = convolve2d if convolution else correlate2d
    Y = make(X, kernel, "same", "symm", origin=origin)
    result = estimate_kernel(
        X, Y, (4, 3), mode="same", boundary="symm", origin=origin, convolution=convolution
    )
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-10)
    with pytest.raises(ValueError, match=r"estimate_kernel: `origin` must be between -2 and 1"):
        estimate_kernel(X, Y, (4, 3), mode="same", origin=(2, 0))


def test_the_wrong_border_rule_is_reported_as_no_fit(rng):
    X = rng.uniform(size=(40, 50))
    kernel = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
    Y = signal.correlate2d(X, kernel, "same", "symm")
    wrong = estimate_kernel(X, Y, 3, mode="same", boundary="fill")
    assert wrong.relative_residual > 1e-2 and not wrong.fits
    assert "NOT a fit: Y is not a correlation of X with mode='same', boundary='fill'" in str(wrong)
    right = estimate_kernel(X, Y, 3, mode="same", boundary="symm")
    assert right.fits and "explains Y" in str(right)
    np.testing.assert_allclose(right.kernel, kernel, atol=1e-12)


def test_bias_is_estimated_and_reported(rng):
    X = rng.normal(size=(9, 9))
    kernel = rng.normal(size=(3, 3))
    result = estimate_kernel(X, corr2d(X, kernel) - 1.5, 3, bias=True)
    assert result.bias == pytest.approx(-1.5, abs=1e-12)
    assert result.n_unknowns == 10
    assert "bias: -1.5" in str(result)


def test_several_pairs_as_a_batch_or_a_sequence_of_sizes(rng):
    kernel = rng.normal(size=(3, 3))
    # Each 3x4 image alone has 2 outputs for 9 unknowns; together 5 pairs determine K.
    images = [rng.normal(size=(3, 4)) for _ in range(5)]
    targets = [corr2d(x, kernel) for x in images]
    with pytest.warns(UserWarning, match="not identifiable"):
        estimate_kernel(images[0], targets[0], 3)
    result = estimate_kernel(images, targets, 3)
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-10)
    batch = np.stack(images)
    np.testing.assert_allclose(
        estimate_kernel(batch, np.stack(targets), 3).kernel, kernel, atol=1e-10
    )
    mixed = [rng.normal(size=(6, 5)), rng.normal(size=(4, 9))]
    np.testing.assert_allclose(
        estimate_kernel(mixed, [corr2d(x, kernel) for x in mixed], 3).kernel, kernel, atol=1e-10
    )


@pytest.mark.parametrize(("mode", "boundary"), [("valid", "fill"), ("same", "symm")])
def test_banding_does_not_change_the_answer(mode, boundary, rng, monkeypatch):
    X = rng.normal(size=(40, 30))
    kernel = rng.normal(size=(4, 3))
    Y = signal.correlate2d(X, kernel, mode, boundary) + 0.1 * rng.normal(
        size=signal.correlate2d(X, kernel, mode).shape
    )
    whole = estimate_kernel(X, Y, (4, 3), bias=True, mode=mode, boundary=boundary)
    monkeypatch.setattr(lstsq, "WORKSPACE_BYTES", 1)  # one output row per band
    banded = estimate_kernel(X, Y, (4, 3), bias=True, mode=mode, boundary=boundary)
    np.testing.assert_allclose(banded.kernel, whole.kernel, rtol=1e-12, atol=1e-12)
    assert banded.bias == pytest.approx(whole.bias, rel=1e-12)
    assert banded.residual == pytest.approx(whole.residual, rel=1e-12)


def test_constant_image_determines_only_the_kernel_sum():
    X = np.full((5, 5), 2.0)
    with pytest.warns(UserWarning, match=r"rank 1 of 4 unknowns; only the sum of all kernel"):
        result = estimate_kernel(X, corr2d(X, np.eye(2)), 2)
    assert result.kernel.sum() == pytest.approx(2.0)


def test_estimate_is_a_frozen_dataclass_with_a_readable_str(rng):
    X = rng.normal(size=(6, 6))
    result = estimate_kernel(X, corr2d(X, [[1.0, 2.0]]), (1, 2))
    assert isinstance(result, KernelEstimate)
    with pytest.raises(AttributeError):
        result.rank = 0  # type: ignore[misc]
    text = str(result)
    assert text.splitlines()[0] == "KernelEstimate (lstsq; mode 'valid', boundary 'fill')"
    assert "rank: 2 of 2 unknowns (identifiable)" in text


@pytest.mark.parametrize(
    ("kwargs", "exception", "match"),
    [
        ({"method": "svd"}, ValueError, r"estimate_kernel: `method` must be one of 'lstsq'"),
        ({"mode": "wrap"}, ValueError, r"estimate_kernel: `mode` must be one of 'valid'"),
        ({"boundary": "zero"}, ValueError, r"`boundary` must be one of 'fill', 'wrap', 'symm'"),
        ({"method": "fft"}, ValueError, r"`boundary` must be 'wrap' with mode 'same' or 'full'"),
        (
            {"method": "fft", "mode": "same", "boundary": "wrap", "bias": True},
            ValueError,
            r"`bias` must be False for method='fft'",
        ),
        ({"alpha": 0.1}, ValueError, r"`alpha` must be None for method='lstsq'"),
        ({"method": "ridge", "alpha": -1.0}, ValueError, r"`alpha` must be finite and >= 0"),
        ({"method": "ridge", "alpha": "1"}, TypeError, r"`alpha` must be a real number"),
        ({"bias": "yes"}, TypeError, r"`bias` must be a bool"),
        ({"steps": 0, "method": "gd"}, ValueError, r"`steps` must be >= 1, got 0"),
        ({"method": "gd", "lr": "0.1"}, TypeError, r"`lr` must be a real number, got '0.1'"),
        ({"method": "gd", "lr": 0.0}, ValueError, r"`lr` must be None or a finite number > 0"),
        ({"rtol": -1.0}, ValueError, r"`rtol` must be None or a number in \[0, 1\), got -1.0"),
        ({"rtol": float("nan")}, ValueError, r"`rtol` must be None or a number in \[0, 1\)"),
        ({"rtol": 1.0}, ValueError, r"`rtol` must be None or a number in \[0, 1\), got 1.0"),
        ({"rtol": "1e-9"}, TypeError, r"`rtol` must be a real number"),
        ({"fillvalue": np.inf}, ValueError, r"`fillvalue` must be finite"),
        ({"fillvalue": None}, TypeError, r"`fillvalue` must be a real number"),
    ],
)
def test_argument_errors(kwargs, exception, match, rng):
    X = rng.normal(size=(6, 6))
    with pytest.raises(exception, match=match):
        estimate_kernel(X, corr2d(X, np.ones((2, 2))), 2, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "ridge", "alpha": np.float32(0.1)},
        {"method": "gd", "lr": np.float32(0.01), "steps": 5},
        {"rtol": np.float32(1e-10)},
        {"rtol": np.float64(0.0)},
        {"mode": "same", "fillvalue": np.float32(0.5)},
        {"mode": "same", "fillvalue": np.int64(2)},
    ],
)
def test_numpy_scalars_are_accepted_where_python_numbers_are(kwargs, rng):
    X = rng.normal(size=(6, 6))
    mode = kwargs.get("mode", "valid")
    fill = float(kwargs.get("fillvalue", 0.0))
    Y = signal.correlate2d(X, np.ones((2, 2)), mode, fillvalue=fill)
    result = estimate_kernel(X, Y, 2, **kwargs)
    assert result.kernel.shape == (2, 2) and np.isfinite(result.kernel).all()


@pytest.mark.parametrize("factor", [1e-160, 1e155, 1e-300, 1e300])
@pytest.mark.parametrize("method", ["lstsq", "ridge", "gd"])
def test_data_at_the_edges_of_float64_give_the_kernel(factor, method, rng):
    X = rng.normal(size=(24, 24))
    kernel = rng.normal(size=(3, 3))
    Y = signal.correlate2d(X, kernel, "valid")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = estimate_kernel(
            X * factor, Y * factor, 3, method=method, steps=2000, bias=method == "lstsq"
        )
    atol = {"lstsq": 1e-12, "ridge": 1e-5, "gd": 1e-6}[method]
    np.testing.assert_allclose(result.kernel, kernel, atol=atol)
    assert result.relative_residual < 1e-5
    assert result.residual == pytest.approx(
        result.relative_residual * np.sqrt(np.mean(Y**2)) * factor, rel=1e-9
    )


def test_fft_on_extreme_data_and_kernels_beyond_float64(rng):
    X = rng.normal(size=(16, 16))
    kernel = rng.normal(size=(3, 3))
    Y = signal.correlate2d(X, kernel, "same", "wrap")
    for factor in (1e-160, 1e155):
        result = estimate_kernel(
            X * factor, Y * factor, 3, method="fft", mode="same", boundary="wrap"
        )
        np.testing.assert_allclose(result.kernel, kernel, atol=1e-8)
    with pytest.raises(OverflowError, match=r"estimate_kernel: the estimated kernel overflows"):
        estimate_kernel(X * 1e-200, Y * 1e200, 3, mode="same", boundary="wrap")


def test_ill_conditioned_data_fall_back_to_qr_and_keep_their_digits(rng):
    # Two plane waves plus a little noise: the patch matrix's condition number is about
    # 3e5, so the normal equations alone would keep only about five digits.
    rows, cols = np.mgrid[0:60, 0:60]
    X = np.sin(0.3 * rows + 0.2 * cols) + np.cos(0.25 * cols - 0.1 * rows)
    X += 1e-5 * rng.normal(size=X.shape)
    kernel = rng.normal(size=(3, 3))
    result = estimate_kernel(X, signal.correlate2d(X, kernel, "valid"), 3)
    assert result.solver == "qr" and result.condition_number > 1e5
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-10)


def test_a_job_larger_than_memory_is_refused_before_any_work(rng, monkeypatch):
    monkeypatch.setattr(estimate_module, "available_memory", lambda: 100 * 2**20)
    X = rng.normal(size=(60, 60))
    with pytest.raises(
        MemoryError,
        match=r"estimate_kernel: `kernel_shape` must be small enough for this machine's "
        r"memory: it needs about 114 MiB \(1600 unknowns\), and 100 MiB is available",
    ):
        estimate_kernel(X, X[:21, :21], (40, 40))
    assert estimate_module.estimate_memory([(60, 60)], (40, 40)) > 100 * 2**20


def test_gradient_descent_reports_progress_and_stops_when_converged(rng):
    X = rng.normal(size=(12, 12))
    kernel = rng.normal(size=(2, 2))
    seen: list[tuple[int, float]] = []
    result = estimate_kernel(
        X, corr2d(X, kernel), 2, method="gd", steps=5000, progress=lambda s, v: seen.append((s, v))
    )
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-8)
    assert result.solver == "gradient descent"
    assert 10 < len(seen) < 5000  # stopped on the tolerance, not the step count
    assert [step for step, _ in seen] == list(range(1, len(seen) + 1))
    assert seen[-1][1] < seen[0][1]


def test_data_errors(rng):
    X = rng.normal(size=(6, 6))
    with pytest.raises(
        ValueError,
        match=r"estimate_kernel: `Y` must be of shape \(5, 5\) for "
        r"X of shape \(6, 6\), a \(2, 2\) kernel and mode='valid'",
    ):
        estimate_kernel(X, X, 2)
    with pytest.raises(ValueError, match=r"`kernel_shape` must be no larger than X"):
        estimate_kernel(X, X, 7)
    with pytest.raises(ValueError, match=r"`Y` must be as many images as X \(2\)"):
        estimate_kernel([X, X], [X], 2)
    with pytest.raises(ValueError, match=r"`Y` must be 3-D like X"):
        estimate_kernel(np.stack([X, X]), X, 2)
    with pytest.raises(ValueError, match=r"`X` must be finite"):
        estimate_kernel(np.full((3, 3), np.nan), np.ones((2, 2)), 2)
    with pytest.raises(TypeError, match=r"`X` must be real"):
        estimate_kernel(X + 1j, np.ones((5, 5)), 2)
    with pytest.raises(ValueError, match=r"`X` must be 2-D or 3-D"):
        estimate_kernel(np.ones(5), np.ones(4), 2)


def basis_oracle(X, Y, shape, mode, boundary, fillvalue, origin, bias, convolution):
    """Brute force: the output of every basis kernel is a column; solved by lstsq.

    With ``fill`` the fill value enters through the extended image, so each column is
    the output of a one-hot kernel over the extended image (linear in the kernel).
    """
    make = convolve2d if convolution else correlate2d
    columns = []
    for index in range(shape[0] * shape[1]):
        basis = np.zeros(shape)
        basis.flat[index] = 1.0
        columns.append(make(X, basis, mode, boundary, fillvalue, origin=origin).ravel())
    if bias:
        columns.append(np.ones(Y.size))
    A = np.stack(columns, axis=1)
    return A, np.linalg.lstsq(A, Y.ravel(), rcond=None)[0]


@given(
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    mode=st.sampled_from(["valid", "same", "full"]),
    boundary=st.sampled_from(["fill", "symm", "wrap", "mirror", "nearest"]),
    fillvalue=st.sampled_from([0.0, 1.5]),
    shift=st.none() | st.tuples(st.integers(-2, 1), st.integers(-2, 1)),
    bias=st.booleans(),
    convolution=st.booleans(),
    noise=st.sampled_from([0.0, 0.1]),
    seed=st.integers(0, 2**32 - 1),
)
def test_estimate_kernel_matches_a_brute_force_basis_oracle(
    height, width, kh, kw, mode, boundary, fillvalue, shift, bias, convolution, noise, seed
):
    assume(mode != "valid" or (kh <= height and kw <= width))
    # 'mirror' needs at least two pixels per axis; an origin places only 'same' windows.
    assume(boundary != "mirror" or min(height, width) > 1)
    origin = None
    if shift is not None and mode == "same":
        origin = (
            max(-(kh // 2), min(shift[0], (kh - 1) // 2)),
            max(-(kw // 2), min(shift[1], (kw - 1) // 2)),
        )
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(height, width))
    kernel = rng.normal(size=(kh, kw))
    make = convolve2d if convolution else correlate2d
    Y = make(X, kernel, mode, boundary, fillvalue, origin=origin)
    Y = Y + noise * rng.normal(size=Y.shape)
    A, expected = basis_oracle(X, Y, (kh, kw), mode, boundary, fillvalue, origin, bias, convolution)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rank-deficient draws warn
        result = estimate_kernel(
            X,
            Y,
            (kh, kw),
            mode=mode,
            boundary=boundary,
            fillvalue=fillvalue,
            origin=origin,
            bias=bias,
            convolution=convolution,
        )
    ours = np.append(result.kernel.ravel(), [result.bias] if bias else [])
    # The fitted values are unique even where the unknowns are not.
    np.testing.assert_allclose(A @ ours, A @ expected, atol=1e-8)
    singular = np.linalg.svd(A, compute_uv=False)
    if singular[-1] > 1e-6 * singular[0] and A.shape[0] >= A.shape[1]:
        assert result.identifiable
        np.testing.assert_allclose(ours, expected, atol=1e-8)
    residual = Y.ravel() - A @ expected
    assert result.residual == pytest.approx(np.sqrt(np.mean(residual**2)), abs=1e-9)
