"""The chapter's operation and the SciPy-compatible 2-D face.

``corr2d`` is the chapter's 'valid' cross-correlation.  ``correlate2d`` and
``convolve2d`` take the arguments of ``scipy.signal.correlate2d`` / ``convolve2d`` and
return the same numbers, so a program switches by changing one import.  All three are
thin: they validate, extend the border, and hand a 'valid' correlation to the core.
"""

from __future__ import annotations

import time
from typing import Any, Literal, cast, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from corr2d._validation import (
    METHODS,
    as_array,
    as_pair,
    check_choice,
    check_finite_for_fft,
    fail,
    result_dtype,
)
from corr2d.core import _paths
from corr2d.core._integers import integer_plan, to_int64
from corr2d.core._padding import BOUNDARY_MODES, NO_PADS, Pads
from corr2d.core._separable import Factors, Separable

__all__ = ["Boundary", "choose_method", "convolve2d", "corr2d", "correlate2d"]

MODES = ("full", "valid", "same")

#: The border rules of the SciPy face: SciPy's three, and ndimage's two SciPy lacks.
Boundary = Literal["fill", "wrap", "symm", "mirror", "nearest"]

#: A kernel: an array, or a separable pair run as two 1-D passes.
KernelLike = ArrayLike | Separable


def corr2d(
    X: ArrayLike,
    K: KernelLike,
    *,
    method: Literal["auto", "direct", "fft"] = "auto",
    separable: bool | None = None,
    dtype: DTypeLike | None = None,
) -> NDArray[Any]:
    """The 2-D 'valid' cross-correlation of the chapter: slide ``K`` over ``X``.

    Parameters
    ----------
    X : array_like, shape (n_h, n_w)
        The input image.
    K : array_like, shape (k_h, k_w), or Separable
        The kernel; it must fit inside ``X`` (``k_h <= n_h`` and ``k_w <= n_w``).  A
        :class:`~corr2d.Separable` ``(column, row)`` pair runs as two 1-D passes.
    method : {'auto', 'direct', 'fft'}, optional
        'direct' sums in space (every tap, or 1-D passes for a separable kernel), 'fft'
        uses tiled FFTs, 'auto' (default) whichever :func:`choose_method` predicts is
        faster.
    separable : bool, optional
        None (default): split the kernel into 1-D passes when it is separable (or of low
        rank) to within the rounding of the 2-D sum and the cost model says the passes
        are faster (see ``docs/semantics.md``).  True: always split it (``ValueError``
        if it does not split).  False: never.
    dtype : dtype, optional
        Working and output dtype (floating or complex).  By default float32 stays
        float32 and float64 stays float64; bool and integer ``X`` and ``K`` give an
        exact int64 result (see Raises), and an integer with a float array gives float64.

    Returns
    -------
    Y : ndarray, shape (n_h - k_h + 1, n_w - k_w + 1)
        ``Y[i, j] = sum over (a, b) of X[i + a, j + b] * K[a, b]``.  The kernel is not
        conjugated (unlike :func:`correlate2d` for complex data).

    Raises
    ------
    ValueError
        If an argument is not 2-D, is empty, or if ``K`` is larger than ``X``.
    TypeError
        If an argument is not numeric.
    OverflowError
        If ``X`` and ``K`` are integers whose result could exceed int64: the bound
        ``max|X| * sum|K|`` is over ``2**63 - 1``, or a uint64 value is (pass
        ``dtype=np.float64`` to accept rounding).

    See Also
    --------
    correlate2d : the same with SciPy's modes and boundaries.
    conv2d : batched, multi-channel, strided and padded (PyTorch's layout).

    Examples
    --------
    The chapter's example: the top-left output is 0*0 + 1*1 + 3*2 + 4*3 = 19.

    >>> import numpy as np
    >>> from corr2d import corr2d
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> K = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> corr2d(X, K)
    array([[19., 25.],
           [37., 43.]])
    """
    func = "corr2d"
    given = K if isinstance(K, Separable) else None
    image = as_array(X, func, "X", ndim=2)
    kernel = as_array(K, func, "K", ndim=2)
    check_choice(func, "method", method, METHODS)
    _check_separable(func, separable)
    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
        fail(
            func,
            "K",
            f"no larger than X (shape {image.shape}) along each axis",
            got=f"shape {kernel.shape}",
        )
    exact = None if dtype is not None else integer_plan(func, ("X", image), ("K", kernel))
    work = exact or result_dtype(func, image, kernel, dtype=dtype)
    k = np.ascontiguousarray(kernel, dtype=work)
    factors = None if given is None else given.factors(work)
    integer = exact is not None
    plan = _plan(func, method, True, image, k, NO_PADS, separable, "summed", factors, integer)
    out = _paths.correlate_image(image, k, NO_PADS, "constant", 0, plan)
    return out if exact is None else to_int64(out)


