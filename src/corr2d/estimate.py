"""Estimate the kernel that produced ``Y`` from ``X``: the chapter's "learning a kernel",
solved directly.

``Y = correlate(X, K) (+ b)`` is linear in the unknowns ``K`` (and ``b``): every output
pixel is the dot product of one ``k_h x k_w`` patch of ``X`` with ``K``.  Stacking the
patches as rows of a matrix ``A`` gives the least-squares problem ``A k ~ y``, whose
normal equations ``(A^T A) k = A^T y`` involve only a small ``(k_h k_w [+1])``-square
Gram matrix.  :func:`estimate_kernel` accumulates that matrix pair by pair and tile by
tile, so memory stays bounded however large the images, and reads from its eigenvalues
how well the data determine the kernel.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import as_array, as_pair, check_choice, fail
from corr2d.core import corr2d

__all__ = ["ESTIMATE_METHODS", "ESTIMATE_MODES", "KernelEstimate", "estimate_kernel"]

#: The solvers of :func:`estimate_kernel`.
ESTIMATE_METHODS = ("lstsq", "ridge", "fft", "gd")
#: How ``Y`` relates to ``X`` at the border.
ESTIMATE_MODES = ("valid", "same", "full", "circular")

#: The largest patch matrix built at once, in bytes; larger images are tiled by rows.
TILE_BYTES = 16 * 2**20


@dataclass(frozen=True)
class KernelEstimate:
    """The result of :func:`estimate_kernel`.

    Attributes
    ----------
    kernel : ndarray, shape (k_h, k_w)
        The estimated kernel (a correlation kernel, or a convolution kernel when the
        estimate was asked for with ``convolution=True``).
    bias : float or None
        The estimated bias, or None when no bias was estimated.
    residual : float
        Root mean square of ``Y - model(X)`` over every output pixel.
    rank : int
        Numerical rank of the patch matrix (of its Gram matrix).
    n_unknowns : int
        ``k_h * k_w``, plus 1 with a bias.
    condition_number : float
        2-norm condition number of the patch matrix, ``sqrt(lambda_max / lambda_min)``
        of the Gram matrix; ``inf`` when the rank is deficient.
    identifiable : bool
        ``rank == n_unknowns``: the data determine every unknown.
    null_space : ndarray, shape (n_unknowns - rank, n_unknowns)
        Orthonormal rows; adding any combination of them to ``(kernel.ravel(), bias)``
        changes no output.  These are the undetermined combinations.
    method : str
        The solver used.
    """

    kernel: NDArray[Any]
    bias: float | None
    residual: float
    rank: int
    n_unknowns: int
    condition_number: float
    identifiable: bool
    null_space: NDArray[Any]
    method: str

    def __str__(self) -> str:
        kernel_text = np.array2string(
            self.kernel, precision=6, suppress_small=True, max_line_width=88
        )
        kernel_text = "\n".join("    " + line for line in kernel_text.splitlines())
        verdict = (
            "identifiable"
            if self.identifiable
            else f"NOT identifiable: {self.n_unknowns - self.rank} undetermined "
            "combination(s) in .null_space"
        )
        bias = "none" if self.bias is None else f"{self.bias:.6g}"
        return "\n".join(
            [
                f"KernelEstimate ({self.method})",
                f"  kernel {self.kernel.shape}:",
                kernel_text,
                f"  bias: {bias}",
                f"  residual (RMS): {self.residual:.3e}",
                f"  rank: {self.rank} of {self.n_unknowns} unknowns ({verdict})",
                f"  condition number: {self.condition_number:.3e}",
            ]
        )


def _pairs(func: str, X: Any, Y: Any) -> list[tuple[NDArray[Any], NDArray[Any]]]:
    """One pair, a batch (axis 0) or sequences of 2-D images, as float64 pairs."""
    if isinstance(X, (list, tuple)) or isinstance(Y, (list, tuple)):
        if not (isinstance(X, (list, tuple)) and isinstance(Y, (list, tuple))):
            fail(
                func,
                "Y",
                "a sequence when X is one (and an array when X is one)",
                type(Y).__name__,
                TypeError,
            )
        if len(X) != len(Y):
            fail(func, "Y", f"as many images as X ({len(X)})", f"{len(Y)} images")
        if not X:
            fail(func, "X", "non-empty", X)
        xs = [as_array(x, func, f"X[{i}]", ndim=2) for i, x in enumerate(X)]
        ys = [as_array(y, func, f"Y[{i}]", ndim=2) for i, y in enumerate(Y)]
    else:
        x_all = as_array(X, func, "X", ndim=(2, 3))
        y_all = as_array(Y, func, "Y", ndim=(2, 3))
        if x_all.ndim != y_all.ndim:
            fail(
                func,
                "Y",
                f"{x_all.ndim}-D like X (one pair, or a batch along axis 0)",
                f"{y_all.ndim}-D array of shape {y_all.shape}",
            )
        if x_all.ndim == 3 and x_all.shape[0] != y_all.shape[0]:
            fail(func, "Y", f"a batch of {x_all.shape[0]} images like X", f"shape {y_all.shape}")
        xs = list(x_all) if x_all.ndim == 3 else [x_all]
        ys = list(y_all) if y_all.ndim == 3 else [y_all]
    pairs = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        for name, array in (("X", x), ("Y", y)):
            if array.dtype.kind == "c":
                fail(
                    func,
                    name,
                    "real (complex data is not supported)",
                    f"dtype {array.dtype}",
                    TypeError,
                )
            if not np.isfinite(array).all():
                fail(func, name, "finite", f"an array containing NaN or inf (pair {i})")
        pairs.append((np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)))
    return pairs


def _pads(mode: str, kh: int, kw: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Zero (or wrap) padding that turns ``mode`` into a 'valid' correlation.

    ``mode`` is one of :data:`ESTIMATE_MODES`, or ``'same_convolution'``: SciPy centres
    'same' on 'full' with the extra pixel of an even kernel at the end, and the 'full'
    outputs of a correlation and of a convolution run in opposite directions, so the
    two put that pixel on opposite sides.
    """
    if mode == "valid":
        return ((0, 0), (0, 0))
    if mode == "full":
        return ((kh - 1, kh - 1), (kw - 1, kw - 1))
    if mode == "same":
        return (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2))
    if mode == "same_convolution":
        return ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2))
    return ((0, kh - 1), (0, kw - 1))  # circular: the kernel anchored at its top-left


