"""The depthwise layer's forward loop: register blocks of one plane, every tap a vector FMA.

A depthwise plane is small (a 56x56 float32 plane is 12 KiB) and its kernel smaller
(3x3), so the sums of one output are a handful of multiply-adds and the loop's cost is
in how it reaches them: a loop that sums every tap of one output row in one expression
loads each input vector once per tap, leaves the end of each row (56 columns are 3.5
AVX-512 vectors) to scalar code, and sums the columns whose windows leave the plane tap
by tap.  :func:`plane_block` computes ``rows`` output rows by ``columns`` vectors at
once, each input vector loaded once for every output row it feeds, the last vector of a
block moved back so that it ends at the row's end (its first lanes computed twice, to
the same values).  It reads the plane in place: the zero padding is the lanes its loads
mask off (the first and last vector of a block; every vector in the blocks that reach
the rows above or below the plane), never a padded copy (copying each plane into a
zero-padded buffer cost 0.15 ms of 0.39 on one thread, N8 64 channels 56x56, 3x3).
The driver (:func:`driver_source`) covers each plane with blocks, one plane per task.

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
from numba.core import cgutils
from numba.extending import intrinsic
from numpy.typing import NDArray

from corr2d.core._microkernels import _I32, _const, _data, _row, _Vectors

__all__ = [
    "BLOCK_COLUMNS",
    "BLOCK_ROWS",
    "MAX_SIDE",
    "driver",
    "driver_source",
    "lanes",
    "plane_block",
    "plane_block_twin",
    "serves",
]

#: Output rows of a full block, and at most this many vectors of columns: 4 x 4
#: accumulators, 4 loaded vectors and a weight, of 32 AVX-512 (16 AVX2) registers.
BLOCK_ROWS, BLOCK_COLUMNS = 4, 4
#: Kernels of up to this many rows and columns take the blocks (a block is unrolled
#: over its taps); larger ones the other plane loops.
MAX_SIDE = 7

_loaded: dict[tuple[int, int], Any] = {}


def serves(
    dtype: np.dtype[Any], kernel_shape: tuple[int, int], ow: int, left: int, right: int
) -> bool:
    """Whether :func:`driver` takes planes of ``dtype`` padded by ``left`` and ``right``
    columns for (kh, kw) kernels, into output rows ``ow`` wide: sides of up to
    ``MAX_SIDE``, rows of at least one vector, and column padding that only the first and
    last vector of a block reach (at most ``kw - 1`` columns a side; a row of three or
    more vectors but less than a block must end ``right`` columns after its last whole
    vector)."""
    width = lanes(dtype)
    if max(kernel_shape) > MAX_SIDE or ow < width or max(left, right) > kernel_shape[1] - 1:
        return False
    count = -(-ow // width)
    return count <= 2 or ow >= BLOCK_COLUMNS * width or (count - 1) * width <= ow - right


def lanes(dtype: np.dtype[Any]) -> int:
    """Elements of ``dtype`` in one vector register of this CPU."""
    from corr2d.core._microkernels import VECTOR_BYTES

    return VECTOR_BYTES // np.dtype(dtype).itemsize


def _masked_load(vec: _Vectors, address: ir.Value, mask: ir.Value) -> ir.Value:
    """The lanes of the vector at ``address`` where ``mask`` is set, zero elsewhere
    (lanes masked off are not read: they may lie outside the array)."""
    builder = vec.builder
    pointer = ir.PointerType()
    suffix = f"v{vec.lanes}f{8 * vec.itemsize}.p0"
    function = cgutils.get_or_insert_function(
        builder.module,
        ir.FunctionType(vec.type, [pointer, _I32, mask.type, vec.type]),
        f"llvm.masked.load.{suffix}",
    )
    align = ir.Constant(_I32, vec.itemsize)
    return builder.call(function, [builder.bitcast(address, pointer), align, mask, vec.zero()])


def _inside(vec: _Vectors, first: ir.Value, limit: ir.Value) -> ir.Value:
    """The lanes ``p`` with ``0 <= first + p < limit`` (one unsigned comparison of 32-bit
    lanes: planes are narrower than 2**31)."""
    builder = vec.builder
    lane_type = ir.VectorType(_I32, vec.lanes)
    undefined = ir.Constant(lane_type, ir.Undefined)
    spread = ir.Constant(lane_type, [0] * vec.lanes)

    def splat(value: ir.Value) -> ir.Value:
        single = builder.insert_element(undefined, builder.trunc(value, _I32), ir.Constant(_I32, 0))
        return builder.shuffle_vector(single, undefined, spread)

    index = builder.add(splat(first), ir.Constant(lane_type, list(range(vec.lanes))))
    return builder.icmp_unsigned("<", index, splat(limit))


@intrinsic(prefer_literal=True)
def plane_block(  # type: ignore[no-untyped-def]
    typingctx,
    plane,
    row0,
    column0,
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
    rows_checked,
):
    """One block of the correlation of a zero-padded 2-D ``plane`` (H, W, C-contiguous),
    written to ``out`` (flat).

    The last five arguments are compile-time constants.  For output rows ``i < rows``,
    vectors ``c < columns`` starting at column ``s_c = c * lanes`` (the last one at
    ``last``) and lanes ``p``::

        out[out_base + i*out_stride + s_c + p] = (
            sum_{u < kh, v < kw} kernel[u*kw + v] * X[row0 + i + u, column0 + s_c + v + p]
        ) + bias

    where ``X`` is ``plane`` extended by zeros on every side: the loads mask off the
    columns outside it, and, with ``rows_checked``, whole rows outside it.  Without
    ``rows_checked`` every row the block reads must lie inside the plane, and only the
    first and last vectors are masked: the others must read columns inside it.  The
    sums run in the kernel's order with fused multiply-adds, from zero.  Input row ``r``
    is loaded once, shift by shift, for the output rows ``r - kh + 1 .. r`` it feeds.
    """
    shape = (rows, columns, kh, kw, rows_checked)
    if not all(isinstance(item, types.IntegerLiteral) for item in shape):
        return None
    rows, columns, kh, kw, checked = (item.literal_value for item in shape)
    signature = types.void(
        plane, row0, column0, kernel, bias, out, out_base, out_stride, last, *shape
    )

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        x_arr, row0, column0, k_arr, bias, o_arr, o_base, o_stride, last = args[:9]
        array_types = sig.args
        array = context.make_array(array_types[0])(context, builder, x_arr)
        height, width = (builder.extract_value(array.shape, axis) for axis in (0, 1))
        x_ptr = array.data
        k_ptr = _data(context, builder, array_types[3], k_arr)
        o_ptr = _data(context, builder, array_types[5], o_arr)
        vec = _Vectors(builder, x_ptr.type.pointee)
        starts: list[ir.Value] = [_const(c * vec.lanes) for c in range(columns - 1)] + [last]
        weights = [
            vec.splat(builder.load(builder.gep(k_ptr, [_const(tap)]))) for tap in range(kh * kw)
        ]
        # masks[c][v]: the lanes of vector c at shift v whose columns lie in the plane
        masks = [
            [
                _inside(vec, builder.add(column0, builder.add(start, _const(v))), width)
                for v in range(kw)
            ]
            for start in starts
        ]
        nothing = ir.Constant(masks[0][0].type, [0] * vec.lanes)
        sums = [vec.zero()] * (rows * columns)
        for r in range(rows + kh - 1):
            row = builder.add(row0, _const(r))
            source = builder.gep(x_ptr, [builder.add(builder.mul(row, width), column0)])
            if checked:
                inside = builder.icmp_unsigned("<", row, height)
            fed = range(max(0, r - kh + 1), min(rows - 1, r) + 1)
            for v in range(kw):
                shifted = builder.gep(source, [_const(v)])
                pixels = []
                for c, start in enumerate(starts):
                    mask = masks[c][v]
                    if checked:
                        mask = builder.select(inside, mask, nothing)
                    address = builder.gep(shifted, [start])
                    if checked or c in (0, columns - 1):
                        pixels.append(_masked_load(vec, address, mask))
                    else:  # inside the plane (the caller's promise): a plain load
                        pixels.append(vec.load(address))
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
    plane: NDArray[Any],
    row0: int,
    column0: int,
    kernel: NDArray[Any],
    bias: Any,
    out: NDArray[Any],
    out_base: int,
    out_stride: int,
    last: int,
    rows: int,
    columns: int,
    kh: int,
    kw: int,
    rows_checked: int,
) -> None:
    """:func:`plane_block` in plain Python, one output at a time, reading the plane
    extended by zeros (products rounded separately: equal to the block wherever the
    products are exact)."""
    height, width = plane.shape
    vector = lanes(plane.dtype)
    starts = [c * vector for c in range(columns - 1)] + [last]
    zero = plane.dtype.type(0)
    for i in range(rows):
        for start in starts:
            for p in range(vector):
                total = zero
                for u in range(kh):
                    for v in range(kw):
                        row, column = row0 + i + u, column0 + start + v + p
                        inside = 0 <= row < height and 0 <= column < width
                        total += kernel[u * kw + v] * (plane[row, column] if inside else zero)
                out[out_base + i * out_stride + start + p] = total + bias


def driver_source(kh: int, kw: int) -> str:
    """Python source of ``correlate(planes, kernels, bias, out, top, left, counter)``
    for (kh, kw) kernels: plane ``p`` of ``planes`` (P, H, W), zero-padded by ``top``
    rows above and ``left`` columns to its left (and as many after it as ``out``'s
    shape needs), correlated with ``kernels[p % C]`` (C, kh * kw) into ``out[p]`` (P,
    oh, ow), plus ``bias[p % C]``; one plane per task.  Output rows must be at least
    one vector wide.

    Each plane is read in place and covered by blocks of ``BLOCK_ROWS`` rows (one row
    at a time on shorter planes) by ``BLOCK_COLUMNS`` vectors, the last block of a row
    or column moved back to end at the plane's end; a row narrower than a full block is
    one block of as many vectors as it needs.  Only the blocks that read rows of the
    padding check their rows.
    """
    rows, columns = BLOCK_ROWS, BLOCK_COLUMNS

    def calls(indent: str, height: int) -> list[str]:
        """Blocks of ``height`` rows from output row ``i``: full blocks check their
        rows only where they read the padding, one-row blocks (short planes) always."""
        flags = ((1, "if checked"), (0, "else")) if height > 1 else ((1, ""),)

        def block(prefix: str, column0: str, base: str, last: str, count: int) -> list[str]:
            lines = []
            for flag, word in flags:
                inner = prefix + ("    " if word else "")
                lines += [f"{prefix}{word}:"] if word else []
                lines += [
                    f"{inner}plane_block(plane, i - top, {column0}, weights, b, target, "
                    f"{base}, ow, {last}, {height}, {count}, {kh}, {kw}, {flag})"
                ]
            return lines

        lines = [
            f"{indent}checked = i < top or i - top + {height + kh - 1} > height",
            f"{indent}if ow >= {columns} * width:",
            f"{indent}    j = 0",
            f"{indent}    while j < ow:",
            f"{indent}        j = min(j, ow - {columns} * width)",
            *block(
                f"{indent}        ", "j - left", "i * ow + j", f"{columns - 1} * width", columns
            ),
            f"{indent}        j += {columns} * width",
        ]
        for count in range(1, columns + 1):
            condition = f"elif ow <= {count} * width" if count < columns else "else"
            lines += [f"{indent}{condition}:"]
            lines += block(f"{indent}    ", "-left", "i * ow", "ow - width", count)
        return lines

    lines = [
        f'"""Generated by corr2d.core._depthwise_blocks: depthwise forward, {kh}x{kw}."""',
        "from corr2d.core._depthwise_blocks import plane_block",
        "from corr2d.core._microkernels import VECTOR_BYTES, next_task",
        "",
        "",
        "def correlate(planes, kernels, bias, out, top, left, counter):",
        "    count, oh, ow = out.shape",
        "    height = planes.shape[1]",
        "    channels = kernels.shape[0]",
        "    width = VECTOR_BYTES // out.itemsize",
        "    while True:",
        "        p = next_task(counter)",
        "        if p >= count:",
        "            break",
        "        plane = planes[p]",
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