def correlate2d(
    in1: ArrayLike,
    in2: KernelLike,
    mode: Literal["full", "valid", "same"] = "full",
    boundary: Boundary = "fill",
    fillvalue: Any = 0,
    *,
    origin: int | tuple[int, int] | None = None,
    method: Literal["auto", "direct", "fft"] = "auto",
    separable: bool | None = None,
    dtype: DTypeLike | None = None,
) -> NDArray[Any]:
    """Cross-correlate two 2-D arrays, with ``scipy.signal.correlate2d``'s semantics.

    ``out[i, j] = sum over (a, b) of in1_ext[i + a, j + b] * conj(in2[a, b])`` where
    ``in1_ext`` is ``in1`` extended past its border by ``boundary``, and the offset of
    ``(i, j)`` depends on ``mode``.

    Parameters
    ----------
    in1 : array_like, shape (M, N)
        The image.
    in2 : array_like, shape (m, n), or Separable
        The kernel (may be larger than ``in1``; see ``mode='valid'``), or a
        :class:`~corr2d.Separable` ``(column, row)`` pair, run as two 1-D passes.
    mode : {'full', 'valid', 'same'}, optional
        The output size.

        ``'full'`` (default)
            every overlap: shape (M + m - 1, N + n - 1).
        ``'valid'``
            only where the kernel fits entirely: shape (M - m + 1, N - n + 1).  If
            ``in2`` is at least as large as ``in1`` in every dimension the two are
            swapped (SciPy's rule) and the result reversed; one of them must be at least
            as large as the other in every dimension.
        ``'same'``
            shape (M, N), centred on the 'full' output: row ``i`` of 'same' is row
            ``i + m // 2`` of 'full' (column likewise).  For an even kernel that drops
            the extra row and column of 'full' at the start; :func:`convolve2d` drops
            them at the end, so the two differ by one index (as in SciPy).  ``origin``
            moves the window.
    boundary : {'fill', 'wrap', 'symm', 'mirror', 'nearest'}, optional
        How ``in1`` is extended past its border: ``'fill'`` with ``fillvalue``
        (``v v | a b c d | v v``), ``'wrap'`` periodically (``c d | a b c d | a b``),
        ``'symm'`` by mirror symmetry including the edge (``b a | a b c d | d c``).
        Two more, under scipy.ndimage's names (SciPy's ``correlate2d`` lacks them):
        ``'mirror'``, mirror symmetry about the edge pixel (``c b | a b c d | c b``;
        ndimage's 'mirror', OpenCV's BORDER_REFLECT_101, PyTorch's 'reflect'), and
        ``'nearest'``, the edge pixel repeated (``a a | a b c d | d d``).  The rule
        repeats for kernels larger than the image.
    fillvalue : scalar, optional
        The value for ``boundary='fill'``.  Default 0.
    origin : int or (int, int), optional
        Only for ``mode='same'``: which kernel element lies over each output pixel, as
        in ``scipy.ndimage.correlate``: element ``m // 2 + origin`` along each axis,
        with ``-(m // 2) <= origin <= (m - 1) // 2``.  Default None: SciPy.signal's
        rule, element ``(m - 1) // 2`` (origin 0 for odd kernels, -1 for even ones).
    method : {'auto', 'direct', 'fft'}, optional
        'auto' (default) and 'direct' compute the sums in space, as SciPy does (every
        tap, or 1-D passes where the kernel splits tap by tap within the rounding of the
        2-D sum); 'fft' uses tiled FFTs, faster for large kernels but with an error
        relative to the largest values (see ``docs/semantics.md``).
    separable : bool, optional
        As in :func:`corr2d`, with splits held to every tap's rounding.
    dtype : dtype, optional
        As in :func:`corr2d`.

    Returns
    -------
    out : ndarray
        Shape as given by ``mode``; dtype by the rules in ``docs/semantics.md``:
        float32/float64/complex64/complex128 as the inputs promote, and int64, exact,
        for bool or integer ``in1``, ``in2`` and ``fillvalue`` (``OverflowError`` if
        ``max|in1| * sum|in2|`` could exceed int64).

    See Also
    --------
    convolve2d : the same with the kernel flipped.
    scipy.signal.correlate2d : the reference these semantics follow.

    Notes
    -----
    NaN and inf propagate as IEEE arithmetic says to every output whose window contains
    them ('direct'); ``method='fft'`` refuses non-finite data rather than spreading it
    over a whole tile, and 'auto' then picks 'direct'.

    Examples
    --------
    The centre output of 'same' mode is 3 + 4 + 5 = 12 (kernel [[1, 1, 1]] over the
    middle row); past the border, 'fill' adds zeros.

    >>> import numpy as np
    >>> from corr2d import correlate2d
    >>> x = np.arange(9).reshape(3, 3)
    >>> correlate2d(x, [[1, 1, 1]], mode='same')
    array([[ 1,  3,  3],
           [ 7, 12,  9],
           [13, 21, 15]])
    """
    return _correlate_or_convolve(
        "correlate2d", in1, in2, mode, boundary, fillvalue, origin, method, separable, dtype, False
    )


