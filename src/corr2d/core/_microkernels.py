"""Register-blocked micro-kernels, written in LLVM IR through numba intrinsics.

A multi-channel convolution is a matrix product whose second factor never has to be
built: in a flat, padded input, the pixels that tap ``k`` of the kernel reads for a run
of consecutive output positions ``q, q + 1, ...`` are the consecutive elements
``x[base + offsets[k] + q], ...`` (see :mod:`corr2d.core._blocked`).  The kernels below
keep a block of that product in vector registers for the whole sum over taps, which is
what fast convolution libraries do and what plain numba loops cannot express: LLVM does
not keep a two-dimensional block of accumulators in registers when it meets one written
as scalar loops.  Here the block is spelled out with explicit vector types, and LLVM
only allocates registers and picks instructions (fused multiply-adds with the weight
broadcast from memory on AVX-512).

Both kernels are dumb: no bounds checks, every index precomputed by the caller.

* :func:`fma_block` -- forward: ``ROWS`` output channels by ``COLUMNS`` vectors of
  output positions, summed over every tap.  Per tap: ``COLUMNS`` vector loads of input,
  ``ROWS`` broadcasts of a weight, ``ROWS * COLUMNS`` fused multiply-adds.
* :func:`dot_block` -- weight gradient: ``ROWS`` output channels by ``TAPS`` taps, each
  a dot product over output positions (vectors of positions, summed across lanes at
  the end).
* :func:`outer_block` -- weight gradient with the output gradient transposed (channels
  contiguous): ``OUTER_TAPS`` taps by ``OUTER_VECTORS`` vectors of output channels, one
  outer product per output position (a broadcast pixel per tap), no sums across lanes.
* :func:`transpose_block` -- a square block of ``lanes`` rows by ``lanes`` columns,
  transposed in registers (the weight gradient's output gradient, channels by
  positions, into positions by channels for :func:`outer_block`).
* :func:`image_block` -- one image, one kernel: ``IMAGE_ROWS`` output rows by
  ``IMAGE_COLUMNS`` vectors of output columns.  Input row ``r`` feeds output rows
  ``r - kh + 1 .. r``, so each input vector is loaded once for up to ``IMAGE_ROWS``
  multiply-adds instead of once per tap.
* :func:`column_block` -- a 1-D pass down the rows: ``PASS_ROWS`` output rows by
  ``PASS_COLUMNS`` vectors, the kernel's height read at run time.  The input rows a
  block needs slide through registers, so each is loaded once for ``PASS_ROWS``
  outputs.
* :func:`tap_block` -- a pass along the rows (or any small 2-D kernel): one output row
  of ``TAP_COLUMNS`` vectors, taps ``spacing`` elements apart (the channels of an
  interleaved colour row), stored in the output's type: rounded to nearest-even and
  clamped for 8- and 16-bit pixels.

The two passes multiply and add in two roundings, tap by tap in the kernel's order, as
NumPy's ``out += w * x`` does (:mod:`corr2d.core._vectorised`), so the compiled and
the vectorised loops give the same bits: which one runs (a matter of the work's size)
never changes a result.  On CPUs with separate multiply and add units this costs no
throughput.

:func:`prefetch` asks the cache for a line a loop will read or write soon, so that a
loop whose image has left the caches (the first call after idle) overlaps the wait
with its sums.

:func:`next_task` hands out tasks one at a time to whichever thread asks first (an
atomic counter), where numba's ``prange`` gives each thread an equal share up front:
on a machine whose cores run at different speeds, the faster one then does more.

The block sizes follow the host's vector registers (:func:`register_plan`): 32 registers
of 64 bytes with AVX-512, 16 of 32 bytes with AVX2, 16 bytes otherwise.  If numba
compiles for another CPU than the host, the code stays correct, only slower.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "CACHE_LINE",
    "COLUMNS",
    "IMAGE_COLUMNS",
    "IMAGE_ROWS",
    "OUTER_TAPS",
    "OUTER_VECTORS",
    "PASS_COLUMNS",
    "PASS_ROWS",
    "ROWS",
    "TAPS",
    "TAP_COLUMNS",
    "VECTOR_BYTES",
    "column_block",
    "copy_even_run",
    "copy_run",
    "dot_block",
    "fma_block",
    "fma_rows_block",
    "image_block",
    "next_task",
    "outer_block",
    "prefetch",
    "register_plan",
    "tap_block",
    "transpose_block",
]


def register_plan() -> tuple[int, int, int, int]:
    """(vector bytes, forward rows, forward vector columns, gradient taps) for this CPU."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    # Forward (fma_block): rows x columns accumulators plus one register per column.
    # The weight gradient's dot_block keeps rows x taps accumulators plus rows + taps
    # loaded vectors, more than the register file on both plans (8 x 5 + 13 of 32 zmm,
    # 4 x 3 + 7 of 16 ymm), so some spill; it serves only layers with fewer than
    # OUTER_VECTORS vectors of output channels per group (32 float32 on AVX-512), the
    # wider ones summing outer products (outer_block).
    if features.get("avx512f"):
        return 64, 8, 3, 5  # 32 zmm registers: 24 + 3 forward
    if features.get("avx2") or features.get("avx"):
        return 32, 4, 3, 3  # 16 ymm registers: 12 + 3 forward
    return 16, 4, 3, 3


VECTOR_BYTES, ROWS, COLUMNS, TAPS = register_plan()
#: :func:`image_block`'s block: output rows by vectors of columns (accumulators, plus
#: one register per column for the input and one for a weight).
IMAGE_ROWS, IMAGE_COLUMNS = (6, 3) if VECTOR_BYTES == 64 else (4, 2)
#: :func:`column_block`'s block: output rows by vectors (accumulators, plus as many
#: registers for the sliding input rows).
PASS_ROWS, PASS_COLUMNS = (4, 3) if VECTOR_BYTES == 64 else (3, 2)
#: :func:`tap_block`'s block: vectors of one output row.
TAP_COLUMNS = 8 if VECTOR_BYTES == 64 else 4
#: :func:`outer_block`'s block: taps by vectors of output channels (accumulators, plus
#: one register per vector of gradients and one for the broadcast pixel).
OUTER_TAPS, OUTER_VECTORS = (12, 2) if VECTOR_BYTES == 64 else (6, 2)

