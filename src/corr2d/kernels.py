"""Hand-designed kernels: derivatives, edge detectors, smoothing, and a registry.

Every kernel here is meant for **cross-correlation**, the operation of
:func:`corr2d.corr2d`, :func:`corr2d.correlate2d` and :func:`corr2d.conv2d`::

    out[i, j] = sum over (a, b) of X[i + a, j + b] * K[a, b]

so a kernel reads left to right and top to bottom exactly as printed.  (For
:func:`corr2d.convolve2d` flip it first: ``K[::-1, ::-1]``.)

Axes are named, never "horizontal"/"vertical": ``x`` is the column index (width, axis 1),
growing to the right, and ``y`` is the row index (height, axis 0), growing downwards.
A kernel named ``*_DX`` differentiates along ``x``; it responds to edges that run
up-down.  A kernel named ``*_DY`` differentiates along ``y``; it responds to edges that run
left-right.  Derivative kernels have the sign of the derivative: on an image that grows to
the right, ``SOBEL_DX`` is positive.  The chapter's edge kernel ``[[1, -1]]`` is the one
exception (it is ``-FORWARD_DX``) and keeps its name ``EDGE_DX``.

Constants are read-only float64 arrays; :func:`get` returns a fresh writable copy of any
kernel by name, :func:`names` lists the names and :func:`describe` gives one line per name.
:func:`factors` gives a separable kernel as its two 1-D factors (a
:class:`~corr2d.Separable`, which the correlation functions run as two 1-D passes), and
None for the others; :func:`names` with ``separable=True`` lists the separable ones.

Examples
--------
>>> import numpy as np
>>> from corr2d import correlate2d, kernels
>>> ramp = np.tile(np.arange(5.0) ** 2, (3, 1))      # f(y, x) = x**2
>>> correlate2d(ramp, kernels.SECOND_DX, mode='valid')  # f'' = 2 everywhere
array([[2., 2., 2.],
       [2., 2., 2.],
       [2., 2., 2.]])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from fractions import Fraction
from math import comb
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import (
    as_array,
    as_pair,
    check_choice,
    check_int,
    check_memory,
    check_real,
    fail,
)

if TYPE_CHECKING:
    from corr2d.core._separable import Separable

__all__ = [
    "CENTRAL_DIFF",
    "CENTRAL_DX",
    "CENTRAL_DY",
    "EDGE_DX",
    "EDGE_DY",
    "EMBOSS",
    "FORWARD_DX",
    "FORWARD_DY",
    "IDENTITY",
    "LAPLACIAN_4",
    "LAPLACIAN_8",
    "PREWITT_DX",
    "PREWITT_DY",
    "PREWITT_SMOOTH",
    "ROBERTS_ANTIDIAG",
    "ROBERTS_DIAG",
    "SCHARR_DX",
    "SCHARR_DY",
    "SCHARR_SMOOTH",
    "SECOND_DX",
    "SECOND_DY",
    "SHARPEN",
    "SOBEL_ANTIDIAG",
    "SOBEL_DIAG",
    "SOBEL_DX",
    "SOBEL_DY",
    "SOBEL_SMOOTH",
    "box",
    "describe",
    "directional_derivative",
    "factors",
    "finite_difference",
    "fornberg_weights",
    "gaussian",
    "get",
    "integral",
    "names",
]

Axis = Literal["x", "y"]
_AXES = ("x", "y")
#: The highest derivative order: the binomial weights of order 56 are the last that
#: float64 holds exactly (comb(56, 28) < 2**53); higher orders only amplify rounding.
_MAX_ORDER = 56
#: The most grid points of an exactly computed stencil (Fornberg's recurrence in exact
#: fractions costs about points**2 * order operations on ever longer integers).
_MAX_POINTS = 64


def _const(values: ArrayLike) -> NDArray[np.float64]:
    array = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


def _separable(column: NDArray[np.float64], row: NDArray[np.float64]) -> NDArray[np.float64]:
    """The kernel ``column[:, None] * row[None, :]``: ``column`` acts down the rows."""
    return _const(np.outer(column, row))


# --- 1-D parts -----------------------------------------------------------------------------

CENTRAL_DIFF = _const([-1.0, 0.0, 1.0])
"""1-D central difference ``[-1, 0, 1]``: ``f(t + 1) - f(t - 1)``, twice the slope."""

SOBEL_SMOOTH = _const([1.0, 2.0, 1.0])
"""1-D Sobel smoothing ``[1, 2, 1]`` (sum 4), applied across the derivative's axis."""

SCHARR_SMOOTH = _const([3.0, 10.0, 3.0])
"""1-D Scharr smoothing ``[3, 10, 3]`` (sum 16); more rotation-invariant than Sobel's."""

