"""Filtering images: every colour channel correlated with one kernel, and edge maps.

These functions take images as :mod:`corr2d.io` reads them, ``(H, W)`` or
``(H, W, C)``, and filter them in that layout, all channels in one call (an
interleaved row RGBRGB... is a row whose taps are three elements apart; see
:mod:`corr2d.core._bands`).  :func:`filter_image` returns filter responses (floating
point, not yet pixels: see :func:`corr2d.io.to_image_dtype`); :func:`filter_pixels`
returns pixels of the input's type, as OpenCV's filters do.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import (
    METHODS,
    as_array,
    check_choice,
    check_finite_for_fft,
    fail,
    result_dtype,
)
from corr2d.core.correlate import Boundary

if TYPE_CHECKING:
    from corr2d.core._paths import ImageTask

__all__ = [
    "EDGE_OPERATORS",
    "SHORT_JOB_WORK",
    "filter_image",
    "filter_pixels",
    "filter_work",
    "gradient_image",
    "pixel_work_dtype",
]

_MODES = ("full", "valid", "same")

#: Multiply-adds below which a command-line job (filter, edges, estimate, rf) runs its
#: correlations on vectorised NumPy (inside :func:`corr2d.core._engine.short_job`):
#: about 0.3 s of NumPy work, what loading the compiled loops costs a fresh process.
SHORT_JOB_WORK = 2**28

#: What :func:`_repeat_key` returns: image shape, dtype, kernel shape and bytes, the
#: options and their types.
_Key = tuple[
    tuple[int, ...], "np.dtype[Any]", tuple[int, ...], bytes, tuple[Any, ...], tuple[type, ...]
]

#: The prepared loops of the last few calls of :func:`filter_image` (see
#: :func:`_repeat_key`): a program usually filters many images of one size with one
#: kernel, and a repeated call then skips the checks and the choice of path, which
#: cost as much as the loop itself on a small image, several times more on its first
#: call after idle, when every line of code runs from cold caches.
_prepared: dict[_Key, ImageTask] = {}
_PREPARED_KEPT = 8
_prepared_lock = threading.Lock()
#: Kernels of up to this many taps are compared by value to find a prepared loop.
_KEY_TAPS = 2048
#: The types a call's options may have to be kept (anything else is planned each time).
_KEY_TYPES = frozenset((str, bool, int, float, type(None)))
#: The image dtypes whose calls are kept (native byte order: NumPy's own dtype objects).
_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def filter_image(
    image: ArrayLike,
    kernel: Any,
    mode: Literal["full", "valid", "same"] = "same",
    boundary: Boundary = "fill",
    fillvalue: float = 0.0,
    *,
    convolve: bool = False,
    origin: int | tuple[int, int] | None = None,
    method: Literal["auto", "direct", "fft"] = "auto",
    separable: bool | None = None,
    compiled: bool | None = None,
) -> NDArray[Any]:
    """Correlate (or convolve) every colour channel of an image with one kernel.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        A grey or colour image.  An alpha channel (the last of 2 or 4) is neither
        filtered nor returned; a caller that writes pixels keeps it (the command line
        passes it through).
    kernel : array_like, shape (kH, kW), or Separable
    mode, boundary, fillvalue, origin
        As for :func:`corr2d.correlate2d`; ``mode`` defaults to ``'same'`` here, so the
        output has the input's size.
    convolve : bool, optional
        Convolve (flip the kernel) instead of correlating.
    method, separable : optional
        As for :func:`corr2d.corr2d`: 'auto' takes whichever of the 2-D sums, separable
        passes, running sums and FFTs the cost model prices lowest.
    compiled : bool, optional
        None (default): compiled loops unless the work is small; False: vectorised NumPy
        only, which needs no compiler (what the command line does for short jobs);
        True: compiled loops.

    Returns
    -------
    response : ndarray, shape (H', W') or (H', W', C')
        Floating point, of the dtype :func:`corr2d.correlate2d` gives for float data
        (float32 for a float32 image and kernel, float64 for integer images), ``C'`` the
        number of colour channels (1 or 3; a single channel is returned 2-D).

    Notes
    -----
    A call that repeats an earlier call's image shape and dtype, kernel (by value) and
    options reuses the loop that call prepared (the last few are kept), skipping the
    checks and the choice of path: on a 512x512 image these cost as much as the
    filtering itself.

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.filtering import filter_image
    >>> rgb = np.zeros((3, 3, 3)); rgb[1, 1] = [1, 2, 3]
    >>> filter_image(rgb, [[1.0]])[1, 1]
    array([1., 2., 3.])
    """
    options = (mode, boundary, fillvalue, convolve, origin, method, separable, compiled)
    last = _last_call
    if last is not None:
        out = last.again(image, kernel, options)
        if out is not None:
            return out
    key = _repeat_key(image, kernel, options)
    if key is not None:
        prepared = _prepared.get(key)
        if prepared is not None:
            _remember_last(key, prepared)
            return prepared(image)  # type: ignore[arg-type]
    func = "filter_image"
    colour = _colour(func, image)
    work = result_dtype(func, colour, as_array(kernel, func, "kernel", ndim=2))
    return _filter(func, colour, kernel, *options, work, work, remember=key)


def _repeat_key(image: Any, kernel: Any, options: tuple[Any, ...]) -> _Key | None:
    """What identifies a call of :func:`filter_image` whose prepared loop can be kept:
    a 2-D float32 or float64 image in native byte order, a kernel of its dtype and up to
    ``_KEY_TAPS`` taps (compared by value), and options of plain types (compared with
    their types, so that ``1`` and ``True`` differ).  None for other calls.  A call with
    the key of an earlier successful call passes the same checks and takes the same
    path, so the prepared loop serves it.
    """
    if type(image) is not np.ndarray or type(kernel) is not np.ndarray:
        return None
    dtype = image.dtype
    # identity, not equality: NumPy's native float dtypes are single objects, and a
    # comparison of dtypes runs far more code, which costs on a first call after idle
    if (
        (dtype is not _FLOAT32 and dtype is not _FLOAT64)
        or kernel.dtype is not dtype
        or image.ndim != 2
        or kernel.ndim != 2
        or kernel.size > _KEY_TAPS
    ):
        return None
    types = tuple(map(type, options))
    if not _KEY_TYPES.issuperset(types):
        return None
    return (image.shape, dtype, kernel.shape, kernel.tobytes(), options, types)


def _remember(key: _Key, prepared: ImageTask) -> None:
    """Keep ``prepared`` for calls with ``key``, dropping the oldest beyond ``_PREPARED_KEPT``."""
    with _prepared_lock:
        _prepared[key] = prepared
        while len(_prepared) > _PREPARED_KEPT:
            del _prepared[next(iter(_prepared))]
    _remember_last(key, prepared)


class _LastCall:
    """The most recent call of :func:`filter_image` that ran a kept loop, recognised in
    fewer steps than :func:`_repeat_key`'s: its options by identity (the same objects,
    as literals and defaults are from one call site to the next; equal options of other
    objects go through the key) and the image's shape and strides (so C-contiguous)."""

    __slots__ = (
        "always_alone",
        "dtype",
        "entry",
        "helpers_asleep",
        "kernel_bytes",
        "kernel_shape",
        "options",
        "out_shape",
        "shape",
        "strides",
        "tables",
        "task",
        "task_ended",
        "unloaded",
        "weights",
    )

    def __init__(self, key: _Key, task: ImageTask) -> None:
        shape, dtype, kernel_shape, kernel_bytes, options, _ = key
        self.shape = shape
        self.strides = (shape[1] * dtype.itemsize, dtype.itemsize)
        self.dtype = dtype
        self.kernel_shape = kernel_shape
        self.kernel_bytes = kernel_bytes
        self.options = options
        self.task = task
        self.out_shape = task.out_shape
        self.always_alone = task.always_alone
        from corr2d.core._paths import helpers_asleep, task_ended

        self.helpers_asleep = helpers_asleep
        self.task_ended = task_ended
        self.tables = task.tables
        self.entry: Any = None
        self.weights: NDArray[Any] | None = None
        # the entry is loaded when the call first repeats (a one-off call does without)
        self.unloaded = True

    def load_entry(self) -> None:
        """Take the task's compiled entry (:meth:`ImageTask.load_entry`), with the
        weights for this call's kernel; once."""
        self.unloaded = False
        self.entry = self.task.load_entry()
        if self.entry is not None:
            given = np.frombuffer(self.kernel_bytes, self.dtype)
            self.weights = self.task.alone_weights(given)

    def again(self, image: Any, kernel: Any, options: tuple[Any, ...]) -> NDArray[Any] | None:
        """The result of this call on ``image``, ``kernel`` with ``options``, or None if
        it is not this call again.

        A task that runs on the calling thread (always, or after idle: see
        :func:`corr2d.core._paths.helpers_asleep`) takes its compiled entry, which checks
        the image's shape and the kernel's bytes itself and takes only C-contiguous,
        writable arrays of the kept dtype: after idle each step in Python, each
        attribute read and each argument that crosses into compiled code costs
        microseconds, and this is about 0.03 ms less than the checks below and the
        loop's own arguments.  Any other array (a ``TypeError`` from the entry) takes
        the checks, and the entry is not tried again for this kept call.  The entry is
        loaded on the first repeat (:meth:`load_entry`)."""
        if not self.same_objects(image, kernel, options):
            return None
        if self.unloaded:
            self.load_entry()
        entry = self.entry
        if entry is not None and (self.always_alone or self.helpers_asleep()):
            out = np.empty(self.out_shape, self.dtype)
            try:
                if entry(image, kernel, out, self.tables, self.weights):
                    if not self.always_alone:
                        self.task_ended()
                    return out
                return None  # another shape or kernel
            except TypeError:  # another dtype or layout, a read-only array
                self.entry = None
        if self.same_arrays(image, kernel):
            return self.task.run(image)
        return None

    def repeats(self, image: Any, kernel: Any, options: tuple[Any, ...]) -> bool:
        """Whether a call on ``image``, ``kernel`` with ``options`` is this call again."""
        return self.same_objects(image, kernel, options) and self.same_arrays(image, kernel)

    def same_objects(self, image: Any, kernel: Any, options: tuple[Any, ...]) -> bool:
        """Whether ``image`` and ``kernel`` are plain arrays and ``options`` this call's
        option objects."""
        kept = self.options
        # written out: after idle every step costs microseconds (all(map(...)) 8, this 2)
        return (
            type(image) is np.ndarray
            and type(kernel) is np.ndarray
            and options[0] is kept[0]
            and options[1] is kept[1]
            and options[2] is kept[2]
            and options[3] is kept[3]
            and options[4] is kept[4]
            and options[5] is kept[5]
            and options[6] is kept[6]
            and options[7] is kept[7]
        )

    def same_arrays(self, image: NDArray[Any], kernel: NDArray[Any]) -> bool:
        """Whether ``image`` has this call's dtype, shape and strides and ``kernel`` its
        dtype, shape and bytes."""
        return (
            image.dtype is self.dtype
            and kernel.dtype is self.dtype
            and image.shape == self.shape
            and image.strides == self.strides
            and kernel.shape == self.kernel_shape
            and kernel.tobytes() == self.kernel_bytes
        )