def _extend(x: NDArray[Any], mode: str, kh: int, kw: int) -> NDArray[Any]:
    pads = _pads(mode, kh, kw)
    if pads == ((0, 0), (0, 0)):
        return x
    return np.pad(x, pads, mode="wrap" if mode == "circular" else "constant")


def _expected_shape(x_shape: tuple[int, ...], mode: str, kh: int, kw: int) -> tuple[int, int]:
    (top, bottom), (left, right) = _pads(mode, kh, kw)
    return (x_shape[0] + top + bottom - kh + 1, x_shape[1] + left + right - kw + 1)


def _accumulate(
    xp: NDArray[Any],
    y: NDArray[Any],
    kh: int,
    kw: int,
    bias: bool,
    gram: NDArray[Any],
    rhs: NDArray[Any],
) -> None:
    """Add one pair's ``A^T A`` and ``A^T y`` into ``gram`` and ``rhs``, tile by tile."""
    oh, ow = y.shape
    n = kh * kw
    rows_per_tile = max(1, min(oh, TILE_BYTES // (n * ow * 8)))
    for row0 in range(0, oh, rows_per_tile):
        rows = min(rows_per_tile, oh - row0)
        windows = sliding_window_view(xp[row0 : row0 + rows + kh - 1], (kh, kw))
        # One row per kernel tap (A^T): C-contiguous rows make A^T A a fast BLAS product.
        patches_t = np.ascontiguousarray(windows.transpose(2, 3, 0, 1)).reshape(n, rows * ow)
        targets = y[row0 : row0 + rows].reshape(-1)
        gram[:n, :n] += patches_t @ patches_t.T
        rhs[:n] += patches_t @ targets
        if bias:
            column_sums = patches_t.sum(axis=1)
            gram[:n, n] += column_sums
            gram[n, :n] += column_sums
            gram[n, n] += rows * ow
            rhs[n] += targets.sum()


def _fft_system(
    pairs: list[tuple[NDArray[Any], NDArray[Any]]], kh: int, kw: int
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Circular Gram matrix and right-hand side from FFTs, and the spectra they come from.

    For circular data ``(A^T A)[(a, b), (c, d)]`` is the circular autocorrelation of X
    at lag ``(c - a, d - b)`` and ``(A^T y)[(a, b)]`` the cross-correlation of X and Y
    at lag ``(a, b)``, both read off ``|FX|^2`` and ``FX conj(FY)``.
    """
    shape = pairs[0][0].shape
    power = np.zeros((shape[0], shape[1] // 2 + 1))
    cross = np.zeros((shape[0], shape[1] // 2 + 1), dtype=np.complex128)
    for x, y in pairs:
        fx, fy = np.fft.rfft2(x), np.fft.rfft2(y)
        power += (fx * fx.conj()).real
        cross += fx * fy.conj()
    autocorrelation = np.fft.irfft2(power, s=shape)
    crosscorrelation = np.fft.irfft2(cross, s=shape)
    rows, cols = np.divmod(np.arange(kh * kw), kw)
    lag_rows = (rows[None, :] - rows[:, None]) % shape[0]
    lag_cols = (cols[None, :] - cols[:, None]) % shape[1]
    gram = autocorrelation[lag_rows, lag_cols]
    gram = (gram + gram.T) / 2
    rhs = crosscorrelation[:kh, :kw].reshape(-1)
    return gram, rhs, power, cross


def _describe_undetermined(
    range_basis: NDArray[Any], kh: int, kw: int, bias: bool, n_null: int
) -> str:
    """Say in words which combinations the data determine, when it is a known pattern."""
    n = kh * kw + int(bias)

    def spans(functionals: NDArray[Any]) -> bool:
        if np.linalg.matrix_rank(functionals) != range_basis.shape[1]:
            return False
        projected = range_basis @ (range_basis.T @ functionals.T)
        return bool(np.allclose(projected, functionals.T, atol=1e-8))

    grid = np.arange(kh * kw).reshape(kh, kw)
    families = []
    column_sums = np.zeros((kw + int(bias), n))
    for j in range(kw):
        column_sums[j, grid[:, j]] = 1.0
    row_sums = np.zeros((kh + int(bias), n))
    for i in range(kh):
        row_sums[i, grid[i, :]] = 1.0
    total = np.zeros((1 + int(bias), n))
    total[0, : kh * kw] = 1.0
    if bias:
        column_sums[-1, -1] = row_sums[-1, -1] = total[-1, -1] = 1.0
    families = [
        (
            column_sums,
            "the column sums K[:, j].sum() (every row of X is the same, so "
            "only how much weight each column carries shows in Y)",
        ),
        (row_sums, "the row sums K[i, :].sum() (every column of X is the same)"),
        (total, "the sum of all kernel entries (X is constant)"),
    ]
    for functionals, words in families:
        if spans(functionals):
            return f"only {words} are determined"
    return (
        f"{n_null} combination(s) of the unknowns do not affect Y (X does not vary "
        "enough along some direction, or has too few pixels)"
    )


def estimate_kernel(
    X: ArrayLike | Sequence[ArrayLike],
    Y: ArrayLike | Sequence[ArrayLike],
    kernel_shape: int | tuple[int, int],
    *,
    bias: bool = False,
    method: Literal["lstsq", "ridge", "fft", "gd"] = "lstsq",
    alpha: float | None = None,
    mode: Literal["valid", "same", "full", "circular"] = "valid",
    convolution: bool = False,
    steps: int = 500,
    lr: float | None = None,
    rtol: float | None = None,
) -> KernelEstimate:
    """Estimate the kernel ``K`` (and bias) with ``Y = correlate(X, K) + bias``.

    Parameters
    ----------
    X, Y : array_like
        One pair of 2-D images, a batch of pairs stacked along axis 0 (3-D arrays), or
        two equally long sequences of 2-D images (sizes may differ between pairs).
    kernel_shape : int or (int, int)
        ``(k_h, k_w)``.
    bias : bool, optional
        Estimate a constant added to every output pixel too (default False).
    method : {'lstsq', 'ridge', 'fft', 'gd'}, optional
        * 'lstsq' (default): least squares through the accumulated normal equations,
          solved by eigendecomposition of the Gram matrix; the minimum-norm solution
          when the data do not determine every unknown.
        * 'ridge': least squares with the penalty ``alpha * ||K||^2`` (the bias is not
          penalised); for noisy or ill-conditioned data.
        * 'fft': regularised Fourier (Wiener) division
          ``FK = sum FX conj(FY) / (sum |FX|^2 + alpha)``, the full-size kernel cut to
          ``kernel_shape``; needs ``mode='circular'``, pairs of one shape and no bias.
        * 'gd': the chapter's gradient descent (:func:`corr2d.fit` on a
          :class:`corr2d.Conv2D` starting from zero) for ``steps`` steps.
    alpha : float, optional
        Regularisation of 'ridge' and 'fft', >= 0.  Defaults: 'ridge'
        ``1e-6 * trace(A^T A) / (k_h k_w)``; 'fft' ``1e-10 * mean(sum |FX|^2)``.
    mode : {'valid', 'same', 'full', 'circular'}, optional
        How ``Y`` was made from ``X`` (which fixes ``Y``'s shape):

        * 'valid' (default): ``Y = correlate2d(X, K, 'valid')``; only pixels whose
          window lies inside ``X`` are used, so no assumption about the border is made;
        * 'same' / 'full': ``correlate2d(X, K, mode)`` (``convolve2d`` with
          ``convolution=True``) with zero fill: the model assumes ``X`` is zero outside
          the image, and 'same' uses SciPy's offsets;
        * 'circular': ``Y[i, j] = sum K[a, b] X[(i + a) % H, (j + b) % W]``, the image
          wrapped around (periodic data), ``Y`` the size of ``X``.
    convolution : bool, optional
        ``Y`` was made by convolution (``convolve2d``), not correlation: the returned
        kernel is flipped in both axes accordingly (for 'circular', ``K`` flipped is
        the correlation kernel anchored at its top-left).
    steps : int, optional
        Steps of 'gd' (default 500).
    lr : float, optional
        Learning rate of 'gd'.  Default ``1 / (2 lambda_max(A^T A))``, stable for the
        summed squared error.
    rtol : float, optional
        Eigenvalues of the Gram matrix below ``rtol * lambda_max`` count as zero.
        Default ``100 * n_unknowns * machine epsilon``.

    Returns
    -------
    KernelEstimate
        Kernel, bias, RMS residual and the identifiability report.

    Warns
    -----
    UserWarning
        When the data do not determine every unknown (rank < ``n_unknowns``), naming
        what is undetermined.

    Notes
    -----
    The Gram matrix ``A^T A`` and ``A^T y`` are summed over pairs and over tiles of at
    most 16 MiB of patches, so a 2048x2048 pair with a 15x15 kernel never builds its
    3.7 GB patch matrix.  The rank, condition number and null space come from the
    eigendecomposition of ``A^T A``: ``A`` has rank ``r`` and condition number
    ``sqrt(lambda_max / lambda_min)``.

    Examples
    --------
    The chapter's pair: the edge detector [[1, -1]] comes back exactly.

    >>> import numpy as np
    >>> from corr2d import corr2d, estimate_kernel
    >>> X = np.ones((6, 8)); X[:, 2:6] = 0
    >>> Y = corr2d(X, [[1.0, -1.0]])
    >>> estimate = estimate_kernel(X, Y, (1, 2))
    >>> estimate.kernel.round(12) + 0.0, estimate.rank, estimate.identifiable
    (array([[ 1., -1.]]), 2, True)
    """
    func = "estimate_kernel"
    kh, kw = as_pair(func, "kernel_shape", kernel_shape, 1)
    _check_options(func, bias, method, alpha, mode, convolution, steps, lr)
    pairs = _pairs(func, X, Y)
    shape_mode = "same_convolution" if convolution and mode == "same" else mode
    _check_shapes(func, pairs, shape_mode, mode, method, kh, kw)

    system = _build_system(pairs, shape_mode, kh, kw, bias, method)
    spectrum = _decompose(system.gram, rtol)
    solution = _solve(system, spectrum, pairs, shape_mode, kh, kw, bias, method, alpha, steps, lr)
    return _report(func, solution, spectrum, pairs, shape_mode, kh, kw, bias, method, convolution)


# ---------------------------------------------------------------- step 1: validate


def _check_options(
    func: str,
    bias: Any,
    method: str,
    alpha: Any,
    mode: str,
    convolution: Any,
    steps: Any,
    lr: Any,
) -> None:
    """Check every argument but the data: types, ranges and combinations."""
    check_choice(func, "method", method, ESTIMATE_METHODS)
    check_choice(func, "mode", mode, ESTIMATE_MODES)
    for name, flag in (("bias", bias), ("convolution", convolution)):
        if not isinstance(flag, (bool, np.bool_)):
            fail(func, name, "a bool", flag, TypeError)
    if alpha is not None:
        if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float)):
            fail(func, "alpha", "a real number or None", alpha, TypeError)
        if not alpha >= 0 or not math.isfinite(alpha):
            fail(func, "alpha", "finite and >= 0", alpha)
        if method in ("lstsq", "gd"):
            fail(
                func,
                "alpha",
                f"None for method={method!r} (only 'ridge' and 'fft' regularise)",
                alpha,
            )
    if method == "fft":
        if mode != "circular":
            fail(
                func,
                "mode",
                "'circular' for method='fft' (Fourier division assumes periodic data)",
                mode,
            )
        if bias:
            fail(
                func,
                "bias",
                "False for method='fft' (a constant is indistinguishable "
                "from the kernel's sum at frequency zero)",
                bias,
            )
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)):
        fail(func, "steps", "an int", steps, TypeError)
    if steps < 1:
        fail(func, "steps", ">= 1", steps)
    if lr is not None and (isinstance(lr, (bool, np.bool_)) or not lr > 0):
        fail(func, "lr", "None or a positive number", lr)


def _check_shapes(
    func: str,
    pairs: list[tuple[NDArray[Any], NDArray[Any]]],
    shape_mode: str,
    mode: str,
    method: str,
    kh: int,
    kw: int,
) -> None:
    """Every ``Y`` has the shape ``mode`` gives its ``X`` and the kernel."""
    for i, (x, y) in enumerate(pairs):
        where = "" if len(pairs) == 1 else f" (pair {i})"
        expected = _expected_shape(x.shape, shape_mode, kh, kw)
        if min(expected) < 1:
            fail(func, "kernel_shape", f"no larger than X{where} for mode={mode!r}", (kh, kw))
        if y.shape != expected:
            fail(
                func,
                "Y",
                f"of shape {expected} for X of shape {x.shape}, a "
                f"{(kh, kw)} kernel and mode={mode!r}{where}",
                f"shape {y.shape}",
            )
    if method == "fft" and len({x.shape for x, _ in pairs}) > 1:
        fail(func, "X", "images of one shape for method='fft'", sorted({x.shape for x, _ in pairs}))


# ---------------------------------------------------------------- step 2: the system


@dataclass(frozen=True)
class _System:
    """The normal equations ``gram @ k = rhs`` (and, for 'fft', the spectra behind them)."""

    gram: NDArray[Any]
    rhs: NDArray[Any]
    power: NDArray[Any] | None = None
    cross: NDArray[Any] | None = None


def _build_system(
    pairs: list[tuple[NDArray[Any], NDArray[Any]]],
    shape_mode: str,
    kh: int,
    kw: int,
    bias: bool,
    method: str,
) -> _System:
    """Sum ``A^T A`` and ``A^T y`` over every pair (from spectra for 'fft')."""
    if method == "fft":
        gram, rhs, power, cross = _fft_system(pairs, kh, kw)
        return _System(gram, rhs, power, cross)
    n = kh * kw + int(bias)
    gram = np.zeros((n, n))
    rhs = np.zeros(n)
    for x, y in pairs:
        _accumulate(_extend(x, shape_mode, kh, kw), y, kh, kw, bias, gram, rhs)
    return _System((gram + gram.T) / 2, rhs)


# ---------------------------------------------------------------- step 3: solve


@dataclass(frozen=True)
class _Spectrum:
    """The eigendecomposition of the Gram matrix and what it says about the data."""

    eigenvalues: NDArray[Any]
    eigenvectors: NDArray[Any]
    kept: NDArray[np.bool_]
    rank: int
    condition_number: float
    null_space: NDArray[Any]


def _decompose(gram: NDArray[Any], rtol: float | None) -> _Spectrum:
    """Rank, condition number and null space from the eigenvalues of ``A^T A``."""
    n = gram.shape[0]
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    largest = float(eigenvalues[-1])
    threshold = largest * (100 * n * np.finfo(np.float64).eps if rtol is None else rtol)
    kept = eigenvalues > threshold
    rank = int(kept.sum()) if largest > 0 else 0
    smallest = float(eigenvalues[0])
    condition = math.sqrt(largest / smallest) if rank == n and smallest > 0 else math.inf
    null_space = eigenvectors[:, ~kept].T.copy() if largest > 0 else np.eye(n)
    return _Spectrum(eigenvalues, eigenvectors, kept, rank, condition, null_space)


def _solve(
    system: _System,
    spectrum: _Spectrum,
    pairs: list[tuple[NDArray[Any], NDArray[Any]]],
    shape_mode: str,
    kh: int,
    kw: int,
    bias: bool,
    method: str,
    alpha: float | None,
    steps: int,
    lr: float | None,
) -> NDArray[Any]:
    """The unknowns ``(kernel.ravel(), [bias])`` by the chosen method."""
    n_kernel = kh * kw
    n = n_kernel + int(bias)
    values, vectors, kept = spectrum.eigenvalues, spectrum.eigenvectors, spectrum.kept
    if method == "lstsq":
        return vectors[:, kept] @ ((vectors[:, kept].T @ system.rhs) / values[kept])
    if method == "ridge":
        strength = (
            1e-6 * float(np.trace(system.gram[:n_kernel, :n_kernel])) / n_kernel
            if alpha is None
            else float(alpha)
        )
        penalty = np.ones(n)
        if bias:
            penalty[-1] = 0.0
        return np.linalg.lstsq(system.gram + strength * np.diag(penalty), system.rhs, rcond=None)[0]
    if method == "fft":
        assert system.power is not None and system.cross is not None
        strength = 1e-10 * float(system.power.mean()) if alpha is None else float(alpha)
        full_kernel = np.fft.irfft2(system.cross / (system.power + strength), s=pairs[0][0].shape)
        return full_kernel[:kh, :kw].reshape(-1)
    largest = float(values[-1])
    step = 1.0 / (2 * largest) if lr is None and largest > 0 else (lr or 1.0)
    return _gradient_descent(pairs, shape_mode, kh, kw, bias, steps, step)


# ---------------------------------------------------------------- step 4: report


def _report(
    func: str,
    solution: NDArray[Any],
    spectrum: _Spectrum,
    pairs: list[tuple[NDArray[Any], NDArray[Any]]],
    shape_mode: str,
    kh: int,
    kw: int,
    bias: bool,
    method: str,
    convolution: bool,
) -> KernelEstimate:
    """The kernel, its residual and the identifiability report (warning if incomplete)."""
    n_kernel = kh * kw
    n = n_kernel + int(bias)
    kernel = solution[:n_kernel].reshape(kh, kw)
    bias_value = float(solution[-1]) if bias else None
    residual = _rms_residual(pairs, shape_mode, kernel, bias_value or 0.0)
    null_space = spectrum.null_space
    if convolution:
        kernel = kernel[::-1, ::-1]
        flipped = null_space[:, :n_kernel].reshape(-1, kh, kw)[:, ::-1, ::-1]
        null_space = np.concatenate(
            [flipped.reshape(-1, n_kernel), null_space[:, n_kernel:]], axis=1
        )
    identifiable = spectrum.rank == n
    if not identifiable:
        _warn_undetermined(func, spectrum, kh, kw, bias, method)
    return KernelEstimate(
        kernel=np.ascontiguousarray(kernel),
        bias=bias_value,
        residual=residual,
        rank=spectrum.rank,
        n_unknowns=n,
        condition_number=spectrum.condition_number,
        identifiable=identifiable,
        null_space=null_space,
        method=method,
    )


def _rms_residual(
    pairs: list[tuple[NDArray[Any], NDArray[Any]]],
    shape_mode: str,
    kernel: NDArray[Any],
    bias: float,
) -> float:
    """Root mean square of ``Y - correlate(X, kernel) - bias`` over every pair."""
    kh, kw = kernel.shape
    squared, count = 0.0, 0
    for x, y in pairs:
        prediction = corr2d(_extend(x, shape_mode, kh, kw), kernel, method="direct")
        difference = y - prediction - bias
        squared += float(np.sum(difference * difference))
        count += difference.size
    return math.sqrt(squared / count)


def _warn_undetermined(
    func: str, spectrum: _Spectrum, kh: int, kw: int, bias: bool, method: str
) -> None:
    n = kh * kw + int(bias)
    rank = spectrum.rank
    words = _describe_undetermined(spectrum.eigenvectors[:, spectrum.kept], kh, kw, bias, n - rank)
    chosen = {
        "lstsq": "returning the minimum-norm solution",
        "ridge": "the penalty sets the undetermined part to zero",
        "fft": "the regularisation sets the undetermined part",
        "gd": "gradient descent from zero leaves the undetermined part at zero",
    }[method]
    warnings.warn(
        f"{func}: the kernel is not identifiable from these data: rank {rank} of "
        f"{n} unknowns; {words}; {chosen}. The undetermined combinations are in "
        "KernelEstimate.null_space.",
        UserWarning,
        stacklevel=4,  # the caller of estimate_kernel
    )


def _gradient_descent(
    pairs: list[tuple[NDArray[Any], NDArray[Any]]],
    mode: str,
    kh: int,
    kw: int,
    bias: bool,
    steps: int,
    lr: float,
) -> NDArray[Any]:
    """The chapter's loop: a zero-initialised Conv2D trained by :func:`corr2d.fit`."""
    from corr2d.nn import Conv2D, fit

    layer = Conv2D((kh, kw), bias=bias, init="zeros")
    inputs = [_extend(x, mode, kh, kw) for x, _ in pairs]
    targets = [y for _, y in pairs]
    fit(layer, inputs, targets, steps=steps, lr=lr, progress=None)
    values = [layer.weight.data.reshape(-1)]
    if layer.bias is not None:
        values.append(layer.bias.data)
    return np.concatenate(values)
