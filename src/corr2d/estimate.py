"""Estimate the kernel that produced ``Y`` from ``X``: the chapter's "learning a kernel",
solved directly.

``Y = correlate2d(X, K, mode, boundary) (+ b)`` is linear in the unknowns ``K`` (and
``b``): every output pixel is the dot product of one ``k_h x k_w`` window of ``X``,
extended past its border by the boundary rule, with ``K``.  :func:`estimate_kernel`
sums the normal equations of that least-squares problem band by band of image rows
(:mod:`corr2d.lstsq`), so memory stays bounded however large the images, falls back to a
tall-skinny QR where the normal equations would lose digits, reads from the spectrum how
well the data determine the kernel, and reports how well the kernel explains ``Y``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d import lstsq
from corr2d._validation import as_array, as_pair, available_memory, check_choice, fail
from corr2d.core._padding import BOUNDARY_MODES, NO_PADS, Pads, pad2d
from corr2d.core.correlate import _pads as correlate_pads
from corr2d.core.correlate import same_mode_anchor
from corr2d.lstsq import (
    LstsqSolution,
    NormalEquations,
    ResidualSum,
    TallSkinnyQR,
    _exponent,
    band_rows,
    power_of_two_scale,
)

__all__ = [
    "ESTIMATE_BOUNDARIES",
    "ESTIMATE_METHODS",
    "ESTIMATE_MODES",
    "FIT_RTOL",
    "KernelEstimate",
    "estimate_kernel",
    "estimate_memory",
    "memory_text",
]

#: The solvers of :func:`estimate_kernel`.
ESTIMATE_METHODS = ("lstsq", "ridge", "fft", "gd")
#: How ``Y``'s size relates to ``X``'s: :func:`corr2d.correlate2d`'s modes.
ESTIMATE_MODES = ("valid", "same", "full")
#: How ``X`` is extended past its border: :func:`corr2d.correlate2d`'s boundaries.
ESTIMATE_BOUNDARIES = tuple(BOUNDARY_MODES)
#: A relative residual ``||Y - model|| / ||Y||`` above this says that ``Y`` is not a
#: correlation of ``X`` under the assumed mode and boundary.
FIT_RTOL = 1e-3
#: The largest regularisation used: beyond it the kernel is zero anyway.
_HUGE = float(np.finfo(np.float64).max) / 1e8
#: Gradient descent stops when the gradient norm falls to this fraction of its first.
GD_TOL = 1e-10


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
    relative_residual : float
        ``||Y - model(X)|| / ||Y||`` over every output pixel: the fit.  Above
        :data:`FIT_RTOL` the pair is not explained by a correlation under the assumed
        mode and boundary (see :attr:`fits`).
    rank : int
        Numerical rank of the patch matrix.
    n_unknowns : int
        ``k_h * k_w``, plus 1 with a bias.
    condition_number : float
        2-norm condition number of the (internally scaled) patch matrix; ``inf`` when
        the rank is deficient.
    identifiable : bool
        ``rank == n_unknowns``: the data determine every unknown.
    null_space : ndarray, shape (n_unknowns - rank, n_unknowns)
        Orthonormal rows; adding any combination of them to ``(kernel.ravel(), bias)``
        changes no output.  These are the undetermined combinations.
    method : str
        The method asked for.
    mode, boundary : str
        The relation of ``Y`` to ``X`` that was assumed.
    solver : str
        What solved it: 'normal equations', 'qr' (the fallback for ill-conditioned
        data), 'fourier division' or 'gradient descent'.
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
    relative_residual: float = 0.0
    mode: str = "valid"
    boundary: str = "fill"
    solver: str = "normal equations"

    @property
    def fits(self) -> bool:
        """``relative_residual <= FIT_RTOL``: the model explains ``Y``."""
        return self.relative_residual <= FIT_RTOL

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
        fit = (
            "explains Y"
            if self.fits
            else f"NOT a fit: Y is not a correlation of X with mode={self.mode!r}, "
            f"boundary={self.boundary!r}"
        )
        bias = "none" if self.bias is None else f"{self.bias:.6g}"
        return "\n".join(
            [
                f"KernelEstimate ({self.method}; mode {self.mode!r}, boundary {self.boundary!r})",
                f"  kernel {self.kernel.shape}:",
                kernel_text,
                f"  bias: {bias}",
                f"  residual (RMS): {self.residual:.3e}",
                f"  fit: relative residual {self.relative_residual:.3e} ({fit})",
                f"  rank: {self.rank} of {self.n_unknowns} unknowns ({verdict})",
                f"  condition number: {self.condition_number:.3e}",
            ]
        )


def estimate_kernel(
    X: ArrayLike | Sequence[ArrayLike],
    Y: ArrayLike | Sequence[ArrayLike],
    kernel_shape: int | tuple[int, int],
    *,
    bias: bool = False,
    method: Literal["lstsq", "ridge", "fft", "gd"] = "lstsq",
    alpha: float | None = None,
    mode: Literal["valid", "same", "full"] = "valid",
    boundary: Literal["fill", "wrap", "symm", "mirror", "nearest"] = "fill",
    fillvalue: float = 0.0,
    origin: int | tuple[int, int] | None = None,
    convolution: bool = False,
    steps: int = 500,
    lr: float | None = None,
    rtol: float | None = None,
    progress: bool | Callable[[int, float], None] | None = None,
) -> KernelEstimate:
    """Estimate the kernel ``K`` (and bias) with ``Y = correlate2d(X, K, mode, boundary) + b``.

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
        * 'lstsq' (default): least squares through the normal equations, accumulated in
          row bands and solved by eigendecomposition, or by a tall-skinny QR of the
          patch matrix where the normal equations would lose more than half the digits;
          the minimum-norm solution when the data do not determine every unknown.
        * 'ridge': least squares with the penalty ``alpha * ||K||^2`` (the bias is not
          penalised); for noisy or ill-conditioned data.
        * 'fft': regularised Fourier (Wiener) division
          ``FK = sum FX conj(FY) / (sum |FX|^2 + alpha)``, read off at the kernel's
          offsets; needs ``boundary='wrap'`` with mode 'same' or 'full' (periodic data,
          as ``corr2d filter --boundary wrap`` makes), pairs of one shape and no bias.
        * 'gd': the chapter's gradient descent (:func:`corr2d.fit` on a
          :class:`corr2d.Conv2D` starting from zero) for at most ``steps`` steps,
          stopping early when the gradient has fallen by :data:`GD_TOL`.
    alpha : float, optional
        Regularisation of 'ridge' and 'fft', >= 0.  Defaults: 'ridge'
        ``1e-6 * trace(A^T A) / (k_h k_w)``; 'fft' ``1e-10 * mean(sum |FX|^2)``.
    mode : {'valid', 'same', 'full'}, optional
        How ``Y``'s size relates to ``X``'s, as in :func:`corr2d.correlate2d`
        (default 'valid'), 'same' centred as SciPy centres it (for an even kernel the
        extra row and column of 'full' are dropped at the start; at the end with
        ``convolution=True``, as :func:`corr2d.convolve2d` does).
    boundary : {'fill', 'wrap', 'symm', 'mirror', 'nearest'}, optional
        How ``X`` was extended past its border for 'same' and 'full', as in
        :func:`corr2d.correlate2d` (default 'fill'; ``corr2d filter`` uses 'symm').
        'valid' uses only outputs whose window lies inside ``X``, so it assumes nothing.
    fillvalue : float, optional
        The value outside ``X`` for ``boundary='fill'`` (default 0).
    origin : int or (int, int), optional
        For 'same': the kernel element over each output pixel, as in
        :func:`corr2d.correlate2d` (``k // 2 + origin``, scipy.ndimage's rule).  Default
        None: SciPy.signal's, element ``(k - 1) // 2``.
    convolution : bool, optional
        ``Y`` was made by :func:`corr2d.convolve2d`, not correlation: the returned kernel
        is the convolution kernel (the correlation kernel flipped in both axes).
    steps : int, optional
        Most steps of 'gd' (default 500).
    lr : float, optional
        Learning rate of 'gd'.  Default ``1 / (2 lambda_max(A^T A))``, stable for the
        summed squared error.
    rtol : float, optional
        In [0, 1): eigenvalues of ``A^T A`` at or below ``rtol`` times the largest (singular
        values of ``A`` below ``sqrt(rtol)`` times the largest) count as zero.  Default
        ``100 * n_unknowns * machine epsilon``.
    progress : bool or callable, optional
        For 'gd': show a progress bar on stderr (default: when stderr is a terminal),
        or call ``progress(step, loss)`` after every step.

    Returns
    -------
    KernelEstimate
        Kernel, bias, residual and fit, and the identifiability report.

    Raises
    ------
    ValueError, TypeError
        Bad arguments, naming the argument, the rule and the value.
    MemoryError
        Before any work, when the job would need more memory than is available
        (:func:`estimate_memory`).
    OverflowError
        When the kernel itself is beyond float64 (``Y`` about 1e308 times ``X``).

    Warns
    -----
    UserWarning
        When the data do not determine every unknown (rank < ``n_unknowns``), naming
        what is undetermined.

    Notes
    -----
    Memory is bounded: the patches of at most 16 MiB of output rows exist at a time
    (a 2048x2048 pair with a 15x15 kernel never builds its 7.4 GB patch matrix), and
    the extended border is built band by band.  Data are scaled by powers of two
    internally, so data near 1e-160 or 1e155 give the kernel of data near 1.

    Examples
    --------
    The chapter's pair: the edge detector [[1, -1]] comes back exactly.

    >>> import numpy as np
    >>> from corr2d import corr2d, correlate2d, estimate_kernel
    >>> X = np.ones((6, 8)); X[:, 2:6] = 0
    >>> Y = corr2d(X, [[1.0, -1.0]])
    >>> estimate = estimate_kernel(X, Y, (1, 2))
    >>> estimate.kernel.round(12) + 0.0, estimate.rank, estimate.identifiable
    (array([[ 1., -1.]]), 2, True)

    With the border rule of the filter that made ``Y``, every pixel of 'same' counts:

    >>> X = np.arange(20.0).reshape(4, 5) % 7
    >>> Y = correlate2d(X, [[0.0, 1.0], [2.0, 0.0]], 'same', 'symm')
    >>> estimate_kernel(X, Y, (2, 2), mode='same', boundary='symm').kernel.round(12) + 0.0
    array([[0., 1.],
           [2., 0.]])
    """
    func = "estimate_kernel"
    kh, kw = as_pair(func, "kernel_shape", kernel_shape, 1)
    options = _check_options(
        func, bias, method, alpha, mode, boundary, fillvalue, convolution, steps, lr, rtol
    )
    anchor = same_mode_anchor(func, (kh, kw), mode, origin)
    problem = _Problem.build(_pairs(func, X, Y), kh, kw, options, anchor)
    _check_shapes(func, problem)
    _check_memory(func, problem)
    try:
        solution = _solve(problem, options, progress)
    except OverflowError as exc:
        raise OverflowError(f"{func}: {exc}") from None
    fit = _residual(problem, solution)
    return _report(func, problem, solution, fit)


# ---------------------------------------------------------------- step 1: validate


@dataclass(frozen=True)
class _Options:
    """The checked arguments other than the data."""

    bias: bool
    method: str
    alpha: float | None
    mode: str
    boundary: str
    fillvalue: float
    convolution: bool
    steps: int
    lr: float | None
    rtol: float | None


def _real(func: str, name: str, value: Any) -> float:
    """A real number (Python or NumPy scalar; not a bool or a string) as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        fail(func, name, "a real number", value, TypeError)
    return float(value)


def _check_options(
    func: str,
    bias: Any,
    method: Any,
    alpha: Any,
    mode: Any,
    boundary: Any,
    fillvalue: Any,
    convolution: Any,
    steps: Any,
    lr: Any,
    rtol: Any,
) -> _Options:
    """Check every argument but the data: types, ranges and combinations."""
    check_choice(func, "method", method, ESTIMATE_METHODS)
    if mode == "circular":
        fail(
            func,
            "mode",
            "one of 'valid', 'same', 'full' (periodic data: mode='same', boundary='wrap', "
            "the kernel centred as correlate2d centres it)",
            mode,
        )
    check_choice(func, "mode", mode, ESTIMATE_MODES)
    check_choice(func, "boundary", boundary, ESTIMATE_BOUNDARIES)
    for name, flag in (("bias", bias), ("convolution", convolution)):
        if not isinstance(flag, (bool, np.bool_)):
            fail(func, name, "a bool", flag, TypeError)
    fill = _real(func, "fillvalue", fillvalue)
    if not math.isfinite(fill):
        fail(func, "fillvalue", "finite", fillvalue)
    alpha_value = None if alpha is None else _real(func, "alpha", alpha)
    if alpha_value is not None:
        if not (alpha_value >= 0 and math.isfinite(alpha_value)):
            fail(func, "alpha", "finite and >= 0", alpha)
        if method in ("lstsq", "gd"):
            fail(
                func,
                "alpha",
                f"None for method={method!r} (only 'ridge' and 'fft' regularise)",
                alpha,
            )
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)):
        fail(func, "steps", "an int", steps, TypeError)
    if steps < 1:
        fail(func, "steps", ">= 1", steps)
    lr_value = None if lr is None else _real(func, "lr", lr)
    if lr_value is not None and not (lr_value > 0 and math.isfinite(lr_value)):
        fail(func, "lr", "None or a finite number > 0", lr)
    rtol_value = None if rtol is None else _real(func, "rtol", rtol)
    if rtol_value is not None and not 0 <= rtol_value < 1:
        fail(func, "rtol", "None or a number in [0, 1)", rtol)
    if method == "fft":
        if boundary != "wrap" or mode == "valid":
            fail(
                func,
                "boundary",
                "'wrap' with mode 'same' or 'full' for method='fft' (Fourier division "
                f"assumes periodic data; mode is {mode!r})",
                boundary,
            )
        if bias:
            fail(
                func,
                "bias",
                "False for method='fft' (a constant is indistinguishable "
                "from the kernel's sum at frequency zero)",
                bias,
            )
    return _Options(
        bias=bool(bias),
        method=method,
        alpha=alpha_value,
        mode=mode,
        boundary=boundary,
        fillvalue=fill,
        convolution=bool(convolution),
        steps=int(steps),
        lr=lr_value,
        rtol=rtol_value,
    )