#: The call :class:`_LastCall` recognises (replaced whole: threads see one or the other).
_last_call: _LastCall | None = None


def _remember_last(key: _Key, task: ImageTask) -> None:
    global _last_call
    _last_call = _LastCall(key, task)


def _forget_prepared() -> None:
    """Drop every kept loop."""
    global _last_call
    with _prepared_lock:
        _prepared.clear()
        _last_call = None


def filter_pixels(
    image: ArrayLike,
    kernel: Any,
    mode: Literal["full", "valid", "same"] = "same",
    boundary: Boundary = "symm",
    fillvalue: float = 0.0,
    *,
    convolve: bool = False,
    origin: int | tuple[int, int] | None = None,
    method: Literal["auto", "direct", "fft"] = "auto",
    separable: bool | None = None,
    compiled: bool | None = None,
) -> NDArray[Any]:
    """Filter an image and return pixels of its own type, as OpenCV's filters do.

    8- and 16-bit images come back in their depth: each value rounded to the nearest
    integer (halves to even) and clamped to the type's range.  They are computed in
    float32 where that stays within one level of float64's result
    (:func:`pixel_work_dtype`), in float64 otherwise, as sums in space ('auto' takes no
    FFT for them, whose error the rule does not bound).  Float images come back in their
    own type.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        uint8, uint16, float32 or float64 pixels; an alpha channel is dropped.
    kernel, mode, fillvalue, convolve, origin, method, separable, compiled
        As for :func:`filter_image`.
    boundary : {'fill', 'wrap', 'symm', 'mirror', 'nearest'}, optional
        As for :func:`filter_image`, but mirrored ('symm') by default, as the command
        line and OpenCV (``BORDER_REFLECT``) do.

    Returns
    -------
    pixels : ndarray, shape (H', W') or (H', W', C'), the image's dtype

    Examples
    --------
    A 3x3 mean on an 8-bit ramp: the centre is (10+20+30) * 3 / 9 = 20, and the
    mirrored corner (10+10+20) * 2 / 9 = 11.1 rounds to 11.

    >>> import numpy as np
    >>> from corr2d.filtering import filter_pixels
    >>> ramp = np.array([[10, 20, 30]] * 3, dtype=np.uint8)
    >>> filter_pixels(ramp, np.full((3, 3), 1 / 9))
    array([[13, 20, 27],
           [13, 20, 27],
           [13, 20, 27]], dtype=uint8)
    """
    func = "filter_pixels"
    colour = _colour(func, image)
    if colour.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        fail(func, "image", "uint8, uint16, float32 or float64 pixels", got=f"dtype {colour.dtype}")
    kernel_array = as_array(kernel, func, "kernel", ndim=2)
    if kernel_array.dtype.kind == "c":
        fail(func, "kernel", "real for pixels", kind=TypeError, got="a complex kernel")
    options = (mode, boundary, fillvalue, convolve, origin, method, separable, compiled)
    if colour.dtype.kind == "f":
        return _filter(func, colour, kernel, *options, colour.dtype, colour.dtype)
    work = pixel_work_dtype(colour.dtype, kernel, separable=separable)
    # sums in space unless the FFT is asked for: the float32 rule above bounds those
    return _filter(func, colour, kernel, *options, work, colour.dtype, allow_fft=False)


