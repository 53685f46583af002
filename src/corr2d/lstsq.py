"""Least squares for correlation kernels, accumulated band by band in bounded memory.

``y = correlate(x, K, 'valid') + b`` is linear in the unknowns ``k = (K.ravel(), [b])``:
every output pixel is the dot product of one ``k_h x k_w`` window of ``x`` with ``K``.
Stacking the windows as the rows of a patch matrix ``A`` gives the least-squares problem
``A k ~ y``.  ``A`` has a row per output pixel (7.4 GB for a 15x15 kernel on a
2048x2048 pair), so it is never built whole: the accumulators here add its equations one
band of image rows at a time, each band tiled so that its patches fit
``workspace_bytes``.

* :class:`NormalEquations` sums ``A^T A`` and ``A^T y``, small ``n x n`` and ``n``
  arrays (``n`` unknowns), and solves them through the eigendecomposition of ``A^T A``.
  This is fast, but squares the condition number: when a direction the data determine
  has an eigenvalue below :data:`QR_THRESHOLD` times the largest, the solution would
  keep fewer than 8 correct digits, and :attr:`LstsqSolution.loses_digits` says so.
* :class:`TallSkinnyQR` keeps the triangular factor ``R`` of ``[A, 1, y]`` instead: each
  band's rows are stacked under the current ``R`` and factored again, so ``R`` is that
  of all rows seen (a tall-skinny QR).  It costs about twice as much and keeps every
  digit the data determine; solve with it when :class:`NormalEquations` loses digits.
* :class:`ResidualSum` sums the squared residual of a given kernel, for the fit.

Each has ``add(x, y)`` for one band and ``merge(other)`` for the accumulator of another
part of the data, so parts may be accumulated separately (chunks of a large image, the
pairs of a batch) and combined in any order or tree; merging :class:`TallSkinnyQR`
factors in a tree is the usual parallel TSQR.

Both solvers work on scaled data: ``x_scale`` and ``y_scale`` (powers of two, so exact)
multiply every band, which keeps the sums of squares of data near 1e-160 or 1e155
inside float64's range; :func:`power_of_two_scale` chooses them from the data's largest
magnitude, and solutions are returned in the data's own units.

Examples
--------
A 1x2 difference kernel, recovered from two bands of one pair, accumulated apart and
merged:

>>> import numpy as np
>>> from corr2d import corr2d
>>> from corr2d.lstsq import NormalEquations
>>> x = np.array([[1.0, 4.0, 2.0], [3.0, 0.0, 5.0]])
>>> y = corr2d(x, [[1.0, -1.0]])                  # [[-3, 2], [3, -5]]
>>> top, bottom = NormalEquations((1, 2)), NormalEquations((1, 2))
>>> top.add(x[:1], y[:1]); bottom.add(x[1:], y[1:])
>>> solution = top.merge(bottom).solve()
>>> solution.kernel.round(12) + 0.0, solution.rank
(array([[ 1., -1.]]), 2)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import as_pair

__all__ = [
    "QR_THRESHOLD",
    "WORKSPACE_BYTES",
    "LstsqSolution",
    "NormalEquations",
    "ResidualSum",
    "TallSkinnyQR",
    "band_rows",
    "default_rtol",
    "power_of_two_scale",
]

#: The largest patch tile (with its band's copies) built at once, in bytes.
WORKSPACE_BYTES = 16 * 2**20
#: Normal equations whose smallest kept eigenvalue is below this fraction of the largest
#: lose more than half of float64's digits in that direction.
QR_THRESHOLD = 1e-8
#: Data whose largest magnitude lies within 2**-LIMIT .. 2**LIMIT are used unscaled.
_SCALE_LIMIT = 100


def default_rtol(n_unknowns: int) -> float:
    """The default rank threshold on ``lambda / lambda_max``: ``100 n eps``."""
    return 100 * n_unknowns * float(np.finfo(np.float64).eps)


def power_of_two_scale(largest: float) -> float:
    """A power of two bringing magnitudes up to ``largest`` near 1, or 1.0 if not needed.

    Multiplying by a power of two is exact, so scaled data give bit-for-bit the answer of
    unscaled data wherever the latter does not overflow or underflow.

    >>> power_of_two_scale(3.0), power_of_two_scale(1e-160) == 2.0**531
    (1.0, True)
    """
    if not math.isfinite(largest) or largest == 0:
        return 1.0
    exponent = math.frexp(largest)[1]
    if -_SCALE_LIMIT <= exponent <= _SCALE_LIMIT:
        return 1.0
    return math.ldexp(1.0, -exponent)


def band_rows(
    n_unknowns: int, out_width: int, kernel_width: int, workspace_bytes: int = WORKSPACE_BYTES
) -> int:
    """Output rows per band so that the band's patches and copies fit ``workspace_bytes``.

    >>> band_rows(9, 1000, 3)
    190
    """
    per_row = 8 * (n_unknowns * out_width + 2 * (out_width + kernel_width))
    return max(1, workspace_bytes // per_row)


@dataclass(frozen=True)
class LstsqSolution:
    """A least-squares kernel and what the data say about it.

    Attributes
    ----------
    kernel : ndarray, shape (k_h, k_w)
        The minimum-norm least-squares kernel (ridge: the penalised one), in the data's
        units.
    bias : float or None
        The bias, or None when none was estimated.
    rank : int
        Numerical rank of the patch matrix: the number of singular values above
        ``sqrt(rtol)`` times the largest.
    singular_values : ndarray, shape (n_unknowns,)
        Of the (scaled) patch matrix, largest first; from the normal equations these are
        accurate only above about ``1e-8`` times the largest.
    condition_number : float
        ``singular_values[0] / singular_values[-1]``; ``inf`` when the rank is short.
    null_space : ndarray, shape (n_unknowns - rank, n_unknowns)
        Orthonormal rows: adding any combination of them to ``(kernel.ravel(), bias)``
        changes no output.
    solver : str
        How it was solved: 'normal equations' or 'qr' here (:func:`corr2d.estimate_kernel`
        adds 'fourier division' and 'gradient descent').
    loses_digits : bool
        The normal equations kept a direction with an eigenvalue below
        :data:`QR_THRESHOLD` times the largest, so the kernel may have fewer than 8
        correct digits there: solve with :class:`TallSkinnyQR` instead.
    """

    kernel: NDArray[np.float64]
    bias: float | None
    rank: int
    singular_values: NDArray[np.float64]
    condition_number: float
    null_space: NDArray[np.float64]
    solver: str
    loses_digits: bool

    @property
    def n_unknowns(self) -> int:
        """``k_h * k_w``, plus 1 with a bias."""
        return int(self.singular_values.size)


class _Accumulator:
    """What both solvers share: the problem's shape, the scales and the band tiling."""

    def __init__(
        self,
        kernel_shape: int | tuple[int, int],
        *,
        bias: bool = False,
        x_scale: float = 1.0,
        y_scale: float = 1.0,
        workspace_bytes: int = WORKSPACE_BYTES,
    ) -> None:
        func = type(self).__name__
        self.kernel_shape = as_pair(func, "kernel_shape", kernel_shape, 1)
        self.bias = bool(bias)
        self.x_scale = _check_scale(func, "x_scale", x_scale)
        self.y_scale = _check_scale(func, "y_scale", y_scale)
        self.workspace_bytes = int(workspace_bytes)
        #: Equations (output pixels) added so far.
        self.n_equations = 0
        self._start()

    def _start(self) -> None:  # pragma: no cover - overridden
        """Allocate the empty sums."""
        raise NotImplementedError

    @property
    def n_unknowns(self) -> int:
        """``k_h * k_w``, plus 1 with a bias."""
        return self.kernel_shape[0] * self.kernel_shape[1] + int(self.bias)

    def _check_mergeable(self, other: _Accumulator) -> None:
        if type(other) is not type(self):
            raise TypeError(
                f"{type(self).__name__}.merge: `other` must be a {type(self).__name__}, "
                f"got {type(other).__name__}"
            )
        mine = (self.kernel_shape, self.bias, self.x_scale, self.y_scale)
        theirs = (other.kernel_shape, other.bias, other.x_scale, other.y_scale)
        if mine != theirs:
            raise ValueError(
                f"{type(self).__name__}.merge: `other` must have this accumulator's "
                f"(kernel_shape, bias, x_scale, y_scale) {mine}, got {theirs}"
            )

    def _tiles(self, x: ArrayLike, y: ArrayLike) -> Iterator[tuple[NDArray[Any], NDArray[Any]]]:
        """Each tile's input rows and targets (flattened), scaled to float64."""
        kh, kw = self.kernel_shape
        xa, ya = np.asarray(x), np.asarray(y)
        if ya.ndim != 2 or xa.shape != (ya.shape[0] + kh - 1, ya.shape[1] + kw - 1):
            raise ValueError(
                f"{type(self).__name__}.add: `x` must be of shape (r + {kh - 1}, c + {kw - 1}) "
                f"for `y` of shape (r, c) and a {(kh, kw)} kernel, got shapes {xa.shape} "
                f"and {ya.shape}"
            )
        rows, cols = ya.shape
        step = band_rows(kh * kw, cols, kw, self.workspace_bytes)
        for row0 in range(0, rows, step):
            count = min(step, rows - row0)
            x_tile = _scaled(xa[row0 : row0 + count + kh - 1], self.x_scale)
            targets = _scaled(ya[row0 : row0 + count], self.y_scale).reshape(-1)
            yield x_tile, targets

    def _solution(
        self,
        scaled: NDArray[Any],
        null_basis: NDArray[Any],
        singular: NDArray[np.float64],
        rank: int,
        solver: str,
        loses_digits: bool,
    ) -> LstsqSolution:
        """The solution in the data's units, from the scaled unknowns and spectrum."""
        kernel, bias, null_space = self.in_data_units(scaled, null_basis.copy())
        return LstsqSolution(
            kernel=kernel,
            bias=bias,
            rank=rank,
            singular_values=singular,
            condition_number=_condition(singular, rank),
            null_space=null_space,
            solver=solver,
            loses_digits=loses_digits,
        )

    def in_data_units(
        self, scaled: NDArray[Any], null_space: NDArray[Any]
    ) -> tuple[NDArray[np.float64], float | None, NDArray[np.float64]]:
        """Kernel, bias and null space in the data's units from those of the scaled data.

        Raises
        ------
        OverflowError
            If the kernel is beyond float64's range.
        """
        kh, kw = self.kernel_shape
        n_kernel = kh * kw
        shift = _exponent(self.x_scale) - _exponent(self.y_scale)
        with np.errstate(over="ignore"):
            kernel = np.ldexp(scaled[:n_kernel], shift)
        if not np.isfinite(kernel).all():
            raise OverflowError(
                f"the estimated kernel overflows float64: Y's values are about 2**{shift} times X's"
            )
        bias = float(scaled[n_kernel] / self.y_scale) if self.bias else None
        if self.bias and null_space.shape[0] and shift != 0:
            # A combination (dK', db') of the scaled unknowns that changes no output is
            # (dK' x_scale / y_scale, db' / y_scale) in the data's units: re-orthonormalise.
            moved = null_space.copy()
            moved[:, :n_kernel] = np.ldexp(moved[:, :n_kernel], shift)
            moved[:, n_kernel] /= self.y_scale
            null_space = np.linalg.qr(moved.T)[0].T
        return kernel.reshape(kh, kw), bias, null_space