def split_pairs(
    func: str, X: Any, Y: Any, convert: Callable[[str, Any, tuple[int, ...]], Any]
) -> list[tuple[Any, Any]]:
    """One pair, a batch (axis 0) or sequences of 2-D images, as a list of pairs.

    ``convert(name, value, ndim)`` turns one argument into an array of one of those
    numbers of dimensions (a NumPy array here, a Dask array in :mod:`corr2d.dask`).
    """
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
        xs = [convert(f"X[{i}]", x, (2,)) for i, x in enumerate(X)]
        ys = [convert(f"Y[{i}]", y, (2,)) for i, y in enumerate(Y)]
        return list(zip(xs, ys, strict=True))
    x_all, y_all = convert("X", X, (2, 3)), convert("Y", Y, (2, 3))
    if x_all.ndim != y_all.ndim:
        fail(
            func,
            "Y",
            f"{x_all.ndim}-D like X (one pair, or a batch along axis 0)",
            f"{y_all.ndim}-D array of shape {y_all.shape}",
        )
    if x_all.ndim == 2:
        return [(x_all, y_all)]
    if x_all.shape[0] != y_all.shape[0]:
        fail(func, "Y", f"a batch of {x_all.shape[0]} images like X", f"shape {y_all.shape}")
    return [(x_all[i], y_all[i]) for i in range(x_all.shape[0])]