def filter_work(
    shape: tuple[int, ...],
    kernel: Any,
    mode: Literal["full", "valid", "same"] = "same",
    *,
    separable: bool | None = None,
) -> int:
    """Multiply-adds that filtering an image of ``shape`` with ``kernel`` takes on the
    path 'auto' picks (``kh * kw`` per output element, ``rank * (kh + kw)`` for a kernel
    that splits, 4 for running sums).

    Examples
    --------
    >>> from corr2d import kernels
    >>> from corr2d.filtering import filter_work
    >>> filter_work((600, 512, 3), kernels.gaussian(2.0))    # 17x17: two passes of 17
    31334400
    """
    from corr2d.core import _paths
    from corr2d.core.correlate import _pads

    func = "filter_work"
    k = _planning_kernel(as_array(kernel, func, "kernel", ndim=2))
    channels = shape[2] if len(shape) == 3 else 1
    pads = _pads(mode, k.shape, False)
    extended = (shape[0] + sum(pads[0]), shape[1] + sum(pads[1]))
    plan = _paths.plan_image(
        func, extended, k, min(channels, 3), np.dtype(np.uint8), separable=separable
    )
    outputs = (extended[0] - k.shape[0] + 1) * (extended[1] - k.shape[1] + 1)
    return outputs * min(channels, 3) * _paths.work_per_output(plan, k.shape)


