"""Every answer in docs/exercises.md, checked: the page's code runs, and each claim is
tested again here on its own (oracles: SciPy, hand-worked arrays, polynomials)."""

from __future__ import annotations

import re
from math import comb, factorial
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from corr2d import (
    conv2d,
    conv2d_backward,
    convolve2d,
    corr2d,
    correlate2d,
    correlation_matrix,
    im2col,
    kernels,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "exercises.md"


def chapter_image() -> np.ndarray:
    """The chapter's 6x8 image: white (1) with a black (0) band in columns 2..5."""
    image = np.ones((6, 8))
    image[:, 2:6] = 0
    return image


K = np.array([[1.0, -1.0]])


def test_every_code_block_of_the_exercise_page_runs() -> None:
    """The page's answers are runnable as written, top to bottom in one namespace."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 15
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name}[block {number}]", "exec"), namespace)


def test_the_books_formula_for_the_1x2_kernel_is_along_the_width() -> None:
    """[[1, -1]] computes x[i, j] - x[i, j+1], not x[i, j] - x[i+1, j]."""
    X = np.random.default_rng(1).normal(size=(5, 6))
    np.testing.assert_allclose(corr2d(X, K), X[:, :-1] - X[:, 1:])
    assert corr2d(X, K).shape != (X[:-1] - X[1:]).shape


# --- 1. edges in other directions ------------------------------------------------------------


def test_horizontal_edges_need_the_upright_kernel() -> None:
    """A band across the rows: [[1, -1]] gives zeros, [[1], [-1]] gives the lines."""
    H = chapter_image().T
    assert not corr2d(H, K).any()
    expected = np.zeros((7, 6))
    expected[1], expected[5] = 1, -1
    np.testing.assert_array_equal(corr2d(H, kernels.EDGE_DY), expected)


def test_k_on_a_diagonal_edge_is_a_diagonal_line_not_zeros() -> None:
    """On triu(ones): -1 at (i, i - 1) for every row but the first, 0 elsewhere."""
    D = np.triu(np.ones((6, 8)))
    expected = np.zeros((6, 7))
    for i in range(1, 6):
        expected[i, i - 1] = -1
    np.testing.assert_array_equal(corr2d(D, K), expected)


def test_transposing_the_diagonal_image_flips_the_sign_and_moves_the_line() -> None:
    """D.T steps from 1 down to 0 along each row: +1 at (i, i)."""
    D = np.triu(np.ones((6, 6)))
    out = corr2d(D.T, K)
    expected = np.zeros((6, 5))
    for i in range(5):
        expected[i, i] = 1
    np.testing.assert_array_equal(out, expected)
    eye = np.eye(6)  # a symmetric diagonal line: transposing changes nothing
    np.testing.assert_array_equal(corr2d(eye.T, K), corr2d(eye, K))
    assert set(np.unique(corr2d(eye, K))) == {-1.0, 0.0, 1.0}


def test_transposing_both_transposes_the_result() -> None:
    """corr2d(X.T, K.T) == corr2d(X, K).T for any X and K (non-square on purpose)."""
    rng = np.random.default_rng(2)
    X, Kr = rng.normal(size=(5, 7)), rng.normal(size=(2, 3))
    np.testing.assert_allclose(corr2d(X.T, Kr.T), corr2d(X, Kr).T)


def test_diagonal_kernels_see_the_diagonal_edge_only_across_it() -> None:
    """The main-diagonal difference is 0 on triu; the anti-diagonal one is -1 on a band."""
    D = np.triu(np.ones((6, 8)))
    assert not corr2d(D, kernels.ROBERTS_DIAG).any()
    out = corr2d(D, kernels.ROBERTS_ANTIDIAG)
    i, j = np.nonzero(out)
    assert set(j - i) == {-1, 0} and (out[i, j] == -1).all()


# --- 2. autograd -----------------------------------------------------------------------------


def test_the_analytic_backward_trains_the_chapters_kernel() -> None:
    """Gradient descent with conv2d_backward learns [[1, -1]] in ten steps, lr 3e-2."""
    X = chapter_image()[None, None]
    Y = corr2d(X[0, 0], K)[None, None]
    w = np.random.default_rng(0).uniform(size=(1, 1, 1, 2))
    losses = []
    for _ in range(10):
        residual = conv2d(X, w) - Y
        losses.append(float((residual**2).sum()))
        w -= 3e-2 * conv2d_backward(2 * residual, X, w).weight
    assert losses == sorted(losses, reverse=True)
    np.testing.assert_allclose(w.ravel(), [1, -1], atol=0.1)


def test_analytic_gradient_matches_finite_differences() -> None:
    """The weight gradient of sum((corr2d(X, w) - Y)**2) by central differences."""
    rng = np.random.default_rng(3)
    X, Y, w = rng.normal(size=(5, 6)), rng.normal(size=(4, 4)), rng.normal(size=(2, 3))

    def loss(kernel: np.ndarray) -> float:
        return float(((corr2d(X, kernel) - Y) ** 2).sum())

    g = 2 * (corr2d(X, w) - Y)
    analytic = conv2d_backward(g[None, None], X[None, None], w[None, None]).weight[0, 0]
    numeric = np.zeros_like(w)
    for index in np.ndindex(w.shape):
        step = np.zeros_like(w)
        step[index] = 1e-6
        numeric[index] = (loss(w + step) - loss(w - step)) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6)


def test_pytorch_records_the_element_by_element_loop() -> None:
    """In PyTorch the hand-written loop is differentiable, and its gradient is the one
    corr2d computes analytically."""
    torch = pytest.importorskip("torch")
    X = chapter_image()
    weight = torch.tensor([[0.3, 0.7]], dtype=torch.float64, requires_grad=True)
    Xt = torch.tensor(X)
    Y = torch.zeros((6, 7), dtype=torch.float64)
    for i in range(6):
        for j in range(7):
            Y[i, j] = (Xt[i : i + 1, j : j + 2] * weight).sum()
    target = corr2d(X, K)
    ((Y - torch.tensor(target)) ** 2).sum().backward()
    w = np.array([[0.3, 0.7]])
    g = 2 * (corr2d(X, w) - target)
    expected = conv2d_backward(g[None, None], X[None, None], w[None, None]).weight[0, 0]
    np.testing.assert_allclose(weight.grad.numpy(), expected)


# --- 3. matrix form --------------------------------------------------------------------------


def test_both_matrix_forms_reproduce_the_chapter_output() -> None:
    """W @ vec(X) and im2col(X) @ vec(K) both give Y; W.T is the input gradient."""
    X = chapter_image()
    Y = corr2d(X, K)
    W = correlation_matrix(X.shape, K)
    assert W.shape == (42, 48) and W.nnz == 84
    np.testing.assert_array_equal((W @ X.ravel()).reshape(Y.shape), Y)
    np.testing.assert_array_equal((im2col(X, K.shape) @ K.ravel()).reshape(Y.shape), Y)
    g = np.random.default_rng(4).normal(size=Y.shape)
    grad = conv2d_backward(g[None, None], X[None, None], K[None, None]).input[0, 0]
    np.testing.assert_allclose((W.T @ g.ravel()).reshape(X.shape), grad)


# --- 4. designing kernels --------------------------------------------------------------------


def test_second_derivative_and_the_structures_it_responds_to() -> None:
    """[1, -2, 1]: 2 on x**2, 0 on a ramp, +1/-2/+1 on a ridge, +1/-1 across a step,
    and a single non-zero at a change of slope."""
    x = np.arange(9.0)
    np.testing.assert_allclose(corr2d((x**2)[None], kernels.SECOND_DX), 2)
    assert not corr2d((3 * x + 1)[None], kernels.SECOND_DX).any()
    step = (x >= 4).astype(float)[None]
    assert corr2d(step, kernels.SECOND_DX)[0].tolist() == [0, 0, 1, -1, 0, 0, 0]
    kink = np.maximum(x - 4, 0)[None]
    assert corr2d(kink, kernels.SECOND_DX)[0].tolist() == [0, 0, 0, 1, 0, 0, 0]


def test_laplacian_kernel_of_x2_plus_y2_is_4() -> None:
    """The 4-neighbour Laplacian returns 4 at every interior pixel of x**2 + y**2."""
    y, x = np.mgrid[0:7, 0:9].astype(float)
    np.testing.assert_array_equal(corr2d(x**2 + y**2, kernels.LAPLACIAN_4), 4.0)


def test_integral_kernel_is_a_running_sum() -> None:
    """Ones in 'full' mode give np.cumsum; against SciPy as well."""
    row = np.array([[3.0, 1.0, 4.0, 1.0, 5.0, 9.0]])
    full = correlate2d(row, kernels.integral(6), mode="full")
    np.testing.assert_array_equal(full[:, :6], np.cumsum(row, axis=1))
    np.testing.assert_array_equal(full, scipy.signal.correlate2d(row, np.ones((1, 6))))


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 6])
def test_minimum_size_for_a_degree_d_derivative_is_d_plus_1(d: int) -> None:
    """With d taps the moment equations force the zero kernel; with d + 1 the unique
    solution is the signed binomial kernel, which maps a_d t**d + ... to d! a_d."""
    for n in range(1, d + 1):  # too few taps: the homogeneous moments force w = 0
        moments = np.vander(np.arange(float(n)), d + 1, increasing=True).T  # (d+1, n)
        assert np.linalg.matrix_rank(moments[:d]) == n
        rhs = np.zeros(d + 1)
        rhs[d] = factorial(d)
        solution, *_ = np.linalg.lstsq(moments, rhs, rcond=None)
        assert not np.allclose(moments @ solution, rhs)  # no kernel of n taps works
    moments = np.vander(np.arange(d + 1.0), increasing=True).T
    rhs = np.zeros(d + 1)
    rhs[d] = factorial(d)
    weights = np.linalg.solve(moments, rhs)
    np.testing.assert_allclose(
        weights, [(-1) ** (d - k) * comb(d, k) for k in range(d + 1)], atol=1e-9
    )
    np.testing.assert_array_equal(kernels.finite_difference(d).ravel(), np.round(weights))
    t = np.arange(12.0)
    poly = 0.5 * t**d - 3 * t ** (d - 1) + 2
    np.testing.assert_allclose(
        corr2d(poly[None], kernels.finite_difference(d)), factorial(d) * 0.5, rtol=1e-9
    )


def test_direction_vector_kernel() -> None:
    """On a plane a x + b y the v-kernel gives v.(a, b)/|v|; an edge along v gives 0."""
    y, x = np.mgrid[0:6, 0:7].astype(float)
    kv = kernels.directional_derivative(3, 4)
    np.testing.assert_allclose(corr2d(0.5 * x - 2.0 * y, kv), 0.6 * 0.5 - 0.8 * 2.0)
    step = (x - y >= 0).astype(float)
    np.testing.assert_allclose(corr2d(step, kernels.directional_derivative(1, 1)), 0, atol=1e-15)
    assert np.abs(corr2d(step, kernels.directional_derivative(1, -1))).max() > 0.5


def test_blur_kernels_keep_constants() -> None:
    """Box and Gaussian weights are non-negative and sum to 1: constants pass through."""
    for kernel in (kernels.box(3), kernels.gaussian(1.0)):
        assert (kernel >= 0).all() and np.isclose(kernel.sum(), 1)
        np.testing.assert_allclose(corr2d(np.full((12, 12), 2.5), kernel), 2.5)


# --- 5. a fully connected layer --------------------------------------------------------------


def test_fully_connected_edge_detector_has_2058_parameters_and_is_the_matrix_w() -> None:
    """48*42 + 42 = 2058 parameters vs 2; the dense layer that detects the edges is the
    correlation matrix; one training pair gives only 42 equations for 2016 weights."""
    X = chapter_image()
    n_in, n_out = X.size, corr2d(X, K).size
    assert (n_in, n_out) == (48, 42) and n_in * n_out + n_out == 2058 and K.size == 2
    dense = correlation_matrix(X.shape, K).toarray()
    np.testing.assert_array_equal(dense @ X.ravel(), corr2d(X, K).ravel())
    equations = np.kron(np.eye(n_out), X.reshape(1, -1))  # unknowns: dense.ravel()
    assert equations.shape == (42, 2016) and np.linalg.matrix_rank(equations) == 42


# --- 6. a (2, 2) kernel ----------------------------------------------------------------------


def test_a_2x2_kernel_is_not_identifiable_from_the_chapters_image() -> None:
    """Rank 2 for 4 unknowns: only the column sums are learned (lstsq gives the
    minimum-norm split); a random image gives rank 4 and the exact kernel."""
    X = chapter_image()
    P = im2col(X, (2, 2))
    assert P.shape == (35, 4) and np.linalg.matrix_rank(P) == 2
    true = np.array([[1.0, -1.0], [0.5, 0.25]])
    target = P @ true.ravel()
    learned = np.linalg.lstsq(P, target, rcond=None)[0].reshape(2, 2)
    np.testing.assert_allclose(learned, [[0.75, -0.375], [0.75, -0.375]])
    random_image = np.random.default_rng(5).normal(size=(6, 8))
    Pr = im2col(random_image, (2, 2))
    assert np.linalg.matrix_rank(Pr) == 4
    np.testing.assert_allclose(np.linalg.lstsq(Pr, Pr @ true.ravel(), rcond=None)[0], true.ravel())


def test_gradient_descent_keeps_the_unseen_part_of_its_initialisation() -> None:
    """GD on the 2x2 problem converges to the minimum-norm solution plus the projection
    of the starting kernel onto the null space of the patch matrix."""
    X = chapter_image()
    P = im2col(X, (2, 2))
    target = P @ np.array([1.0, -1.0, 0.5, 0.25])
    start = np.array([0.2, -0.4, 0.9, 0.1])
    w = start.copy()
    for _ in range(400):
        w -= 0.01 * 2 * P.T @ (P @ w - target)
    null = np.eye(4) - np.linalg.pinv(P) @ P
    expected = np.linalg.pinv(P) @ target + null @ start
    np.testing.assert_allclose(w, expected, atol=1e-8)
    assert not np.allclose(w, [1.0, -1.0, 0.5, 0.25])


# --- 7. convolution vs cross-correlation -----------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (2, 3), (4, 1), (3, 4)])
@pytest.mark.parametrize("mode", ["full", "valid"])
def test_convolution_is_correlation_with_the_flipped_kernel(
    shape: tuple[int, int], mode: str
) -> None:
    """Exact in 'full' and 'valid' modes, for odd and even kernels."""
    rng = np.random.default_rng(6)
    X, Kr = rng.normal(size=(6, 7)), rng.normal(size=shape)
    np.testing.assert_allclose(
        convolve2d(X, Kr, mode),
        correlate2d(X, Kr[::-1, ::-1], mode),
    )


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (2, 3), (4, 1), (3, 4), (5, 2)])
def test_same_mode_relation_depends_on_the_parity_of_the_kernel(
    shape: tuple[int, int],
) -> None:
    """'same' cuts 'full' at m // 2 for correlate2d and (m - 1) // 2 for convolve2d:
    equal for odd sizes, one index apart (convolution later) for even ones -- as SciPy."""
    rng = np.random.default_rng(7)
    X, Kr = rng.normal(size=(6, 7)), rng.normal(size=shape)
    flipped = Kr[::-1, ::-1]
    conv, corr = convolve2d(X, Kr, "same"), correlate2d(X, flipped, "same")
    np.testing.assert_allclose(conv, scipy.signal.convolve2d(X, Kr, "same"))
    np.testing.assert_allclose(corr, scipy.signal.correlate2d(X, flipped, "same"))
    full = correlate2d(X, flipped, "full")
    m, n = shape
    np.testing.assert_allclose(corr, full[m // 2 : m // 2 + 6, n // 2 : n // 2 + 7])
    r, c = (m - 1) // 2, (n - 1) // 2
    np.testing.assert_allclose(conv, full[r : r + 6, c : c + 7])
    sh, sw = 1 - m % 2, 1 - n % 2  # the shift: 1 on an even axis
    np.testing.assert_allclose(conv[sh:, sw:], corr[: 6 - sh, : 7 - sw])
    if sh or sw:
        assert not np.allclose(conv, corr)


def test_learned_kernels_of_the_two_operations_are_flips_of_each_other() -> None:
    """Least squares on im2col (the convolving layer reads reversed patches) and plain
    gradient descent from flipped starts: kernels flipped, outputs identical."""
    rng = np.random.default_rng(8)
    X, Kt = rng.normal(size=(9, 10)), rng.normal(size=(3, 2))
    target = corr2d(X, Kt)
    P = im2col(X, Kt.shape)
    k_corr = np.linalg.lstsq(P, target.ravel(), rcond=None)[0].reshape(Kt.shape)
    k_conv = np.linalg.lstsq(P[:, ::-1], target.ravel(), rcond=None)[0].reshape(Kt.shape)
    np.testing.assert_allclose(k_conv, k_corr[::-1, ::-1])
    np.testing.assert_allclose(convolve2d(X, k_conv, "valid"), target, atol=1e-10)

    w_corr = rng.normal(size=Kt.shape)
    w_conv = w_corr[::-1, ::-1].copy()
    for _ in range(60):
        r_corr = corr2d(X, w_corr) - target
        w_corr -= 0.005 * 2 * corr2d(X, r_corr)  # d/dw of sum(r**2) for correlation
        r_conv = convolve2d(X, w_conv, "valid") - target
        w_conv -= 0.005 * 2 * corr2d(X, r_conv)[::-1, ::-1]  # the same, flipped
        np.testing.assert_allclose(r_conv, r_corr, atol=1e-10)
        np.testing.assert_allclose(w_conv, w_corr[::-1, ::-1], atol=1e-12)
    np.testing.assert_allclose(w_corr, Kt, atol=1e-3)
