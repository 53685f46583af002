"""One image, one kernel: which of four paths computes it, and running that path.

The faces hand over an image in its own pixel type, the kernel in the working dtype,
the border widths and rule; :func:`correlate_image` returns the 'valid' correlation of
the extended image in the requested output type.  The paths:

* ``'direct'`` -- every tap of the 2-D kernel (the register-blocked image loops of
  :mod:`corr2d.core._engine`, or :func:`corr2d.core._bands.direct_task` for colour
  rows and pixel types);
* ``'separable'`` -- ``rank`` pairs of 1-D passes, for kernels that
  :func:`corr2d.core._separable.factorize` splits (or that came split, as
  :class:`~corr2d.core._separable.Separable`);
* ``'box'`` -- running sums, for kernels whose taps are all equal, on integer pixels,
  where every sum is exact;
* ``'fft'`` -- overlap-save FFTs (:mod:`corr2d.core._fft`).

The cost model prices each in nanoseconds per output element on the benchmark machine
(``bench/bench_field.py`` times them); 'auto' takes the cheapest the face allows.

Which loops run the chosen path depends on the size of the work alone: below
``SMALL_WORK`` multiply-adds, or when the caller says so (``compiled=False``, or inside
:func:`corr2d.core._engine.short_job`: the command line's choice for a short job), vectorised NumPy
(:mod:`corr2d.core._vectorised`), which needs no compiler; otherwise compiled loops.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from corr2d.core import _engine
from corr2d.core._padding import NO_PADS, Pads, pad2d
from corr2d.core._pool import INTERRUPTIBLE_WORK, run_tasks
from corr2d.core._separable import Factors, factorize

__all__ = [
    "SMALL_WORK",
    "ImageTask",
    "Plan",
    "box_sum_dtype",
    "correlate_image",
    "extend",
    "index_tables",
    "plan_image",
    "prepare_image_task",
    "to_output",
    "work_per_output",
]

Path = Literal["direct", "separable", "box", "fft"]

#: Multiply-adds below which a call runs vectorised NumPy rather than compiled loops:
#: about where a compiled call's fixed cost (argument checks, dispatch) matches it.
SMALL_WORK = 2**16

# Cost model, ns per output element on 2 threads (2-core AMD EPYC, float32), fitted to
# bench/bench_field.py: separable passes on 2048x2048 float32 and a 3000x4000 RGB photo.
_SEPARABLE_NS_PER_OUTPUT = 0.25
_SEPARABLE_NS_PER_TAP = 0.012
_BOX_NS_PER_OUTPUT = 0.36
# direct_task: one load per multiply-add, for colour rows and pixel types
_TAPS_NS_PER_TAP = 0.02
#: Kernels up to this many taps take direct_task on colour rows; larger ones are split
#: into channels for the register-blocked loops.
_TAPS_MAX = 64

#: Pixel types the tile loops read as they are; others are converted first.
_READ_AS_IS = (np.uint8, np.uint16, np.float32, np.float64)


@dataclass(frozen=True)
class Plan:
    """A chosen path: its factors (separable and box paths) and whether it compiles."""

    path: Path
    factors: Factors | None
    compiled: bool
    needs_finite: bool = False  # the split holds only in sum, not tap by tap


def _direct_cost(
    out_rows: int, out_width: int, kernel_shape: tuple[int, int], spacing: int, as_is: bool
) -> float:
    from corr2d.core._engine import direct_cost

    if spacing == 1 and as_is:
        return direct_cost((out_rows, out_width), kernel_shape)
    taps = kernel_shape[0] * kernel_shape[1]
    return out_rows * out_width * spacing * (0.25 + taps * _TAPS_NS_PER_TAP)


def _separable_cost(outputs: int, kernel_shape: tuple[int, int], rank: int) -> float:
    taps = rank * (kernel_shape[0] + kernel_shape[1])
    return outputs * (_SEPARABLE_NS_PER_OUTPUT + taps * _SEPARABLE_NS_PER_TAP)


def _max_rank(outputs: int, kernel_shape: tuple[int, int], direct: float) -> int:
    """The largest rank whose passes the model prices below ``direct``."""
    kh, kw = kernel_shape
    rank = 0
    while rank + 1 < min(kh, kw) and _separable_cost(outputs, kernel_shape, rank + 1) < direct:
        rank += 1
    return rank


def plan_image(
    func: str,
    extended_shape: tuple[int, int],
    kernel: NDArray[Any],
    spacing: int,
    image_dtype: np.dtype[Any],
    *,
    method: str = "auto",
    allow_fft: bool = True,
    separable: bool | None = None,
    rule: str = "summed",
    factors: Factors | None = None,
    integer: bool = False,
    compiled: bool | None = None,
) -> Plan:
    """The path for a 'valid' correlation of an extended image of ``extended_shape``
    pixels (``spacing`` channels interleaved) with ``kernel`` (working dtype).

    ``method`` 'fft' forces the FFT, 'direct' excludes it, as does ``allow_fft=False``
    for 'auto'.  ``separable`` True forces the split (``ValueError`` if the kernel does
    not split within rounding), False forbids it.  ``rule`` is the factorization rule
    ('per-tap' keeps every output within the 2-D loops' bound for that output; 'summed'
    also accepts splits that hold summed over the taps, for finite data only).
    ``integer``: integer pixels and kernel, computed exactly (only exact integer splits).
    ``func`` names the public function in errors.
    """
    kh, kw = kernel.shape
    out_rows, out_width = extended_shape[0] - kh + 1, extended_shape[1] - kw + 1
    outputs = out_rows * out_width * spacing
    real = kernel.dtype in (np.float32, np.float64)
    if method == "fft":
        return Plan("fft", None, True)
    as_is = image_dtype == kernel.dtype
    direct = _direct_cost(out_rows, out_width, (kh, kw), spacing, as_is)
    best: Plan = Plan("direct", None, True)
    best_cost = direct
    if separable is not False and real:
        limit = min(kh, kw) - 1 if separable else _max_rank(outputs, (kh, kw), direct)
        needs_finite = False
        if factors is None and limit >= 1:
            factors = factorize(kernel, limit, "per-tap", integer)
            if factors is None and rule == "summed" and not integer:
                factors = factorize(kernel, limit, "summed")
                needs_finite = factors is not None
        if factors is not None:
            cost = _separable_cost(outputs, (kh, kw), factors.rank)
            if separable or cost < best_cost:
                best, best_cost = Plan("separable", factors, True, needs_finite), cost
            if (
                factors.box
                and image_dtype.kind in "biu"
                and outputs * _BOX_NS_PER_OUTPUT < best_cost
            ):
                best, best_cost = Plan("box", factors, True), outputs * _BOX_NS_PER_OUTPUT
        elif separable:
            _not_separable(func, (kh, kw), limit, rule, integer)
    if method == "auto" and allow_fft and best.path != "box" and min(out_rows, out_width) > 0:
        from corr2d.core._engine import fft_cost

        complex_data = kernel.dtype.kind == "c"
        if not complex_data and spacing * fft_cost(extended_shape, (kh, kw)) < best_cost:
            best = Plan("fft", None, True)
    work = outputs * work_per_output(best, (kh, kw))
    short = work < SMALL_WORK or _engine.in_short_job()
    wanted = not short if compiled is None else compiled
    if not _engine_jit_enabled():
        wanted = False  # NUMBA_DISABLE_JIT: NumPy, not the loops as (very slow) Python
    return Plan(best.path, best.factors, wanted or best.path == "fft", best.needs_finite)


def _engine_jit_enabled() -> bool:
    from corr2d.core._engine import jit_enabled

    return jit_enabled()


def _not_separable(func: str, shape: tuple[int, int], limit: int, rule: str, integer: bool) -> None:
    from corr2d._validation import fail

    if min(shape) < 2:
        what = "at least 2x2 (a single row or column is correlated in one pass already)"
    elif integer:
        what = "an outer product of two integer vectors (integer data stay exact)"
    else:
        taps = "tap by tap" if rule == "per-tap" else "summed over the taps"
        what = (
            f"a sum of at most {limit} outer products of 1-D kernels, to within the "
            f"rounding of the 2-D loops ({taps})"
        )
    fail(
        func,
        "separable",
        f"False or None unless the kernel is {what}",
        True,
        got=f"True for a {shape[0]}x{shape[1]} kernel that is not",
    )


def work_per_output(plan: Plan, kernel_shape: tuple[int, ...]) -> int:
    """Multiply-adds per output element on ``plan``'s path."""
    if plan.path == "separable" and plan.factors is not None:
        return plan.factors.rank * (kernel_shape[0] + kernel_shape[1])
    if plan.path == "box":
        return 4
    return kernel_shape[0] * kernel_shape[1]