def pixel_work_dtype(pixels: Any, kernel: Any, *, separable: bool | None = None) -> np.dtype[Any]:
    """float32 or float64: the type :func:`filter_pixels` computes 8/16-bit pixels in.

    A float32 sum of ``n`` products is within ``n * 2**-24 * sum |k| |x|`` of the exact
    sum, and ``|x|`` is at most the pixel type's top value.  With ``n`` the taps summed
    per output (``kh * kw``, or ``rank * (kh + kw + 2)`` when the kernel splits) plus one
    for rounding the kernel itself, float32 is used when that bound is below one level,
    so that the rounded pixels differ from float64's by at most one level; otherwise
    float64.

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.filtering import pixel_work_dtype
    >>> from corr2d import kernels
    >>> pixel_work_dtype(np.uint8, kernels.gaussian(8.0))      # 65x65, sum 1
    dtype('float32')
    >>> pixel_work_dtype(np.uint16, np.full((31, 31), 10.0))     # sum 9610
    dtype('float64')
    """
    from corr2d.core._separable import Separable, factorize

    dtype = np.dtype(pixels)
    if dtype.kind == "f":
        return dtype
    array = np.asarray(kernel, dtype=np.float64)
    kh, kw = array.shape
    terms = kh * kw
    if separable is not False:
        if isinstance(kernel, Separable):
            rank = 1
        else:
            factors = factorize(_planning_kernel(array), min(kh, kw) - 1)
            rank = 0 if factors is None else factors.rank
        if rank:
            terms = min(terms, rank * (kh + kw + 2))
    top = float(np.iinfo(dtype).max)
    bound = (terms + 1) * 2.0**-24 * float(np.abs(array).sum()) * top
    return np.dtype(np.float32 if bound < 1.0 else np.float64)


