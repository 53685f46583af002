"""estimate_kernel: exact recovery, identifiability, every solver and mode, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import signal

from corr2d import KernelEstimate, corr2d, estimate_kernel
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


def test_fft_wiener_division_recovers_a_kernel_from_circular_data(rng):
    X = rng.normal(size=(32, 32))
    kernel = rng.normal(size=(3, 4))
    Y = corr2d(np.pad(X, ((0, 2), (0, 3)), mode="wrap"), kernel)
    result = estimate_kernel(X, Y, (3, 4), method="fft", mode="circular")
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-8)
    assert result.method == "fft" and result.identifiable


def test_gradient_descent_recovers_a_small_kernel(rng):
    X = rng.normal(size=(10, 10))
    kernel = rng.normal(size=(2, 2))
    result = estimate_kernel(X, corr2d(X, kernel) + 0.5, 2, method="gd", bias=True, steps=400)
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-6)
    assert result.bias == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("convolution", [False, True], ids=["correlation", "convolution"])
@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (3, 3)])
def test_modes_match_scipy_correlate2d_and_convolve2d(mode, convolution, shape, rng):
    X = rng.normal(size=(7, 8))
    kernel = rng.normal(size=shape)
    make = signal.convolve2d if convolution else signal.correlate2d
    result = estimate_kernel(X, make(X, kernel, mode), shape, mode=mode, convolution=convolution)
    np.testing.assert_allclose(result.kernel, kernel, atol=1e-10)


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


def test_tiling_does_not_change_the_answer(rng, monkeypatch):
    X = rng.normal(size=(40, 30))
    kernel = rng.normal(size=(4, 3))
    Y = corr2d(X, kernel) + 0.1 * rng.normal(size=(37, 28))
    whole = estimate_kernel(X, Y, (4, 3), bias=True)
    monkeypatch.setattr(estimate_module, "TILE_BYTES", 1)  # one output row per tile
    tiled = estimate_kernel(X, Y, (4, 3), bias=True)
    np.testing.assert_allclose(tiled.kernel, whole.kernel, rtol=1e-12, atol=1e-12)
    assert tiled.bias == pytest.approx(whole.bias, rel=1e-12)


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
    assert text.splitlines()[0] == "KernelEstimate (lstsq)"
    assert "rank: 2 of 2 unknowns (identifiable)" in text


@pytest.mark.parametrize(
    ("kwargs", "exception", "match"),
    [
        ({"method": "svd"}, ValueError, r"estimate_kernel: `method` must be one of 'lstsq'"),
        ({"mode": "wrap"}, ValueError, r"estimate_kernel: `mode` must be one of 'valid'"),
        ({"method": "fft"}, ValueError, r"`mode` must be 'circular' for method='fft'"),
        (
            {"method": "fft", "mode": "circular", "bias": True},
            ValueError,
            r"`bias` must be False for method='fft'",
        ),
        ({"alpha": 0.1}, ValueError, r"`alpha` must be None for method='lstsq'"),
        ({"method": "ridge", "alpha": -1.0}, ValueError, r"`alpha` must be finite and >= 0"),
        ({"bias": "yes"}, TypeError, r"`bias` must be a bool"),
        ({"steps": 0, "method": "gd"}, ValueError, r"`steps` must be >= 1, got 0"),
    ],
)
def test_argument_errors(kwargs, exception, match, rng):
    X = rng.normal(size=(6, 6))
    with pytest.raises(exception, match=match):
        estimate_kernel(X, corr2d(X, np.ones((2, 2))), 2, **kwargs)


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