PREWITT_SMOOTH = _const([1.0, 1.0, 1.0])
"""1-D Prewitt smoothing ``[1, 1, 1]`` (sum 3), a plain average."""

# --- identity and first differences ---------------------------------------------------------

IDENTITY = _const([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
"""The 3x3 identity: 'same'-mode correlation returns the image unchanged::

    [[0, 0, 0],
     [0, 1, 0],
     [0, 0, 0]]
"""

EDGE_DX = _const([[1, -1]])
"""The chapter's edge kernel ``[[1, -1]]``: ``out[i, j] = X[i, j] - X[i, j + 1]``.

It differentiates along x (columns) with the sign reversed (``-FORWARD_DX``): +1 where the
image steps down from left to right, -1 where it steps up, 0 where neighbours in a row
agree.  It sees edges that run up-down (constant along y) and is blind to edges that run
left-right.
"""

EDGE_DY = _const([[1], [-1]])
"""``EDGE_DX`` transposed, ``[[1], [-1]]``: ``out[i, j] = X[i, j] - X[i + 1, j]``.

Differentiates along y (rows), sign reversed; sees edges that run left-right.
"""

FORWARD_DX = _const([[-1, 1]])
"""Forward difference along x (columns), ``[[-1, 1]]``: ``X[i, j + 1] - X[i, j]``.

Exact for the slope of a linear function; the estimate sits halfway between columns
``j`` and ``j + 1``.
"""

FORWARD_DY = _const([[-1], [1]])
"""Forward difference along y (rows), ``[[-1], [1]]``: ``X[i + 1, j] - X[i, j]``."""

CENTRAL_DX = _const([[-0.5, 0.0, 0.5]])
"""Central difference along x (columns), ``[[-0.5, 0, 0.5]]``: the slope at column j + 1.

Exact on polynomials of degree <= 2 in x.
"""

CENTRAL_DY = _const([[-0.5], [0.0], [0.5]])
"""Central difference along y (rows), ``[[-0.5], [0], [0.5]]``."""

# --- second derivatives and Laplacians ------------------------------------------------------

SECOND_DX = _const([[1, -2, 1]])
"""Second derivative along x (columns), ``[[1, -2, 1]]``: ``f(x-1) - 2 f(x) + f(x+1)``.

Exact on polynomials of degree <= 3.  Zero on constant and linear images; it responds to
thin lines (a ridge gives ``+1, -2, +1`` across it) and to changes of slope, and turns a
step edge into a ``+1, -1`` pair whose zero crossing marks the edge.
"""

SECOND_DY = _const([[1], [-2], [1]])
"""Second derivative along y (rows), ``[[1], [-2], [1]]``."""

LAPLACIAN_4 = _const([[0, 1, 0], [1, -4, 1], [0, 1, 0]])
"""The 4-neighbour Laplacian ``SECOND_DX + SECOND_DY`` (centred), d2/dx2 + d2/dy2::

    [[0,  1, 0],
     [1, -4, 1],
     [0,  1, 0]]

Exact on polynomials of degree <= 3: on ``x**2 + y**2`` it gives 4 everywhere.  The same
weights as ``scipy.ndimage.laplace``.
"""

LAPLACIAN_8 = _const([[1, 1, 1], [1, -8, 1], [1, 1, 1]])
"""The 8-neighbour Laplacian: every neighbour minus eight times the centre::

    [[1,  1, 1],
     [1, -8, 1],
     [1,  1, 1]]

Isotropic to leading order and **three times** d2/dx2 + d2/dy2 (on ``x**2 + y**2`` it gives
12); divide by 3 for the Laplacian's scale.
"""

# --- edge detectors built from separable parts -----------------------------------------------

SOBEL_DX = _separable(SOBEL_SMOOTH, CENTRAL_DIFF)
"""Sobel derivative along x (columns): ``[1, 2, 1]`` down the rows times ``[-1, 0, 1]``::

    [[-1, 0, 1],
     [-2, 0, 2],
     [-1, 0, 1]]

Positive where the image grows to the right; on a ramp of slope 1 it gives 8.  Equals
``scipy.ndimage.sobel(image, axis=1)`` away from the border.
"""

SOBEL_DY = _separable(CENTRAL_DIFF, SOBEL_SMOOTH)
"""Sobel derivative along y (rows): ``[-1, 0, 1]`` down the rows times ``[1, 2, 1]``::

    [[-1, -2, -1],
     [ 0,  0,  0],
     [ 1,  2,  1]]

Positive where the image grows downwards; equals ``scipy.ndimage.sobel(image, axis=0)``.
"""

SCHARR_DX = _separable(SCHARR_SMOOTH, CENTRAL_DIFF)
"""Scharr derivative along x (columns): ``[3, 10, 3]`` down the rows times ``[-1, 0, 1]``::

    [[ -3, 0,  3],
     [-10, 0, 10],
     [ -3, 0,  3]]

OpenCV's ``Scharr(dx=1, dy=0)`` weights; on a ramp of slope 1 it gives 32.
"""

SCHARR_DY = _separable(CENTRAL_DIFF, SCHARR_SMOOTH)
"""Scharr derivative along y (rows)::

    [[-3, -10, -3],
     [ 0,   0,  0],
     [ 3,  10,  3]]
"""

PREWITT_DX = _separable(PREWITT_SMOOTH, CENTRAL_DIFF)
"""Prewitt derivative along x (columns): ``[1, 1, 1]`` down the rows times ``[-1, 0, 1]``::

    [[-1, 0, 1],
     [-1, 0, 1],
     [-1, 0, 1]]

Equals ``scipy.ndimage.prewitt(image, axis=1)`` away from the border.
"""

PREWITT_DY = _separable(CENTRAL_DIFF, PREWITT_SMOOTH)
"""Prewitt derivative along y (rows)::

    [[-1, -1, -1],
     [ 0,  0,  0],
     [ 1,  1,  1]]
"""

ROBERTS_DIAG = _const([[-1, 0], [0, 1]])
"""Roberts cross along the main diagonal: ``X[i + 1, j + 1] - X[i, j]``::

    [[-1, 0],
     [ 0, 1]]

Differentiates towards down-right (direction (x, y) = (1, 1)); blind to edges that run
along that diagonal, strongest on edges that run along the other one.
"""

ROBERTS_ANTIDIAG = _const([[0, -1], [1, 0]])
"""Roberts cross along the anti-diagonal: ``X[i + 1, j] - X[i, j + 1]``::

    [[0, -1],
     [1,  0]]

Differentiates towards down-left (direction (x, y) = (-1, 1)).
"""

SOBEL_DIAG = _const(SOBEL_DX + SOBEL_DY)
"""Diagonal edge detector ``SOBEL_DX + SOBEL_DY``, a derivative towards down-right::

    [[-2, -1, 0],
     [-1,  0, 1],
     [ 0,  1, 2]]

Zero on edges that run along the main diagonal (top-left to bottom-right); largest on
edges that run along the anti-diagonal.
"""

SOBEL_ANTIDIAG = _const(SOBEL_DY - SOBEL_DX)
"""Diagonal edge detector ``SOBEL_DY - SOBEL_DX``, a derivative towards down-left::

    [[ 0, -1, -2],
     [ 1,  0, -1],
     [ 2,  1,  0]]
"""

# --- effects ---------------------------------------------------------------------------------

SHARPEN = _const(IDENTITY - LAPLACIAN_4)
"""Sharpen: the image minus its 4-neighbour Laplacian (sum 1, so flat areas stay put)::

    [[ 0, -1,  0],
     [-1,  5, -1],
     [ 0, -1,  0]]
"""

EMBOSS = _const(IDENTITY + SOBEL_DIAG)
"""Emboss: the image plus its down-right Sobel derivative (sum 1), a relief lit from the
top-left::

    [[-2, -1, 0],
     [-1,  1, 1],
     [ 0,  1, 2]]
"""


# --- generators ------------------------------------------------------------------------------


def fornberg_weights(order: int, offsets: Sequence[float] | ArrayLike) -> NDArray[np.float64]:
    """Finite-difference weights for the ``order``-th derivative at 0 on a 1-D grid.

    Fornberg's recurrence (Math. Comp. 51, 1988) computed in exact rational arithmetic,
    then rounded once to float64.  ``sum_k w[k] * f(offsets[k])`` equals ``f^(order)(0)``
    for every polynomial ``f`` of degree < ``len(offsets)``.

    Parameters
    ----------
    order : int
        Derivative order, 0 to 56.
    offsets : sequence of float, shape (n,)
        Distinct grid points, ``order`` < n <= 64.

    Returns
    -------
    w : ndarray, shape (n,)
        One weight per offset.

    Raises
    ------
    ValueError
        If ``order`` is negative, the offsets are not distinct and finite, or there are
        not more offsets than ``order``.

    Examples
    --------
    The five-point first derivative:

    >>> from corr2d.kernels import fornberg_weights
    >>> fornberg_weights(1, [-2, -1, 0, 1, 2]) * 12
    array([ 1., -8.,  0.,  8., -1.])
    """
    func = "kernels.fornberg_weights"
    order = check_int(func, "order", order, 0, _MAX_ORDER)
    points = as_array(offsets, func, "offsets", ndim=1)
    if points.dtype.kind == "c" or not np.isfinite(points).all():
        fail(func, "offsets", "real and finite", points)
    if len(np.unique(points)) != len(points):
        fail(func, "offsets", "distinct", points.tolist())
    if len(points) <= order:
        fail(
            func,
            "offsets",
            f"longer than order ({order}) to determine the derivative",
            points.tolist(),
        )
    if len(points) > _MAX_POINTS:
        fail(func, "offsets", f"at most {_MAX_POINTS} points", f"{len(points)} points")
    z = [Fraction(float(p)) for p in points]
    n = len(z)
    c = [[Fraction(0)] * (order + 1) for _ in range(n)]
    c[0][0] = Fraction(1)
    c1 = Fraction(1)
    c4 = z[0]
    for i in range(1, n):
        mn = min(i, order)
        c2 = Fraction(1)
        c5, c4 = c4, z[i]
        for j in range(i):
            c3 = z[i] - z[j]
            c2 *= c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[i][k] = c1 * (k * c[i - 1][k - 1] - c5 * c[i - 1][k]) / c2
                c[i][0] = -c1 * c5 * c[i - 1][0] / c2
            for k in range(mn, 0, -1):
                c[j][k] = (c4 * c[j][k] - k * c[j][k - 1]) / c3
            c[j][0] = c4 * c[j][0] / c3
        c1 = c2
    try:
        return np.array([float(row[order]) for row in c], dtype=np.float64)
    except OverflowError:
        fail(func, "offsets", "close enough that the weights fit in float64", points.tolist())


def finite_difference(
    order: int = 1, axis: Axis = "x", *, accuracy: int | None = None
) -> NDArray[np.float64]:
    """A finite-difference kernel for the ``order``-th derivative along one axis.

    Parameters
    ----------
    order : int, optional
        Derivative order d, 1 to 56 (the binomial weights of higher orders are beyond
        float64's exact integers).  Default 1.
    axis : {'x', 'y'}, optional
        'x' differentiates along columns (a row kernel, shape (1, n)); 'y' along rows
        (a column kernel, shape (n, 1)).  Default 'x'.
    accuracy : int, optional
        ``None`` (default): the smallest kernel, size d + 1, with the integer weights
        ``(-1)**(d - k) * comb(d, k)`` -- the d-th forward difference.  A positive even
        integer p: the central difference of accuracy order p (error O(h**p)), size
        ``2 * ((d + 1) // 2) - 1 + p`` (at most 64), from :func:`fornberg_weights`.

    Returns
    -------
    K : ndarray, shape (1, n) or (n, 1)
        A fresh float64 kernel.

    Notes
    -----
    Why d + 1 is the minimum.  A kernel ``w`` of length n along an axis must give 0 on
    ``1, t, ..., t**(d-1)`` and ``d!`` on ``t**d`` (step 1): d + 1 linear conditions
    ``sum_k w[k] * k**m = d! * [m == d]`` for m = 0..d.  With n <= d taps the first
    n of them already form an invertible Vandermonde system with zero right-hand side,
    forcing ``w = 0``, which cannot give ``d!``.  With n = d + 1 the system is square and
    its unique solution is the binomial stencil above.  So a degree-d polynomial
    ``a_d t**d + ...`` gives exactly the constant ``d! * a_d``.

    Examples
    --------
    >>> from corr2d.kernels import finite_difference
    >>> finite_difference(3)
    array([[-1.,  3., -3.,  1.]])
    >>> finite_difference(2, 'y', accuracy=2).ravel()
    array([ 1., -2.,  1.])
    """
    func = "kernels.finite_difference"
    order = check_int(func, "order", order, 1, _MAX_ORDER)
    check_choice(func, "axis", axis, _AXES)
    if accuracy is None:
        weights = np.array(
            [(-1) ** (order - k) * comb(order, k) for k in range(order + 1)], dtype=np.float64
        )
    else:
        accuracy = check_int(func, "accuracy", accuracy, 1, _MAX_POINTS - order)
        if accuracy % 2:
            fail(func, "accuracy", "a positive even integer (central differences)", accuracy)
        size = 2 * ((order + 1) // 2) - 1 + accuracy
        half = size // 2
        weights = fornberg_weights(order, np.arange(-half, half + 1))
    return _orient(weights, axis)


def directional_derivative(
    vx: float,
    vy: float,
    *,
    base: Literal["central", "forward", "sobel"] = "central",
    normalize: bool = True,
) -> NDArray[np.float64]:
    """Derivative along the direction ``v = (vx, vy)``: ``vx * d/dx + vy * d/dy``.

    ``x`` is the column index (to the right), ``y`` the row index (downwards).  The kernel
    is the same combination of two derivative kernels, so on a linear image
    ``f = a*x + b*y + c`` it gives exactly ``(vx*a + vy*b) / |v|`` (with ``normalize``).
    It responds most to edges perpendicular to ``v`` and gives 0 on edges that run along
    ``v`` (where the image is constant in the direction ``v``).

    Parameters
    ----------
    vx, vy : float
        The direction; not both zero.
    base : {'central', 'forward', 'sobel'}, optional
        'central' (default): 3x3 from ``CENTRAL_DX``/``CENTRAL_DY``, estimate at the centre.
        'forward': 2x2, each axis's forward difference averaged over the other axis,
        estimate at the centre of the 2x2 cell.  'sobel': ``SOBEL_DX/8``, ``SOBEL_DY/8``.
    normalize : bool, optional
        Divide by ``|v|`` so that the result is the derivative per unit length.

    Returns
    -------
    K : ndarray, shape (3, 3) or (2, 2)

    Examples
    --------
    >>> from corr2d.kernels import directional_derivative
    >>> directional_derivative(1, 1, base='forward', normalize=False)
    array([[-1.,  0.],
           [ 0.,  1.]])
    """
    func = "kernels.directional_derivative"
    check_choice(func, "base", base, ("central", "forward", "sobel"))
    v = [check_real(func, "vx", vx), check_real(func, "vy", vy)]
    norm = float(np.hypot(v[0], v[1]))
    if norm == 0.0:
        fail(func, "(vx, vy)", "a non-zero direction", (vx, vy))
    if base == "central":
        dx = np.zeros((3, 3))
        dx[1] = CENTRAL_DX[0]
        dy = dx.T
    elif base == "forward":
        dx = 0.5 * np.array([[-1.0, 1.0], [-1.0, 1.0]])
        dy = dx.T
    else:
        dx, dy = SOBEL_DX / 8.0, SOBEL_DY / 8.0
    kernel = v[0] * dx + v[1] * dy
    return kernel / norm if normalize else kernel


def box(size: int | tuple[int, int] = 3) -> NDArray[np.float64]:
    """The mean (box) filter: all weights ``1 / (h * w)``, summing to 1.

    Parameters
    ----------
    size : int or (int, int), optional
        Kernel height and width (an int means square).  Default 3.

    Returns
    -------
    K : ndarray, shape (h, w)

    Examples
    --------
    >>> from corr2d.kernels import box
    >>> box((1, 4))
    array([[0.25, 0.25, 0.25, 0.25]])
    """
    h, w = as_pair("kernels.box", "size", size, 1)
    check_memory("kernels.box", "size", size, 8 * h * w, f"a {h}x{w} float64 kernel")
    return np.full((h, w), 1.0 / (h * w))


def integral(
    length: int = 3, axis: Axis = "x", *, rule: Literal["rectangle", "trapezoid"] = "rectangle"
) -> NDArray[np.float64]:
    """A kernel that integrates along one axis (step 1), the inverse of differencing.

    'rectangle' is ``length`` ones: correlation sums each window of ``length`` pixels.  In
    'full' mode with ``length`` equal to the image's extent along ``axis``, the first
    ``length`` outputs are the running sum (``np.cumsum``): output ``m`` of 'full' sums
    input pixels ``m - length + 1 .. m``, and the indices below 0 are zero fill.
    Correlating with an x-integral and then a y-integral this way gives the summed-area
    table (integral image).  'trapezoid' halves the two end weights, the trapezoidal rule
    over ``length - 1`` unit intervals (exact on linear functions).

    Parameters
    ----------
    length : int, optional
        Number of taps, >= 1 (>= 2 for 'trapezoid').  Default 3.
    axis : {'x', 'y'}, optional
        'x' integrates along columns (shape (1, length)), 'y' along rows.
    rule : {'rectangle', 'trapezoid'}, optional

    Returns
    -------
    K : ndarray, shape (1, length) or (length, 1)

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d import correlate2d
    >>> from corr2d.kernels import integral
    >>> x = np.array([[1.0, 2.0, 3.0, 4.0]])
    >>> correlate2d(x, integral(4), mode='full')[:, :4]   # running sum
    array([[ 1.,  3.,  6., 10.]])
    >>> integral(3, rule='trapezoid')
    array([[0.5, 1. , 0.5]])
    """
    func = "kernels.integral"
    check_choice(func, "axis", axis, _AXES)
    check_choice(func, "rule", rule, ("rectangle", "trapezoid"))
    length = check_int(func, "length", length, 2 if rule == "trapezoid" else 1)
    check_memory(func, "length", length, 8 * length, f"a kernel of {length} taps")
    weights = np.ones(length)
    if rule == "trapezoid":
        weights[[0, -1]] = 0.5
    return _orient(weights, axis)


def _gaussian_parts(
    func: str, sigma: float | tuple[float, float], truncate: float
) -> list[NDArray[np.float64]]:
    """The 1-D Gaussians (down the rows, along them) whose outer product :func:`gaussian`
    returns."""
    sigmas = sigma if isinstance(sigma, (tuple, list)) else (sigma, sigma)
    if len(sigmas) != 2:
        fail(func, "sigma", "a positive number or a pair of them", sigma)
    t = check_real(func, "truncate", truncate, 0, open_minimum=True)
    s_y, s_x = (check_real(func, "sigma", s, 0, open_minimum=True) for s in sigmas)
    sides = [2 * int(t * s + 0.5) + 1 for s in (s_y, s_x)]
    culprit = ("truncate", truncate) if t > max(s_y, s_x) else ("sigma", sigma)
    check_memory(func, *culprit, 8.0 * sides[0] * sides[1], "the kernel")
    parts = []
    for s in (s_y, s_x):
        radius = int(t * s + 0.5)
        offsets = np.arange(-radius, radius + 1, dtype=np.float64)
        weights = np.exp(-0.5 * (offsets / s) ** 2)
        parts.append(weights / weights.sum())
    return parts


def gaussian(
    sigma: float | tuple[float, float] = 1.0, truncate: float = 4.0
) -> NDArray[np.float64]:
    """A sampled, normalised Gaussian, cut at ``truncate`` standard deviations.

    The radius along an axis is ``int(truncate * sigma + 0.5)`` and the weights are
    ``exp(-t**2 / (2 sigma**2))`` for ``t = -radius .. radius``, divided by their sum, as
    ``scipy.ndimage.gaussian_filter`` and ``skimage.filters.gaussian`` build them (both use
    ``truncate=4.0`` by default).  The 2-D kernel is the outer product of the two 1-D ones.

    Parameters
    ----------
    sigma : float or (float, float), optional
        Standard deviation in pixels, > 0; a pair gives (sigma_y, sigma_x).  Default 1.
    truncate : float, optional
        Cut-off in standard deviations, > 0.  Default 4.0.

    Returns
    -------
    K : ndarray, shape (2*radius_y + 1, 2*radius_x + 1)
        Sums to 1.

    Examples
    --------
    >>> from corr2d.kernels import gaussian
    >>> k = gaussian(1.0, truncate=1.0)   # radius 1: weights 1, e**-0.5, normalised
    >>> k.shape, round(float(k.sum()), 12)
    ((3, 3), 1.0)
    """
    parts = _gaussian_parts("kernels.gaussian", sigma, truncate)
    return np.outer(parts[0], parts[1])


# --- registry --------------------------------------------------------------------------------

_FIXED: dict[str, tuple[NDArray[np.float64], str]] = {
    "identity": (IDENTITY, "3x3 identity: 'same' mode returns the image unchanged"),
    "edge-dx": (EDGE_DX, "1x2 the chapter's [[1, -1]]: X[i, j] - X[i, j+1], sees up-down edges"),
    "edge-dy": (EDGE_DY, "2x1 [[1], [-1]]: X[i, j] - X[i+1, j], sees left-right edges"),
    "forward-dx": (FORWARD_DX, "1x2 forward difference along x (columns)"),
    "forward-dy": (FORWARD_DY, "2x1 forward difference along y (rows)"),
    "central-dx": (CENTRAL_DX, "1x3 central difference along x (columns)"),
    "central-dy": (CENTRAL_DY, "3x1 central difference along y (rows)"),
    "second-dx": (SECOND_DX, "1x3 second derivative along x (columns), [1, -2, 1]"),
    "second-dy": (SECOND_DY, "3x1 second derivative along y (rows), [1, -2, 1]"),
    "laplacian-4": (LAPLACIAN_4, "3x3 4-neighbour Laplacian d2/dx2 + d2/dy2"),
    "laplacian-8": (LAPLACIAN_8, "3x3 8-neighbour Laplacian (3 times d2/dx2 + d2/dy2)"),
    "sobel-dx": (SOBEL_DX, "3x3 Sobel derivative along x (columns), sees up-down edges"),
    "sobel-dy": (SOBEL_DY, "3x3 Sobel derivative along y (rows), sees left-right edges"),
    "scharr-dx": (SCHARR_DX, "3x3 Scharr derivative along x (columns)"),
    "scharr-dy": (SCHARR_DY, "3x3 Scharr derivative along y (rows)"),
    "prewitt-dx": (PREWITT_DX, "3x3 Prewitt derivative along x (columns)"),
    "prewitt-dy": (PREWITT_DY, "3x3 Prewitt derivative along y (rows)"),
    "roberts-diag": (ROBERTS_DIAG, "2x2 Roberts cross, difference towards down-right"),
    "roberts-antidiag": (ROBERTS_ANTIDIAG, "2x2 Roberts cross, difference towards down-left"),
    "sobel-diag": (SOBEL_DIAG, "3x3 Sobel derivative towards down-right (diagonal edges)"),
    "sobel-antidiag": (SOBEL_ANTIDIAG, "3x3 Sobel derivative towards down-left"),
    "sharpen": (SHARPEN, "3x3 sharpen: identity minus the 4-neighbour Laplacian"),
    "emboss": (EMBOSS, "3x3 emboss: identity plus the down-right Sobel derivative"),
}

_GENERATED: dict[str, tuple[Callable[..., NDArray[np.float64]], str]] = {
    "box": (box, "mean filter; params: size=3"),
    "directional": (
        directional_derivative,
        "derivative along (vx, vy); params: vx, vy, base='central', normalize=True",
    ),
    "finite-difference": (
        finite_difference,
        "d-th derivative along an axis, size d+1; params: order=1, axis='x', accuracy=None",
    ),
    "gaussian": (gaussian, "normalised Gaussian; params: sigma=1.0, truncate=4.0"),
    "integral": (integral, "sum along an axis; params: length=3, axis='x', rule='rectangle'"),
}


def _row(weights: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The factors of a one-row kernel."""
    return np.ones(1), np.asarray(weights, dtype=np.float64).ravel()


def _column(weights: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The factors of a one-column kernel."""
    return np.asarray(weights, dtype=np.float64).ravel(), np.ones(1)


#: The fixed kernels that are outer products: (column, row), acting down and along rows.
_FIXED_FACTORS: dict[str, tuple[ArrayLike, ArrayLike]] = {
    "identity": ([0.0, 1.0, 0.0], [0.0, 1.0, 0.0]),
    "edge-dx": _row(EDGE_DX),
    "edge-dy": _column(EDGE_DY),
    "forward-dx": _row(FORWARD_DX),
    "forward-dy": _column(FORWARD_DY),
    "central-dx": _row(CENTRAL_DX),
    "central-dy": _column(CENTRAL_DY),
    "second-dx": _row(SECOND_DX),
    "second-dy": _column(SECOND_DY),
    "sobel-dx": (SOBEL_SMOOTH, CENTRAL_DIFF),
    "sobel-dy": (CENTRAL_DIFF, SOBEL_SMOOTH),
    "scharr-dx": (SCHARR_SMOOTH, CENTRAL_DIFF),
    "scharr-dy": (CENTRAL_DIFF, SCHARR_SMOOTH),
    "prewitt-dx": (PREWITT_SMOOTH, CENTRAL_DIFF),
    "prewitt-dy": (CENTRAL_DIFF, PREWITT_SMOOTH),
}


def _box_factors(size: int | tuple[int, int] = 3) -> tuple[ArrayLike, ArrayLike]:
    h, w = box(size).shape
    return np.full(h, 1.0 / (h * w)), np.ones(w)  # products are exactly 1 / (h * w)


def _gaussian_factors(
    sigma: float | tuple[float, float] = 1.0, truncate: float = 4.0
) -> tuple[ArrayLike, ArrayLike]:
    column, row = _gaussian_parts("kernels.gaussian", sigma, truncate)
    return column, row


def _oriented_factors(maker: Callable[..., NDArray[np.float64]]) -> Callable[..., Any]:
    """Factors of a generator that returns one row or one column."""

    def split(**params: Any) -> tuple[ArrayLike, ArrayLike]:
        kernel = maker(**params)
        return _row(kernel) if kernel.shape[0] == 1 else _column(kernel)

    return split


def _exact_factors(kernel: NDArray[np.float64]) -> tuple[ArrayLike, ArrayLike] | None:
    """(column, row) whose product is ``kernel`` tap for tap, or None: the pivot's column
    and the pivot's row over the pivot, checked exactly."""
    p, q = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    if kernel[p, q] == 0:
        return None
    column, row = kernel[:, q], kernel[p] / kernel[p, q]
    return (column, row) if np.array_equal(np.outer(column, row), kernel) else None


#: Generated kernels and how to split them; the others are split if they happen to be
#: outer products (a directional derivative along an axis).
_GENERATED_FACTORS: dict[str, Callable[..., tuple[ArrayLike, ArrayLike]]] = {
    "box": _box_factors,
    "gaussian": _gaussian_factors,
    "integral": _oriented_factors(integral),
    "finite-difference": _oriented_factors(finite_difference),
}


def factors(name: str, **params: Any) -> Separable | None:
    """The kernel called ``name`` as its two 1-D factors, or None if it has none.

    The product ``column[:, None] * row[None, :]`` equals ``get(name, **params)`` tap for
    tap.  Pass the result to :func:`corr2d.correlate2d` (or any correlation function)
    to run it as two 1-D passes, down the rows with ``column`` and along them with
    ``row``; the functions also find such splits on their own.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    **params
        As for :func:`get`.

    Returns
    -------
    Separable or None

    Examples
    --------
    >>> from corr2d import kernels
    >>> kernels.factors('sobel-dx')
    Separable(column=[1.0, 2.0, 1.0], row=[-1.0, 0.0, 1.0])
    >>> kernels.factors('laplacian-4') is None
    True
    >>> split = kernels.factors('gaussian', sigma=2.0)
    >>> split.shape, bool((np.asarray(split) == kernels.gaussian(2.0)).all())
    ((17, 17), True)
    """
    from corr2d.core._separable import Separable

    key = _lookup("kernels.factors", name)
    kernel = get(key, **params)
    if key in _FIXED_FACTORS:
        pair: tuple[ArrayLike, ArrayLike] | None = _FIXED_FACTORS[key]
    elif key in _GENERATED_FACTORS:
        pair = _GENERATED_FACTORS[key](**params)
    else:
        pair = _exact_factors(kernel)
    return None if pair is None else Separable(*pair)


def names(*, separable: bool | None = None) -> list[str]:
    """The names :func:`get` accepts, sorted; with ``separable=True`` (False) only those
    whose kernels are (are not) outer products of two 1-D kernels for every choice of
    parameters, as :func:`factors` gives them.

    Examples
    --------
    >>> from corr2d import kernels
    >>> 'sobel-dx' in kernels.names(), 'gaussian' in kernels.names()
    (True, True)
    >>> 'laplacian-4' in kernels.names(separable=True)
    False
    """
    every = sorted([*_FIXED, *_GENERATED])
    if separable is None:
        return every
    return [name for name in every if _always_separable(name) == separable]


def _always_separable(key: str) -> bool:
    return key in _FIXED_FACTORS or key in _GENERATED_FACTORS


def _lookup(func: str, name: Any) -> str:
    if not isinstance(name, str):
        fail(func, "name", "a kernel name (str)", name, TypeError)
    key = name.strip().lower().replace("_", "-")
    if key not in _FIXED and key not in _GENERATED:
        fail(func, "name", "one of " + ", ".join(repr(n) for n in names()), name)
    return key


def get(name: str, **params: Any) -> NDArray[np.float64]:
    """A fresh, writable float64 copy of the kernel called ``name``.

    Parameters
    ----------
    name : str
        One of :func:`names` (case and ``_``/``-`` are ignored: ``'SOBEL_DX'`` works).
    **params
        Keyword arguments of a generated kernel ('box', 'directional',
        'finite-difference', 'gaussian', 'integral'); fixed kernels take none.

    Returns
    -------
    K : ndarray, 2-D, float64

    Raises
    ------
    ValueError
        For an unknown name (the message lists the choices) or a bad parameter value.
    TypeError
        For a parameter the kernel does not take.

    Examples
    --------
    >>> from corr2d import kernels
    >>> kernels.get('prewitt-dx')
    array([[-1.,  0.,  1.],
           [-1.,  0.,  1.],
           [-1.,  0.,  1.]])
    >>> kernels.get('finite-difference', order=2, axis='y').ravel()
    array([ 1., -2.,  1.])
    """
    func = "kernels.get"
    key = _lookup(func, name)
    if key in _FIXED:
        if params:
            fail(func, "params", f"empty for the fixed kernel {key!r}", params, TypeError)
        return np.array(_FIXED[key][0], dtype=np.float64)
    maker = _GENERATED[key][0]
    allowed = list(inspect.signature(maker).parameters)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        fail(func, "params", f"among {allowed} for {key!r}", unknown, TypeError)
    return np.array(maker(**params), dtype=np.float64)


def describe(name: str, **params: Any) -> str:
    """One line about the kernel called ``name``, for listings.

    For a generated kernel the line ends with its parameters: the values in ``params``
    where given, the defaults otherwise.

    Examples
    --------
    >>> from corr2d import kernels
    >>> kernels.describe('laplacian-4')
    'laplacian-4: 3x3 4-neighbour Laplacian d2/dx2 + d2/dy2'
    >>> kernels.describe('gaussian', sigma=2)
    'gaussian: normalised Gaussian; params: sigma=2, truncate=4.0; separable'
    """
    key = _lookup("kernels.describe", name)
    split = "; separable" if _always_separable(key) else ""
    if key in _FIXED:
        return f"{key}: {_FIXED[key][1]}{split}"
    maker, text = _GENERATED[key]
    shown = []
    for parameter in inspect.signature(maker).parameters.values():
        if parameter.name in params:
            shown.append(f"{parameter.name}={params[parameter.name]!r}")
        elif parameter.default is inspect.Parameter.empty:
            shown.append(parameter.name)
        else:
            shown.append(f"{parameter.name}={parameter.default!r}")
    return f"{key}: {text.split('; params:')[0]}; params: {', '.join(shown)}{split}"


# --- helpers ---------------------------------------------------------------------------------


def _orient(weights: NDArray[np.float64], axis: str) -> NDArray[np.float64]:
    return weights[None, :].copy() if axis == "x" else weights[:, None].copy()