def _exponent(scale: float) -> int:
    """``e`` with ``scale == 2**e``."""
    _, exponent = math.frexp(scale)
    return exponent - 1


def _check_scale(func: str, name: str, scale: Any) -> float:
    value = float(scale)
    if not (value > 0 and math.isfinite(value) and math.frexp(value)[0] == 0.5):
        raise ValueError(f"{func}: `{name}` must be a positive power of two, got {scale!r}")
    return value


def _scaled(values: NDArray[Any], scale: float) -> NDArray[np.float64]:
    """``values * scale`` as float64, without a copy when nothing changes."""
    if scale == 1.0:
        return np.asarray(values, dtype=np.float64)
    return np.multiply(values, scale, dtype=np.float64)


class NormalEquations(_Accumulator):
    """``A^T A`` and ``A^T y`` of ``y = correlate(x, K, 'valid') (+ b)``, band by band.

    Parameters
    ----------
    kernel_shape : int or (int, int)
        ``(k_h, k_w)``.
    bias : bool, optional
        Also estimate a constant added to every output (default False).
    x_scale, y_scale : float, optional
        Powers of two applied to every band of ``x`` and ``y`` before summing (default
        1; exact, see :func:`power_of_two_scale`).
    workspace_bytes : int, optional
        Largest patch tile built at once (default :data:`WORKSPACE_BYTES`).

    Attributes
    ----------
    n_equations : int
        Output pixels added so far.

    Notes
    -----
    Memory: the ``n x n`` sums plus one tile of at most ``workspace_bytes``.  Time: one
    symmetric rank-``m`` update (``n^2 m`` multiply-adds) per tile of ``m`` outputs.
    """

    def _start(self) -> None:
        n = self.n_unknowns
        self._gram = np.zeros((n, n))
        self._rhs = np.zeros(n)

    @classmethod
    def from_sums(
        cls,
        kernel_shape: int | tuple[int, int],
        gram: ArrayLike,
        rhs: ArrayLike,
        *,
        bias: bool = False,
        x_scale: float = 1.0,
        y_scale: float = 1.0,
        n_equations: int = 0,
    ) -> NormalEquations:
        """Normal equations from sums computed elsewhere (of the scaled data).

        ``gram`` is ``A^T A``, shape ``(n_unknowns, n_unknowns)``; ``rhs`` is ``A^T y``.
        """
        equations = cls(kernel_shape, bias=bias, x_scale=x_scale, y_scale=y_scale)
        n = equations.n_unknowns
        gram_array = np.array(gram, dtype=np.float64)
        rhs_array = np.array(rhs, dtype=np.float64)
        if gram_array.shape != (n, n) or rhs_array.shape != (n,):
            raise ValueError(
                f"NormalEquations.from_sums: `gram` and `rhs` must have shapes {(n, n)} and "
                f"{(n,)}, got {gram_array.shape} and {rhs_array.shape}"
            )
        equations._gram, equations._rhs = gram_array, rhs_array
        equations.n_equations = int(n_equations)
        return equations

    @property
    def gram(self) -> NDArray[np.float64]:
        """``A^T A`` of the scaled data, shape ``(n_unknowns, n_unknowns)`` (a copy)."""
        return (self._gram + self._gram.T) / 2

    @property
    def rhs(self) -> NDArray[np.float64]:
        """``A^T y`` of the scaled data, shape ``(n_unknowns,)`` (a copy)."""
        return self._rhs.copy()

    def add(self, x: ArrayLike, y: ArrayLike) -> None:
        """Add the equations of one band: ``y = correlate(x, K, 'valid') (+ b)``.

        Parameters
        ----------
        x : array_like, shape (r + k_h - 1, c + k_w - 1)
            The input rows the band's outputs see (any real dtype).
        y : array_like, shape (r, c)
            The band's outputs.
        """
        n_kernel = self.kernel_shape[0] * self.kernel_shape[1]
        kh, kw = self.kernel_shape
        for x_tile, targets in self._tiles(x, y):
            windows = sliding_window_view(x_tile, (kh, kw))
            # One row per kernel tap (A^T): C-contiguous rows make A^T A a BLAS syrk.
            patches_t = np.ascontiguousarray(windows.transpose(2, 3, 0, 1)).reshape(
                n_kernel, targets.size
            )
            self._gram[:n_kernel, :n_kernel] += patches_t @ patches_t.T
            self._rhs[:n_kernel] += patches_t @ targets
            if self.bias:
                column_sums = patches_t.sum(axis=1)
                self._gram[:n_kernel, n_kernel] += column_sums
                self._gram[n_kernel, :n_kernel] += column_sums
                self._gram[n_kernel, n_kernel] += targets.size
                self._rhs[n_kernel] += targets.sum()
            self.n_equations += targets.size

    def merge(self, other: NormalEquations) -> NormalEquations:
        """Add ``other``'s equations (another part of the data) to these; returns self."""
        self._check_mergeable(other)
        self._gram += other._gram
        self._rhs += other._rhs
        self.n_equations += other.n_equations
        return self

    def solve(
        self, rtol: float | None = None, *, ridge: float | Literal["auto"] | None = None
    ) -> LstsqSolution:
        """The minimum-norm least-squares kernel, or the ridge one.

        Parameters
        ----------
        rtol : float, optional
            Eigenvalues of ``A^T A`` at or below ``rtol`` times the largest count as
            zero (default :func:`default_rtol`).
        ridge : float or 'auto', optional
            Solve ``(A^T A + ridge I) k = A^T y`` instead, ``ridge`` in the data's units
            (the bias is not penalised); 'auto' is ``1e-6 trace(A^T A) / (k_h k_w)``.

        Raises
        ------
        ArithmeticError
            If the eigendecomposition fails (non-finite sums).
        """
        gram, rhs = self.gram, self._rhs
        n = self.n_unknowns
        try:
            values, vectors = np.linalg.eigh(gram)
        except np.linalg.LinAlgError as exc:
            raise ArithmeticError(
                "NormalEquations.solve: the eigendecomposition of A^T A failed "
                f"({exc}); are the data finite and scaled?"
            ) from exc
        values, vectors = values[::-1], vectors[:, ::-1]  # largest first
        largest = max(float(values[0]), 0.0)
        threshold = largest * (default_rtol(n) if rtol is None else rtol)
        kept = values > threshold if largest > 0 else np.zeros(n, dtype=bool)
        rank = int(kept.sum())
        if ridge is not None:
            penalty = np.full(n, self._ridge_strength(gram, ridge))
            if self.bias:
                penalty[-1] = 0.0
            scaled = np.linalg.lstsq(gram + np.diag(penalty), rhs, rcond=None)[0]
        else:
            basis = vectors[:, kept]
            scaled = basis @ ((basis.T @ rhs) / values[kept])
        singular = np.sqrt(np.clip(values, 0.0, None))
        loses_digits = bool(
            ridge is None and rank and float(values[kept][-1]) < QR_THRESHOLD * largest
        )
        return self._solution(
            scaled, vectors[:, ~kept].T, singular, rank, "normal equations", loses_digits
        )

    def _ridge_strength(self, gram: NDArray[np.float64], ridge: float | str) -> float:
        """The penalty in the scaled unknowns: ``ridge * x_scale**2``."""
        n_kernel = self.kernel_shape[0] * self.kernel_shape[1]
        if ridge == "auto":
            return 1e-6 * float(np.trace(gram[:n_kernel, :n_kernel])) / n_kernel
        with np.errstate(over="ignore"):
            strength = float(np.ldexp(float(ridge), 2 * _exponent(self.x_scale)))
        # A penalty beyond float64 pins the kernel to zero as well as the largest one does.
        return min(strength, float(np.finfo(np.float64).max) / 1e8)