def _planning_kernel(kernel: NDArray[Any]) -> NDArray[Any]:
    """The kernel in float32, as 8/16-bit pixels are usually filtered, to plan the path
    with; in float64 where a tap lies beyond float32's range (such pixels are computed in
    float64: :func:`pixel_work_dtype`)."""
    if np.abs(kernel).max(initial=0.0) > np.finfo(np.float32).max:
        return kernel
    return kernel.astype(np.float32)


def _colour(func: str, image: ArrayLike) -> NDArray[Any]:
    """The colour channels (H, W, C), C of 1 or 3, alpha dropped."""
    array = as_array(image, func, "image", ndim=(2, 3))
    if array.ndim == 2:
        return array[..., None]
    if array.shape[2] not in (1, 2, 3, 4):
        fail(
            func,
            "image",
            "of shape (H, W) or (H, W, C) with C of 1 to 4",
            got=f"shape {array.shape}",
        )
    return array[..., :3] if array.shape[2] >= 3 else array[..., :1]


def _filter(
    func: str,
    colour: NDArray[Any],
    kernel: Any,
    mode: str,
    boundary: str,
    fillvalue: Any,
    convolve: bool,
    origin: int | tuple[int, int] | None,
    method: str,
    separable: bool | None,
    compiled: bool | None,
    work: np.dtype[Any],
    out_dtype: np.dtype[Any],
    allow_fft: bool = True,
    remember: _Key | None = None,
) -> NDArray[Any]:
    """Every channel of ``colour`` (H, W, C) correlated in one call; (H', W'[, C']).

    With ``remember``, a single-channel image of the working dtype that takes the
    register-blocked image loop keeps that loop, prepared, under this key
    (:func:`_repeat_key`)."""
    from corr2d.core import _paths
    from corr2d.core._padding import BOUNDARY_MODES
    from corr2d.core._separable import Factors, Separable
    from corr2d.core.correlate import _check_fillvalue, _pads, same_mode_anchor

    given = kernel if isinstance(kernel, Separable) else None
    k = as_array(kernel, func, "kernel", ndim=2)
    check_choice(func, "mode", mode, _MODES)
    check_choice(func, "boundary", boundary, tuple(BOUNDARY_MODES))
    check_choice(func, "method", method, METHODS)
    fillvalue = _check_fillvalue(func, fillvalue)
    if np.iscomplexobj(fillvalue) and work.kind != "c":
        fail(func, "fillvalue", "real for real images", fillvalue)
    height, width, channels = colour.shape
    anchor = same_mode_anchor(func, k.shape, mode, origin)
    if mode == "valid" and (k.shape[0] > height or k.shape[1] > width):
        return _channel_by_channel(colour, kernel, mode, boundary, fillvalue, convolve, method)
    k = k[::-1, ::-1] if convolve else np.conj(k)
    k = np.ascontiguousarray(k, dtype=work)
    factors = None
    if given is not None and work.kind == "f":
        factors = given.factors(work)
        if convolve:
            factors = Factors(factors.columns[:, ::-1].copy(), factors.rows[:, ::-1].copy())
    pads = _pads(mode, k.shape, convolve, anchor)
    extended = (height + sum(pads[0]), width + sum(pads[1]))
    rows = np.ascontiguousarray(colour).reshape(height, width * channels)
    if method == "fft":
        check_finite_for_fft(func, "image", rows)
        check_finite_for_fft(func, "kernel", k)
    options: dict[str, Any] = {"separable": separable, "factors": factors, "compiled": compiled}
    plan = _paths.plan_image(func, extended, k, channels, colour.dtype, method=method, **options)
    keep = channels == 1 and colour.dtype == work
    if remember is not None and keep and plan.compiled and plan.path == "direct":
        np_mode = BOUNDARY_MODES[boundary]
        prepared = _paths.prepare_image_task(rows.shape, k, pads, np_mode, fillvalue)
        if prepared is not None:
            _remember(remember, prepared)
            return prepared(rows)
    if plan.path == "fft" and method == "auto" and not np.isfinite(rows).all():
        plan = _paths.plan_image(
            func, extended, k, channels, colour.dtype, method="direct", **options
        )
    out = _paths.correlate_image(
        rows, k, pads, BOUNDARY_MODES[boundary], fillvalue, plan, channels, out_dtype
    )
    out = out.reshape(out.shape[0], -1, channels)
    return out[..., 0] if channels == 1 else out