def _pairs(func: str, X: Any, Y: Any) -> list[tuple[NDArray[Any], NDArray[Any]]]:
    """One pair, a batch (axis 0) or sequences of 2-D images; real, finite, not copied."""
    pairs = split_pairs(
        func, X, Y, lambda name, value, ndim: as_array(value, func, name, ndim=ndim)
    )
    for i, (x, y) in enumerate(pairs):
        for name, array in (("X", x), ("Y", y)):
            if array.dtype.kind == "c":
                fail(
                    func,
                    name,
                    "real (complex data is not supported)",
                    f"dtype {array.dtype}",
                    TypeError,
                )
            # min and max see every NaN and inf without a full-size temporary.
            if array.dtype.kind == "f" and not (
                np.isfinite(array.min()) and np.isfinite(array.max())
            ):
                fail(func, name, "finite", f"an array containing NaN or inf (pair {i})")
    return pairs


def _largest(arrays: Sequence[NDArray[Any]]) -> float:
    return max(max(abs(float(a.min())), abs(float(a.max()))) for a in arrays)


@dataclass(frozen=True)
class _Problem:
    """The pairs and everything that says how ``Y`` is made from ``X``."""

    pairs: list[tuple[NDArray[Any], NDArray[Any]]]
    kh: int
    kw: int
    options: _Options
    pads: Pads
    x_scale: float
    y_scale: float

    @classmethod
    def build(
        cls,
        pairs: list[tuple[NDArray[Any], NDArray[Any]]],
        kh: int,
        kw: int,
        options: _Options,
        anchor: tuple[int, int],
    ) -> _Problem:
        pads = correlate_pads(options.mode, (kh, kw), options.convolution, anchor)
        largest_x = _largest([x for x, _ in pairs])
        if options.boundary == "fill" and pads != NO_PADS:
            largest_x = max(largest_x, abs(options.fillvalue))
        largest_y = _largest([y for _, y in pairs])
        return cls(
            pairs,
            kh,
            kw,
            options,
            pads,
            power_of_two_scale(largest_x),
            power_of_two_scale(largest_y),
        )

    @property
    def n_kernel(self) -> int:
        return self.kh * self.kw

    @property
    def n_unknowns(self) -> int:
        return self.n_kernel + int(self.options.bias)

    def expected_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int]:
        (top, bottom), (left, right) = self.pads
        return (x_shape[0] + top + bottom - self.kh + 1, x_shape[1] + left + right - self.kw + 1)

    def bands(self, index: int) -> Iterator[tuple[NDArray[Any], NDArray[Any]]]:
        """Pair ``index`` in bands of output rows: the extended input rows and outputs."""
        x, y = self.pairs[index]
        step = band_rows(self.n_kernel, y.shape[1], self.kw, lstsq.WORKSPACE_BYTES)
        if self.pads == NO_PADS:
            for row0 in range(0, y.shape[0], step):
                yield x[row0 : row0 + step + self.kh - 1], y[row0 : row0 + step]
            return
        rows = _index_map(x.shape[0], self.pads[0], self.options.boundary)
        cols = _index_map(x.shape[1], self.pads[1], self.options.boundary)
        for row0 in range(0, y.shape[0], step):
            band_rows_ = rows[row0 : row0 + step + self.kh - 1]
            band = x[np.ix_(np.maximum(band_rows_, 0), np.maximum(cols, 0))].astype(
                np.float64, copy=False
            )
            if self.options.boundary == "fill":
                band[band_rows_ < 0, :] = self.options.fillvalue
                band[:, cols < 0] = self.options.fillvalue
            yield band, y[row0 : row0 + step]

    def extended(self, index: int) -> NDArray[np.float64]:
        """Pair ``index``'s input extended by the boundary rule, whole (float64)."""
        x = np.asarray(self.pairs[index][0], dtype=np.float64)
        return pad2d(x, self.pads, BOUNDARY_MODES[self.options.boundary], self.options.fillvalue)