def convolve2d(
    in1: ArrayLike,
    in2: KernelLike,
    mode: Literal["full", "valid", "same"] = "full",
    boundary: Boundary = "fill",
    fillvalue: Any = 0,
    *,
    origin: int | tuple[int, int] | None = None,
    method: Literal["auto", "direct", "fft"] = "auto",
    separable: bool | None = None,
    dtype: DTypeLike | None = None,
) -> NDArray[Any]:
    """Convolve two 2-D arrays, with ``scipy.signal.convolve2d``'s semantics.

    Convolution is correlation with the kernel flipped along both axes:
    ``out[i, j] = sum over (a, b) of in1_ext[i - a, j - b] * in2[a, b]``.  Arguments
    and output shapes are those of :func:`correlate2d`, except that in 'same' mode row ``i``
    of the output is row ``i + (m - 1) // 2`` of the 'full' output (correlation cuts at
    ``m // 2``), as in SciPy: for an even kernel this is one index away from
    ``correlate2d(in1, in2[::-1, ::-1], 'same')``.

    With ``origin`` given, 'same' mode follows ``scipy.ndimage.convolve``: element
    ``m // 2 + origin`` of the (unflipped) kernel lies over each output pixel, so
    ``convolve2d(x, k, 'same', origin=o)`` equals ``ndimage.convolve(x, k, origin=o)``
    for every kernel size.

    Examples
    --------
    A flipped difference: convolving with [[1, -1]] computes x[i, j] - x[i, j - 1].

    >>> import numpy as np
    >>> from corr2d import convolve2d
    >>> convolve2d([[1, 2, 4]], [[1, -1]], mode='valid')
    array([[1, 2]])
    """
    return _correlate_or_convolve(
        "convolve2d", in1, in2, mode, boundary, fillvalue, origin, method, separable, dtype, True
    )