def _channel_by_channel(
    colour: NDArray[Any],
    kernel: Any,
    mode: str,
    boundary: str,
    fillvalue: Any,
    convolve: bool,
    method: str,
) -> NDArray[Any]:
    """SciPy's 'valid' rule for kernels larger than the image, one channel at a time."""
    from corr2d.core.correlate import convolve2d, correlate2d

    operation = convolve2d if convolve else correlate2d
    planes = [
        operation(colour[..., c], kernel, mode, boundary, fillvalue, method=method)  # type: ignore[arg-type]
        for c in range(colour.shape[2])
    ]
    return planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)


#: Edge operators of :func:`gradient_image` and the registry kernels they use.
EDGE_OPERATORS = {
    "sobel": ("sobel-dx", "sobel-dy"),
    "scharr": ("scharr-dx", "scharr-dy"),
    "prewitt": ("prewitt-dx", "prewitt-dy"),
    "finite": ("central-dx", "central-dy"),
}


def gradient_image(
    image: ArrayLike,
    operator: Literal["sobel", "scharr", "prewitt", "finite"] = "sobel",
    axis: Literal["x", "y"] | None = None,
    boundary: Boundary = "symm",
    *,
    method: Literal["auto", "direct", "fft"] = "auto",
) -> NDArray[Any]:
    """The gradient magnitude of an image, or its derivative along one axis.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        Colour channels are treated one by one (alpha dropped), as in
        :func:`filter_image`.
    operator : {'sobel', 'scharr', 'prewitt', 'finite'}, optional
        The derivative kernels: ``kernels.get(f'{operator}-dx')`` and ``-dy``; 'finite'
        uses the central differences ``central-dx``/``central-dy`` (``[-1/2, 0, 1/2]``).
    axis : {'x', 'y'}, optional
        Return the signed derivative along ``x`` (columns: responds to edges running
        up-down) or ``y`` (rows).  Default: the magnitude ``sqrt(dx**2 + dy**2)``.
    boundary : {'fill', 'wrap', 'symm', 'mirror', 'nearest'}, optional
        Border rule (default 'symm', so a flat image has no edge at its border).
    method : {'auto', 'direct', 'fft'}, optional
        As for :func:`corr2d.correlate2d`.

    Returns
    -------
    ndarray, the image's height and width
        Non-negative for the magnitude, signed for one axis.

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.filtering import gradient_image
    >>> step = np.zeros((3, 4)); step[:, 2:] = 1
    >>> gradient_image(step, "finite", axis="x")
    array([[0. , 0.5, 0.5, 0. ],
           [0. , 0.5, 0.5, 0. ],
           [0. , 0.5, 0.5, 0. ]])
    """
    from corr2d import kernels

    if operator not in EDGE_OPERATORS:
        raise ValueError(
            "gradient_image: `operator` must be one of "
            f"{', '.join(map(repr, EDGE_OPERATORS))}, got {operator!r}"
        )
    if axis not in (None, "x", "y"):
        raise ValueError(f"gradient_image: `axis` must be 'x', 'y' or None, got {axis!r}")
    names = EDGE_OPERATORS[operator]
    responses = {}
    for name, which in zip(names, ("x", "y"), strict=True):
        if axis is None or axis == which:
            responses[which] = filter_image(
                image, kernels.get(name), "same", boundary, method=method
            )
    if axis is not None:
        return responses[axis]
    return np.hypot(responses["x"], responses["y"], out=responses["x"])  # no third image