def _index_map(size: int, pad: tuple[int, int], boundary: str) -> NDArray[np.intp]:
    """Which row (column) of the image each extended row copies; -1 for the fill value."""
    np_mode = BOUNDARY_MODES[boundary]
    if np_mode == "constant":
        return np.pad(np.arange(size), pad, mode="constant", constant_values=-1)
    return np.pad(np.arange(size), pad, mode=np_mode)  # type: ignore[call-overload]


def _check_shapes(func: str, problem: _Problem) -> None:
    """Every ``Y`` has the shape the mode gives its ``X`` and the kernel."""
    mode, kh, kw = problem.options.mode, problem.kh, problem.kw
    for i, (x, y) in enumerate(problem.pairs):
        where = "" if len(problem.pairs) == 1 else f" (pair {i})"
        expected = problem.expected_shape(x.shape)
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
        if problem.options.method == "fft" and (kh > x.shape[0] or kw > x.shape[1]):
            fail(func, "kernel_shape", f"no larger than X{where} for method='fft'", (kh, kw))
    shapes = {x.shape for x, _ in problem.pairs}
    if problem.options.method == "fft" and len(shapes) > 1:
        fail(func, "X", "images of one shape for method='fft'", sorted(shapes))


def estimate_memory(
    image_shapes: Sequence[tuple[int, int]],
    kernel_shape: tuple[int, int],
    *,
    bias: bool = False,
    method: str = "lstsq",
) -> int:
    """Peak bytes :func:`estimate_kernel` needs beyond its inputs, estimated.

    The normal equations and their eigendecomposition (about five ``n x n`` float64
    arrays for ``n`` unknowns), one band of patches (:data:`corr2d.lstsq.WORKSPACE_BYTES`),
    and for 'fft' the spectra, for 'gd' the layer's copies of every image.

    >>> estimate_memory([(512, 512)], (3, 3)) // 2**20   # the band workspace
    16
    """
    n = kernel_shape[0] * kernel_shape[1] + int(bias)
    need = 5 * 8 * n * n + lstsq.WORKSPACE_BYTES
    pixels = sum(h * w for h, w in image_shapes)
    if method == "fft":
        need += 6 * 8 * max(h * w for h, w in image_shapes)
    if method == "gd":
        need += 6 * 8 * pixels
    return need