class TallSkinnyQR(_Accumulator):
    """The triangular factor of ``[A, (1), y]``, band by band (a tall-skinny QR).

    Each band's rows are stacked under the current factor and factored again
    (Householder QR, LAPACK ``dgeqrf``), so the factor is always that of every row seen;
    :meth:`merge` factors two stacked factors, which makes a tree of merges a parallel
    TSQR.  Solving it never forms ``A^T A``, so it keeps the digits the normal equations
    lose on ill-conditioned data.  Parameters as for :class:`NormalEquations`.

    Notes
    -----
    Memory: the ``(n + 1)``-square factor plus one tile.  Time: about ``2 n^2 m``
    flops per tile of ``m`` outputs, twice the normal equations'.
    """

    def _start(self) -> None:
        self._factor = np.zeros((0, self.n_unknowns + 1))

    @property
    def factor(self) -> NDArray[np.float64]:
        """``R`` with ``[A, (1), y] = Q R`` for the scaled data: upper triangular, at most
        ``n_unknowns + 1`` rows (fewer while fewer equations were added); a copy."""
        return self._factor.copy()

    def add(self, x: ArrayLike, y: ArrayLike) -> None:
        """Add the equations of one band; arguments as :meth:`NormalEquations.add`."""
        n_kernel = self.kernel_shape[0] * self.kernel_shape[1]
        width = self.n_unknowns + 1
        kh, kw = self.kernel_shape
        for x_tile, targets in self._tiles(x, y):
            m = targets.size
            count, cols = x_tile.shape[0] - kh + 1, x_tile.shape[1] - kw + 1
            # Built transposed in C order, so that its transpose is the Fortran-ordered
            # matrix dgeqrf factors in place; one contiguous row per kernel tap.
            stacked_t = np.empty((width, m + self._factor.shape[0]))
            for tap in range(n_kernel):
                a, b = divmod(tap, kw)
                stacked_t[tap, :m].reshape(count, cols)[...] = x_tile[a : a + count, b : b + cols]
            if self.bias:
                stacked_t[n_kernel, :m] = 1.0
            stacked_t[-1, :m] = targets
            stacked_t[:, m:] = self._factor.T
            self._factor = _triangular_factor(stacked_t.T)
            self.n_equations += m

    def merge(self, other: TallSkinnyQR) -> TallSkinnyQR:
        """Add ``other``'s equations to these (one QR of the two factors); returns self."""
        self._check_mergeable(other)
        stacked = np.asfortranarray(np.vstack([self._factor, other._factor]))
        self._factor = _triangular_factor(stacked)
        self.n_equations += other.n_equations
        return self

    def solve(self, rtol: float | None = None) -> LstsqSolution:
        """The minimum-norm least-squares kernel, from the SVD of ``R``.

        Parameters
        ----------
        rtol : float, optional
            Singular values at or below ``sqrt(rtol)`` times the largest count as zero
            (eigenvalues of ``A^T A`` below ``rtol`` times the largest, as in
            :meth:`NormalEquations.solve`; default :func:`default_rtol`).
        """
        n = self.n_unknowns
        factor = np.zeros((n + 1, n + 1))
        factor[: self._factor.shape[0]] = self._factor
        r, z = factor[:n, :n], factor[:n, n]
        left, singular, right_t = np.linalg.svd(r)
        largest = float(singular[0])
        threshold = largest * math.sqrt(default_rtol(n) if rtol is None else rtol)
        kept = singular > threshold if largest > 0 else np.zeros(n, dtype=bool)
        rank = int(kept.sum())
        scaled = right_t[kept].T @ ((left[:, kept].T @ z) / singular[kept])
        return self._solution(scaled, right_t[~kept], singular, rank, "qr", False)