def _correlate_or_convolve(
    func: str,
    in1: ArrayLike,
    in2: KernelLike,
    mode: str,
    boundary: str,
    fillvalue: Any,
    origin: int | tuple[int, int] | None,
    method: str,
    separable: bool | None,
    dtype: DTypeLike | None,
    convolution: bool,
) -> NDArray[Any]:
    given = in2 if isinstance(in2, Separable) else None
    image = as_array(in1, func, "in1", ndim=2)
    kernel = as_array(in2, func, "in2", ndim=2)
    check_choice(func, "mode", mode, MODES)
    check_choice(func, "boundary", boundary, tuple(BOUNDARY_MODES))
    check_choice(func, "method", method, METHODS)
    _check_separable(func, separable)
    anchor = same_mode_anchor(func, kernel.shape, mode, origin)
    fill = _check_fillvalue(func, fillvalue)
    filled = boundary == "fill" and mode != "valid"
    exact = None
    if dtype is None:
        exact = integer_plan(func, ("in1", image), ("in2", kernel), fill=fill if filled else 0)
    work = exact or result_dtype(func, image, kernel, dtype=dtype)
    if np.iscomplexobj(fill) and work.kind != "c":
        # SciPy's type and words: ValueError, "could not cast `fillvalue` directly ..."
        fail(
            func,
            "fillvalue",
            "real for real inputs (could not cast `fillvalue` directly to the output type)",
            fillvalue,
        )

    swapped = mode == "valid" and _inputs_swap_needed(func, image.shape, kernel.shape)
    if swapped:
        image, kernel, given = kernel, image, None

    # One loop for both operations: convolution correlates with the flipped kernel,
    # correlation with the conjugated one (SciPy's definition for complex data).
    k = kernel[::-1, ::-1] if convolution else np.conj(kernel)
    k = np.ascontiguousarray(k, dtype=work)
    factors = None
    if given is not None:
        factors = given.factors(work)
        if convolution:
            factors = Factors(factors.columns[:, ::-1].copy(), factors.rows[:, ::-1].copy())
    pads = _pads(mode, k.shape, convolution, anchor)
    np_mode = BOUNDARY_MODES[boundary]
    integer = exact is not None
    plan = _plan(func, method, False, image, k, pads, separable, "per-tap", factors, integer)
    out = _paths.correlate_image(image, k, pads, np_mode, fill, plan)
    if swapped and not convolution:
        out = np.ascontiguousarray(out[::-1, ::-1])
    return out if exact is None else to_int64(out)