def _check_memory(func: str, problem: _Problem) -> None:
    need = estimate_memory(
        [x.shape for x, _ in problem.pairs],
        (problem.kh, problem.kw),
        bias=problem.options.bias,
        method=problem.options.method,
    )
    free = available_memory()
    if free is not None and need > free:
        fail(
            func,
            "kernel_shape",
            f"small enough for this machine's memory: it needs about {memory_text(need)} "
            f"({problem.n_unknowns} unknowns), and {memory_text(free)} is available",
            (problem.kh, problem.kw),
            MemoryError,
        )


def memory_text(n_bytes: int) -> str:
    """Bytes for people: MiB below a GiB, GiB above.

    >>> memory_text(3 * 2**20), memory_text(5 * 2**30)
    ('3 MiB', '5.0 GiB')
    """
    if n_bytes < 2**30:
        return f"{n_bytes / 2**20:.0f} MiB"
    return f"{n_bytes / 2**30:.1f} GiB"


# ---------------------------------------------------------------- step 2 and 3: solve


def _solve(
    problem: _Problem,
    options: _Options,
    progress: bool | Callable[[int, float], None] | None,
) -> LstsqSolution:
    """Build the system for the method and solve it, in the data's units."""
    if options.method == "fft":
        return _fourier_division(problem, options.alpha, options.rtol)
    equations = _accumulate(problem, NormalEquations)
    if options.method == "ridge":
        return equations.solve(
            options.rtol, ridge="auto" if options.alpha is None else options.alpha
        )
    solution = equations.solve(options.rtol)
    if options.method == "gd":
        return _gradient_descent(problem, equations, solution, options, progress)
    if solution.loses_digits:
        solution = _accumulate(problem, TallSkinnyQR).solve(options.rtol)
    return solution


