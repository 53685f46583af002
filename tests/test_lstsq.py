"""The band accumulators of corr2d.lstsq against an explicit patch matrix and lstsq."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from corr2d.lstsq import (
    NormalEquations,
    ResidualSum,
    TallSkinnyQR,
    band_rows,
    power_of_two_scale,
)


def patch_matrix(x: np.ndarray, shape: tuple[int, int], bias: bool) -> np.ndarray:
    """The whole patch matrix, one row per 'valid' output (and a column of ones)."""
    patches = sliding_window_view(x, shape).reshape(-1, shape[0] * shape[1])
    if bias:
        patches = np.hstack([patches, np.ones((patches.shape[0], 1))])
    return patches


def oracle(x: np.ndarray, y: np.ndarray, shape: tuple[int, int], bias: bool) -> np.ndarray:
    return np.linalg.lstsq(patch_matrix(x, shape, bias), y.ravel(), rcond=None)[0]


def bands(x: np.ndarray, y: np.ndarray, kh: int, cuts: list[int]):
    """Split a pair into bands of output rows at ``cuts``: (input rows, output rows)."""
    edges = [0, *cuts, y.shape[0]]
    for start, stop in itertools.pairwise(edges):
        yield x[start : stop + kh - 1], y[start:stop]


@pytest.mark.parametrize("kind", [NormalEquations, TallSkinnyQR])
@pytest.mark.parametrize("bias", [False, True])
def test_accumulators_solve_the_least_squares_problem_of_the_patch_matrix(kind, bias, rng):
    x = rng.normal(size=(23, 19))
    y = signal.correlate2d(x, rng.normal(size=(3, 4)), "valid") + rng.normal(size=(21, 16))
    accumulator = kind((3, 4), bias=bias)
    for x_band, y_band in bands(x, y, 3, [5, 6, 14]):
        accumulator.add(x_band, y_band)
    solution = accumulator.solve()
    expected = oracle(x, y, (3, 4), bias)
    np.testing.assert_allclose(solution.kernel.ravel(), expected[:12], rtol=1e-10, atol=1e-12)
    if bias:
        assert solution.bias == pytest.approx(expected[12], rel=1e-10, abs=1e-12)
    assert solution.rank == 12 + bias and accumulator.n_equations == y.size
    singular = np.linalg.svd(patch_matrix(x, (3, 4), bias), compute_uv=False)
    np.testing.assert_allclose(solution.singular_values, singular, rtol=1e-8)
    assert solution.condition_number == pytest.approx(singular[0] / singular[-1], rel=1e-8)


@pytest.mark.parametrize("kind", [NormalEquations, TallSkinnyQR])
def test_merging_in_a_tree_equals_adding_in_sequence(kind, rng):
    x = rng.normal(size=(40, 12))
    y = rng.normal(size=(38, 10))
    parts = []
    for x_band, y_band in bands(x, y, 3, [9, 10, 30]):
        part = kind(3, bias=True)
        part.add(x_band, y_band)
        parts.append(part)
    tree = parts[0].merge(parts[1]).merge(parts[2].merge(parts[3]))
    sequence = kind(3, bias=True)
    sequence.add(x, y)
    np.testing.assert_allclose(tree.solve().kernel, sequence.solve().kernel, rtol=1e-11)
    assert tree.n_equations == sequence.n_equations == y.size


def test_a_tiny_workspace_tiles_by_single_rows_with_the_same_sums(rng):
    x = rng.normal(size=(15, 30))
    y = rng.normal(size=(13, 28))
    whole, tiled = NormalEquations(3, bias=True), NormalEquations(3, bias=True, workspace_bytes=1)
    whole.add(x, y)
    tiled.add(x, y)
    assert band_rows(9, 28, 3, 1) == 1
    np.testing.assert_allclose(tiled.gram, whole.gram, rtol=1e-13)
    np.testing.assert_allclose(tiled.rhs, whole.rhs, rtol=1e-13)


def test_qr_factor_is_that_of_the_augmented_patch_matrix(rng):
    x = rng.normal(size=(12, 9))
    y = rng.normal(size=(10, 7))
    qr = TallSkinnyQR(3, bias=True, workspace_bytes=500)
    qr.add(x, y)
    augmented = np.hstack([patch_matrix(x, (3, 3), True), y.reshape(-1, 1)])
    factor = qr.factor
    assert factor.shape == (11, 11)
    np.testing.assert_allclose(np.triu(factor), factor)
    np.testing.assert_allclose(factor.T @ factor, augmented.T @ augmented, rtol=1e-12, atol=1e-12)


def test_normal_equations_say_when_they_lose_digits_and_qr_keeps_them(rng):
    # Two plane waves and a little noise: every 3x3 patch is nearly a combination of
    # four patterns, so the condition number of the patch matrix is about 3e5.
    rows, cols = np.mgrid[0:60, 0:60]
    x = np.sin(0.3 * rows + 0.2 * cols) + np.cos(0.25 * cols - 0.1 * rows)
    x += 1e-5 * rng.normal(size=(60, 60))
    kernel = rng.normal(size=(3, 3))
    y = signal.correlate2d(x, kernel, "valid")
    normal, qr = NormalEquations(3), TallSkinnyQR(3)
    normal.add(x, y)
    qr.add(x, y)
    fast, careful = normal.solve(), qr.solve()
    assert fast.loses_digits and fast.solver == "normal equations"
    assert not careful.loses_digits and careful.solver == "qr"
    assert careful.condition_number == pytest.approx(fast.condition_number, rel=1e-3)
    assert careful.condition_number > 1e5
    expected = oracle(x, y, (3, 3), False).reshape(3, 3)
    np.testing.assert_allclose(careful.kernel, expected, rtol=0, atol=1e-10)
    assert np.abs(careful.kernel - kernel).max() < 1e-10
    assert np.abs(fast.kernel - kernel).max() > 1e-7


def test_rank_deficient_data_give_the_minimum_norm_solution_and_the_null_space():
    x = np.tile(np.array([[0.0, 1.0, 3.0, 1.0, 2.0, 5.0]]), (5, 1))  # equal rows
    y = signal.correlate2d(x, [[1.0, 2.0], [3.0, -1.0]], "valid")
    for kind in (NormalEquations, TallSkinnyQR):
        accumulator = kind(2)
        accumulator.add(x, y)
        solution = accumulator.solve()
        np.testing.assert_allclose(solution.kernel.ravel(), oracle(x, y, (2, 2), False), atol=1e-10)
        assert solution.rank == 2 and solution.null_space.shape == (2, 4)
        assert solution.condition_number == np.inf
        for direction in solution.null_space:
            np.testing.assert_allclose(patch_matrix(x, (2, 2), False) @ direction, 0, atol=1e-10)


@pytest.mark.parametrize("factor", [1e-160, 1e155, 1e-300])
def test_power_of_two_scales_recover_kernels_of_extreme_data(factor, rng):
    x = rng.normal(size=(20, 20)) * factor
    kernel = rng.normal(size=(3, 3))
    y = signal.correlate2d(x, kernel, "valid") + 2.5 * factor
    x_scale, y_scale = power_of_two_scale(np.abs(x).max()), power_of_two_scale(np.abs(y).max())
    assert np.log2(x_scale).is_integer() and x_scale != 1.0
    for kind in (NormalEquations, TallSkinnyQR):
        accumulator = kind(3, bias=True, x_scale=x_scale, y_scale=y_scale)
        accumulator.add(x, y)
        solution = accumulator.solve()
        np.testing.assert_allclose(solution.kernel, kernel, rtol=1e-12, atol=1e-12)
        assert solution.bias == pytest.approx(2.5 * factor, rel=1e-10)
    fit = ResidualSum(kernel, 2.5 * factor, x_scale=x_scale, y_scale=y_scale)
    fit.add(x, y)
    assert fit.relative < 1e-14


def test_kernels_beyond_float64_raise_overflow_error(rng):
    data = rng.normal(size=(8, 8))
    x = data * 1e-200
    y = signal.correlate2d(data, np.ones((2, 2)), "valid") * 1e150  # the kernel is 1e350
    accumulator = NormalEquations(
        2, x_scale=power_of_two_scale(1e-200), y_scale=power_of_two_scale(np.abs(y).max())
    )
    accumulator.add(x, y)
    with pytest.raises(OverflowError, match=r"overflows float64: Y's values are about 2\*\*"):
        accumulator.solve()


def test_residual_sum_matches_numpy(rng):
    x = rng.normal(size=(9, 10))
    y = rng.normal(size=(8, 8))
    kernel = rng.normal(size=(2, 3))
    fit = ResidualSum(kernel, 0.5)
    fit.add(x[:5], y[:4])
    rest = ResidualSum(kernel, 0.5)
    rest.add(x[4:], y[4:])
    fit.merge(rest)
    residual = y - signal.correlate2d(x, kernel, "valid") - 0.5
    assert fit.rms == pytest.approx(np.sqrt(np.mean(residual**2)), rel=1e-12)
    assert fit.relative == pytest.approx(np.linalg.norm(residual) / np.linalg.norm(y), rel=1e-12)


def test_ridge_solution_matches_the_penalised_problem(rng):
    x = rng.normal(size=(10, 10))
    y = rng.normal(size=(8, 8))
    accumulator = NormalEquations(3, bias=True)
    accumulator.add(x, y)
    solution = accumulator.solve(ridge=2.0)
    a = patch_matrix(x, (3, 3), True)
    penalty = np.diag([2.0] * 9 + [0.0])
    expected = np.linalg.solve(a.T @ a + penalty, a.T @ y.ravel())
    np.testing.assert_allclose(solution.kernel.ravel(), expected[:9], rtol=1e-10)


def test_from_sums_solves_given_normal_equations():
    gram = np.array([[2.0, 0.0], [0.0, 8.0]])
    equations = NormalEquations.from_sums((1, 2), gram, [2.0, 4.0], n_equations=5)
    np.testing.assert_allclose(equations.solve().kernel, [[1.0, 0.5]])
    with pytest.raises(ValueError, match=r"`gram` and `rhs` must have shapes \(3, 3\)"):
        NormalEquations.from_sums((1, 3), gram, [2.0, 4.0])


def test_accumulator_argument_errors(rng):
    with pytest.raises(ValueError, match=r"NormalEquations: `x_scale` must be a positive power"):
        NormalEquations(3, x_scale=3.0)
    with pytest.raises(ValueError, match=r"NormalEquations.add: `x` must be of shape \(r \+ 2"):
        NormalEquations(3).add(np.ones((4, 4)), np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"`other` must have this accumulator's"):
        NormalEquations(3).merge(NormalEquations(3, bias=True))
    with pytest.raises(TypeError, match=r"`other` must be a TallSkinnyQR"):
        TallSkinnyQR(3).merge(NormalEquations(3))  # type: ignore[arg-type]


@given(
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    bias=st.booleans(),
    cut=st.integers(0, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_qr_and_normal_equations_agree_with_lstsq_on_random_problems(
    height, width, kh, kw, bias, cut, seed
):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(height + kh - 1, width + kw - 1))
    y = rng.normal(size=(height, width))
    a = patch_matrix(x, (kh, kw), bias)
    expected = np.linalg.lstsq(a, y.ravel(), rcond=None)[0]
    for kind in (NormalEquations, TallSkinnyQR):
        accumulator = kind((kh, kw), bias=bias)
        for x_band, y_band in bands(x, y, kh, [min(cut, height)]):
            accumulator.add(x_band, y_band)
        solution = accumulator.solve()
        unknowns = np.append(solution.kernel.ravel(), [solution.bias] if bias else [])
        # The fitted values are unique even when the unknowns are not.
        np.testing.assert_allclose(a @ unknowns, a @ expected, atol=1e-8)
        if solution.rank == a.shape[1] and solution.condition_number < 1e4:
            np.testing.assert_allclose(unknowns, expected, atol=1e-8)
