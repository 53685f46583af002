"""The one correlation core: a 'valid' 2-D correlation, by compiled loops or by FFT.

Every public function reduces its problem to :func:`correlate_valid` (one plane) or
:func:`conv2d_valid` (batched, multi-channel planes): it validates, pads the input
according to its border rule, and calls in here with contiguous arrays of the working
dtype.  Convolution is correlation with a flipped kernel, so there is no second loop.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from corr2d._forksafe import fork_safe_lock
from corr2d.core._padding import NO_PADS, Pads, pad2d

__all__ = [
    "WORKSPACE_BYTES",
    "conv2d_valid",
    "correlate_valid",
    "direct_cost",
    "fft_cost",
    "fold_tile",
    "num_threads",
    "patch_tiles",
    "pick_conv_method",
    "pick_method",
]

#: The largest patch (im2col) buffer the matrix-product path may allocate, in bytes.
#: Larger problems are tiled over output rows so that no buffer exceeds it.
WORKSPACE_BYTES = 16 * 2**20

Method = Literal["direct", "fft"]

#: Images with fewer outputs than this use the generic loops, not shape-unrolled ones.
_UNROLL_MIN_OUTPUTS = 128 * 128

# Cost model: wall time in nanoseconds on 2 threads, fitted to medians measured on a
# 2-core AMD EPYC (CPU family 26, Zen 5, AVX-512) with float32 (bench/bench_core.py
# prints both paths).
# float64 and complex data cost proportionally more per element in both paths, so the
# ratio, which is all the choice depends on, barely moves.
_DIRECT_NS_PER_OUTPUT = 0.25
_DIRECT_NS_PER_TAP = {"image": 0.0095, "unrolled": 0.018, "generic": 0.035, "small": 0.15}
#: A multiply-add of the layers' register-blocked kernels (:mod:`corr2d.core._blocked`),
#: forward or backward: 0.0055-0.006 ns measured on the dense 3x3 layers, rounded up.
_BLOCKED_NS_PER_TAP = 0.007
_FFT_NS_PER_POINT_LOG = 0.093
_FFT_NS_PER_OUTPUT = 1.0
_FFT_NS_PER_CALL = 500_000.0  # the kernel's transform and the transforms' set-up


#: Work, in multiply-adds of an unrolled loop, below which a loop runs on the calling
#: thread.  A parallel region costs about 0.1 ms on numba's 'workqueue' layer, which
#: the second core only wins back on larger work: on a 512x512 image a 3x3 kernel
#: (2.3 million multiply-adds) took 0.07 ms serially and 0.14 ms on two threads.
SERIAL_WORK = 2**23
#: Cost of one multiply-add of the generic loops, and of one element copied by
#: im2col/col2im, in multiply-adds of an unrolled loop (measured, rounded up).
GENERIC_WEIGHT = 2
COPY_WEIGHT = 8

_parallel_lock = fork_safe_lock(globals(), "_parallel_lock")
_configured = False


def num_threads() -> int:
    """Threads the core uses: numba's setting (``NUMBA_NUM_THREADS``, ``set_num_threads``).

    Asking numba starts its threading layer, so the layer is chosen first.
    """
    _configure_threading()
    import numba

    return int(numba.get_num_threads())


def threads_for(work: float) -> int:
    """Threads for a job of ``work`` multiply-adds: the calling thread alone below
    ``SERIAL_WORK`` (waking helpers costs more than they save there), else
    :func:`num_threads`."""
    return 1 if work < SERIAL_WORK else num_threads()


def _configure_threading() -> None:
    """Prefer numba's own 'workqueue' threads unless the user chose a threading layer.

    The layers alternate compiled loops with NumPy's matrix products, and OpenBLAS's
    threads spin for a while after each product.  On a 2-core machine an OpenMP region
    started right after a product was measured at 7.8 ms (1.6 us otherwise): its
    sleeping threads wait for the spinning ones to be preempted.  A workqueue region
    costs about 0.1 ms whatever ran before.  Workqueue must not be entered from two
    Python threads at once, so :func:`run` serialises parallel regions (each one
    already uses every thread).
    """
    global _configured
    if _configured:
        return
    import numba

    config = numba.config
    if "NUMBA_THREADING_LAYER" not in os.environ and config.THREADING_LAYER == "default":  # type: ignore[attr-defined]
        config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]
    _configured = True


def _loops() -> Any:
    _configure_threading()
    from corr2d.core import _loops

    return _loops


def run(loop: Any, *args: Any, work: int) -> None:
    """Call a compiled :class:`~corr2d.core._loops.Loop` on ``args``.

    ``work`` (in multiply-adds of an unrolled loop; see ``GENERIC_WEIGHT`` and
    ``COPY_WEIGHT``) below ``SERIAL_WORK`` runs the serial build on the calling thread;
    more runs the parallel build, one region at a time.
    """
    if work < SERIAL_WORK:
        loop.serial(*args)
        return
    _configure_threading()
    with _parallel_lock:
        loop.parallel(*args)


def direct_cost(
    out_shape: tuple[int, int], kernel_shape: tuple[int, int], complex_data: bool = False
) -> float:
    """Modelled time (ns) of the compiled loops for one plane.

    Large real images with kernels of up to ``MAX_IMAGE_HEIGHT`` rows run the
    register-blocked loop; other large images with kernels of up to ``MAX_TAPS`` taps,
    or rows of up to ``MAX_WIDTH`` taps, run loops unrolled for the kernel's shape;
    other kernels the generic loops; images of fewer than 128x128 outputs generic loops
    on one thread.
    """
    from corr2d.core._unrolled import MAX_IMAGE_HEIGHT, has_unrolled_loop

    outputs = out_shape[0] * out_shape[1]
    taps = kernel_shape[0] * kernel_shape[1]
    if outputs < _UNROLL_MIN_OUTPUTS:
        loop = "small"
    elif not complex_data and kernel_shape[0] <= MAX_IMAGE_HEIGHT:
        loop = "image"
    elif has_unrolled_loop(*kernel_shape):
        loop = "unrolled"
    else:
        loop = "generic"
    return outputs * (taps * _DIRECT_NS_PER_TAP[loop] + _DIRECT_NS_PER_OUTPUT)


def fft_cost(image_shape: tuple[int, int], kernel_shape: tuple[int, int]) -> float:
    """Modelled time (ns) of the tiled FFT path for one plane."""
    from corr2d.core._fft import tile_shape

    bh, bw = tile_shape(image_shape, kernel_shape)
    oh = image_shape[0] - kernel_shape[0] + 1
    ow = image_shape[1] - kernel_shape[1] + 1
    tiles = math.ceil(oh / (bh - kernel_shape[0] + 1)) * math.ceil(ow / (bw - kernel_shape[1] + 1))
    points = bh * bw
    # forward + inverse transform of each tile, plus the pointwise product and copies
    transforms = (2 * tiles + 1) * points * math.log2(points) * _FFT_NS_PER_POINT_LOG
    return _FFT_NS_PER_CALL + transforms + oh * ow * _FFT_NS_PER_OUTPUT


def pick_method(
    image_shape: tuple[int, int], kernel_shape: tuple[int, int], complex_data: bool = False
) -> Method:
    """'direct' or 'fft', whichever the cost model says is faster for one plane."""
    out_shape = (image_shape[0] - kernel_shape[0] + 1, image_shape[1] - kernel_shape[1] + 1)
    if direct_cost(out_shape, kernel_shape, complex_data) <= fft_cost(image_shape, kernel_shape):
        return "direct"
    return "fft"


def pick_conv_method(
    padded_shape: tuple[int, int, int, int],
    weight_shape: tuple[int, int, int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> Method:
    """'direct' or 'fft' for :func:`conv2d_valid`.

    Strided layers always take 'direct' (the FFT would compute every skipped output).
    With several channels per group the FFT path also pays a channel contraction per
    frequency, so it is priced as a kernel twice as large along each axis.
    """
    if stride != (1, 1):
        return "direct"
    c_out, c_group, kh, kw = weight_shape
    eff = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    if c_group * (c_out // groups) > 1:
        eff = (2 * eff[0], 2 * eff[1])
    if eff[0] > padded_shape[2] or eff[1] > padded_shape[3]:
        return "direct"
    return pick_method(padded_shape[2:], eff)


def correlate_valid(
    x: NDArray[Any],
    kernel: NDArray[Any],
    method: Method,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
) -> NDArray[Any]:
    """out[i, j] = sum over (u, v) of x[i*sh + u*dh, j*sw + v*dw] * kernel[u, v].

    ``x`` and ``kernel`` are contiguous 2-D arrays of one floating or complex dtype and
    the kernel's dilated extent fits in ``x``.  No conjugation happens here.
    """
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = kernel.shape
    oh = (x.shape[0] - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[1] - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((oh, ow), dtype=x.dtype)
    scale = _fft_scale(method, x, kernel)
    if scale is not None:
        from corr2d.core._fft import correlate_valid_fft

        if dilation != (1, 1):
            dilated = np.zeros((dh * (kh - 1) + 1, dw * (kw - 1) + 1), dtype=kernel.dtype)
            dilated[::dh, ::dw] = kernel
            kernel = dilated
        if stride == (1, 1):
            correlate_valid_fft(x, kernel, out, num_threads(), scale)
        else:
            full = np.empty(
                (x.shape[0] - kernel.shape[0] + 1, x.shape[1] - kernel.shape[1] + 1), dtype=x.dtype
            )
            correlate_valid_fft(x, kernel, full, num_threads(), scale)
            out[...] = full[::sh, ::sw][:oh, :ow]
        return out
    plan = _direct_loop(x, kernel, stride, dilation, (oh, ow))
    cost = direct_cost((oh, ow), (kh, kw), x.dtype.kind == "c")
    for r0, r1 in row_pieces(oh, cost, plan.minimum_rows):
        rows = x[r0 * sh : (r1 - 1) * sh + dh * (kh - 1) + 1]
        piece = out[r0:r1]
        work = piece.size * kh * kw * plan.weight
        run(plan.loop, rows, kernel, *plan.middle, piece, work=work)
    return out


#: A long compiled call is cut into pieces of about this many modelled nanoseconds:
#: Python runs signal handlers (Ctrl-C) only between pieces, so this is, with the
#: model's error, how long an interrupt waits.  A piece costs one parallel region
#: (about 0.1 ms), and for the layers a rearranged copy of its part of the input.
PIECE_NS = 50e6


def row_pieces(rows: int, cost_ns: float, minimum: int = 1) -> list[tuple[int, int]]:
    """Ranges ``[r0, r1)`` of output rows, each modelled at about ``PIECE_NS`` and at
    least ``minimum`` rows (the last absorbs a short remainder)."""
    count = min(math.ceil(cost_ns / PIECE_NS), max(1, rows // max(1, minimum)))
    if count <= 1:
        return [(0, rows)]
    size = max(minimum, math.ceil(rows / count))
    starts = list(range(0, rows, size))
    if len(starts) > 1 and rows - starts[-1] < minimum:
        starts.pop()
    return [(r0, starts[i + 1] if i + 1 < len(starts) else rows) for i, r0 in enumerate(starts)]


#: Inside :func:`short_job`: every call that leaves the choice to the core runs NumPy.
_SHORT_JOB: ContextVar[bool] = ContextVar("corr2d_short_job", default=False)


@contextlib.contextmanager
def short_job() -> Iterator[None]:
    """Run the correlations and layers inside on vectorised NumPy (calls that pass
    ``compiled`` keep their choice), in this thread.

    For a whole job known to be short in a fresh process, such as one command line:
    loading the compiled loops costs 0.3-0.5 s, and compiling them into an empty cache
    seconds, more than NumPy takes for the job.
    """
    token = _SHORT_JOB.set(True)
    try:
        yield
    finally:
        _SHORT_JOB.reset(token)


def in_short_job() -> bool:
    """Whether this thread is inside :func:`short_job`."""
    return _SHORT_JOB.get()


def jit_enabled() -> bool:
    """False under ``NUMBA_DISABLE_JIT=1`` (numba's debugging switch): loops then run as
    plain Python, and the LLVM-IR micro-kernels, which have no Python twin, are avoided.

    Answered without importing numba, which short jobs never need.  Another thread may
    be importing it right now (dask's workers do): a module still being initialised has
    no settings yet, and the environment variable numba reads answers instead."""
    config = getattr(sys.modules.get("numba"), "config", None)
    disabled = getattr(config, "DISABLE_JIT", None)
    if disabled is not None:
        return not disabled
    try:
        return not int(os.environ.get("NUMBA_DISABLE_JIT", "0") or 0)
    except ValueError:
        return True


class _DirectLoop(NamedTuple):
    loop: Any  # a compiled Loop
    middle: tuple[int, ...]  # its arguments between the kernel and the output
    weight: int  # its cost per multiply-add (see ``GENERIC_WEIGHT``)
    minimum_rows: int  # the fewest output rows it takes


def _direct_loop(
    x: NDArray[Any],
    kernel: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_shape: tuple[int, int],
) -> _DirectLoop:
    """The compiled loop for a direct 'valid' correlation of this shape."""
    loops = _loops()
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = kernel.shape
    if stride == (1, 1) and dilation == (1, 1):
        from corr2d.core._unrolled import has_image_loop, image_loop, unrolled_loop

        # loops generated for this kernel's shape compile once (one to a few seconds,
        # then cached on disk); small images are not worth it.  Real images take the
        # register-blocked loop where they fill its blocks.
        if out_shape[0] * out_shape[1] >= _UNROLL_MIN_OUTPUTS:
            if jit_enabled() and has_image_loop(x.dtype, out_shape, kh):
                from corr2d.core._microkernels import IMAGE_ROWS

                return _DirectLoop(image_loop(kh, kw), (), 1, IMAGE_ROWS)
            generated = unrolled_loop(kh, kw)
            if generated is not None:
                return _DirectLoop(generated, (), 1, 1)
        return _DirectLoop(loops.correlate_valid, (1, 1), GENERIC_WEIGHT, 1)
    if stride == (1, 1):
        return _DirectLoop(loops.correlate_valid, (dh, dw), GENERIC_WEIGHT, 1)
    return _DirectLoop(loops.correlate_valid_strided, (sh, sw, dh, dw), GENERIC_WEIGHT, 1)


def _fft_scale(
    method: Method, x: NDArray[Any], kernel: NDArray[Any], per_channel: bool = False
) -> tuple[int, int] | None:
    """For method 'fft', the FFT path's scaling of these data (:func:`_fft.scaling`);
    None for 'direct', and for data whose sums come within a factor 8 of the dtype's
    largest value, where only the direct sum is sure to stay finite."""
    if method != "fft":
        return None
    from corr2d.core._fft import scaling

    return scaling(x, kernel, per_channel)


def conv2d_valid(
    xp: NDArray[Any],
    weight: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    method: Method,
    bias: NDArray[Any] | None = None,
    zero_pads: Pads = NO_PADS,
) -> NDArray[Any]:
    """Batched multi-channel 'valid' correlation of a padded NCHW input, plus ``bias``.

    xp is (N, C_in, Hp, Wp) and weight (C_out, C_in/groups, kH, kW), both contiguous and
    of one dtype, bias None or (C_out,); returns (N, C_out, oh, ow).  ``zero_pads``
    ((top, bottom), (left, right)) are zeros still to be added around xp: the blocked
    kernels write them while rearranging the input, the others pad first.  Five
    strategies compute the same sums:

    * 'fft': whole-plane transforms contracted over channels (then subsampled by stride);
    * 1x1 kernels in real floats: one matrix product over the batch and the groups
      (:mod:`corr2d.core._pointwise`);
    * single-channel groups (C_in/groups == 1 and C_out/groups == 1, e.g. the chapter's
      one-channel layer or a depthwise layer), stride 1, planes of at least a register
      block: every plane a task of the register-blocked image loop, in one call
      (:mod:`corr2d.core._depthwise`); with a stride, on large planes: the 2-D core,
      plane by plane;
    * real floats with at least half a register block of output channels per group
      (:func:`corr2d.core._blocked.suitable`): register-blocked micro-kernels reading
      the input in place, an implicit matrix product (:mod:`corr2d.core._blocked`);
    * few taps per output (fewer than 16), or small single-channel planes: one direct
      loop over every plane, in one parallel region;
    * otherwise (complex numbers, few output channels): patch matrices (im2col) of
      several images at once, tiled to at most ``WORKSPACE_BYTES``
      (:func:`patch_tiles`), multiplied by the weight matrix with NumPy's BLAS.

    Inside :func:`short_job` a layer takes none of these but vectorised NumPy, one
    matrix product per tap (:mod:`corr2d.core._vectorised_layers`), which loads no
    compiled loop: 1.3-4x slower on small layers once the loops are loaded (20-200 us
    more per call), but a fresh process saves the 0.3-0.5 s of loading them.
    """
    if method != "fft" and in_short_job():
        from corr2d.core import _vectorised_layers

        padded = pad2d(xp, zero_pads, "constant")
        out = _vectorised_layers.forward(padded, weight, stride, dilation, groups)
        if bias is not None:
            out += bias[:, None, None]
        return out
    scale = _fft_scale(method, xp, weight, per_channel=True)
    if scale is None:
        method = "direct"
    n_batch, kh = xp.shape[0], weight.shape[2]
    (sh, _), (dh, _) = stride, dilation
    oh, ow = _out_shape(xp, weight, stride, dilation, zero_pads)
    # the loops are cut into pieces; the FFT path transforms whole planes, image by image
    cost = 0.0
    if method != "fft":
        taps = weight.shape[1] * kh * weight.shape[3]
        cost = (
            n_batch * weight.shape[0] * oh * ow * taps * _layer_ns_per_tap(xp.dtype, weight, groups)
        )
    pieces = layer_pieces(n_batch, oh, cost)
    piece_args = (stride, dilation, groups, method, scale, bias)
    if len(pieces) == 1:
        return _conv2d_valid_piece(xp, weight, *piece_args, zero_pads)
    out = np.empty((n_batch, weight.shape[0], oh, ow), dtype=xp.dtype)
    for n0, n1, r0, r1 in pieces:
        end = (r1 - 1) * sh + dh * (kh - 1) + 1
        window, pads = _row_window(xp[n0:n1], zero_pads, r0 * sh, end)
        out[n0:n1, :, r0:r1] = _conv2d_valid_piece(window, weight, *piece_args, pads)
    return out


def _layer_ns_per_tap(
    dtype: np.dtype[Any], weight: NDArray[Any], groups: int, backward: bool = False
) -> float:
    """Modelled nanoseconds per multiply-add of a layer with this weight: the blocked
    kernels' where they serve it (forward; backward, the input gradient's transposed
    correlation as well), else the generic loops' (the dearest strategy)."""
    c_out, c_group = weight.shape[:2]
    out_group = c_out // groups
    single = c_group == 1 and out_group == 1
    blocked = not single and _blocked_suits(dtype, out_group)
    if backward:
        blocked = blocked and _blocked_suits(dtype, c_group)
    return _BLOCKED_NS_PER_TAP if blocked else _DIRECT_NS_PER_TAP["generic"]


def _out_shape(
    xp: NDArray[Any],
    weight: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    zero_pads: Pads,
) -> tuple[int, int]:
    """(oh, ow) of :func:`conv2d_valid`."""
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = weight.shape[2:]
    hp, wp = xp.shape[2] + sum(zero_pads[0]), xp.shape[3] + sum(zero_pads[1])
    return (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1


def layer_pieces(n_batch: int, rows: int, cost_ns: float) -> list[tuple[int, int, int, int]]:
    """Pieces ``(n0, n1, r0, r1)`` of a batch's output (images ``n0 .. n1 - 1``, rows
    ``r0 .. r1 - 1``), each modelled at about ``PIECE_NS`` of the ``cost_ns`` of all:
    whole images grouped while they are cheap, one image's rows split when it is not."""
    per_image = cost_ns / max(1, n_batch)
    if cost_ns <= PIECE_NS:
        return [(0, n_batch, 0, rows)]
    if per_image <= PIECE_NS:
        step = max(1, int(PIECE_NS // max(per_image, 1.0)))
        return [(n0, min(n0 + step, n_batch), 0, rows) for n0 in range(0, n_batch, step)]
    bands = row_pieces(rows, per_image)
    return [(n, n + 1, r0, r1) for n in range(n_batch) for r0, r1 in bands]


def _row_window(x: NDArray[Any], pads: Pads, first: int, end: int) -> tuple[NDArray[Any], Pads]:
    """Rows ``first .. end - 1`` of ``x`` zero-padded by ``pads``, as a slice of ``x``
    and the zero rows still to add above and below it (columns unchanged)."""
    (top, _), columns = pads
    height = x.shape[2]
    a, b = first - top, end - top
    window = x[:, :, max(a, 0) : min(b, height)]
    return window, ((max(0, -a), max(0, b - height)), columns)


def _conv2d_valid_piece(
    xp: NDArray[Any],
    weight: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    method: Method,
    scale: tuple[int, int] | None,
    bias: NDArray[Any] | None,
    zero_pads: Pads,
) -> NDArray[Any]:
    """:func:`conv2d_valid` in one call of the strategy it chooses."""
    c_out, c_group, kh, kw = weight.shape
    out_group = c_out // groups
    single = c_group == 1 and out_group == 1
    if method != "fft" and _pointwise_serves(xp.dtype, weight.shape):
        # 1x1: channel mixing, one matrix product over the batch
        from corr2d.core._pointwise import pointwise

        return pointwise(pad2d(xp, zero_pads, "constant"), weight, bias, stride, groups)
    if method != "fft" and not single and _blocked_suits(xp.dtype, out_group):
        # register-blocked kernels reading the (rearranged) input, no patch matrices
        from corr2d.core._blocked import conv2d_blocked

        return conv2d_blocked(xp, weight, bias, stride, dilation, groups, zero_pads)
    if method != "fft" and single and _depthwise_serves(xp, weight, stride, dilation, zero_pads):
        # one kernel per channel: every plane a task of the register-blocked image loop
        from corr2d.core._depthwise import depthwise

        return depthwise(xp, weight, bias, zero_pads)
    xp = np.ascontiguousarray(pad2d(xp, zero_pads, "constant"))
    n_batch, _, hp, wp = xp.shape
    (sh, sw), (dh, dw) = stride, dilation
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((n_batch, c_out, oh, ow), dtype=xp.dtype)
    _conv2d_unblocked(xp, weight, stride, dilation, groups, method, out, scale)
    if bias is not None:
        out += bias[:, None, None]
    return out


def _pointwise_serves(dtype: np.dtype[Any], weight_shape: tuple[int, ...]) -> bool:
    from corr2d.core._pointwise import serves

    return serves(dtype, weight_shape[2:])


def _depthwise_serves(
    xp: NDArray[Any],
    weight: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    zero_pads: Pads,
) -> bool:
    from corr2d.core._depthwise import serves

    kh, kw = weight.shape[2:]
    oh = xp.shape[2] + sum(zero_pads[0]) - kh + 1
    ow = xp.shape[3] + sum(zero_pads[1]) - kw + 1
    return jit_enabled() and serves(xp.dtype, (kh, kw), (oh, ow), stride, dilation)


def _blocked_suits(dtype: np.dtype[Any], out_group: int) -> bool:
    from corr2d.core._blocked import suitable

    return jit_enabled() and suitable(dtype, out_group)


def _conv2d_unblocked(
    xp: NDArray[Any],
    weight: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    method: Method,
    out: NDArray[Any],
    scale: tuple[int, int] | None = None,
) -> None:
    """The strategies of :func:`conv2d_valid` other than the blocked kernels, into ``out``
    (``scale``: the FFT path's, see :func:`_fft_scale`)."""
    n_batch, c_in, hp, wp = xp.shape
    c_out, c_group, kh, kw = weight.shape
    (sh, sw), (dh, dw) = stride, dilation
    oh, ow = out.shape[2:]
    out_group = c_out // groups
    eff_shape = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    if method == "fft" and scale is not None:
        from corr2d.core._fft import conv2d_fft

        if stride == (1, 1):
            conv2d_fft(xp, weight, groups, dilation, out, num_threads(), scale)
        else:
            full = np.empty(
                (n_batch, c_out, hp - eff_shape[0] + 1, wp - eff_shape[1] + 1), dtype=xp.dtype
            )
            conv2d_fft(xp, weight, groups, dilation, full, num_threads(), scale)
            out[...] = full[:, :, ::sh, ::sw][:, :, :oh, :ow]
        return
    if c_group == 1 and out_group == 1 and (stride != (1, 1) or oh * ow >= _UNROLL_MIN_OUTPUTS):
        # one channel per group (the chapter's layer, depthwise layers): the 2-D core
        # per plane, worth its own parallel region only for large planes
        for n in range(n_batch):
            for c in range(c_in):
                out[n, c] = correlate_valid(xp[n, c], weight[c, 0], "direct", stride, dilation)
        return
    if stride == (1, 1) and (c_group * kh * kw < 16 or c_group == out_group == 1):
        # few taps per output: the direct loops beat building a patch matrix
        work = out.size * c_group * kh * kw * GENERIC_WEIGHT
        run(_loops().conv_direct, xp, weight, groups, dh, dw, out, work=work)
        return

    # patch matrices of every group at once, multiplied group by group with BLAS
    group_patch = c_group * kh * kw
    weight_matrix = weight.reshape(groups, out_group, group_patch)
    flat_out = out.reshape(n_batch, c_out, oh * ow)
    for n0, m, row0, rows, cols in patch_tiles(xp, (kh, kw), stride, dilation):
        for g in range(groups):
            block = cols[:, g * group_patch : (g + 1) * group_patch]
            channels = slice(g * out_group, (g + 1) * out_group)
            if rows == oh:  # whole images: multiply straight into out
                np.matmul(weight_matrix[g], block, out=flat_out[n0 : n0 + m, channels])
            else:
                product = np.matmul(weight_matrix[g], block)
                out[n0 : n0 + m, channels, row0 : row0 + rows] = product.reshape(
                    m, out_group, rows, ow
                )


def conv2d_valid_backward(
    xp: NDArray[Any],
    weight: NDArray[Any],
    grad_output: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    zero_pads: Pads = NO_PADS,
    inner: bool = False,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None]:
    """Gradients of :func:`conv2d_valid`: (dL/dxp, dL/dweight, dL/dbias or None).

    All arrays contiguous, of one dtype; ``grad_output`` is (N, C_out, oh, ow);
    ``zero_pads`` as in :func:`conv2d_valid`, and dL/dxp is the gradient of the padded
    input, or with ``inner`` of ``xp`` itself (the zeros' gradient dropped).  See
    :func:`corr2d.conv2d_backward` for why both are correlations.  dL/dbias (the output
    gradient summed over images and pixels) comes back where a path sums it on the way
    (the depthwise loop, the outer-product weight gradient), None where the caller has
    to.  Long batches are computed a
    few images at a time (see ``PIECE_NS``).
    """
    if in_short_job():
        from corr2d.core import _vectorised_layers

        grad_xp, grad_weight = _vectorised_layers.backward(
            pad2d(xp, zero_pads, "constant"), weight, grad_output, stride, dilation, groups
        )
        if inner:
            (top, _), (left, _) = zero_pads
            grad_xp = grad_xp[:, :, top : top + xp.shape[2], left : left + xp.shape[3]]
        return grad_xp, grad_weight, None
    taps = weight[0].size
    rate = _DIRECT_NS_PER_TAP["generic"]  # strided: patch matrices for the input gradient
    if stride == (1, 1):
        rate = _layer_ns_per_tap(xp.dtype, weight, groups, backward=True)
    cost = 2 * grad_output.size * taps * rate
    # whole images only: the weight gradient sums over them
    batches = list(dict.fromkeys((n0, n1) for n0, n1, _, _ in layer_pieces(len(xp), 1, cost)))
    geometry = (stride, dilation, groups, zero_pads, inner)
    if len(batches) == 1:
        return _conv2d_valid_backward_piece(xp, weight, grad_output, *geometry)
    parts = [
        _conv2d_valid_backward_piece(xp[n0:n1], weight, grad_output[n0:n1], *geometry)
        for n0, n1 in batches
    ]
    grad_weight = parts[0][1]
    for part in parts[1:]:
        grad_weight += part[1]
    grad_bias = parts[0][2]
    for part in parts[1:]:
        grad_bias = None if grad_bias is None or part[2] is None else grad_bias + part[2]
    return np.concatenate([part[0] for part in parts]), grad_weight, grad_bias


def _conv2d_valid_backward_piece(
    xp: NDArray[Any],
    weight: NDArray[Any],
    grad_output: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    zero_pads: Pads,
    inner: bool,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None]:
    """:func:`conv2d_valid_backward` for a batch in one piece."""
    grad_xp, grad_weight, grad_bias = _valid_backward(
        xp, weight, grad_output, stride, dilation, groups, zero_pads, inner
    )
    if inner and grad_xp.shape[2:] != xp.shape[2:]:
        (top, _), (left, _) = zero_pads
        grad_xp = grad_xp[:, :, top : top + xp.shape[2], left : left + xp.shape[3]]
    return grad_xp, grad_weight, grad_bias


def _valid_backward(
    xp: NDArray[Any],
    weight: NDArray[Any],
    grad_output: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    zero_pads: Pads,
    inner: bool,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None]:
    """:func:`conv2d_valid_backward`; the transposed correlation computes the inner gradient
    directly when asked for it, the others the padded input's."""
    c_out, c_group, kh, kw = weight.shape
    out_group = c_out // groups
    if _pointwise_serves(xp.dtype, weight.shape):
        from corr2d.core._pointwise import pointwise_backward

        xp = pad2d(xp, zero_pads, "constant")
        return pointwise_backward(xp, weight, grad_output, stride, groups)
    grad_weight = grad_xp = grad_bias = None
    depthwise = c_group == out_group == 1 and _depthwise_serves(
        grad_output, weight, stride, dilation, (((kh - 1),) * 2, ((kw - 1),) * 2)
    )
    if depthwise:
        from corr2d.core import _depthwise

        if _depthwise.backward_serves((kh, kw), zero_pads, inner):
            # every plane's three gradients in one pass
            return _depthwise.backward(xp, weight, grad_output, zero_pads)
    if _blocked_suits(xp.dtype, out_group):
        from corr2d.core._blocked import grad_weight_blocked

        grad_weight, grad_bias = grad_weight_blocked(
            xp, grad_output, (kh, kw), stride, dilation, groups, zero_pads
        )
        # the blocked sums also multiply dropped positions' zero gradients with the pixels
        # they would read: 0 * inf is NaN where the exact sum is inf or finite.  A finite
        # result read no inf or NaN (it would have spread to its sum), so the input is
        # checked only when the result is not finite; the patch matrices, which read only
        # real windows, then take over
        if not np.isfinite(grad_weight).all() and not np.isfinite(xp).all():
            grad_weight = grad_bias = None
    if grad_weight is None and depthwise:
        from corr2d.core._depthwise import weight_gradient

        grad_weight = weight_gradient(xp, grad_output, (kh, kw), zero_pads)
    if stride == (1, 1) and (depthwise or _blocked_suits(xp.dtype, c_group)):
        # the transposed correlation: the output gradient, padded by the kernel's
        # extent, against the kernel flipped in both axes with its channels swapped
        (dh, dw) = dilation
        flipped = weight.reshape(groups, out_group, c_group, kh, kw)[..., ::-1, ::-1]
        flipped = np.ascontiguousarray(flipped.transpose(0, 2, 1, 3, 4))
        full = (((kh - 1) * dh,) * 2, ((kw - 1) * dw,) * 2)
        if inner and min(min(a, b) for a, b in _less(full, zero_pads)) >= 0:
            # only the gradient of xp itself: the zeros' rows and columns are never
            # computed (a 32x32 input padded by 1 would have 34x34 gradients), no crop
            full = _less(full, zero_pads)
        grad_xp = conv2d_valid(
            grad_output,
            flipped.reshape(groups * c_group, out_group, kh, kw),
            (1, 1),
            dilation,
            groups,
            "direct",
            zero_pads=full,
        )
    elif _phases_serve(weight, grad_output, stride, dilation, groups):
        hp, wp = xp.shape[2] + sum(zero_pads[0]), xp.shape[3] + sum(zero_pads[1])
        grad_xp = _phase_input_gradient(grad_output, weight, stride, groups, (hp, wp))
    if grad_weight is None or grad_xp is None:
        xp = pad2d(xp, zero_pads, "constant")
        patch_xp, patch_weight = _patch_gradients(
            xp, weight, grad_output, stride, dilation, groups, grad_weight is None
        )
        grad_xp = patch_xp if grad_xp is None else grad_xp
        grad_weight = patch_weight if grad_weight is None else grad_weight
    assert grad_weight is not None
    return grad_xp, grad_weight, grad_bias


def _phases_serve(
    weight: NDArray[Any],
    grad_output: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> bool:
    """Whether :func:`_phase_input_gradient` takes a strided layer's input gradient: no
    dilation, enough phase channels for the blocked kernels, and finite values (its
    zero taps and zero padding meet every weight and gradient, and 0 * inf is NaN)."""
    c_group = weight.shape[1]
    phases = stride[0] * stride[1]
    return (
        dilation == (1, 1)
        and _blocked_suits(weight.dtype, phases * c_group)
        and bool(np.isfinite(weight).all())
        and bool(np.isfinite(grad_output).all())
    )


def _phase_input_gradient(
    grad_output: NDArray[Any],
    weight: NDArray[Any],
    stride: tuple[int, int],
    groups: int,
    padded_shape: tuple[int, int],
) -> NDArray[Any]:
    """dL/dxp of a strided :func:`conv2d_valid` (no dilation), a transposed correlation
    computed phase by phase, all phases in one stride-1 correlation.

    Pixel ``(s*Y + a, s*X + b)`` of the padded input (shape ``padded_shape``) receives
    ``sum over o, t, t' of W[o, c, a + s*t, b + s*t'] * g[o, Y - t, X - t']``: for each
    phase ``(a, b)`` a correlation of the output gradient with the kernel's taps
    ``a, a + s, ...`` (rows) and ``b, b + s, ...`` (columns), flipped.  Stacking the
    ``s_h * s_w`` phases' kernels as output channels (``ceil(kh / s_h) x ceil(kw / s_w)``
    taps, zero where a phase has fewer) makes one layer for the blocked kernels; the
    phases are then interleaved into the gradient image.
    """
    n_batch, _, oh, ow = grad_output.shape
    c_out, c_group, kh, kw = weight.shape
    out_group = c_out // groups
    (sh, sw), (hp, wp) = stride, padded_shape
    th, tw = -(-kh // sh), -(-kw // sw)  # taps per phase
    rows, cols = -(-hp // sh), -(-wp // sw)  # phase grid
    extended = np.zeros((groups, out_group, c_group, th * sh, tw * sw), dtype=weight.dtype)
    extended[..., :kh, :kw] = weight.reshape(groups, out_group, c_group, kh, kw)
    # [g, o, c, t, a, t', b] = W[g, o, c, a + s*t, b + s*t'], taps flipped
    taps = extended.reshape(groups, out_group, c_group, th, sh, tw, sw)[:, :, :, ::-1, :, ::-1]
    # phase kernels as output channels (g, a, b, c), input channels o
    phase_weight = np.ascontiguousarray(taps.transpose(0, 4, 6, 2, 1, 3, 5))
    phase_weight = phase_weight.reshape(groups * sh * sw * c_group, out_group, th, tw)
    pads = ((th - 1, rows - oh), (tw - 1, cols - ow))
    phases = conv2d_valid(grad_output, phase_weight, (1, 1), (1, 1), groups, "direct", None, pads)
    # (n, g, a, b, c, Y, X) -> (n, g, c, Y, a, X, b): pixel (s*Y + a, s*X + b)
    grid = phases.reshape(n_batch, groups, sh, sw, c_group, rows, cols)
    grid = grid.transpose(0, 1, 4, 5, 2, 6, 3).reshape(n_batch, groups * c_group, rows * sh, -1)
    return grid[:, :, :hp, :wp]


def _less(pads: Pads, less: Pads) -> Pads:
    """``pads`` minus ``less``, side by side."""
    (a, b), (c, d) = pads
    (e, f), (g, h) = less
    return ((a - e, b - f), (c - g, d - h))


def _patch_gradients(
    xp: NDArray[Any],
    weight: NDArray[Any],
    grad_output: NDArray[Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    with_weight: bool,
) -> tuple[NDArray[Any], NDArray[Any] | None]:
    """(dL/dxp, dL/dweight or None) from the forward pass's patch matrices, tile by tile:
    ``dL/dw = G @ cols.T`` and ``dL/dxp = col2im(W.T @ G)``."""
    n_batch = xp.shape[0]
    c_out, c_group, kh, kw = weight.shape
    oh, ow = grad_output.shape[2:]
    out_group = c_out // groups
    patch = c_group * kh * kw
    grad_weight = np.zeros((groups, out_group, patch), dtype=xp.dtype)
    grad_xp = np.zeros_like(xp)
    weight_matrix = weight.reshape(groups, out_group, patch)
    flat_g = grad_output.reshape(n_batch, c_out, oh * ow)
    geometry = ((kh, kw), stride, dilation)
    for n0, m, row0, rows, cols in patch_tiles(xp, *geometry):
        for grp in range(groups):
            block = cols[:, grp * patch : (grp + 1) * patch]  # (m, patch, rows*ow)
            channels = slice(grp * out_group, (grp + 1) * out_group)
            if rows == oh:
                g_tile = flat_g[n0 : n0 + m, channels]
            else:
                g_tile = grad_output[n0 : n0 + m, channels, row0 : row0 + rows]
                g_tile = g_tile.reshape(m, out_group, -1)
            if with_weight:
                # the output gradient against the input's patches, summed over images
                grad_weight[grp] += np.matmul(g_tile, block.transpose(0, 2, 1)).sum(axis=0)
            # dL/d(patches), written over the patches this group no longer needs
            np.matmul(weight_matrix[grp].T, g_tile, out=block)
        fold_tile(cols, *geometry, row0, grad_xp[n0 : n0 + m])
    return grad_xp, grad_weight.reshape(weight.shape) if with_weight else None


def patch_tiles(
    xp: NDArray[Any],
    kernel_shape: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> Iterator[tuple[int, int, int, int, NDArray[Any]]]:
    """The patch matrices of a padded batch, in tiles of at most ``WORKSPACE_BYTES``.

    Yields ``(n0, m, row0, rows, cols)``: images ``n0 .. n0 + m - 1``, output rows
    ``row0 .. row0 + rows - 1``, and their patches ``cols`` of shape (m, C*kh*kw,
    rows*ow), filled by :func:`~corr2d.core._loops.im2col`.  ``cols`` is one buffer
    reused from tile to tile, so a consumer may overwrite it (see :func:`fold_tile`).
    Small images are grouped several to a tile (fewer parallel regions, larger matrix
    products); an image whose patches exceed the workspace is split by rows.
    """
    n_batch, channels, hp, wp = xp.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_shape, stride, dilation
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    patch = channels * kh * kw
    row_bytes = patch * ow * xp.dtype.itemsize
    rows_per_tile = max(1, min(oh, WORKSPACE_BYTES // row_bytes))
    images_per_tile = 1
    if rows_per_tile == oh:
        images_per_tile = max(1, min(n_batch, WORKSPACE_BYTES // (row_bytes * oh)))
    workspace = np.empty(images_per_tile * patch * rows_per_tile * ow, dtype=xp.dtype)
    loops = _loops()
    for n0 in range(0, n_batch, images_per_tile):
        m = min(images_per_tile, n_batch - n0)
        for row0 in range(0, oh, rows_per_tile):
            rows = min(rows_per_tile, oh - row0)
            cols = workspace[: m * patch * rows * ow].reshape(m, patch, rows * ow)
            geometry = (kh, kw, sh, sw, dh, dw, row0)
            run(loops.im2col, xp[n0 : n0 + m], *geometry, cols, work=cols.size * COPY_WEIGHT)
            yield n0, m, row0, rows, cols


def fold_tile(
    cols: NDArray[Any],
    kernel_shape: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    row0: int,
    target: NDArray[Any],
) -> None:
    """Add a tile of patch values back onto the pixels they came from (the adjoint).

    ``cols`` is shaped as :func:`patch_tiles` yields it for output rows from ``row0``;
    ``target`` is the tile's images, padded, (m, C, Hp, Wp).
    """
    geometry = (*kernel_shape, *stride, *dilation, row0)
    run(_loops().col2im, cols, *geometry, target, work=cols.size * COPY_WEIGHT)