def _accumulate(problem: _Problem, kind: type[Any]) -> Any:
    """Sum the equations of every pair, band by band, into a new ``kind`` accumulator."""
    accumulator = kind(
        (problem.kh, problem.kw),
        bias=problem.options.bias,
        x_scale=problem.x_scale,
        y_scale=problem.y_scale,
        workspace_bytes=lstsq.WORKSPACE_BYTES,
    )
    return _add_every_band(problem, accumulator)


def _add_every_band(problem: _Problem, accumulator: Any) -> Any:
    """Feed every band of every pair to ``accumulator.add``; returns the accumulator."""
    for index in range(len(problem.pairs)):
        for band, y in problem.bands(index):
            accumulator.add(band, y)
    return accumulator


def _fourier_division(problem: _Problem, alpha: float | None, rtol: float | None) -> LstsqSolution:
    """Wiener division of the spectra of periodic pairs, and the circular Gram's spectrum.

    With the wrapped border ``Y[i, j] = sum K[a, b] X[(i + a - t) % H, (j + b - l) % W]``
    on its first ``H x W`` outputs, ``(t, l)`` the top and left border widths: a
    circular correlation with the full-size kernel ``G``, ``G[(a - t) % H, (b - l) % W]
    = K[a, b]``.  ``G = irfft2(sum FX conj(FY) / (sum |FX|^2 + alpha))``.  The Gram
    matrix of circular data is the autocorrelation of X at the taps' lag differences.
    """
    kh, kw = problem.kh, problem.kw
    height, width = problem.pairs[0][0].shape
    power = np.zeros((height, width // 2 + 1))
    cross = np.zeros((height, width // 2 + 1), dtype=np.complex128)
    for x, y in problem.pairs:
        fx = np.fft.rfft2(np.multiply(x, problem.x_scale, dtype=np.float64))
        fy = np.fft.rfft2(np.multiply(y[:height, :width], problem.y_scale, dtype=np.float64))
        power += (fx * fx.conj()).real
        cross += fx * fy.conj()
    if alpha is None:
        strength = 1e-10 * float(power.mean())
    else:
        strength = min(float(np.ldexp(alpha, 2 * _exponent(problem.x_scale))), _HUGE)
    full_kernel = np.fft.irfft2(cross / (power + strength), s=(height, width))
    top, left = problem.pads[0][0], problem.pads[1][0]
    rows, cols = np.divmod(np.arange(kh * kw), kw)
    kernel = full_kernel[(rows - top) % height, (cols - left) % width]

    autocorrelation = np.fft.irfft2(power, s=(height, width))
    gram = autocorrelation[
        (rows[None, :] - rows[:, None]) % height, (cols[None, :] - cols[:, None]) % width
    ]
    equations = NormalEquations.from_sums(
        (kh, kw), gram, np.zeros(kh * kw), x_scale=problem.x_scale, y_scale=problem.y_scale
    )
    spectrum = equations.solve(rtol)
    scaled_kernel = equations.in_data_units(kernel, spectrum.null_space)[0]
    return dataclasses.replace(
        spectrum,
        kernel=scaled_kernel,
        solver="fourier division",
        loses_digits=False,
    )


def _gradient_descent(
    problem: _Problem,
    equations: NormalEquations,
    spectrum: LstsqSolution,
    options: _Options,
    progress: bool | Callable[[int, float], None] | None,
) -> LstsqSolution:
    """The chapter's loop: a zero-initialised Conv2D trained by :func:`corr2d.fit`."""
    from corr2d.nn import Conv2D, fit

    largest = float(spectrum.singular_values[0]) ** 2
    if options.lr is not None:
        lr = float(np.ldexp(options.lr, -2 * _exponent(problem.x_scale)))  # scaled units
    else:
        lr = 1.0 / (2 * largest) if largest > 0 else 1.0
    layer = Conv2D((problem.kh, problem.kw), bias=options.bias, init="zeros")
    inputs = [problem.extended(i) * problem.x_scale for i in range(len(problem.pairs))]
    targets = [np.multiply(y, problem.y_scale, dtype=np.float64) for _, y in problem.pairs]
    history = fit(
        layer,
        inputs,
        targets,
        steps=options.steps,
        lr=lr,
        tol=GD_TOL,
        progress=progress if isinstance(progress, bool) or progress is None else False,
        callback=progress if callable(progress) else None,
    )
    values = [layer.weight.data.reshape(-1)]
    if layer.bias is not None:
        values.append(layer.bias.data)
    scaled = np.concatenate(values)
    kernel, bias, _ = equations.in_data_units(scaled, spectrum.null_space)
    del history
    return dataclasses.replace(spectrum, kernel=kernel, bias=bias, solver="gradient descent")


# ---------------------------------------------------------------- step 4: report


def _residual(problem: _Problem, solution: LstsqSolution) -> ResidualSum:
    """The residual of the solution over every pair, band by band."""
    fit = ResidualSum(
        solution.kernel, solution.bias or 0.0, x_scale=problem.x_scale, y_scale=problem.y_scale
    )
    result: ResidualSum = _add_every_band(problem, fit)
    return result


def _report(
    func: str, problem: _Problem, solution: LstsqSolution, fit: ResidualSum
) -> KernelEstimate:
    """The kernel, its residual and the identifiability report (warning if incomplete)."""
    options = problem.options
    kernel, null_space = solution.kernel, solution.null_space
    if options.convolution:
        n_kernel = problem.n_kernel
        kernel = kernel[::-1, ::-1]
        flipped = null_space[:, :n_kernel].reshape(-1, problem.kh, problem.kw)[:, ::-1, ::-1]
        null_space = np.concatenate(
            [flipped.reshape(-1, n_kernel), null_space[:, n_kernel:]], axis=1
        )
    identifiable = solution.rank == problem.n_unknowns
    if not identifiable:
        _warn_undetermined(func, solution, problem)
    return KernelEstimate(
        kernel=np.ascontiguousarray(kernel),
        bias=solution.bias,
        residual=fit.rms,
        relative_residual=fit.relative,
        rank=solution.rank,
        n_unknowns=problem.n_unknowns,
        condition_number=solution.condition_number,
        identifiable=identifiable,
        null_space=null_space,
        method=options.method,
        mode=options.mode,
        boundary=options.boundary,
        solver=solution.solver,
    )


def _warn_undetermined(func: str, solution: LstsqSolution, problem: _Problem) -> None:
    n = problem.n_unknowns
    rank = solution.rank
    # The determined combinations span the orthogonal complement of the null space.
    complement = np.linalg.svd(
        np.eye(n) - solution.null_space.T @ solution.null_space, full_matrices=False
    )[0][:, :rank]
    words = _describe_undetermined(
        complement, problem.kh, problem.kw, problem.options.bias, n - rank
    )
    chosen = {
        "lstsq": "returning the minimum-norm solution",
        "ridge": "the penalty sets the undetermined part to zero",
        "fft": "the regularisation sets the undetermined part",
        "gd": "gradient descent from zero leaves the undetermined part at zero",
    }[problem.options.method]
    warnings.warn(
        f"{func}: the kernel is not identifiable from these data: rank {rank} of "
        f"{n} unknowns; {words}; {chosen}. The undetermined combinations are in "
        "KernelEstimate.null_space.",
        UserWarning,
        stacklevel=4,  # the caller of estimate_kernel
    )


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
