"""Correlation loops unrolled for one kernel shape, generated on first use.

For small kernels the fastest loop keeps every tap's weight in a register and sums all
taps of an output pixel in one expression, so each output is written once.  LLVM only
vectorises such a loop when the tap offsets are constants, so the loop must be written
for one kernel shape.  This module writes that source for a shape (the function is
plain numba code, readable in the generated file), stores it in a cache folder and
imports it, compiled as a :class:`~corr2d.core._loops.Loop` (parallel and serial
builds); numba's own on-disk cache sits beside it, so a later process neither
regenerates nor recompiles.

Kernel rows are summed in groups: one pass over the output row for up to 25 taps,
otherwise passes of two kernel rows (measured fastest on AVX-512 for 7x7).  Kernels
with more than ``MAX_TAPS`` taps but rows of at most ``MAX_WIDTH`` get a loop unrolled
along the row only: one pass per kernel row, the row count read at run time, so one
compiled loop serves every kernel height (11x11: 10 ms on a 2048x2048 float32 image,
against 34 ms for the generic loop).

Real images large enough for a few blocks take a third loop (:func:`image_loop`): a
driver of the register-blocked :func:`~corr2d.core._microkernels.image_block`, whose
kernel height must be a compile-time constant, generated per kernel shape for rows of
up to ``MAX_UNROLLED_WIDTH`` taps and per kernel height for longer rows.  It loads
each input vector once for several output rows, where the loops above load it once
per tap (7x7 on a 2048x2048 float32 image: about 3 ms, against 4.5 ms).

The generated source is saved in the checked cache folder of
:mod:`corr2d.core._cache` (``$CORR2D_CACHE_DIR``, else ``~/.cache/corr2d``), but always
executed from the text just generated, never imported from the file.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the loops import numba, which only a computation should pay for
    from corr2d.core._loops import Loop

__all__ = [
    "ALONE_FIELDS",
    "MAX_IMAGE_HEIGHT",
    "MAX_TAPS",
    "MAX_UNROLLED_WIDTH",
    "MAX_WIDTH",
    "has_image_loop",
    "has_unrolled_loop",
    "image_loop",
    "image_source",
    "image_task",
    "image_task_alone",
    "image_task_source",
    "plane_backward",
    "plane_backward_source",
    "plane_gradient",
    "plane_gradient_source",
    "planes_task",
    "planes_task_source",
    "source",
    "unrolled_loop",
]

#: Kernels with up to this many taps get a loop unrolled over all of them.
MAX_TAPS = 64
#: Larger kernels with rows up to this long get a loop unrolled along the row; wider
#: ones use the generic loops (or, usually, the FFT).
MAX_WIDTH = 32
#: Real images with kernels of up to this many rows (any width) take the
#: register-blocked loop, compiled once per height.
MAX_IMAGE_HEIGHT = 32
#: Kernels with rows up to this long get an image loop unrolled along the row too
#: (compiled per kernel shape); longer rows share one loop per height.
MAX_UNROLLED_WIDTH = 8
#: Image task loops for kernels of these heights ask for the next block row's input
#: and output lines while they compute the current one (:func:`prefetch`).  After idle,
#: when the image and the output come from memory, the loop otherwise waits for each
#: line: 512x512, one call after 50 ms of sleep, 5x5 0.31 -> 0.28 ms, 7x7 0.50 -> 0.46,
#: 9x9 0.56 -> 0.54; 2048x2048 back to back, 7x7 2.0 -> 1.6 ms, 9x9 2.6 -> 2.3.  With 3
#: rows the sums of a block are too short to hide the hints (3x3 back to back 10-25%
#: slower), and from 11 rows on a block's rows stay in cache between block rows and the
#: hints only compete with its loads (2048x2048, 15x15 and 21x21: 6% and 19% slower).
PREFETCH_HEIGHTS = range(5, 10)

_loaded: dict[tuple[int, int], Loop] = {}
_image_loaded: dict[tuple[int, int], Loop] = {}
_task_loaded: dict[tuple[int, int], Loop] = {}
_task_modules: dict[tuple[int, int], tuple[Any, Path | None]] = {}
_alone_loaded: dict[tuple[int, int], Any] = {}
_alone_lock = threading.Lock()
_planes_loaded: dict[tuple[int, int], Loop] = {}
_gradient_loaded: dict[tuple[str, int, int], Any] = {}
#: Loops that share tasks dynamically start this many workers (more than any thread
#: count): prange hands each thread a share of them, the first worker of a share takes
#: tasks until none are left, and the rest find none.  (The thread count itself,
#: ``numba.get_num_threads()``, would keep numba from caching the compiled loop.)
_WORKERS = 1024


def _groups(kh: int, kw: int) -> list[list[int]]:
    size = kh if kh * kw <= 25 else 2
    return [list(range(start, min(kh, start + size))) for start in range(0, kh, size)]


def source(kh: int, kw: int) -> str:
    """Python source of ``correlate(x, kernel, out)`` unrolled for a (kh, kw) kernel.

    With ``kh = 0`` the loop is unrolled along a row of ``kw`` taps only and works for
    any kernel height.
    """
    if kh == 0:
        return _row_source(kw)
    lines = [
        f'"""Generated by corr2d.core._unrolled: valid correlation with a {kh}x{kw} kernel."""',
        "from numba import prange",
        "",
        "",
        "def correlate(x, kernel, out):",
        "    oh, ow = out.shape",
    ]
    for u in range(kh):
        taps = ", ".join(f"kernel[{u}, {v}]" for v in range(kw))
        names = ", ".join(f"w{u}_{v}" for v in range(kw))
        lines.append(f"    {names}{',' if kw == 1 else ''} = {taps}{',' if kw == 1 else ''}")
    lines.append("    for i in prange(oh):")
    lines.append("        row = out[i]")
    for number, group in enumerate(_groups(kh, kw)):
        for u in group:
            lines.append(f"        x{u} = x[i + {u}]")
        lines.append("        for j in range(ow):")
        terms = " + ".join(
            "(" + " + ".join(f"w{u}_{v} * x{u}[j + {v}]" for v in range(kw)) + ")" for u in group
        )
        lines.append(f"            row[j] {'=' if number == 0 else '+='} {terms}")
    return "\n".join(lines) + "\n"


def _row_source(kw: int) -> str:
    weights = ", ".join(f"w{v}" for v in range(kw))
    taps = ", ".join(f"kernel[u, {v}]" for v in range(kw))
    comma = "," if kw == 1 else ""
    terms = " + ".join(f"w{v} * xu[j + {v}]" for v in range(kw))
    lines = [
        f'"""Generated by corr2d.core._unrolled: valid correlation with a (*, {kw}) kernel."""',
        "from numba import prange",
        "",
        "",
        "def correlate(x, kernel, out):",
        "    oh, ow = out.shape",
        "    kh = kernel.shape[0]",
        "    for i in prange(oh):",
        "        row = out[i]",
        "        for j in range(ow):",
        "            row[j] = 0",
        "        for u in range(kh):",
        "            xu = x[i + u]",
        f"            {weights}{comma} = {taps}{comma}",
        "            for j in range(ow):",
        f"                row[j] += {terms}",
    ]
    return "\n".join(lines) + "\n"


def has_unrolled_loop(kh: int, kw: int) -> bool:
    """Whether :func:`unrolled_loop` has a loop for a (kh, kw) kernel."""
    return kh * kw <= MAX_TAPS or kw <= MAX_WIDTH


def unrolled_loop(kh: int, kw: int) -> Loop | None:
    """The compiled loop for a (kh, kw) kernel, or None for the generic loops.

    Up to MAX_TAPS taps: unrolled over the whole kernel; otherwise, up to MAX_WIDTH
    columns: unrolled along the row; wider kernels: None.
    """
    if not has_unrolled_loop(kh, kw):
        return None
    if kh * kw > MAX_TAPS:
        kh = 0  # one loop, unrolled along the row, for every kernel height
    key = (kh, kw)
    if key in _loaded:
        return _loaded[key]
    loop = _compile(f"corr2d_unrolled_{kh or 'any'}x{kw}", source(kh, kw))
    _loaded[key] = loop
    return loop


def image_source(kh: int, kw: int = 0) -> str:
    """Python source of ``correlate(x, kernel, out)`` for real images and (kh, kw) kernels.

    With ``kw = 0`` the kernel's row length is read at run time, so the loop serves
    every width.
    Tasks are bands of ``IMAGE_ROWS`` output rows, handed to the threads one at a time
    (:func:`~corr2d.core._microkernels.next_task`); each band is cut into blocks of
    ``IMAGE_COLUMNS`` vectors, the last one moved left to end at the last column (it
    recomputes a few outputs rather than reading past the row).  Rows left over at the
    bottom are one more band, moved up to end at the last row, computed after the
    parallel loop so that no two threads write the same output.
    """
    call = (
        f"image_block(flat_x, i * stride + j, stride, flat_kernel, {kw or 'kw'}, "
        f"flat_out, i * ow + j, ow, {kh})"
    )
    shape = f"{kh}x{kw}" if kw else f"{kh}-row"
    band = ["j = 0", "while j < ow:", "    j = min(j, ow - width)", f"    {call}", "    j += width"]
    lines = [
        f'"""Generated by corr2d.core._unrolled: valid correlation, {shape} kernels."""',
        "import numpy as np",
        "from numba import prange",
        "",
        "from corr2d.core._microkernels import (",
        "    IMAGE_COLUMNS, IMAGE_ROWS, VECTOR_BYTES, image_block, next_task",
        ")",
        "",
        "",
        "def correlate(x, kernel, out):",
        "    oh, ow = out.shape",
        "    stride = x.shape[1]",
        *([] if kw else ["    kw = kernel.shape[1]"]),
        "    flat_x, flat_kernel, flat_out = x.ravel(), kernel.ravel(), out.ravel()",
        "    width = IMAGE_COLUMNS * (VECTOR_BYTES // x.itemsize)",
        "    bands = oh // IMAGE_ROWS",
        "    counter = np.zeros(1, dtype=np.int64)",
        f"    for _ in prange({_WORKERS}):  # each thread's share of workers drains the queue",
        "        while True:",
        "            b = next_task(counter)",
        "            if b >= bands:",
        "                break",
        "            i = b * IMAGE_ROWS",
        *("            " + line for line in band),
        "    if oh % IMAGE_ROWS:",
        "        i = oh - IMAGE_ROWS",
        *("        " + line for line in band),
    ]
    return "\n".join(lines) + "\n"


def image_task_source(kh: int, kw: int = 0) -> str:
    """Python source of the task loop ``correlate(src, rows, cols, fill, kernel, out,
    tile_rows, lo, hi, counter)``: :func:`image_source`'s blocks over an image read
    through the index tables of :mod:`corr2d.core._bands` (any border rule, no padded
    copy).

    A task is a band of ``tile_rows`` output rows (the last band takes the rows left
    over, so every band has at least ``IMAGE_ROWS``).  Where the band's input rows are
    the image's own, the outputs ``lo .. hi - 1``, whose windows lie inside the image's
    columns, read it in place, and the outputs left and right of them are computed from
    a narrow strip gathered with the border; other bands (top and bottom, or images
    narrower than a block) are gathered whole, converted to the kernel's type.  Within a
    band the last block of rows is moved up and the last block of a run of columns left,
    recomputing a few outputs of the same band with the same sums.  Kernels whose height
    is in ``PREFETCH_HEIGHTS`` prefetch, beside each block, the lines of the block below
    it that are not yet in use (hints: no result changes).
    """
    call = (
        f"image_block(source, base + i * stride + (j - j_lo), stride, weights, "
        f"{kw or 'kw'}, target, (row0 + i) * ow + j, ow, {kh})"
    )
    shape = f"{kh}x{kw}" if kw else f"{kh}-row"
    setup, ahead = [], []
    if kh in PREFETCH_HEIGHTS:
        setup = [
            "        # the input rows the next block row reads first and the output rows it",
            "        # writes (hints only: past the end they are ignored)",
            f"        new_rows = base + (i + IMAGE_ROWS + {kh} - 1) * stride - j_lo",
            "        next_out = (row0 + i + IMAGE_ROWS) * ow",
        ]
        ahead = [
            "            for r in range(IMAGE_ROWS):",
            "                for c in range(0, width, line):",
            "                    prefetch(source, new_rows + r * stride + j + c, 0)",
            "                    prefetch(target, next_out + r * ow + j + c, 1)",
        ]
    lines = [
        f'"""Generated by corr2d.core._unrolled: valid correlation tasks, {shape} kernels."""',
        "import numpy as np",
        "from numba import njit",
        "",
        "from corr2d.core._bands import _contiguous, _gather",
        "from corr2d.core._microkernels import (",
        "    CACHE_LINE, IMAGE_COLUMNS, IMAGE_ROWS, VECTOR_BYTES, image_block, next_task,",
        "    prefetch",
        ")",
        "",
        "",
        "@njit(inline='always')",
        "def blocks(source, base, stride, weights, kw, target, row0, count, ow, j_lo, j_hi):",
        "    # outputs (row0 + i, j) for i < count, j_lo <= j < j_hi; the window of (i, j)",
        "    # starts at source[base + i * stride + j - j_lo]",
        "    width = IMAGE_COLUMNS * (VECTOR_BYTES // weights.itemsize)",
        "    line = CACHE_LINE // weights.itemsize",
        "    i = 0",
        "    while i < count:",
        "        i = min(i, count - IMAGE_ROWS)",
        *setup,
        "        j = j_lo",
        "        while j < j_hi:",
        "            j = min(j, j_hi - width)",
        f"            {call}",
        *ahead,
        "            j += width",
        "        i += IMAGE_ROWS",
        "",
        "",
        "def correlate(src, rows, cols, fill, kernel, out, tile_rows, lo, hi, counter):",
        "    oh, ow = out.shape",
        f"    kh, kw = {kh}, {kw or 'kernel.shape[1]'}",
        "    span = ow + kw - 1",
        "    width = IMAGE_COLUMNS * (VECTOR_BYTES // kernel.itemsize)",
        "    strip = min(ow, width)  # outputs of a border strip",
        "    bands = max(1, oh // tile_rows)",
        "    gathered = np.empty((2 * tile_rows + kh - 1) * span, dtype=kernel.dtype)",
        "    pixels, weights, target = src.ravel(), kernel.ravel(), out.ravel()",
        "    stride = src.shape[1]",
        "    while True:",
        "        b = next_task(counter)",
        "        if b >= bands:",
        "            break",
        "        row0 = b * tile_rows",
        "        count = oh - row0 if b == bands - 1 else tile_rows",
        "        rows_in = _contiguous(rows, row0, count + kh - 1)",
        "        if rows_in and hi - lo >= width:",
        "            base = rows[row0] * stride + cols[lo]",
        "            blocks(pixels, base, stride, weights, kw, target, row0, count, ow, lo, hi)",
        "            if lo > 0:",
        "                n = strip + kw - 1",
        "                _gather(src, rows, cols, fill, row0, count + kh - 1, 0, n, gathered, n)",
        "                blocks(gathered, 0, n, weights, kw, target, row0, count, ow, 0, strip)",
        "            if hi < ow:",
        "                n = strip + kw - 1",
        "                first = ow - strip",
        "                needed = count + kh - 1",
        "                _gather(src, rows, cols, fill, row0, needed, first, n, gathered, n)",
        "                blocks(gathered, 0, n, weights, kw, target, row0, count, ow, first, ow)",
        "        else:",
        "            _gather(src, rows, cols, fill, row0, count + kh - 1, 0, span, gathered, span)",
        "            blocks(gathered, 0, span, weights, kw, target, row0, count, ow, 0, ow)",
        "",
        "",
        *_alone_lines(),
    ]
    return "\n".join(lines) + "\n"


#: The layout of the ``tables`` of an image task's entry for one kept call
#: (:func:`_alone_lines`): these int64 fields, then the row table, then the column table.
ALONE_FIELDS = ("tile_rows", "lo", "hi", "height", "width", "kh", "kw", "rows")


def _alone_lines() -> list[str]:
    """Source of ``correlate_alone(src, kernel, out, tables, weights)``: the task loop
    (``task_loop``, the serial build of ``correlate``) on the calling thread for one
    kept call, all of whose arguments but the image, the caller's kernel and the output
    are packed in two arrays: ``tables`` (int64: ``ALONE_FIELDS``, the row table, the
    column table) and ``weights`` (the kernel the loop multiplies by, the caller's
    kernel as the call was kept, the fill value).  It computes nothing and returns False
    unless ``src`` has the kept shape and ``kernel`` the kept shape and bytes (a kernel
    changed in place is a new call).  A call after idle pays for every argument that
    crosses into compiled code several times over: five arrays cost about half of the
    ten arguments of ``correlate``."""
    field = {name: index for index, name in enumerate(ALONE_FIELDS)}
    first = len(ALONE_FIELDS)
    return [
        "def correlate_alone(src, kernel, out, tables, weights):",
        f"    kh, kw = tables[{field['kh']}], tables[{field['kw']}]",
        "    taps = kh * kw",
        "    if (",
        f"        src.shape[0] != tables[{field['height']}]",
        f"        or src.shape[1] != tables[{field['width']}]",
        "        or kernel.shape[0] != kh",
        "        or kernel.shape[1] != kw",
        "    ):",
        "        return False",
        "    given = kernel.ravel().view(np.uint8)",
        "    kept = weights.view(np.uint8)[taps * weights.itemsize :]",
        "    for t in range(given.shape[0]):",
        "        if given[t] != kept[t]:",
        "            return False",
        f"    count = tables[{field['rows']}]",
        f"    rows = tables[{first} : {first} + count]",
        f"    cols = tables[{first} + count :]",
        "    task_loop(",
        "        src, rows, cols, weights[2 * taps], weights[:taps].reshape((kh, kw)), out,",
        f"        tables[{field['tile_rows']}], tables[{field['lo']}], tables[{field['hi']}],",
        "        np.zeros(1, dtype=np.int64),",
        "    )",
        "    return True",
    ]


def _in_place_plane_lines(kh: int, kw: int) -> list[str]:
    """Source lines of ``plane(x, kernel, target, top, left, zero_row, b)``: ``target``
    = the plane ``x`` zero-padded (``top`` rows above, ``left`` columns to the left, as
    many after it as ``target``'s shape needs) correlated with the (kh, kw) ``kernel``,
    plus ``b``; every tap of an output summed in one expression (:func:`source`'s loop),
    in the kernel's order, and ``b`` added to the finished sum."""
    taps = [f"w{u}_{v}" for u in range(kh) for v in range(kw)]
    values = [f"kernel[{u}, {v}]" for u in range(kh) for v in range(kw)]
    terms = " + ".join(f"w{u}_{v} * x{u}[t + {v}]" for u in range(kh) for v in range(kw))
    column = " + ".join(f"kernel[{u}, v] * x{u}[c]" for u in range(kh))
    return [
        "@njit(inline='always')",
        "def plane(x, kernel, target, top, left, zero_row, b):",
        "    # zero padding read from the plane itself: rows outside are a row of zeros,",
        "    # the columns whose windows leave the plane summed tap by tap; the bias b",
        "    # added to each finished sum (-0.0, which changes nothing, for none)",
        f"    {', '.join(taps)}{',' if len(taps) == 1 else ''} = "
        f"{', '.join(values)}{',' if len(taps) == 1 else ''}",
        "    oh, ow = target.shape",
        "    height, width = x.shape",
        "    lo = min(left, ow)",
        f"    hi = max(lo, min(ow, width - {kw - 1} + left))",
        "    for i in range(oh):",
        "        row = target[i]",
        *(
            f"        x{u} = x[i - top + {u}] if 0 <= i - top + {u} < height else zero_row"
            for u in range(kh)
        ),
        "        inner = row[lo:]",
        "        for t in range(hi - lo):",
        f"            inner[t] = ({terms}) + b",
        "        for j in range(ow - hi + lo):  # the columns left, then right, of those",
        "            if j >= lo:",
        "                j += hi - lo",
        "            total = zero_row[0]",
        f"            for v in range({kw}):",
        "                c = j - left + v",
        "                if 0 <= c < width:",
        f"                    total += {column}",
        "            row[j] = total + b",
    ]


def planes_task_source(kh: int, kw: int = 0) -> str:
    """Python source of ``correlate(planes, rows, cols, kernels, bias, out, counter)``:
    plane ``p`` of ``planes`` (P, H, W), zero-padded (``top`` rows and ``left`` columns
    before it, as the index tables say after it), correlated with ``kernels[p % C]``
    ((C, kh, kw)) into ``out[p]``, plus ``bias[p % C]``, one plane per task: a depthwise
    layer, every image and channel in one call.  Kernels of up to ``MAX_TAPS`` taps sum
    every tap of an output in one expression (:func:`_in_place_plane_lines`), reading
    the plane in place with rows of zeros above and below and the border columns summed
    tap by tap; larger ones gather each plane that needs a border into a buffer and run
    :func:`image_source`'s blocks.  The bias is added to each finished sum, as a pass
    over the output after the sums would (-0.0 for none: it changes no value)."""
    shape = f"{kh}x{kw}" if kw else f"{kh}-row"
    head = [
        f'"""Generated by corr2d.core._unrolled: plane-by-plane tasks, {shape} kernels."""',
        "import numpy as np",
        "from numba import njit",
        "",
        "from corr2d.core._bands import _gather",
        "from corr2d.core._microkernels import (",
        "    IMAGE_COLUMNS, IMAGE_ROWS, VECTOR_BYTES, image_block, next_task",
        ")",
        "",
        "",
    ]
    if kw and kh * kw <= MAX_TAPS:
        plane = _in_place_plane_lines(kh, kw)
        run = (
            "plane(planes[p], kernels[p % channels], out[p], top, left, zero_row, "
            "bias[p % channels])"
        )
        gather = False
    else:
        call = (
            f"image_block(source, i * stride + j, stride, weights, {kw or 'kw'}, "
            f"target, i * ow + j, ow, {kh})"
        )
        plane = [
            "@njit(inline='always')",
            "def plane(x, kernel, target, b):",
            "    source, stride, weights = x.ravel(), x.shape[1], kernel.ravel()",
            "    oh, ow = target.shape",
            "    kw = kernel.shape[1]",
            "    target = target.ravel()",
            "    width = IMAGE_COLUMNS * (VECTOR_BYTES // weights.itemsize)",
            "    i = 0",
            "    while i < oh:",
            "        i = min(i, oh - IMAGE_ROWS)",
            "        j = 0",
            "        while j < ow:",
            "            j = min(j, ow - width)",
            f"            {call}",
            "            j += width",
            "        i += IMAGE_ROWS",
            "    for q in range(oh * ow):",
            "        target[q] += b",
        ]
        run = "plane({x}, kernels[p % channels], out[p], bias[p % channels])"
        gather = True
    body = [
        "",
        "",
        "def correlate(planes, rows, cols, kernels, bias, out, top, left, counter):",
        "    count, oh, ow = out.shape",
        "    kh, kw = kernels.shape[1], kernels.shape[2]",
        "    channels = kernels.shape[0]",
        "    span = ow + kw - 1",
        "    zero = np.zeros(1, dtype=kernels.dtype)[0]",
        "    zero_row = np.zeros(planes.shape[2], dtype=kernels.dtype)",
        f"    gathered = np.zeros({'(oh + kh - 1) * span' if gather else '1'}, "
        "dtype=kernels.dtype)",
        f"    extended = gathered.reshape({'oh + kh - 1, span' if gather else '1, 1'})",
        "    padded = rows.shape[0] != planes.shape[1] or cols.shape[0] != planes.shape[2]",
        "    while True:",
        "        p = next_task(counter)",
        "        if p >= count:",
        "            break",
    ]
    if gather:
        body += [
            "        if padded:",
            "            _gather(planes[p], rows, cols, zero, 0, oh + kh - 1, 0, span, gathered, "
            "span)",
            f"            {run.format(x='extended')}",
            "        else:",
            f"            {run.format(x='planes[p]')}",
        ]
    else:
        body += [f"        {run}"]
    return "\n".join(head + plane + body) + "\n"


def _tuple(names: list[str]) -> str:
    """``a, b`` (``a,`` for one name): the left or right side of a tuple assignment."""
    return f"{', '.join(names)}{',' if len(names) == 1 else ''}"


def _in_place_setup_lines(kh: int, kw: int) -> list[str]:
    """Lines (indented for a function body) that find ``top`` and ``left`` of the zero
    padding from the index tables ``rows`` and ``cols``, and, for output rows as wide as
    the plane's, the masks ``keep[v, q]`` (output position ``q`` reads column shift ``v``
    inside the plane), the flat positions ``first .. last - 1`` whose every tap reads
    inside the plane, and each mask's view from ``first`` on (``k0``, ``k1``, ...)."""
    return [
        "    top = 0",
        "    while rows[top] < 0:",
        "        top += 1",
        "    left = 0",
        "    while cols[left] < 0:",
        "        left += 1",
        "    length, area = oh * ow, height * width",
        f"    keep = np.empty(({kw}, length if ow == width else 0), dtype=np.bool_)",
        "    for q in range(keep.shape[1]):",
        f"        for v in range({kw}):",
        "            keep[v, q] = 0 <= q % ow + v - left < width",
        "    first = min(length, top * width + left)",
        f"    reach = ({kh - 1} - top) * width + {kw - 1} - left",
        "    last = max(first, min(length, area - reach))",
        *(f"    k{v} = keep[{v}, first:]" for v in range(kw)),
    ]


def _in_place_gradient_lines(kh: int, kw: int, indent: str, bias: bool) -> list[str]:
    """Lines that add plane ``p``'s terms to the tap sums ``s{u}_{v}`` (and, with
    ``bias``, its output gradient's to ``sb``), for output rows as wide as the plane's.

    Tap (u, v) reads the plane in place, ``q + (u - top) * W + v - left`` for flat output
    position ``q``; where the window leaves the plane sideways (the flat index lands on
    the next or the previous row) the mask selects zero instead of the pixel, the
    padding's value, so the term is ``g * 0`` as the padded sum's (NaN for a non-finite
    gradient, zero whatever the pixel beside it).  The first and last positions, where
    some taps read above or below the plane, are summed tap by tap with a bounds check.
    One loop of ``kh * kw`` dot products, which LLVM vectorises (reassociating them)."""
    taps = [(u, v) for u in range(kh) for v in range(kw)]
    body = [
        "x = planes[p].ravel()",
        "g = grad[p].ravel()",
        # a view per kernel row, so that every load is at t plus a constant (an offset
        # read at run time would make LLVM gather the loads one by one)
        *(f"x{u} = x[first + ({u} - top) * width - left :]" for u in range(kh)),
        "gm = g[first:]",
        "for t in range(last - first):",
        "    gq = gm[t]",
        *(["    sb += gq"] if bias else []),
        *(f"    a{u}_{v} = x{u}[t + {v}]" for u, v in taps),
        *(f"    s{u}_{v} += gq * (a{u}_{v} if k{v}[t] else zero)" for u, v in taps),
        "for q in range(length - last + first):  # the ends, tap by tap",
        "    if q >= first:",
        "        q += last - first",
        "    gq = g[q]",
        *(["    sb += gq"] if bias else []),
        *(
            line
            for u, v in taps
            for line in (
                f"    at = q + ({u} - top) * width + {v} - left",
                f"    inside = keep[{v}, q] and 0 <= at < area",
                f"    s{u}_{v} += gq * (x[at] if inside else zero)",
            )
        ),
    ]
    return [indent + line for line in body]


def plane_gradient_source(kh: int, kw: int) -> str:
    """Python source of ``gradient(planes, rows, cols, grad, partial, counter)``: the
    weight gradient of a depthwise layer with (kh, kw) kernels (up to ``MAX_TAPS`` taps),
    ``partial[c, u, v] = sum over n, i, j of grad[n*C + c, i, j] * plane (n*C + c) at
    (i + u, j + v)``, one channel per task.  The index tables must be zero padding's
    (``-1`` outside the plane).

    Every tap's sum is one dot product along the flat planes, ``kh * kw`` sums in one
    loop, which LLVM vectorises (reassociating them) and reduces once per plane:

    * output rows as wide as the plane's (the usual 'same' padding): the plane read in
      place (:func:`_in_place_gradient_lines`), any pixels;
    * other shapes: the plane is copied into a buffer with its zero border (``span``
      columns a row) and its output gradient into rows of the same width, zero past the
      outputs (borders zeroed once, pixels copied element by element: a slice
      assignment per row costs more than its copy on 56-pixel rows).  The zeros past
      the outputs multiply pixels too, so the plane's pixels must be finite."""
    names = [f"s{u}_{v}" for u in range(kh) for v in range(kw)]
    every = _tuple(names)
    lines = [
        f'"""Generated by corr2d.core._unrolled: depthwise weight gradient, {kh}x{kw}."""',
        "import numpy as np",
        "",
        "from corr2d.core._microkernels import next_task",
        "",
        "",
        "def gradient(planes, rows, cols, grad, partial, counter):",
        "    count, oh, ow = grad.shape",
        "    height, width = planes.shape[1], planes.shape[2]",
        "    channels = partial.shape[0]",
        "    zero = np.zeros(1, dtype=grad.dtype)[0]",
        *_in_place_setup_lines(kh, kw),
        "    if ow == width:",
        "        while True:",
        "            c = next_task(counter)",
        "            if c >= channels:",
        "                break",
        f"            {every} = {_tuple(['zero'] * len(names))}",
        "            for n in range(count // channels):",
        "                p = n * channels + c",
        *_in_place_gradient_lines(kh, kw, " " * 16, bias=False),
        *(f"            partial[c, {u}, {v}] = s{u}_{v}" for u in range(kh) for v in range(kw)),
        "        return",
        f"    span = ow + {kw - 1}",
        f"    x = np.zeros((oh + {kh}) * span, dtype=grad.dtype)",
        "    g = np.zeros(oh * span, dtype=grad.dtype)",
        "    length = oh * span",
        "    while True:",
        "        c = next_task(counter)",
        "        if c >= channels:",
        "            break",
        f"        {every} = {_tuple(['zero'] * len(names))}",
        "        for n in range(count // channels):",
        "            p = n * channels + c",
        "            source = planes[p]",
        "            for r in range(height):",
        "                base = (top + r) * span + left",
        "                for j in range(width):",
        "                    x[base + j] = source[r, j]",
        "            plane = grad[p]",
        "            for i in range(oh):",
        "                for j in range(ow):",
        "                    g[i * span + j] = plane[i, j]",
        *(f"            x{u} = x[{u} * span :]" for u in range(kh)),
        "            for q in range(length):",
        "                gq = g[q]",
        *(f"                s{u}_{v} += gq * x{u}[q + {v}]" for u in range(kh) for v in range(kw)),
        *(f"        partial[c, {u}, {v}] = s{u}_{v}" for u in range(kh) for v in range(kw)),
    ]
    return "\n".join(lines) + "\n"


def plane_backward_source(kh: int, kw: int) -> str:
    """Python source of ``backward(planes, rows, cols, grad, flipped, grad_planes,
    partial, bias, counter)``: the whole backward pass of a depthwise layer with (kh, kw)
    kernels (up to ``MAX_TAPS`` taps) whose output rows are as wide as the planes (the
    columns zero-padded by ``kw - 1`` in all) and whose rows are padded by at most
    ``kh - 1`` on each side, one channel per task.  For each plane ``p = n*C + c`` in
    turn, while its output gradient is in cache:

    * ``grad_planes[p]``, the input's gradient: the output gradient zero-padded by
      ``kh - 1 - top`` rows above (and what the shape needs below) and ``kw - 1 - left``
      columns to the left, correlated with ``flipped[c]`` (the kernel flipped in both
      axes), summed as the forward pass sums (:func:`_in_place_plane_lines`);
    * ``partial[c]``, the weight gradient, as :func:`plane_gradient_source` sums it in
      place (:func:`_in_place_gradient_lines`);
    * ``bias[c]``, the bias gradient: the sum of the output gradient's planes of ``c``,
      in the same loop (LLVM may reorder it too)."""
    names = [f"s{u}_{v}" for u in range(kh) for v in range(kw)]
    lines = [
        f'"""Generated by corr2d.core._unrolled: depthwise backward pass, {kh}x{kw}."""',
        "import numpy as np",
        "from numba import njit",
        "",
        "from corr2d.core._microkernels import next_task",
        "",
        "",
        *_in_place_plane_lines(kh, kw),
        "",
        "",
        "def backward(planes, rows, cols, grad, flipped, grad_planes, partial, bias, counter):",
        "    count, oh, ow = grad.shape",
        "    height, width = planes.shape[1], planes.shape[2]",
        "    channels = partial.shape[0]",
        "    zero = np.zeros(1, dtype=grad.dtype)[0]",
        "    zero_row = np.zeros(ow, dtype=grad.dtype)",
        *_in_place_setup_lines(kh, kw),
        "    while True:",
        "        c = next_task(counter)",
        "        if c >= channels:",
        "            break",
        f"        {_tuple([*names, 'sb'])} = {_tuple(['zero'] * (len(names) + 1))}",
        "        for n in range(count // channels):",
        "            p = n * channels + c",
        f"            plane(grad[p], flipped[c], grad_planes[p], {kh - 1} - top, "
        f"{kw - 1} - left, zero_row, -zero)",
        *_in_place_gradient_lines(kh, kw, " " * 12, bias=True),
        *(f"        partial[c, {u}, {v}] = s{u}_{v}" for u in range(kh) for v in range(kw)),
        "        bias[c] = sb",
    ]
    return "\n".join(lines) + "\n"


def plane_gradient(kh: int, kw: int) -> Any:
    """The compiled loop of :func:`plane_gradient_source` (LLVM may reorder its sums),
    cached like the other generated loops; run it with ``run_tasks``."""
    return _reassociating("gradient", kh, kw, plane_gradient_source)


def plane_backward(kh: int, kw: int) -> Any:
    """The compiled loop of :func:`plane_backward_source` (LLVM may reorder its sums),
    cached like the other generated loops; run it with ``run_tasks``."""
    return _reassociating("backward", kh, kw, plane_backward_source)


def _reassociating(name: str, kh: int, kw: int, generate: Any) -> Any:
    """The function ``name`` of the source ``generate(kh, kw)``, compiled once (serial,
    summing in any order) and cached on disk beside its source."""
    key = (name, kh, kw)
    if key not in _gradient_loaded:
        from numba import njit

        from corr2d.core import _bands, _microkernels
        from corr2d.core._cache import attach_disk_cache, load_generated

        text = generate(kh, kw)
        called = Path(_microkernels.__file__).read_bytes() + Path(_bands.__file__).read_bytes()
        digest = hashlib.sha256(text.encode() + called).hexdigest()[:12]
        module, folder = load_generated(f"corr2d_plane_{name}_{kh}x{kw}_{digest}", text)
        reassociating = njit(nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
        dispatcher = reassociating(getattr(module, name))
        attach_disk_cache(dispatcher, folder)
        _gradient_loaded[key] = dispatcher
    return _gradient_loaded[key]


def planes_task(kh: int, kw: int) -> Loop:
    """The compiled task loop of :func:`planes_task_source` for (kh, kw) kernels: one
    expression of every tap for up to ``MAX_TAPS`` taps (any plane size), else the
    blocked loop (planes of at least a register block), rows of up to
    ``MAX_UNROLLED_WIDTH`` taps unrolled."""
    wide = kh * kw > MAX_TAPS and kw > MAX_UNROLLED_WIDTH
    key = (kh, 0 if wide else kw)
    if key not in _planes_loaded:
        from corr2d.core import _bands, _microkernels

        called = Path(_microkernels.__file__).read_bytes() + Path(_bands.__file__).read_bytes()
        stem = f"corr2d_planes_task_{kh}x{key[1] or 'any'}"
        _planes_loaded[key] = _compile(stem, planes_task_source(*key), called)
    return _planes_loaded[key]


def image_task(kh: int, kw: int) -> Loop:
    """The compiled task loop of :func:`image_task_source` for a (kh, kw) kernel (rows
    of up to ``MAX_UNROLLED_WIDTH`` taps unrolled, longer ones one loop per height);
    run it with :func:`corr2d.core._pool.run_tasks` (its ``serial`` build)."""
    key = (kh, kw if kw <= MAX_UNROLLED_WIDTH else 0)
    if key not in _task_loaded:
        from corr2d.core import _bands, _microkernels

        # numba's cache does not see changes to the functions the loop calls
        called = Path(_microkernels.__file__).read_bytes() + Path(_bands.__file__).read_bytes()
        stem = f"corr2d_image_task_{kh}x{key[1] or 'any'}"
        module, folder = _generated(stem, image_task_source(*key), called)
        _task_modules[key] = module, folder
        _task_loaded[key] = _loop(module, folder)
    return _task_loaded[key]


def image_task_alone(kh: int, kw: int, dtype: np.dtype[Any]) -> Any:
    """The compiled ``correlate_alone`` of :func:`image_task_source` for a (kh, kw)
    kernel (see :func:`_alone_lines`), compiled for ``dtype`` (float32 or float64):
    the image, the caller's kernel and the output C-contiguous and writable, the
    tables and weights read-only.  It compiles for nothing else: other arguments raise
    ``TypeError`` (the caller takes the checked path), where a new compilation would
    stall the call for seconds.  None without the JIT (``NUMBA_DISABLE_JIT``)."""
    from numba import from_dtype, njit, types

    from corr2d.core._cache import attach_disk_cache

    loop = image_task(kh, kw)
    key = (kh, kw if kw <= MAX_UNROLLED_WIDTH else 0)
    with _alone_lock:
        alone = _alone_loaded.get(key)
        if alone is None:
            module, folder = _task_modules[key]
            module.task_loop = loop.serial
            alone = njit(nogil=True, error_model="numpy")(module.correlate_alone)
            if not hasattr(alone, "disable_compile"):  # NUMBA_DISABLE_JIT
                return None
            attach_disk_cache(alone, folder)
            _alone_loaded[key] = alone
        value = types.Array(from_dtype(np.dtype(dtype)), 2, "C")
        kept = types.Array(types.int64, 1, "C", readonly=True)
        weights = types.Array(value.dtype, 1, "C", readonly=True)
        signature = types.boolean(value, value, value, kept, weights)
        if signature.args not in alone.overloads:
            alone.disable_compile(False)
            try:
                alone.compile(signature)
            finally:
                alone.disable_compile()
    return alone


def has_image_loop(dtype: np.dtype[Any], out_shape: tuple[int, int], kh: int) -> bool:
    """Whether :func:`image_loop` serves this case: float32/64, a kernel of at most
    ``MAX_IMAGE_HEIGHT`` rows, and an output of at least one block."""
    from corr2d.core._microkernels import IMAGE_COLUMNS, IMAGE_ROWS, VECTOR_BYTES

    if dtype not in (np.float32, np.float64) or kh > MAX_IMAGE_HEIGHT:
        return False
    width = IMAGE_COLUMNS * VECTOR_BYTES // dtype.itemsize
    return out_shape[0] >= IMAGE_ROWS and out_shape[1] >= width


def image_loop(kh: int, kw: int) -> Loop:
    """The compiled register-blocked loop for a (kh, kw) kernel.

    Rows of up to ``MAX_UNROLLED_WIDTH`` taps get a loop unrolled for the shape; longer
    rows share one loop per height.
    """
    key = (kh, kw if kw <= MAX_UNROLLED_WIDTH else 0)
    if key not in _image_loaded:
        from corr2d.core import _microkernels

        # numba's cache does not see changes to the micro-kernels the loop calls, so
        # their source is part of the generated file's name
        blocks = Path(_microkernels.__file__).read_bytes()
        stem = f"corr2d_image_{kh}x{key[1] or 'any'}"
        _image_loaded[key] = _compile(stem, image_source(*key), blocks)
    return _image_loaded[key]


def _compile(stem: str, text: str, extra: bytes = b"") -> Loop:
    """Execute ``text`` as a module (saved in the cache folder) and compile ``correlate``."""
    return _loop(*_generated(stem, text, extra))


def _generated(stem: str, text: str, extra: bytes = b"") -> tuple[Any, Path | None]:
    """``text`` executed as a module saved in the cache folder under a name that changes
    with ``text`` and ``extra``, and that folder (None: no disk cache)."""
    from corr2d.core._cache import load_generated

    digest = hashlib.sha256(text.encode() + extra).hexdigest()[:12]
    return load_generated(f"{stem}_{digest}", text)


def _loop(module: Any, folder: Path | None) -> Loop:
    """The module's ``correlate`` as a Loop: parallel and serial builds, cached beside it."""
    from corr2d.core._loops import Loop

    return Loop(module.correlate, folder)