def index_tables(
    height: int, width: int, spacing: int, pads: Pads, np_mode: str
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(rows, cols): the source row of each extended row and the source element of each
    extended row element, -1 where the extended image holds the fill value.  Read-only;
    the last few are kept, since a program usually filters images of one size."""
    return _index_tables(height, width, spacing, pads, np_mode)


@lru_cache(maxsize=16)
def _index_tables(
    height: int, width: int, spacing: int, pads: Pads, np_mode: str
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    rows = pad2d(np.arange(height, dtype=np.int64)[None], ((0, 0), pads[0]), np_mode, -1)[0]
    pixels = pad2d(np.arange(width, dtype=np.int64)[None], ((0, 0), pads[1]), np_mode, -1)[0]
    cols = pixels[:, None] * spacing + np.arange(spacing)
    cols[pixels < 0] = -1
    rows, cols = np.ascontiguousarray(rows), cols.reshape(-1)
    rows.setflags(write=False)
    cols.setflags(write=False)
    return rows, cols


def to_output(values: NDArray[Any], dtype: np.dtype[Any]) -> NDArray[Any]:
    """``values`` in ``dtype``: rounded to nearest-even and clamped for 8/16-bit pixels
    (NaN becomes 0), as the tile loops store them."""
    if values.dtype == dtype:
        return values
    if dtype.kind == "u":
        top = float(np.iinfo(dtype).max)
        values = np.clip(np.rint(np.nan_to_num(values, nan=0.0)), 0.0, top)
    return values.astype(dtype)


def correlate_image(
    image: NDArray[Any],
    kernel: NDArray[Any],
    pads: Pads,
    np_mode: str,
    fill: Any,
    plan: Plan,
    spacing: int = 1,
    out_dtype: np.dtype[Any] | None = None,
) -> NDArray[Any]:
    """The 'valid' correlation of ``image`` extended by ``pads`` (``np.pad`` mode
    ``np_mode``, ``fill`` for 'constant') with ``kernel``, by ``plan``.

    ``image`` is 2-D, rows of ``width * spacing`` elements (``spacing`` interleaved
    channels, each correlated on its own), in any real or complex type; ``kernel`` is in
    the working dtype, which the result has unless ``out_dtype`` says otherwise.
    """
    work = kernel.dtype
    out_dtype = np.dtype(work if out_dtype is None else out_dtype)
    if plan.needs_finite and not np.isfinite(image).all():
        plan = Plan("direct", None, plan.compiled)
    if plan.path == "box" and not _box_sums_exact(image.dtype, kernel.size, np_mode, fill):
        plan = Plan("separable", plan.factors, plan.compiled)
    if not plan.compiled:
        with np.errstate(invalid="ignore", over="ignore"):  # IEEE results, as the loops give
            values = _vectorised_path(image, kernel, pads, np_mode, fill, plan, spacing)
        return to_output(values, out_dtype)
    if plan.path in ("separable", "box") or (
        plan.path == "direct"
        and (spacing > 1 or image.dtype != work)
        and kernel.size <= _TAPS_MAX
        and work in (np.float32, np.float64)
    ):
        return _tiles_path(image, kernel, pads, np_mode, fill, plan, spacing, out_dtype)
    task = None
    if plan.path == "direct" and spacing == 1 and image.dtype.kind in "biuf":
        task = prepare_image_task(image.shape, kernel, pads, np_mode, fill)
    if task is not None:
        return to_output(task(image), out_dtype)
    return to_output(_plane_path(image, kernel, pads, np_mode, fill, plan.path, spacing), out_dtype)


def extend(
    image: NDArray[Any],
    pads: Pads,
    np_mode: str,
    fill: Any = 0,
    spacing: int = 1,
    dtype: np.dtype[Any] | None = None,
) -> NDArray[Any]:
    """The image extended by ``pads`` (pixels, not elements), in ``dtype`` (default its own)."""
    pixels = image.reshape(image.shape[0], -1, spacing)
    if dtype is not None:
        pixels = pixels.astype(dtype, copy=False)
    widths = ((pads[0]), (pads[1]), (0, 0))
    if pads != NO_PADS:
        if np_mode == "constant":
            pixels = np.pad(pixels, widths, mode="constant", constant_values=fill)
        else:
            pixels = np.pad(pixels, widths, mode=np_mode)  # type: ignore[call-overload]
    return pixels.reshape(pixels.shape[0], -1)


def _vectorised_path(
    image: NDArray[Any],
    kernel: NDArray[Any],
    pads: Pads,
    np_mode: str,
    fill: Any,
    plan: Plan,
    spacing: int,
) -> NDArray[Any]:
    from corr2d.core import _vectorised

    if plan.path == "box" and plan.factors is not None:
        extended = extend(image, pads, np_mode, fill, spacing, np.dtype(np.int64))
        weight = kernel.dtype.type(box_weight(plan.factors))
        sums = _vectorised.box_sums(extended, kernel.shape[0], kernel.shape[1], spacing)
        return weight * sums.astype(kernel.dtype)
    extended = extend(image, pads, np_mode, fill, spacing, kernel.dtype)
    if plan.path == "separable" and plan.factors is not None:
        return _vectorised.separable(extended, plan.factors.columns, plan.factors.rows, spacing)
    return _vectorised.direct(extended, kernel, spacing)


def _tiles_path(
    image: NDArray[Any],
    kernel: NDArray[Any],
    pads: Pads,
    np_mode: str,
    fill: Any,
    plan: Plan,
    spacing: int,
    out_dtype: np.dtype[Any],
) -> NDArray[Any]:
    from corr2d.core import _bands, _engine
    from corr2d.core._pool import run_tasks

    work = kernel.dtype
    source = image if image.dtype in _READ_AS_IS else image.astype(work)
    source = np.ascontiguousarray(source)
    height, elements = source.shape
    rows, cols = index_tables(height, elements // spacing, spacing, pads, np_mode)
    kh, kw = kernel.shape
    out_rows = rows.shape[0] - kh + 1
    out_elements = cols.shape[0] - (kw - 1) * spacing
    out = np.empty((out_rows, out_elements), dtype=out_dtype)
    reach = (kw - 1) * spacing
    tile_rows, tile_width = _bands.tile_plan(out_rows, out_elements, kh, reach, work.itemsize)
    fill_value = work.type(fill)
    outputs = out_rows * out_elements
    macs = outputs * work_per_output(plan, (kh, kw))
    threads = _engine.threads_for(macs)
    geometry = (out, tile_rows, tile_width)
    if plan.path == "separable" and plan.factors is not None:
        factors = plan.factors
        run_tasks(
            _bands.separable_task,
            *(source, rows, cols, fill_value, factors.columns, factors.rows, spacing),
            *geometry,
            threads=threads,
            work=macs,
        )
    elif plan.path == "box" and plan.factors is not None:
        weight = work.type(box_weight(plan.factors))
        like = np.zeros(1, dtype=box_sum_dtype(image.dtype, kh * kw, float(fill_value)))
        if not _holds(source.dtype, fill_value):
            source = source.astype(like.dtype)  # the ring of rows holds the fill value too
        top = work.type(np.iinfo(out_dtype).max if out_dtype.kind == "u" else 0)
        tile_rows, tile_width = _bands.box_tile_plan(out_rows, out_elements, kh, reach)
        run_tasks(
            _bands.box_task,
            *(source, rows, cols, source.dtype.type(fill_value), like, weight, kh, kw),
            *(spacing, top),
            *(out, tile_rows, tile_width),
            threads=threads,
            work=macs,
        )
    else:
        run_tasks(
            _bands.direct_task,
            *(source, rows, cols, fill_value, kernel, spacing),
            *geometry,
            threads=threads,
            work=macs,
        )
    return out


def box_weight(factors: Factors) -> float:
    """The one weight of a box kernel (the product of its factors' constant taps, exact
    in float64 for float32 factors and correctly rounded for float64 ones)."""
    return float(factors.columns[0, 0]) * float(factors.rows[0, 0])


def _holds(dtype: np.dtype[Any], value: Any) -> bool:
    """Whether ``dtype`` represents the (integer-valued or float) ``value`` exactly."""
    if dtype.kind == "f":
        return True
    info = np.iinfo(dtype)
    return bool(info.min <= value <= info.max)


def _box_sums_exact(pixels: np.dtype[Any], taps: int, np_mode: str, fill: Any) -> bool:
    """Whether running sums of ``taps`` integer ``pixels`` (and of the fill value, for
    'constant' borders) are exact in an integer type: a fill value that is not a whole
    number (NaN and inf included), or sums that need more than int64, take the passes."""
    value = float(np.real(fill)) if np_mode == "constant" else 0.0
    if not math.isfinite(value) or value != round(value):
        return False
    return box_sum_dtype(pixels, taps, value).kind != "f"


def box_sum_dtype(pixels: np.dtype[Any], taps: int, fill: float = 0.0) -> np.dtype[Any]:
    """The type whose sums of ``taps`` values of integer ``pixels`` (or ``fill``) are
    exact: uint16 or int32 where they fit, else int64, else float64 (exact below 2**53)."""
    info = np.iinfo(pixels) if pixels.kind in "iu" else np.iinfo(np.uint8)
    low, high = min(int(info.min), 0) if pixels.kind in "iu" else 0, int(info.max)
    if pixels.kind == "b":
        high = 1
    if fill == fill and abs(fill) < 2.0**62:  # not NaN or out of every integer type
        low, high = min(low, int(fill)), max(high, int(fill))
    else:
        return np.dtype(np.float64)
    bound = taps * max(high, -low)
    if low >= 0 and bound < 2**16:
        return np.dtype(np.uint16)
    if bound < 2**31:
        return np.dtype(np.int32)
    return np.dtype(np.int64 if bound < 2**63 else np.float64)


#: Output rows per task of the register-blocked image loop (a multiple of its blocks).
_IMAGE_TASK_ROWS = 24

#: Seconds without an image task after which the helper threads' CPUs are asleep: a
#: helper then joins a job late and the caller waits for the band it took.  Measured on
#: 512x512 float32 (two threads against the calling thread alone, medians of 40 calls):
#: after 0.5 ms of idle 7x7 took 0.19 against 0.21 ms; after 2 ms 0.32 against 0.24;
#: after 50 ms 0.54 against 0.35 (9x9: 0.51 against 0.44; 11x11: 0.79 against 0.90).
_HELPERS_ASLEEP = 1e-3
#: Work below which an image task after such idle runs on the calling thread alone
#: (512x512: up to 9x9).
_ALONE_AFTER_IDLE_WORK = 3 * _engine.SERIAL_WORK
#: When the last image task that may wake the helpers ended (``time.perf_counter``;
#: a task below ``SERIAL_WORK`` always runs on the calling thread and leaves it).
_last_task_end = 0.0


def prepare_image_task(
    shape: tuple[int, int], kernel: NDArray[Any], pads: Pads, np_mode: str, fill: Any
) -> ImageTask | None:
    """The register-blocked image loop prepared for images of ``shape`` (real pixels,
    one channel), or None where it does not serve: kernels of more than
    ``MAX_IMAGE_HEIGHT`` rows, complex kernels, outputs smaller than a block in either
    direction or too small to be worth a compiled loop."""
    from corr2d.core._engine import _UNROLL_MIN_OUTPUTS
    from corr2d.core._unrolled import has_image_loop

    kh, kw = kernel.shape
    out_shape = (shape[0] + sum(pads[0]) - kh + 1, shape[1] + sum(pads[1]) - kw + 1)
    if out_shape[0] * out_shape[1] < _UNROLL_MIN_OUTPUTS:
        return None
    if not has_image_loop(kernel.dtype, out_shape, kh):
        return None
    return ImageTask(shape, kernel, pads, np_mode, fill)


class ImageTask:
    """The register-blocked image loop over an image read through index tables, with
    everything but the image prepared: the tables, the compiled loop, its bands and the
    columns read in place.  A program that filters many images of one size with one
    kernel keeps it (:func:`corr2d.filtering.filter_image` does), so that a call does
    no more than allocate the output and run the loop.

    Calling it on an image of ``shape`` returns the 'valid' correlation of the image,
    extended by ``pads`` (``np_mode``, ``fill`` for 'constant'), with ``kernel``, in the
    kernel's dtype.
    """

    __slots__ = (
        "alone",
        "always_alone",
        "args",
        "args_after",
        "dtype",
        "kernel",
        "loop",
        "out_shape",
        "own",
        "shape",
        "tables",
        "wants_entry",
        "work",
    )

    def __init__(
        self, shape: tuple[int, int], kernel: NDArray[Any], pads: Pads, np_mode: str, fill: Any
    ) -> None:
        from corr2d.core._unrolled import image_task as compiled_image_task

        kernel = np.array(kernel, order="C")  # a copy the caller cannot change
        kernel.setflags(write=False)
        rows, cols = index_tables(shape[0], shape[1], 1, pads, np_mode)
        kh, kw = kernel.shape
        self.shape = shape
        self.dtype = kernel.dtype
        self.out_shape = (rows.shape[0] - kh + 1, cols.shape[0] - kw + 1)
        self.work = self.out_shape[0] * self.out_shape[1] * kh * kw
        self.loop = compiled_image_task(kh, kw).serial
        tile_rows = min(_IMAGE_TASK_ROWS, self.out_shape[0])
        # the outputs whose windows lie inside the image's columns: read in place
        left, width = pads[1][0], shape[1]
        lo = min(left, self.out_shape[1])
        hi = max(0, min(left + width - kw + 1, self.out_shape[1]))
        self.args = (rows, cols, kernel.dtype.type(fill), kernel)
        self.args_after = (tile_rows, lo, hi)
        self.kernel = kernel
        from corr2d.core._unrolled import ALONE_FIELDS

        fields = {"tile_rows": tile_rows, "lo": lo, "hi": hi, "height": shape[0]}
        fields.update(width=shape[1], kh=kh, kw=kw, rows=rows.shape[0])
        head = [fields[name] for name in ALONE_FIELDS]
        self.tables = np.concatenate([head, rows, cols]).astype(np.int64)
        self.tables.setflags(write=False)
        # a task that runs on the calling thread, always (threads_for gives 1 below
        # SERIAL_WORK) or after idle (below _ALONE_AFTER_IDLE_WORK), does so through
        # the compiled entry that takes a kept call's arguments packed (two arrays, see
        # alone_weights): fewer to cross into compiled code on every call.  The entry is
        # compiled (or loaded from the disk cache) when a call repeats (load_entry): a
        # one-off call, as a command line makes, does not pay for it (20 ms from the
        # cache, 0.7 s to compile)
        self.alone: Any = None
        self.own: tuple[NDArray[Any], NDArray[Any]] | None = None
        self.always_alone = self.work < _engine.SERIAL_WORK
        self.wants_entry = self.work < _ALONE_AFTER_IDLE_WORK

    def load_entry(self) -> Any:
        """:attr:`alone`, compiled or loaded on the first call of this method where the
        task runs on the calling thread (always or after idle); None elsewhere, and
        without the JIT."""
        if self.wants_entry:
            from corr2d.core._unrolled import image_task_alone

            self.wants_entry = False
            kh, kw = self.kernel.shape
            self.alone = image_task_alone(kh, kw, self.kernel.dtype)
            if self.alone is not None:
                own = np.array(self.kernel)  # writable: the entry takes the caller's kernel
                self.own = own, self.alone_weights(own)
        return self.alone

    def alone_weights(self, given: NDArray[Any]) -> NDArray[Any]:
        """The ``weights`` of :attr:`alone` (read-only) for calls whose kernel is
        ``given`` (the caller's, before any flip): the kernel the loop multiplies by,
        ``given`` (compared byte by byte with the call's), and the fill value."""
        fill = self.args[2]
        weights = np.concatenate([self.kernel.ravel(), given.ravel(), [fill]]).astype(self.dtype)
        weights.setflags(write=False)
        return weights

    def __call__(self, image: NDArray[Any]) -> NDArray[Any]:
        return self.run(np.ascontiguousarray(image, dtype=self.dtype))

    def run(self, source: NDArray[Any]) -> NDArray[Any]:
        """The loop on ``source``, which the caller has checked is a C-contiguous array
        of ``shape`` and ``dtype`` (a call after idle pays for every step before the loop
        several times over, so the checks are not repeated here)."""
        out = np.empty(self.out_shape, self.dtype)
        work = self.work
        here = self.always_alone or (work < _ALONE_AFTER_IDLE_WORK and helpers_asleep())
        if here and self.own is not None:
            try:
                self.alone(source, self.own[0], out, self.tables, self.own[1])
            except TypeError:  # a read-only image: the loop itself
                self.loop(source, *self.args, out, *self.args_after, np.zeros(1, np.int64))
        elif here or (work < INTERRUPTIBLE_WORK and _engine.threads_for(work) == 1):
            # as run_tasks would, in fewer steps (here: NUMBA_DISABLE_JIT, no entry)
            self.loop(source, *self.args, out, *self.args_after, np.zeros(1, np.int64))
        else:
            threads = _engine.threads_for(work)
            run_tasks(
                self.loop, source, *self.args, out, *self.args_after, threads=threads, work=work
            )
        if not self.always_alone:
            task_ended()
        return out


def helpers_asleep() -> bool:
    """Whether the helper threads' CPUs are asleep by now (``_HELPERS_ASLEEP``)."""
    return time.perf_counter() - _last_task_end > _HELPERS_ASLEEP


def task_ended() -> None:
    """Note that an image task that may wake the helpers ended now."""
    global _last_task_end
    _last_task_end = time.perf_counter()


def _plane_path(
    image: NDArray[Any],
    kernel: NDArray[Any],
    pads: Pads,
    np_mode: str,
    fill: Any,
    method: str,
    spacing: int,
) -> NDArray[Any]:
    """The register-blocked loops (or the FFT) on each channel's padded plane."""
    from corr2d.core._engine import correlate_valid

    chosen: Literal["direct", "fft"] = "fft" if method == "fft" else "direct"
    pixels = image.reshape(image.shape[0], -1, spacing)
    planes = []
    for c in range(spacing):
        plane = np.ascontiguousarray(pixels[..., c], dtype=kernel.dtype)
        plane = np.ascontiguousarray(pad2d(plane, pads, np_mode, fill))
        planes.append(correlate_valid(plane, kernel, chosen))
    if spacing == 1:
        return planes[0]
    return np.stack(planes, axis=-1).reshape(planes[0].shape[0], -1)