def same_mode_anchor(
    func: str, kernel_shape: tuple[int, ...], mode: str, origin: Any
) -> tuple[int, int]:
    """The kernel element over each output pixel in 'same' mode, per axis.

    Counted in the kernel as given (before a convolution flips it): ``(m - 1) // 2`` by
    SciPy.signal's rule (``origin=None``), else ``m // 2 + origin`` as in scipy.ndimage.
    """
    if origin is None:
        return ((kernel_shape[0] - 1) // 2, (kernel_shape[1] - 1) // 2)
    if mode != "same":
        fail(func, "origin", "None unless mode='same' (it places the 'same' window)", origin)
    shifts = as_pair(func, "origin", origin, minimum=-(2**62))
    anchor = []
    for shift, m in zip(shifts, kernel_shape, strict=True):
        if not -(m // 2) <= shift <= (m - 1) // 2:
            fail(
                func,
                "origin",
                f"between {-(m // 2)} and {(m - 1) // 2} for a kernel of shape "
                f"{tuple(kernel_shape)} (the anchor must lie in the kernel)",
                origin,
            )
        anchor.append(m // 2 + shift)
    return (anchor[0], anchor[1])


def _pads(
    mode: str,
    kernel_shape: tuple[int, ...],
    convolution: bool,
    anchor: tuple[int, int] | None = None,
) -> Pads:
    """Border widths that turn ``mode`` into a 'valid' correlation of the extended image.

    'full' pads k - 1 on each side.  'same' pads ``anchor`` before (SciPy's
    ``(k - 1) // 2`` by default), or, for the flipped kernel of a convolution,
    ``k - 1 - anchor``.
    """
    if mode == "valid":
        return ((0, 0), (0, 0))
    if mode == "full":
        return ((kernel_shape[0] - 1,) * 2, (kernel_shape[1] - 1,) * 2)
    if anchor is None:
        anchor = ((kernel_shape[0] - 1) // 2, (kernel_shape[1] - 1) // 2)
    pads = []
    for k, centre in zip(kernel_shape, anchor, strict=True):
        before = k - 1 - centre if convolution else centre
        pads.append((before, k - 1 - before))
    return (pads[0], pads[1])


def _inputs_swap_needed(func: str, shape1: tuple[int, ...], shape2: tuple[int, ...]) -> bool:
    """SciPy's rule for 'valid' mode: swap when in2 is the larger in every dimension."""
    first_larger = all(a >= b for a, b in zip(shape1, shape2, strict=True))
    second_larger = all(b >= a for a, b in zip(shape1, shape2, strict=True))
    if not (first_larger or second_larger):
        fail(
            func,
            "in2",
            "no larger than in1 in every dimension, or at least as large in every dimension, "
            f"for mode='valid' (in1 has shape {shape1})",
            got=f"shape {shape2}",
        )
    return not first_larger


def _check_fillvalue(func: str, fillvalue: Any) -> Any:
    value = np.asarray(fillvalue)
    if value.dtype.kind not in "biufc":
        fail(func, "fillvalue", "a number", fillvalue, TypeError)
    if value.size != 1:
        fail(func, "fillvalue", "scalar or an array with one element", fillvalue)
    return value.reshape(()).item()


def _check_separable(func: str, separable: Any) -> None:
    if separable is not None and not isinstance(separable, (bool, np.bool_)):
        fail(func, "separable", "True, False or None", separable, TypeError)


def _plan(
    func: str,
    method: str,
    allow_fft: bool,
    image: NDArray[Any],
    k: NDArray[Any],
    pads: Pads,
    separable: bool | None,
    rule: str,
    factors: Factors | None,
    integer: bool,
) -> _paths.Plan:
    """The path for one image (see :mod:`corr2d.core._paths`), and the FFT's rules:
    method='fft' refuses non-finite data (NaN or inf would spread over a whole tile);
    'auto' takes the FFT only for finite data (and, with ``allow_fft`` False, never).
    ``integer``: integer image and kernel, computed exactly (no FFT; exact splits only)."""
    extended = (image.shape[0] + sum(pads[0]), image.shape[1] + sum(pads[1]))
    if method == "fft":
        check_finite_for_fft(func, "in1" if func != "corr2d" else "X", image)
        check_finite_for_fft(func, "in2" if func != "corr2d" else "K", k)
    if integer:
        method, allow_fft = "direct", False

    def plan_for(method: str) -> _paths.Plan:
        return _paths.plan_image(
            func,
            extended,
            k,
            1,
            image.dtype,
            method=method,
            allow_fft=allow_fft,
            separable=separable,
            rule=rule,
            factors=factors,
            integer=integer,
        )

    plan = plan_for(method)
    finite = plan.path != "fft" or (np.isfinite(image).all() and np.isfinite(k).all())
    return plan if finite or method == "fft" else plan_for("direct")


PathName = Literal["direct", "separable", "box", "fft"]


@overload
def choose_method(
    in1: ArrayLike,
    in2: KernelLike,
    mode: Literal["full", "valid", "same"] = ...,
    boundary: Boundary = ...,
    *,
    measure: Literal[False] = ...,
) -> PathName: ...
@overload
def choose_method(
    in1: ArrayLike,
    in2: KernelLike,
    mode: Literal["full", "valid", "same"] = ...,
    boundary: Boundary = ...,
    *,
    measure: Literal[True],
) -> tuple[PathName, dict[str, float]]: ...
def choose_method(
    in1: ArrayLike,
    in2: KernelLike,
    mode: Literal["full", "valid", "same"] = "full",
    boundary: Boundary = "fill",
    *,
    measure: bool = False,
) -> PathName | tuple[PathName, dict[str, float]]:
    """The path the cost model picks for correlating ``in1`` with ``in2``.

    This is what ``method='auto'`` does in :func:`corr2d` and
    :func:`corr2d.filtering.filter_image`.  :func:`correlate2d` and :func:`convolve2d`
    take the same path except the FFT, which they leave to ``method='fft'``, and they
    split a kernel only where every tap keeps its rounding.

    Parameters
    ----------
    in1, in2 : array_like, 2-D
        The image and the kernel, as for :func:`correlate2d`.
    mode, boundary : str, optional
        As for :func:`correlate2d`.
    measure : bool, optional
        If True, time each path that applies (best of three) and return the fastest
        with the times.

    Returns
    -------
    path : {'direct', 'separable', 'box', 'fft'}
        'direct': every tap of the 2-D kernel; 'separable': pairs of 1-D passes;
        'box': running sums (all taps equal, integer images); 'fft': tiled FFTs.
    times : dict, only if ``measure=True``
        Seconds per path.

    Notes
    -----
    The model prices each path per output: the compiled loops at a constant per
    multiply-add (``kh * kw`` of them for 'direct', ``rank * (kh + kw)`` for
    'separable'), running sums at a constant, and the FFT at a constant per
    ``L log2 L`` of each tile's transforms; the constants were measured on the benchmark
    machine (``bench/bench_core.py`` and ``bench/bench_field.py`` time the paths).
    Integer and bool data take no FFT (their results are exact), nor do data with NaN
    or inf (which the FFT would spread over a tile).

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d import choose_method, kernels
    >>> image = np.zeros((512, 512), dtype=np.float32)
    >>> rng = np.random.default_rng(0)
    >>> choose_method(image, rng.random((3, 3), np.float32), mode='valid')
    'direct'
    >>> choose_method(image, kernels.gaussian(3.0).astype(np.float32), mode='same')
    'separable'
    >>> choose_method(image, rng.random((31, 31), np.float32), mode='valid')
    'fft'
    """
    func = "choose_method"
    given = in2 if isinstance(in2, Separable) else None
    image = as_array(in1, func, "in1", ndim=2)
    kernel = as_array(in2, func, "in2", ndim=2)
    check_choice(func, "mode", mode, MODES)
    check_choice(func, "boundary", boundary, tuple(BOUNDARY_MODES))
    if mode == "valid" and _inputs_swap_needed(func, image.shape, kernel.shape):
        image, kernel, given = kernel, image, None
    integer = image.dtype.kind in "biu" and kernel.dtype.kind in "biu"
    work = result_dtype(func, image, kernel)
    k = np.ascontiguousarray(np.conj(kernel), dtype=work)
    factors = None if given is None else given.factors(work)
    pads = _pads(mode, kernel.shape, convolution=False)
    plan = _plan(func, "auto", True, image, k, pads, None, "summed", factors, integer)
    if not measure:
        return plan.path
    candidates: dict[str, dict[str, Any]] = {"direct": {"separable": False, "method": "direct"}}
    if plan.path in ("separable", "box"):
        candidates[plan.path] = {"separable": True, "method": "direct"}
    if not integer:
        candidates["fft"] = {"method": "fft"}
    times: dict[str, float] = {}
    for name, options in candidates.items():
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            corr2d(
                _paths.extend(image, pads, BOUNDARY_MODES[boundary]),
                in2 if given else kernel,
                **options,
            )
            best = min(best, time.perf_counter() - start)
        times[name] = best
    fastest = cast(PathName, min(times, key=times.__getitem__))
    return fastest, times