def _triangular_factor(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """``R`` of the QR factorisation of a Fortran-ordered matrix, overwriting it."""
    from scipy.linalg import lapack

    rows, cols = matrix.shape
    qr, _, _, info = lapack.dgeqrf(matrix, lwork=max(1, 64 * cols), overwrite_a=True)
    if info != 0:
        raise ArithmeticError(f"TallSkinnyQR: LAPACK dgeqrf failed (info {info})")
    return np.triu(qr[: min(rows, cols)])


def _condition(singular: NDArray[np.float64], rank: int) -> float:
    if rank < singular.size or singular[-1] <= 0:
        return math.inf
    return float(singular[0] / singular[-1])


class ResidualSum:
    """Sums of squares of ``y - correlate(x, K, 'valid') - b`` and of ``y``, band by band.

    Parameters
    ----------
    kernel : array_like, shape (k_h, k_w)
        The kernel, in the data's units.
    bias : float, optional
        The bias (default 0).
    x_scale, y_scale : float, optional
        As for :class:`NormalEquations`: the sums are of the scaled data.

    Attributes
    ----------
    residual_squares, target_squares : float
        Sum of squared residuals and of squared targets, of the scaled data.
    n_equations : int
        Output pixels added so far.
    """

    def __init__(
        self,
        kernel: ArrayLike,
        bias: float = 0.0,
        *,
        x_scale: float = 1.0,
        y_scale: float = 1.0,
    ) -> None:
        self.x_scale = _check_scale("ResidualSum", "x_scale", x_scale)
        self.y_scale = _check_scale("ResidualSum", "y_scale", y_scale)
        shift = _exponent(self.y_scale) - _exponent(self.x_scale)
        self._kernel = np.ldexp(np.asarray(kernel, dtype=np.float64), shift)
        self._bias = float(bias) * self.y_scale
        self.residual_squares = 0.0
        self.target_squares = 0.0
        self.n_equations = 0

    def add(self, x: ArrayLike, y: ArrayLike) -> None:
        """Add one band; arguments as :meth:`NormalEquations.add`."""
        from corr2d.core import corr2d

        targets = _scaled(np.asarray(y), self.y_scale)
        prediction = corr2d(_scaled(np.asarray(x), self.x_scale), self._kernel, method="direct")
        if prediction.shape != targets.shape:
            raise ValueError(
                f"ResidualSum.add: `y` must be of shape {prediction.shape}, the 'valid' "
                f"output of `x`, got shape {targets.shape}"
            )
        difference = targets - prediction
        difference -= self._bias
        self.residual_squares += float(np.vdot(difference, difference))
        self.target_squares += float(np.vdot(targets, targets))
        self.n_equations += targets.size

    def merge(self, other: ResidualSum) -> ResidualSum:
        """Add ``other``'s sums to these; returns self."""
        self.residual_squares += other.residual_squares
        self.target_squares += other.target_squares
        self.n_equations += other.n_equations
        return self

    @property
    def rms(self) -> float:
        """Root mean square residual, in the data's units."""
        if self.n_equations == 0:
            return 0.0
        return math.sqrt(self.residual_squares / self.n_equations) / self.y_scale

    @property
    def relative(self) -> float:
        """``||y - model|| / ||y||``: 0 for a perfect fit; ``inf`` if ``y`` is zero and the
        model is not."""
        if self.target_squares == 0:
            return 0.0 if self.residual_squares == 0 else math.inf
        return math.sqrt(self.residual_squares / self.target_squares)
