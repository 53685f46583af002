"""The depthwise layer's forward loop: register blocks of one plane, every tap a vector FMA.

A depthwise plane is small (a 56x56 float32 plane is 12 KiB) and its kernel smaller
(3x3), so the sums of one output are a handful of multiply-adds and the loop's cost is
in how it reaches them: a loop that sums every tap of one output row in one expression
loads each input vector once per tap, leaves the end of each row (56 columns are 3.5
AVX-512 vectors) to scalar code, and sums the columns whose windows leave the plane tap
by tap.  :func:`plane_block` computes ``rows`` output rows by ``columns`` vectors at
once from a plane that already holds its zero padding, each input vector loaded once
for every output row it feeds, the last vector of a block moved back so that it ends at
the row's end (its first lanes computed twice, to the same values); the driver
(:func:`driver_source`) copies each plane into a zero-padded buffer that stays in L1,
then covers the plane with blocks and adds the bias to each finished sum.

Every output is summed as the unrolled loops sum it: the taps in the kernel's row-major
order, each multiply-add fused (one rounding per tap, within the direct sum's bound),
starting from zero, and the bias added last.  :func:`plane_block_twin` is the same
computation in plain Python, tested against the block.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

from corr2d.core._microkernels import _const, _data, _row, _Vectors

__all__ = [
    "BLOCK_COLUMNS",
    "BLOCK_ROWS",
    "MAX_SIDE",
    "driver",
    "driver_source",
    "lanes",
    "plane_block",
    "plane_block_twin",
]

#: Output rows of a full block, and at most this many vectors of columns: 4 x 4
#: accumulators, 4 loaded vectors and a weight, of 32 AVX-512 (16 AVX2) registers.
BLOCK_ROWS, BLOCK_COLUMNS = 4, 4
#: Kernels of up to this many rows and columns take the blocks (a block is unrolled
#: over its taps); larger ones the other plane loops.
MAX_SIDE = 7

_loaded: dict[tuple[int, int], Any] = {}


def lanes(dtype: np.dtype[Any]) -> int:
    """Elements of ``dtype`` in one vector register of this CPU."""
    from corr2d.core._microkernels import VECTOR_BYTES

    return VECTOR_BYTES // np.dtype(dtype).itemsize


@intrinsic(prefer_literal=True)
def plane_block(  # type: ignore[no-untyped-def]
    typingctx,
    x,
    x_base,
    x_stride,
    kernel,
    bias,
    out,
    out_base,
    out_stride,
    last,
    rows,
    columns,
    kh,
    kw,
):
    """One block of a plane's correlation, written to ``out``.

    The last four arguments, ``rows, columns, kh, kw``, are compile-time constants.  For output rows
    ``i < rows``, vectors ``c < columns`` starting at column ``s_c = c * lanes`` (the last
    one at ``last``) and lanes ``p``::

        out[out_base + i*out_stride + s_c + p] = (
            sum_{u < kh, v < kw} kernel[u*kw + v] * x[x_base + (i + u)*x_stride + s_c + v + p]
        ) + bias

    summed in the kernel's order with fused multiply-adds, from zero.  Input row ``r``
    is loaded once, shift by shift, for the output rows ``r - kh + 1 .. r`` it feeds.
    """
    shape = (rows, columns, kh, kw)
    if not all(isinstance(item, types.IntegerLiteral) for item in shape):
        return None
    rows, columns, kh, kw = (item.literal_value for item in shape)
    signature = types.void(
        x, x_base, x_stride, kernel, bias, out, out_base, out_stride, last, *shape
    )

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        x_arr, x_base, x_stride, k_arr, bias, o_arr, o_base, o_stride, last = args[:9]
        array_types = sig.args
        x_ptr = _data(context, builder, array_types[0], x_arr)
        k_ptr = _data(context, builder, array_types[3], k_arr)
        o_ptr = _data(context, builder, array_types[5], o_arr)
        vec = _Vectors(builder, x_ptr.type.pointee)
        starts: list[ir.Value] = [_const(c * vec.lanes) for c in range(columns - 1)] + [last]
        weights = [
            vec.splat(builder.load(builder.gep(k_ptr, [_const(tap)]))) for tap in range(kh * kw)
        ]
        sums = [vec.zero()] * (rows * columns)
        for r in range(rows + kh - 1):
            source = _row(builder, x_ptr, x_base, x_stride, r)
            fed = range(max(0, r - kh + 1), min(rows - 1, r) + 1)
            for v in range(kw):
                shifted = builder.gep(source, [_const(v)])
                pixels = [vec.load(builder.gep(shifted, [start])) for start in starts]
                for i in fed:
                    weight = weights[(r - i) * kw + v]
                    for c in range(columns):
                        sums[i * columns + c] = vec.fma(pixels[c], weight, sums[i * columns + c])
        added = vec.splat(bias)
        for i in range(rows):
            target = _row(builder, o_ptr, o_base, o_stride, i)
            for c in range(columns):
                total = builder.fadd(sums[i * columns + c], added)
                vec.store(total, builder.gep(target, [starts[c]]))
        return context.get_dummy_value()

    return signature, codegen


def plane_block_twin(
    x: NDArray[Any],
    x_base: int,
    x_stride: int,
    kernel: NDArray[Any],
    bias: Any,
    out: NDArray[Any],
    out_base: int,
    out_stride: int,
    last: int,
    *shape: int,
) -> None:
    """:func:`plane_block` in plain Python, one output at a time (products rounded
    separately: equal to the block wherever the products are exact)."""
    rows, columns, kh, kw = shape
    width = lanes(x.dtype)
    starts = [c * width for c in range(columns - 1)] + [last]
    for i in range(rows):
        for start in starts:
            for p in range(width):
                total = x.dtype.type(0)
                for u in range(kh):
                    for v in range(kw):
                        pixel = x[x_base + (i + u) * x_stride + start + v + p]
                        total += kernel[u * kw + v] * pixel
                out[out_base + i * out_stride + start + p] = total + bias


def driver_source(kh: int, kw: int) -> str:
    """Python source of ``correlate(planes, kernels, bias, out, top, left, counter)``
    for (kh, kw) kernels: plane ``p`` of ``planes`` (P, H, W), zero-padded by ``top``
    rows above and ``left`` columns to its left (and as many after it as ``out``'s
    shape needs), correlated with ``kernels[p % C]`` (C, kh * kw) into ``out[p]`` (P,
    oh, ow), plus ``bias[p % C]``; one plane per task.  Output rows must be at least
    one vector wide.

    Each plane is copied into a zero-padded buffer (none without padding), then covered
    by blocks of ``BLOCK_ROWS`` rows (one row at a time on shorter planes) by
    ``BLOCK_COLUMNS`` vectors, the last block of a row or column moved back to end at
    the plane's end; a row narrower than a full block is one block of as many vectors
    as it needs.
    """
    rows, columns = BLOCK_ROWS, BLOCK_COLUMNS

    def calls(indent: str, height: int) -> list[str]:
        lines = [f"{indent}if ow >= {columns} * width:"]
        lines += [
            f"{indent}    j = 0",
            f"{indent}    while j < ow:",
            f"{indent}        j = min(j, ow - {columns} * width)",
            f"{indent}        plane_block(source, i * stride + j, stride, weights, b, target, "
            f"i * ow + j, ow, {columns - 1} * width, {height}, {columns}, {kh}, {kw})",
            f"{indent}        j += {columns} * width",
        ]
        for count in range(1, columns):
            lines += [
                f"{indent}elif ow <= {count} * width:",
                f"{indent}    plane_block(source, i * stride, stride, weights, b, target, "
                f"i * ow, ow, ow - width, {height}, {count}, {kh}, {kw})",
            ]
        lines += [
            f"{indent}else:",
            f"{indent}    plane_block(source, i * stride, stride, weights, b, target, "
            f"i * ow, ow, ow - width, {height}, {columns}, {kh}, {kw})",
        ]
        return lines

    lines = [
        f'"""Generated by corr2d.core._depthwise_blocks: depthwise forward, {kh}x{kw}."""',
        "import numpy as np",
        "",
        "from corr2d.core._depthwise_blocks import plane_block",
        "from corr2d.core._microkernels import VECTOR_BYTES, copy_run, next_task",
        "",
        "",
        "def correlate(planes, kernels, bias, out, top, left, counter):",
        "    count, oh, ow = out.shape",
        "    height, width_in = planes.shape[1], planes.shape[2]",
        "    channels = kernels.shape[0]",
        "    width = VECTOR_BYTES // out.itemsize",
        f"    stride = ow + {kw - 1}",
        f"    padded = oh + {kh - 1} != height or stride != width_in",
        f"    buffer = np.zeros((oh + {kh - 1}) * stride if padded else 1, dtype=out.dtype)",
        "    while True:",
        "        p = next_task(counter)",
        "        if p >= count:",
        "            break",
        "        plane = planes[p].reshape(height * width_in)",
        "        if padded:",
        "            for r in range(height):",
        "                at = (r + top) * stride + left",
        "                copy_run(plane, r * width_in, buffer, at, width_in)",
        "            source = buffer",
        "        else:",
        "            source = plane",
        "        target = out[p].reshape(oh * ow)",
        "        weights = kernels[p % channels]",
        "        b = bias[p % channels]",
        f"        if oh >= {rows}:",
        "            i = 0",
        "            while i < oh:",
        f"                i = min(i, oh - {rows})",
        *calls("                ", rows),
        f"                i += {rows}",
        "        else:",
        "            for i in range(oh):",
        *calls("                ", 1),
    ]
    return "\n".join(lines) + "\n"


def driver(kh: int, kw: int) -> Any:
    """The compiled :func:`driver_source` loop for (kh, kw) kernels (serial: run it
    with :func:`corr2d.core._pool.run_tasks`), cached on disk beside its source."""
    key = (kh, kw)
    if key not in _loaded:
        from numba import njit

        from corr2d.core import _microkernels
        from corr2d.core._cache import attach_disk_cache, load_generated

        text = driver_source(kh, kw)
        # numba's cache does not see changes to the blocks the loop calls
        called = Path(_microkernels.__file__).read_bytes() + Path(__file__).read_bytes()
        digest = hashlib.sha256(text.encode() + called).hexdigest()[:12]
        module, folder = load_generated(f"corr2d_depthwise_{kh}x{kw}_{digest}", text)
        dispatcher = njit(nogil=True, error_model="numpy")(module.correlate)
        attach_disk_cache(dispatcher, folder)
        _loaded[key] = dispatcher
    return _loaded[key]