#: Bytes of a cache line (x86-64 and most ARM cores): the step of :func:`prefetch`.
CACHE_LINE = 64

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def _const(value: int) -> ir.Constant:
    return ir.Constant(_I64, value)


class _Vectors:
    """IR helpers for vectors of one array's element type."""

    def __init__(self, builder: ir.IRBuilder, element: ir.Type) -> None:
        self.builder = builder
        self.element = element
        self.itemsize = 8 if isinstance(element, ir.DoubleType) else 4
        self.lanes = VECTOR_BYTES // self.itemsize
        self.type = ir.VectorType(element, self.lanes)
        name = f"llvm.fma.v{self.lanes}f{8 * self.itemsize}"
        self.fma_function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(self.type, [self.type] * 3), name
        )

    def splat(self, scalar: ir.Value) -> ir.Value:
        undefined = ir.Constant(self.type, ir.Undefined)
        single = self.builder.insert_element(undefined, scalar, ir.Constant(_I32, 0))
        zeros = ir.Constant(ir.VectorType(_I32, self.lanes), [0] * self.lanes)
        return self.builder.shuffle_vector(single, undefined, zeros)

    def zero(self) -> ir.Value:
        return ir.Constant(self.type, [0.0] * self.lanes)

    def pointer(self, address: ir.Value) -> ir.Value:
        return self.builder.bitcast(address, self.type.as_pointer())

    def load(self, address: ir.Value) -> ir.Value:
        return self.builder.load(self.pointer(address), align=self.itemsize)

    def load_from(self, address: ir.Value, unsigned: bool = True) -> ir.Value:
        """A vector loaded from ``address``, whose elements may be another float width
        or 8/16/32-bit integers (``unsigned`` or not), converted to this vector type."""
        source = address.type.pointee
        if source == self.element:
            return self.load(address)
        raw_type = ir.VectorType(source, self.lanes)
        item = (
            source.width // 8
            if isinstance(source, ir.IntType)
            else (8 if isinstance(source, ir.DoubleType) else 4)
        )
        raw = self.builder.load(self.builder.bitcast(address, raw_type.as_pointer()), align=item)
        if isinstance(source, ir.IntType):
            convert = self.builder.uitofp if unsigned else self.builder.sitofp
            return convert(raw, self.type)
        if item < self.itemsize:
            return self.builder.fpext(raw, self.type)
        return self.builder.fptrunc(raw, self.type)

    def store(self, value: ir.Value, address: ir.Value) -> None:
        self.builder.store(value, self.pointer(address), align=self.itemsize)

    def fma(self, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
        return self.builder.call(self.fma_function, [a, b, c])

    def multiply_add(self, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
        """``c + a * b`` rounded twice, as NumPy's ``c += a * b`` rounds it."""
        return self.builder.fadd(c, self.builder.fmul(a, b))

    def lane_sum(self, vector: ir.Value) -> ir.Value:
        """Sum of the lanes, by halving (log2(lanes) shuffles and adds)."""
        width = self.lanes
        while width > 1:
            half = width // 2
            low = ir.Constant(ir.VectorType(_I32, half), list(range(half)))
            high = ir.Constant(ir.VectorType(_I32, half), list(range(half, width)))
            vector = self.builder.fadd(
                self.builder.shuffle_vector(vector, vector, low),
                self.builder.shuffle_vector(vector, vector, high),
            )
            width = half
        return self.builder.extract_element(vector, ir.Constant(_I32, 0))


def _store_converted(vec: _Vectors, value: ir.Value, address: ir.Value) -> None:
    """Store ``value`` (a vector of ``vec``'s type) at ``address``, whose element type may
    differ: another float width, or unsigned 8/16-bit integers (rounded to nearest-even,
    clamped to the type's range; NaN becomes 0)."""
    builder = vec.builder
    target = address.type.pointee
    if target == vec.element:
        vec.store(value, address)
        return
    lanes = vec.lanes
    if isinstance(target, (ir.FloatType, ir.DoubleType)):
        narrow = ir.VectorType(target, lanes)
        cast = builder.fptrunc if vec.itemsize == 8 else builder.fpext
        item = 8 if isinstance(target, ir.DoubleType) else 4
        pointer = builder.bitcast(address, narrow.as_pointer())
        builder.store(cast(value, narrow), pointer, align=item)
        return
    bits = target.width
    top = float(2**bits - 1)
    module = builder.module
    suffix = f"v{lanes}f{8 * vec.itemsize}"
    unary = ir.FunctionType(vec.type, [vec.type])
    binary = ir.FunctionType(vec.type, [vec.type, vec.type])
    roundeven = cgutils.get_or_insert_function(module, unary, f"llvm.roundeven.{suffix}")
    maxnum = cgutils.get_or_insert_function(module, binary, f"llvm.maxnum.{suffix}")
    minnum = cgutils.get_or_insert_function(module, binary, f"llvm.minnum.{suffix}")
    constant = ir.Constant(vec.type, [top] * lanes)
    clamped = builder.call(maxnum, [builder.call(roundeven, [value]), vec.zero()])
    clamped = builder.call(minnum, [clamped, constant])
    whole = builder.fptosi(clamped, ir.VectorType(_I32, lanes))
    narrow = builder.trunc(whole, ir.VectorType(target, lanes))
    pointer = builder.bitcast(address, narrow.type.as_pointer())
    builder.store(narrow, pointer, align=bits // 8)


def _data(context: Any, builder: ir.IRBuilder, array_type: Any, value: ir.Value) -> ir.Value:
    return context.make_array(array_type)(context, builder, value).data


def _row(
    builder: ir.IRBuilder, data: ir.Value, base: ir.Value, stride: ir.Value, r: int
) -> ir.Value:
    """Address of ``data[base + r*stride]``: row ``r`` of a strided block."""
    return builder.gep(data, [builder.add(base, builder.mul(stride, _const(r)))])


def _store_block(
    vec: _Vectors,
    sums: list[ir.Value],
    columns: int,
    data: ir.Value,
    base: ir.Value,
    stride: ir.Value,
) -> None:
    """Store ``sums``, rows of ``columns`` vectors each, at ``data[base + r*stride:]``."""
    for r in range(len(sums) // columns):
        row = _row(vec.builder, data, base, stride, r)
        for c in range(columns):
            vec.store(sums[r * columns + c], vec.builder.gep(row, [_const(c * vec.lanes)]))


def _counted_loop(
    builder: ir.IRBuilder,
    count: ir.Value,
    step: int,
    initial: list[ir.Value],
    body: Any,
) -> list[ir.Value]:
    """``for i in range(0, count, step)`` carrying ``initial`` values through phi nodes.

    ``body(i, values)`` emits one iteration and returns the new values; the values
    after the loop are returned.
    """
    entry = builder.block
    function = builder.function
    head = function.append_basic_block("block_head")
    inside = function.append_basic_block("block_body")
    after = function.append_basic_block("block_after")
    builder.branch(head)
    builder.position_at_end(head)
    index = builder.phi(_I64)
    index.add_incoming(_const(0), entry)
    carried = []
    for value in initial:
        phi = builder.phi(value.type)
        phi.add_incoming(value, entry)
        carried.append(phi)
    builder.cbranch(builder.icmp_signed("<", index, count), inside, after)
    builder.position_at_end(inside)
    updated = body(index, carried)
    end = builder.block
    index.add_incoming(builder.add(index, _const(step)), end)
    for phi, value in zip(carried, updated, strict=True):
        phi.add_incoming(value, end)
    builder.branch(head)
    builder.position_at_end(after)
    return carried


def _forward_sums(context, builder, sig, args, rows=None):  # type: ignore[no-untyped-def]
    """The forward block's ROWS x COLUMNS vectors of sums, from its first seven arguments
    ``x, x_base, weights, weights_base, bias, bias_base`` (see :func:`fma_block`);
    returns the vector helpers and the sums, row-major.

    The weights are packed tap-major (``weights[weights_base + k*ROWS + r]``, bias
    ``bias[bias_base + r]``), or with ``rows`` (ROWS int64 values: the weight row each
    block row reads) row-major, ``weights[weights_base + rows[r]*taps + k]`` and
    ``bias[bias_base + rows[r]]``: a layer's own weight array, unpacked.
    """
    x_arr, x_base, offs_arr, w_arr, w_base, b_arr, b_base = args[:7]
    array_types = sig.args
    x_ptr = _data(context, builder, array_types[0], x_arr)
    offsets_ptr = _data(context, builder, array_types[2], offs_arr)
    taps = context.make_array(array_types[2])(context, builder, offs_arr).nitems
    w_ptr = _data(context, builder, array_types[3], w_arr)
    b_ptr = _data(context, builder, array_types[5], b_arr)
    vec = _Vectors(builder, x_ptr.type.pointee)
    if rows is None:
        rows = [_const(r) for r in range(ROWS)]
        row_starts = [builder.gep(w_ptr, [builder.add(w_base, row)]) for row in rows]
        tap_step = _const(ROWS)
    else:
        row_starts = [
            builder.gep(w_ptr, [builder.add(w_base, builder.mul(row, taps))]) for row in rows
        ]
        tap_step = _const(1)
    start = []
    for row in rows:
        bias_value = builder.load(builder.gep(b_ptr, [builder.add(b_base, row)]))
        start.extend([vec.splat(bias_value)] * COLUMNS)

    def tap(k: ir.Value, sums: list[ir.Value]) -> list[ir.Value]:
        offset = builder.load(builder.gep(offsets_ptr, [k]))
        source = builder.gep(x_ptr, [builder.add(x_base, offset)])
        pixels = [vec.load(builder.gep(source, [_const(c * vec.lanes)])) for c in range(COLUMNS)]
        at = builder.mul(k, tap_step)
        new = []
        for r in range(ROWS):
            weight = vec.splat(builder.load(builder.gep(row_starts[r], [at])))
            for c in range(COLUMNS):
                new.append(vec.fma(pixels[c], weight, sums[r * COLUMNS + c]))
        return new

    return vec, _counted_loop(builder, taps, 1, start, tap)


@intrinsic
def fma_block(  # type: ignore[no-untyped-def]
    typingctx, x, x_base, offsets, packed, packed_base, bias, bias_base, out, out_base, out_stride
):
    """One block of the forward product, written to ``out``.

    For r < ROWS and lanes p < COLUMNS * lanes:

        out[out_base + r*out_stride + p] = bias[bias_base + r]
            + sum_k packed[packed_base + k*ROWS + r] * x[x_base + offsets[k] + p]

    over k < len(offsets).  ``packed`` holds the block's weights tap-major, ROWS
    consecutive channel weights per tap, so each tap's weights are one cache line.
    """
    signature = types.void(
        x, x_base, offsets, packed, packed_base, bias, bias_base, out, out_base, out_stride
    )

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        vec, sums = _forward_sums(context, builder, sig, args)
        o_ptr = _data(context, builder, sig.args[7], args[7])
        _store_block(vec, sums, COLUMNS, o_ptr, args[8], args[9])
        return context.get_dummy_value()

    return signature, codegen


def _masked_store_function(vec: _Vectors, mask_type: ir.Type) -> Any:
    """LLVM's masked store of ``vec``'s vectors (lanes outside the mask untouched)."""
    suffix = f"v{vec.lanes}f{8 * vec.itemsize}.p0"
    return cgutils.get_or_insert_function(
        vec.builder.module,
        ir.FunctionType(ir.VoidType(), [vec.type, ir.PointerType(), _I32, mask_type]),
        f"llvm.masked.store.{suffix}",
    )


def _masked_load_function(vec: _Vectors, mask_type: ir.Type) -> Any:
    """LLVM's masked load of ``vec``'s vectors (lanes outside the mask read nothing and
    take the pass-through value)."""
    suffix = f"v{vec.lanes}f{8 * vec.itemsize}.p0"
    return cgutils.get_or_insert_function(
        vec.builder.module,
        ir.FunctionType(vec.type, [ir.PointerType(), _I32, mask_type, vec.type]),
        f"llvm.masked.load.{suffix}",
    )


def _lane_limit(builder: ir.IRBuilder, lanes: int, value: ir.Value) -> ir.Value:
    """A vector of ``lanes`` copies of the int64 ``value`` clamped to [-1, lanes] as
    int32, to compare the lane indices with."""
    low, high = _const(-1), _const(lanes)
    value = builder.select(builder.icmp_signed("<", value, low), low, value)
    value = builder.select(builder.icmp_signed(">", value, high), high, value)
    lane_type = ir.VectorType(_I32, lanes)
    undefined = ir.Constant(lane_type, ir.Undefined)
    single = builder.insert_element(undefined, builder.trunc(value, _I32), ir.Constant(_I32, 0))
    return builder.shuffle_vector(single, undefined, ir.Constant(lane_type, [0] * lanes))


@intrinsic
def fma_rows_block(  # type: ignore[no-untyped-def]
    typingctx,
    x,
    x_base,
    offsets,
    weights,
    weights_base,
    bias,
    bias_base,
    out,
    out_base,
    plane,
    channels,
    q0,
    row_width,
    ow,
    limit,
):
    """One block of the forward product, as :func:`fma_block` computes it (the same
    sums in the same order, so the same bits) from the layer's own weights, stored
    straight into ``channels`` (1 to ROWS) output planes laid out ``plane`` elements
    apart, with the wide rows' dropped positions left out.

    Block position p (p < COLUMNS * lanes) is the band's wide-row position
    ``q = q0 + p``, output row ``i = q // row_width`` and column ``j = q % row_width``
    of the band; it is an output where ``j < ow`` and ``q < limit``.  For r < channels:

        out[out_base + r*plane + i*ow + j] = bias[bias_base + r]
            + sum_k weights[weights_base + r*taps + k] * x[x_base + offsets[k] + p]

    with ``taps = len(offsets)``: ``weights`` is row-major, a row per output channel,
    as a layer's weight array is, and no row past ``channels - 1`` is read (nor bias).
    Nothing else in ``out`` is written.  Needs ``row_width >= lanes`` (a vector of
    positions then spans at most two wide rows: each is two masked stores).
    """
    signature = types.void(
        x,
        x_base,
        offsets,
        weights,
        weights_base,
        bias,
        bias_base,
        out,
        out_base,
        plane,
        channels,
        q0,
        row_width,
        ow,
        limit,
    )

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        o_base, plane, channels, q0, row_width, ow, limit = args[8:]
        last = builder.sub(channels, _const(1))
        rows = [_const(0)]
        for r in range(1, ROWS):
            rows.append(builder.select(builder.icmp_signed(">", _const(r), last), last, _const(r)))
        vec, sums = _forward_sums(context, builder, sig, args, rows)
        o_ptr = _data(context, builder, sig.args[7], args[7])

        # where each vector of positions goes: its first position's row i and column j;
        # lanes up to the row's end to row i (those with j < ow), the rest to row i + 1
        lanes = vec.lanes
        index = ir.Constant(ir.VectorType(_I32, lanes), list(range(lanes)))
        stores = []
        for c in range(COLUMNS):
            q = builder.add(q0, _const(c * lanes))
            i = builder.sdiv(q, row_width)
            j = builder.sub(q, builder.mul(i, row_width))
            inside = builder.icmp_signed(
                "<", index, _lane_limit(builder, lanes, builder.sub(limit, q))
            )
            end = builder.sub(row_width, j)  # lanes before the next row
            first = builder.icmp_signed("<", index, _lane_limit(builder, lanes, builder.sub(ow, j)))
            wrapped = builder.icmp_signed(">=", index, _lane_limit(builder, lanes, end))
            below = _lane_limit(builder, lanes, builder.add(end, ow))
            second = builder.and_(wrapped, builder.icmp_signed("<", index, below))
            at = builder.add(o_base, builder.add(builder.mul(i, ow), j))
            stores.append(
                (
                    builder.and_(first, inside),
                    at,
                    builder.and_(second, inside),
                    builder.sub(builder.add(at, ow), row_width),
                )
            )
        store = _masked_store_function(vec, stores[0][0].type)
        align = ir.Constant(_I32, vec.itemsize)
        for r in range(ROWS):
            keep = builder.icmp_signed(">", channels, _const(r))
            with builder.if_then(keep):
                shift = builder.mul(plane, _const(r))
                for c, (mask_a, at_a, mask_b, at_b) in enumerate(stores):
                    for mask, at in ((mask_a, at_a), (mask_b, at_b)):
                        address = builder.gep(o_ptr, [builder.add(at, shift)])
                        pointer = builder.bitcast(address, ir.PointerType())
                        builder.call(store, [sums[r * COLUMNS + c], pointer, align, mask])
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def dot_block(  # type: ignore[no-untyped-def]
    typingctx, g, g_base, g_stride, x, x_base, offsets, tap0, length, out, out_base, out_stride
):
    """One block of the weight gradient, added to ``out``.

    For r < ROWS and t < TAPS:

        out[out_base + r*out_stride + t] += sum_p g[g_base + r*g_stride + p]
                                               * x[x_base + offsets[tap0 + t] + p]

    over p < ``length``, a multiple of the vector lanes.  Each of the ROWS * TAPS sums
    is a vector of partial sums until the end, then summed across its lanes.
    """
    signature = types.void(
        g, g_base, g_stride, x, x_base, offsets, tap0, length, out, out_base, out_stride
    )

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        g_arr, g_base, g_stride, x_arr, x_base, offs_arr, tap0, length, o_arr, o_base, o_stride = (
            args
        )
        array_types = sig.args
        g_ptr = _data(context, builder, array_types[0], g_arr)
        x_ptr = _data(context, builder, array_types[3], x_arr)
        offsets_ptr = _data(context, builder, array_types[5], offs_arr)
        o_ptr = _data(context, builder, array_types[8], o_arr)
        vec = _Vectors(builder, g_ptr.type.pointee)
        grad_rows = [_row(builder, g_ptr, g_base, g_stride, r) for r in range(ROWS)]
        sources = []
        for t in range(TAPS):
            offset = builder.load(builder.gep(offsets_ptr, [builder.add(tap0, _const(t))]))
            sources.append(builder.gep(x_ptr, [builder.add(x_base, offset)]))

        def step(p: ir.Value, sums: list[ir.Value]) -> list[ir.Value]:
            grads = [vec.load(builder.gep(row, [p])) for row in grad_rows]
            pixels = [vec.load(builder.gep(source, [p])) for source in sources]
            return [
                vec.fma(grads[r], pixels[t], sums[r * TAPS + t])
                for r in range(ROWS)
                for t in range(TAPS)
            ]

        sums = _counted_loop(builder, length, vec.lanes, [vec.zero()] * (ROWS * TAPS), step)
        for r in range(ROWS):
            row = _row(builder, o_ptr, o_base, o_stride, r)
            for t in range(TAPS):
                address = builder.gep(row, [_const(t)])
                total = builder.fadd(builder.load(address), vec.lane_sum(sums[r * TAPS + t]))
                builder.store(total, address)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def outer_block(  # type: ignore[no-untyped-def]
    typingctx, g, g_base, g_stride, x, x_base, offsets, tap0, length, out, out_base, out_stride
):
    """One block of the weight gradient from a transposed output gradient, added to ``out``.

    For t < OUTER_TAPS and lanes c < OUTER_VECTORS * lanes:

        out[out_base + t*out_stride + c] += sum_p g[g_base + p*g_stride + c]
                                                * x[x_base + offsets[tap0 + t] + p]

    over p < ``length`` (any count).  Row ``p`` of ``g`` holds the output gradient of
    every channel at one position; each step loads it as ``OUTER_VECTORS`` vectors,
    broadcasts one pixel per tap and adds the outer product to the accumulators.
    """
    signature = types.void(
        g, g_base, g_stride, x, x_base, offsets, tap0, length, out, out_base, out_stride
    )

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        g_arr, g_base, g_stride, x_arr, x_base, offs_arr, tap0, length, o_arr, o_base, o_stride = (
            args
        )
        array_types = sig.args
        g_ptr = _data(context, builder, array_types[0], g_arr)
        x_ptr = _data(context, builder, array_types[3], x_arr)
        offsets_ptr = _data(context, builder, array_types[5], offs_arr)
        o_ptr = _data(context, builder, array_types[8], o_arr)
        vec = _Vectors(builder, g_ptr.type.pointee)
        taps, vectors = OUTER_TAPS, OUTER_VECTORS
        sources = []
        for t in range(taps):
            offset = builder.load(builder.gep(offsets_ptr, [builder.add(tap0, _const(t))]))
            sources.append(builder.gep(x_ptr, [builder.add(x_base, offset)]))

        def step(p: ir.Value, sums: list[ir.Value]) -> list[ir.Value]:
            row = _row(builder, g_ptr, g_base, g_stride, 0)
            row = builder.gep(row, [builder.mul(p, g_stride)])
            grads = [vec.load(builder.gep(row, [_const(c * vec.lanes)])) for c in range(vectors)]
            new = []
            for t in range(taps):
                pixel = vec.splat(builder.load(builder.gep(sources[t], [p])))
                for c in range(vectors):
                    new.append(vec.fma(grads[c], pixel, sums[t * vectors + c]))
            return new

        sums = _counted_loop(builder, length, 1, [vec.zero()] * (taps * vectors), step)
        for t in range(taps):
            row = _row(builder, o_ptr, o_base, o_stride, t)
            for c in range(vectors):
                address = builder.gep(row, [_const(c * vec.lanes)])
                vec.store(builder.fadd(vec.load(address), sums[t * vectors + c]), address)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def transpose_block(  # type: ignore[no-untyped-def]
    typingctx, source, source_base, source_stride, target, target_base, target_stride
):
    """A square block of ``lanes`` x ``lanes`` elements, transposed:

        target[target_base + c*target_stride + r] = source[source_base + r*source_stride + c]

    for r, c < lanes (16 float32 or 8 float64 with AVX-512).  The rows are loaded as
    vectors and transposed in registers in log2(lanes) rounds: round ``k`` swaps bit
    ``k`` of the row index with bit ``k`` of the column index, each pair of rows
    ``(i, i + 2**k)`` exchanging the halves that differ.  Then the rows are stored.
    """
    signature = types.void(source, source_base, source_stride, target, target_base, target_stride)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        s_arr, s_base, s_stride, t_arr, t_base, t_stride = args
        s_ptr = _data(context, builder, sig.args[0], s_arr)
        t_ptr = _data(context, builder, sig.args[3], t_arr)
        vec = _Vectors(builder, s_ptr.type.pointee)
        size = vec.lanes
        rows = [vec.load(_row(builder, s_ptr, s_base, s_stride, r)) for r in range(size)]
        bit = 1
        while bit < size:
            # from the concatenation (row i, row i + bit): lanes 0 .. size-1, size ..
            low = [c if not c & bit else size + c - bit for c in range(size)]
            high = [c + bit if not c & bit else size + c for c in range(size)]
            low_mask = ir.Constant(ir.VectorType(_I32, size), low)
            high_mask = ir.Constant(ir.VectorType(_I32, size), high)
            for i in range(size):
                if i & bit:
                    continue
                first, second = rows[i], rows[i + bit]
                rows[i] = builder.shuffle_vector(first, second, low_mask)
                rows[i + bit] = builder.shuffle_vector(first, second, high_mask)
            bit *= 2
        for c in range(size):
            vec.store(rows[c], _row(builder, t_ptr, t_base, t_stride, c))
        return context.get_dummy_value()

    return signature, codegen


@intrinsic(prefer_literal=True)
def image_block(  # type: ignore[no-untyped-def]
    typingctx, x, x_base, x_stride, kernel, kw, out, out_base, out_stride, height
):
    """One block of a single-image correlation, written to ``out``.

    For i < IMAGE_ROWS and lanes p < IMAGE_COLUMNS * lanes:

        out[out_base + i*out_stride + p] =
            sum_{u < height, v < kw} kernel[u*kw + v] * x[x_base + (i + u)*x_stride + v + p]

    ``height``, the kernel's row count, must be a compile-time constant: the block is
    unrolled over the ``IMAGE_ROWS + height - 1`` input rows it reads (its code grows
    with that), and input row ``r`` is multiplied into output rows ``i = r - u`` for
    each kernel row ``u``.  The kernel's columns are a run-time loop, or unrolled when
    ``kw`` is a compile-time constant too (short rows: no loop exit per input row; 5x5
    about 10% faster).  Each input row is read for all ``kw`` column shifts before the
    next one, so a block touches a few cache lines at a time even when rows alias in
    the cache (image widths that are multiples of 1024).
    """
    if not isinstance(height, types.IntegerLiteral):
        return None
    kernel_rows = height.literal_value
    unrolled_width = kw.literal_value if isinstance(kw, types.IntegerLiteral) else None
    signature = types.void(x, x_base, x_stride, kernel, kw, out, out_base, out_stride, height)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        x_arr, x_base, x_stride, k_arr, kw, o_arr, o_base, o_stride, _ = args
        array_types = sig.args
        x_ptr = _data(context, builder, array_types[0], x_arr)
        k_ptr = _data(context, builder, array_types[3], k_arr)
        o_ptr = _data(context, builder, array_types[5], o_arr)
        vec = _Vectors(builder, x_ptr.type.pointee)
        rows, columns = IMAGE_ROWS, IMAGE_COLUMNS
        sums = [vec.zero()] * (rows * columns)
        for r in range(rows + kernel_rows - 1):
            source = _row(builder, x_ptr, x_base, x_stride, r)
            fed = range(max(0, r - kernel_rows + 1), min(rows - 1, r) + 1)  # output rows
            weight_rows = [builder.gep(k_ptr, [builder.mul(kw, _const(r - i))]) for i in fed]

            def shift(v, carried, source=source, fed=fed, weight_rows=weight_rows):  # type: ignore[no-untyped-def]
                start = builder.gep(source, [v])
                pixels = [
                    vec.load(builder.gep(start, [_const(c * vec.lanes)])) for c in range(columns)
                ]
                carried = list(carried)
                for i, weight_row in zip(fed, weight_rows, strict=True):
                    weight = vec.splat(builder.load(builder.gep(weight_row, [v])))
                    for c in range(columns):
                        carried[i * columns + c] = vec.fma(
                            pixels[c], weight, carried[i * columns + c]
                        )
                return carried

            if unrolled_width is None:
                sums = _counted_loop(builder, kw, 1, sums, shift)
            else:
                for v in range(unrolled_width):
                    sums = shift(_const(v), sums)
        _store_block(vec, sums, columns, o_ptr, o_base, o_stride)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def column_block(  # type: ignore[no-untyped-def]
    typingctx, x, x_base, x_stride, weights, weights_base, kh, out, out_base, out_stride
):
    """One block of a pass down the rows, written to ``out``.

    For i < PASS_ROWS and lanes p < PASS_COLUMNS * lanes:

        out[out_base + i*out_stride + p] =
            sum_{u < kh} weights[weights_base + u] * x[x_base + (i + u)*x_stride + p]

    in the type of ``weights`` and ``out``; ``x`` may hold another float width or
    unsigned 8/16-bit pixels, converted as they are loaded.

    The sum over ``u`` is a run-time loop that carries the ``PASS_ROWS`` input rows the
    block reads at step ``u`` (rows ``u .. u + PASS_ROWS - 1``) in registers, loading
    one new row per step; no output is ever multiplied by a row outside its window (so
    NaN and inf reach exactly the outputs whose window holds them).
    """
    signature = types.void(
        x, x_base, x_stride, weights, weights_base, kh, out, out_base, out_stride
    )

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        x_arr, x_base, x_stride, w_arr, w_base, kh, o_arr, o_base, o_stride = args
        array_types = sig.args
        x_ptr = _data(context, builder, array_types[0], x_arr)
        w_ptr = _data(context, builder, array_types[3], w_arr)
        o_ptr = _data(context, builder, array_types[6], o_arr)
        vec = _Vectors(builder, w_ptr.type.pointee)
        unsigned = not getattr(array_types[0].dtype, "signed", False)
        rows, columns = PASS_ROWS, PASS_COLUMNS

        def load_row(r: ir.Value) -> list[ir.Value]:
            start = builder.gep(x_ptr, [builder.add(x_base, builder.mul(x_stride, r))])
            return [
                vec.load_from(builder.gep(start, [_const(c * vec.lanes)]), unsigned)
                for c in range(columns)
            ]

        window = [v for r in range(rows - 1) for v in load_row(_const(r))]
        sums = [vec.zero()] * (rows * columns)

        def step(u: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
            sliding = list(carried[: (rows - 1) * columns])
            sliding += load_row(builder.add(u, _const(rows - 1)))
            weight = vec.splat(builder.load(builder.gep(w_ptr, [builder.add(w_base, u)])))
            acc = list(carried[(rows - 1) * columns :])
            for i in range(rows):
                for c in range(columns):
                    acc[i * columns + c] = vec.multiply_add(
                        sliding[i * columns + c], weight, acc[i * columns + c]
                    )
            return sliding[columns:] + acc

        carried = _counted_loop(builder, kh, 1, window + sums, step)
        _store_block(vec, carried[(rows - 1) * columns :], columns, o_ptr, o_base, o_stride)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def tap_block(  # type: ignore[no-untyped-def]
    typingctx,
    x,
    x_base,
    x_stride,
    spacing,
    weights,
    weights_base,
    kh,
    kw,
    start,
    start_base,
    use_start,
    out,
    out_base,
):
    """One row block of a correlation with taps ``spacing`` apart, stored in ``out``'s type.

    For lanes p < TAP_COLUMNS * lanes:

        out[out_base + p] = (start[start_base + p] if use_start else 0)
            + sum_{u < kh, v < kw} weights[weights_base + u*kw + v]
                                   * x[x_base + u*x_stride + v*spacing + p]

    With ``kh == 1`` this is a pass along a row; ``spacing`` is the number of
    interleaved channels.  ``start`` (``x``'s type) holds earlier terms of a low-rank
    sum.  ``out`` may be ``x``'s type, the other float width, or uint8/uint16 (rounded
    to nearest-even and clamped to the type's range, as OpenCV saturates).
    """
    signature = types.void(
        x,
        x_base,
        x_stride,
        spacing,
        weights,
        weights_base,
        kh,
        kw,
        start,
        start_base,
        use_start,
        out,
        out_base,
    )

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        (x_arr, x_base, x_stride, spacing, w_arr, w_base, kh, kw) = args[:8]
        (s_arr, s_base, use_start, o_arr, o_base) = args[8:]
        array_types = sig.args
        x_ptr = _data(context, builder, array_types[0], x_arr)
        w_ptr = _data(context, builder, array_types[4], w_arr)
        s_ptr = _data(context, builder, array_types[8], s_arr)
        o_ptr = _data(context, builder, array_types[11], o_arr)
        vec = _Vectors(builder, x_ptr.type.pointee)
        columns = TAP_COLUMNS
        zeros = [vec.zero()] * columns
        initial_source = builder.gep(s_ptr, [s_base])
        with builder.if_else(builder.icmp_signed("!=", use_start, _const(0))) as (then, other):
            with then:
                from_start = [
                    vec.load(builder.gep(initial_source, [_const(c * vec.lanes)]))
                    for c in range(columns)
                ]
                then_block = builder.block
            with other:
                other_block = builder.block
        initial = []
        for c in range(columns):
            phi = builder.phi(vec.type)
            phi.add_incoming(from_start[c], then_block)
            phi.add_incoming(zeros[c], other_block)
            initial.append(phi)

        def row(u: ir.Value, sums: list[ir.Value]) -> list[ir.Value]:
            source = builder.gep(x_ptr, [builder.add(x_base, builder.mul(u, x_stride))])
            weight_row = builder.gep(w_ptr, [builder.add(w_base, builder.mul(u, kw))])

            def tap(v: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
                start = builder.gep(source, [builder.mul(v, spacing)])
                weight = vec.splat(builder.load(builder.gep(weight_row, [v])))
                return [
                    vec.multiply_add(
                        vec.load(builder.gep(start, [_const(c * vec.lanes)])), weight, carried[c]
                    )
                    for c in range(columns)
                ]

            return _counted_loop(builder, kw, 1, sums, tap)

        sums = _counted_loop(builder, kh, 1, initial, row)
        target = builder.gep(o_ptr, [o_base])
        for c in range(columns):
            _store_converted(vec, sums[c], builder.gep(target, [_const(c * vec.lanes)]))
        return context.get_dummy_value()

    return signature, codegen


def _run_signature(source, source_base, target, target_base, count):  # type: ignore[no-untyped-def]
    """The signature of a run copy between two arrays of one float type, else None."""
    if not (isinstance(source, types.Array) and isinstance(target, types.Array)):
        return None
    if source.dtype != target.dtype or not isinstance(source.dtype, types.Float):
        return None
    return types.void(source, source_base, target, target_base, count)


def _run_pointers(context, builder, sig, args):  # type: ignore[no-untyped-def]
    """A run copy's vectors, the addresses of its first source and target elements, and
    its count."""
    s_arr, s_base, t_arr, t_base, count = args
    s_ptr = _data(context, builder, sig.args[0], s_arr)
    t_ptr = _data(context, builder, sig.args[2], t_arr)
    vec = _Vectors(builder, s_ptr.type.pointee)
    return vec, builder.gep(s_ptr, [s_base]), builder.gep(t_ptr, [t_base]), count


@intrinsic
def copy_run(typingctx, source, source_base, target, target_base, count):  # type: ignore[no-untyped-def]
    """``target[target_base + p] = source[source_base + p]`` for p < ``count``.

    Whole vectors, then one masked vector for the rest: a short run (a row of a small
    image) costs a few instructions, where a scalar loop would pay its set-up per run.
    Both arrays hold the same float type; nothing outside the run is read or written.
    """
    signature = _run_signature(source, source_base, target, target_base, count)
    if signature is None:
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        vec, start, end, count = _run_pointers(context, builder, sig, args)
        lanes = _const(vec.lanes)
        whole = builder.sub(count, builder.srem(count, lanes))

        def step(p: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
            vec.store(vec.load(builder.gep(start, [p])), builder.gep(end, [p]))
            return []

        _counted_loop(builder, whole, vec.lanes, [], step)
        rest = builder.trunc(builder.sub(count, whole), _I32)
        lane_type = ir.VectorType(_I32, vec.lanes)
        index = ir.Constant(lane_type, list(range(vec.lanes)))
        undefined = ir.Constant(lane_type, ir.Undefined)
        limit = builder.insert_element(undefined, rest, ir.Constant(_I32, 0))
        limit = builder.shuffle_vector(limit, undefined, ir.Constant(lane_type, [0] * vec.lanes))
        mask = builder.icmp_signed("<", index, limit)
        pointer = ir.PointerType()
        suffix = f"v{vec.lanes}f{8 * vec.itemsize}.p0"
        align = ir.Constant(_I32, vec.itemsize)
        masked_load = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(vec.type, [pointer, _I32, mask.type, vec.type]),
            f"llvm.masked.load.{suffix}",
        )
        masked_store = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [vec.type, pointer, _I32, mask.type]),
            f"llvm.masked.store.{suffix}",
        )
        source_tail = builder.bitcast(builder.gep(start, [whole]), pointer)
        target_tail = builder.bitcast(builder.gep(end, [whole]), pointer)
        tail = builder.call(masked_load, [source_tail, align, mask, vec.zero()])
        builder.call(masked_store, [tail, target_tail, align, mask])
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def copy_even_run(typingctx, source, source_base, target, target_base, count):  # type: ignore[no-untyped-def]
    """``target[target_base + p] = source[source_base + 2*p]`` for p < ``count``.

    Each vector of targets from two vectors of the source, their even lanes picked by
    one shuffle, while the source holds two more vectors' worth past the group; the
    rest by masked loads and stores, so no element past
    ``source[source_base + 2*count - 2]`` is read.
    A stride-2 layer's phases rearranged at vector speed.  Both arrays hold the same
    float type.
    """
    signature = _run_signature(source, source_base, target, target_base, count)
    if signature is None:
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        vec, start, end, count = _run_pointers(context, builder, sig, args)
        lanes = vec.lanes
        # whole groups while p + lanes < count: the group's last read, 2*p + 2*lanes - 1,
        # stays at or below 2*count - 2
        whole = builder.sub(count, _const(lanes))
        whole = builder.select(builder.icmp_signed(">", whole, _const(0)), whole, _const(0))
        whole = builder.sub(whole, builder.srem(whole, _const(lanes)))
        even = ir.Constant(ir.VectorType(_I32, lanes), list(range(0, 2 * lanes, 2)))

        def group(p: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
            first = builder.gep(start, [builder.mul(p, _const(2))])
            low = vec.load(first)
            high = vec.load(builder.gep(first, [_const(lanes)]))
            vec.store(builder.shuffle_vector(low, high, even), builder.gep(end, [p]))
            return []

        _counted_loop(builder, whole, lanes, [], group)
        # the rest (at most two vectors of targets) by masked loads and stores
        index = ir.Constant(ir.VectorType(_I32, lanes), list(range(lanes)))
        load = _masked_load_function(vec, ir.VectorType(ir.IntType(1), lanes))
        store = _masked_store_function(vec, ir.VectorType(ir.IntType(1), lanes))
        align = ir.Constant(_I32, vec.itemsize)

        def rest(p: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
            q = builder.add(whole, p)
            left = builder.sub(count, q)  # targets left; reads up to 2*left - 2 ahead
            reach = builder.sub(builder.mul(left, _const(2)), _const(1))
            first = builder.gep(start, [builder.mul(q, _const(2))])
            halves = []
            for h in range(2):
                limit = _lane_limit(builder, lanes, builder.sub(reach, _const(h * lanes)))
                pointer = builder.bitcast(builder.gep(first, [_const(h * lanes)]), ir.PointerType())
                mask = builder.icmp_signed("<", index, limit)
                halves.append(builder.call(load, [pointer, align, mask, vec.zero()]))
            picked = builder.shuffle_vector(halves[0], halves[1], even)
            mask = builder.icmp_signed("<", index, _lane_limit(builder, lanes, left))
            pointer = builder.bitcast(builder.gep(end, [q]), ir.PointerType())
            builder.call(store, [picked, pointer, align, mask])
            return []

        _counted_loop(builder, builder.sub(count, whole), lanes, [], rest)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def next_task(typingctx, counter):  # type: ignore[no-untyped-def]
    """``counter[0] += 1`` as one atomic step, returning the value before it.

    Threads that loop ``while (task := next_task(counter)) < count`` share ``count``
    tasks dynamically.  ``counter`` is a one-element int64 array.
    """
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None
    signature = types.int64(counter)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        address = _data(context, builder, sig.args[0], args[0])
        return builder.atomic_rmw("add", address, _const(1), "monotonic")

    return signature, codegen


@intrinsic(prefer_literal=True)
def prefetch(typingctx, array, index, write):  # type: ignore[no-untyped-def]
    """Ask for the cache line of ``array``'s element ``index`` (flat) ahead of use:
    to read it (``write`` a literal 0) or to write it (1).

    A hint only (LLVM's ``llvm.prefetch``, kept in all cache levels): it changes no
    value and never faults, so ``index`` may lie past the array's end (the hint is
    then wasted, never harmful).
    """
    if not (
        isinstance(array, types.Array)
        and isinstance(index, types.Integer)
        and isinstance(write, types.IntegerLiteral)
        and write.literal_value in (0, 1)
    ):
        return None
    signature = types.void(array, index, write)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        address = builder.gep(_data(context, builder, sig.args[0], args[0]), [args[1]])
        pointer = ir.PointerType()
        hint = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [pointer, _I32, _I32, _I32]),
            "llvm.prefetch.p0",
        )
        rw = ir.Constant(_I32, sig.args[2].literal_value)
        locality, data_cache = ir.Constant(_I32, 3), ir.Constant(_I32, 1)
        builder.call(hint, [builder.bitcast(address, pointer), rw, locality, data_cache])
        return context.get_dummy_value()

    return signature, codegen
