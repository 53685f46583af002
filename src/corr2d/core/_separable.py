"""Separable and low-rank kernels: a kernel as a sum of outer products of 1-D kernels.

A kernel ``K`` of shape (kh, kw) that is the outer product ``c r^T`` of a column ``c``
(kh taps, acting down the rows) and a row ``r`` (kw taps, acting along them) correlates
in two 1-D passes, ``kh + kw`` multiply-adds per output instead of ``kh * kw``.  A kernel
of rank ``t`` is a sum of ``t`` such products and takes ``t`` pairs of passes.

When the split is exact
-----------------------
The 2-D loops' result differs from the exact sum by at most
``kh * kw * u * sum |K[a, b]| |x[i + a, j + b]|`` (``u`` the working dtype's unit
roundoff: 2**-24 for float32, 2**-53 for float64).  The passes' result differs from the
exact sum of their own factors by at most ``(kh + kw + t + 1) * u * sum M[a, b] |x|``
with ``M = sum_s |c_s| |r_s|^T``, and their factors differ from the kernel by
``E = K - sum_s c_s r_s^T``.  :func:`factorize` therefore accepts factors only when, for
every tap,

    (kh + kw + t + 1) * u * M[a, b] + |E[a, b]| <= kh * kw * u * |K[a, b]|

so that the passes stay within the 2-D loops' bound on every output, for every image.
Zero taps must stay exactly zero, which also keeps the rule for NaN and inf: a zero tap
over an infinite pixel gives NaN in both.

Factors come from Gaussian elimination with complete pivoting (a cross approximation),
not from the SVD: a pivot's row and column are taps of the kernel itself, so a sampled
Gaussian ``g_y g_x^T`` splits with every tap, its tails included, exact to a few units
of roundoff, where the SVD's factors are exact only to ``u * max|K|``, far too coarse
for taps a million times smaller than the peak.  An integer kernel of rank 1 splits into
integer factors (the pivot row divided by its greatest common divisor), so integer
images stay exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import as_array, fail

__all__ = ["Factors", "Separable", "factorize", "unit_roundoff"]


def unit_roundoff(dtype: np.dtype[Any]) -> float:
    """Half the machine epsilon of a real floating dtype: 2**-24 (float32), 2**-53 (float64)."""
    return float(np.finfo(dtype).eps) / 2


@dataclass(frozen=True)
class Factors:
    """``K = sum_s columns[s][:, None] * rows[s][None, :]``, within :func:`factorize`'s rule.

    ``columns`` is (rank, kh) and ``rows`` (rank, kw), in the working dtype.
    """

    columns: NDArray[Any]
    rows: NDArray[Any]

    @property
    def rank(self) -> int:
        return int(self.columns.shape[0])

    @property
    def box(self) -> bool:
        """Rank 1 and both factors constant: every tap equal (a box or mean filter)."""
        return (
            self.rank == 1
            and bool((self.columns == self.columns[0, 0]).all())
            and bool((self.rows == self.rows[0, 0]).all())
        )


class Separable:
    """A separable kernel given by its two 1-D factors: ``K = column[:, None] * row[None, :]``.

    Pass it wherever a kernel is expected (``corr2d``, ``correlate2d``, ``convolve2d``,
    :func:`corr2d.filtering.filter_image`): the correlation then runs as two 1-D passes,
    down the rows with ``column`` and along them with ``row``, with no test of the
    kernel's rank.  Anything else that reads it as an array (``np.asarray``) sees the
    2-D kernel.

    Parameters
    ----------
    column : array_like, shape (kh,)
        The taps that act down the rows (axis 0).
    row : array_like, shape (kw,)
        The taps that act along the rows (axis 1).

    Examples
    --------
    Sobel's x-derivative is ``[1, 2, 1]`` down the rows times ``[-1, 0, 1]`` along them:

    >>> import numpy as np
    >>> from corr2d import Separable, correlate2d
    >>> sobel_dx = Separable([1, 2, 1], [-1, 0, 1])
    >>> np.asarray(sobel_dx)
    array([[-1,  0,  1],
           [-2,  0,  2],
           [-1,  0,  1]])
    >>> ramp = np.tile(np.arange(5.0), (4, 1))         # grows by 1 to the right
    >>> correlate2d(ramp, sobel_dx, mode='valid')       # (1 + 2 + 1) * 2 = 8
    array([[8., 8., 8.],
           [8., 8., 8.]])
    """

    __slots__ = ("column", "row")

    def __init__(self, column: ArrayLike, row: ArrayLike) -> None:
        func = "Separable"
        self.column = as_array(column, func, "column", ndim=1)
        self.row = as_array(row, func, "row", ndim=1)
        if self.column.dtype.kind == "c" or self.row.dtype.kind == "c":
            fail(
                func,
                "column",
                "real (complex kernels are correlated in 2-D)",
                kind=TypeError,
                got="complex factors",
            )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.column.shape[0], self.row.shape[0])

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.result_type(self.column, self.row)

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        outer = np.multiply.outer(self.column, self.row)
        return outer if dtype is None else outer.astype(dtype)

    def __repr__(self) -> str:
        return f"Separable(column={self.column.tolist()!r}, row={self.row.tolist()!r})"

    def factors(self, dtype: np.dtype[Any]) -> Factors:
        """The pair as :class:`Factors` in ``dtype``."""
        return Factors(
            np.ascontiguousarray(self.column[None, :], dtype=dtype),
            np.ascontiguousarray(self.row[None, :], dtype=dtype),
        )


def factorize(
    kernel: NDArray[Any], max_rank: int, rule: str = "per-tap", integer: bool = False
) -> Factors | None:
    """The factors of the lowest rank ``t <= max_rank`` that pass ``rule`` for
    ``kernel``'s dtype (float32 or float64), or None.

    ``rule`` is ``'per-tap'`` (the module notes' rule, tap by tap) or ``'summed'`` (the
    same inequality summed over the taps).  With ``integer`` (integer images and kernel,
    computed exactly in float64) only an exact split into integer factors qualifies.
    """
    if max_rank < 1 or min(kernel.shape) < 2 or kernel.dtype not in (np.float32, np.float64):
        return None
    key = (kernel.tobytes(), kernel.shape, kernel.dtype.str, max_rank, rule, integer)
    return _factorize_cached(key)


@lru_cache(maxsize=64)
def _factorize_cached(key: tuple[bytes, tuple[int, ...], str, int, str, bool]) -> Factors | None:
    data, shape, dtype_str, max_rank, rule, integer = key
    kernel = np.frombuffer(data, dtype=np.dtype(dtype_str)).reshape(shape)
    exact = _integer_rank_one(kernel)
    if exact is not None:
        return exact
    if integer:
        return None
    return _eliminate(kernel, max_rank, rule == "per-tap")


def _integer_rank_one(kernel: NDArray[Any]) -> Factors | None:
    """Integer factors of an integer-valued kernel of rank 1, or None.

    The pivot row ``K[p]`` divided by the gcd of its entries is a primitive integer
    vector ``r``; if ``K`` has rank 1 every row is a multiple of it, and the multiples
    are integers (a rational multiple of a primitive vector that is integer must have
    an integer factor), so ``c = K[:, q] / r[q]`` is integer and ``K == c r^T`` exactly.
    """
    values = kernel.astype(np.float64)
    if not (np.all(np.isfinite(values)) and np.all(values == np.round(values))):
        return None
    if np.abs(values).max() >= 2**53 or not values.any():
        return None
    ints = values.astype(np.int64)
    p, q = np.unravel_index(np.argmax(np.abs(ints)), ints.shape)
    row = ints[p] // math.gcd(*(int(v) for v in ints[p]))
    column = ints[:, q] // row[q]
    if column[np.flatnonzero(column)[0]] < 0:
        column, row = -column, -row
    product = [[int(a) * int(b) for b in row] for a in column]
    if product != ints.tolist():
        return None
    return Factors(
        column[None, :].astype(kernel.dtype), np.ascontiguousarray(row[None, :], kernel.dtype)
    )


def _eliminate(kernel: NDArray[Any], max_rank: int, per_tap: bool) -> Factors | None:
    """Gaussian elimination with complete pivoting, stopped at the first rank whose
    factors pass the rule, tap by tap or summed (checked in extended precision)."""
    work = kernel.dtype
    u = unit_roundoff(work)
    kh, kw = kernel.shape
    exact = kernel.astype(np.longdouble)
    allowed = kh * kw * u * np.abs(exact)
    residual = kernel.astype(np.float64)
    columns: list[NDArray[Any]] = []
    rows: list[NDArray[Any]] = []
    for rank in range(1, max_rank + 1):
        p, q = np.unravel_index(np.argmax(np.abs(residual)), residual.shape)
        pivot = residual[p, q]
        if pivot == 0 or not np.isfinite(pivot):
            return None
        column, row = residual[:, q].copy(), residual[p] / pivot
        residual = residual - np.outer(column, row)
        residual[p] = 0
        residual[:, q] = 0
        columns.append(column.astype(work))
        rows.append(row.astype(work))
        c = np.array(columns, dtype=np.longdouble)
        r = np.array(rows, dtype=np.longdouble)
        magnitude = np.einsum("sa,sb->ab", np.abs(c), np.abs(r))
        error = np.abs(exact - np.einsum("sa,sb->ab", c, r))
        spent = (kh + kw + rank + 1) * u * magnitude + error
        if np.all(spent <= allowed) if per_tap else spent.sum() <= allowed.sum():
            return Factors(np.array(columns, dtype=work), np.array(rows, dtype=work))
    return None
