"""Compiled loops (numba).  Private and deliberately dumb.

Every function here takes contiguous arrays of one dtype, already padded, and writes
into a preallocated ``out``.  No validation, no defaults, no allocation of results:
the wrappers in :mod:`corr2d.core` do all of that.  The innermost loop always runs
along a contiguous row with unit stride, so LLVM turns it into SIMD code; rows (or
channels) are spread over numba's threads with ``prange``.

Every loop is compiled twice from one source (:class:`Loop`): multithreaded, its
``prange`` spread over numba's threads, and serial, for work too small to be worth
waking the threads (a parallel region costs tens of microseconds).  Compiled code is
cached on disk in a checked private folder (:mod:`corr2d.core._cache`), so only the
first process that uses a given signature pays for compilation.  This module is
imported lazily, the first time a computation needs it, so that ``import corr2d`` does
not import numba.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numba import njit, prange

from corr2d.core._cache import attach_disk_cache, cache_folder

__all__ = [
    "Loop",
    "col2im",
    "conv_direct",
    "correlate_valid",
    "correlate_valid_strided",
    "im2col",
]


#: The checked cache folder of this process's library loops (None: no disk cache).
_library_cache = cache_folder()

#: Parallel loops over many small tasks split them into at most this many chunks, so
#: that per-chunk set-up (a scratch buffer) is paid a few times per thread, not per task.
_CHUNKS = 64


class Loop:
    """One loop compiled twice: ``parallel`` (threads over its ``prange``) and ``serial``.

    Both release the GIL and are cached on disk in ``folder`` (by default the checked
    folder of :mod:`corr2d.core._cache`; None: not cached).  Calling the object calls
    the parallel build.  numba keys its disk cache on the function's name, so the
    serial build is compiled from a copy of the function under the name
    ``<name>_serial``.
    """

    def __init__(
        self, func: Callable[..., None], folder: Path | Literal["library"] | None = "library"
    ) -> None:
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        options: dict[str, Any] = {"nogil": True, "error_model": "numpy"}
        self.parallel = njit(parallel=True, **options)(func)
        twin = types.FunctionType(
            func.__code__, func.__globals__, f"{func.__name__}_serial", func.__defaults__
        )
        twin.__qualname__ = f"{func.__qualname__}_serial"
        twin.__module__ = func.__module__
        self.serial = njit(**options)(twin)
        if folder == "library":
            folder = _library_cache
        for build in (self.parallel, self.serial):
            attach_disk_cache(build, folder)

    def __call__(self, *args: Any) -> None:
        self.parallel(*args)


@Loop
def correlate_valid(x, kernel, dh, dw, out):  # type: ignore[no-untyped-def]
    """out[i, j] = sum over (u, v) of x[i + u*dh, j + v*dw] * kernel[u, v].

    One pass over the output row per tap; the source is a slice whose start folds in
    the tap's offset, which is what lets LLVM vectorise the innermost loop.
    """
    oh, ow = out.shape
    kh, kw = kernel.shape
    for i in prange(oh):
        row = out[i]
        row[:] = 0
        for u in range(kh):
            for v in range(kw):
                weight = kernel[u, v]
                source = x[i + u * dh, v * dw : v * dw + ow]
                for j in range(ow):
                    row[j] += weight * source[j]


@Loop
def correlate_valid_strided(x, kernel, sh, sw, dh, dw, out):  # type: ignore[no-untyped-def]
    """out[i, j] = sum over (u, v) of x[i*sh + u*dh, j*sw + v*dw] * kernel[u, v]."""
    oh, ow = out.shape
    kh, kw = kernel.shape
    for i in prange(oh):
        row = out[i]
        for j in range(ow):
            row[j] = 0
        for u in range(kh):
            source = x[i * sh + u * dh]
            for v in range(kw):
                weight = kernel[u, v]
                offset = v * dw
                for j in range(ow):
                    row[j] += weight * source[j * sw + offset]


@Loop
def conv_direct(x, weight, groups, dh, dw, out):  # type: ignore[no-untyped-def]
    """Multi-channel stride-1 correlation, one (image, output channel) plane per task.

    x is (N, C_in, Hp, Wp), weight (C_out, C_in/groups, kH, kW), out (N, C_out, oh, ow):
    out[n, o, i, j] = sum over c, u, v of x[n, g*cg + c, i + u*dh, j + v*dw] * weight[o, c, u, v]
    where g = o // (C_out/groups) and cg = C_in/groups.
    """
    n_batch, c_out, oh, ow = out.shape
    c_per_group, kh, kw = weight.shape[1], weight.shape[2], weight.shape[3]
    out_per_group = c_out // groups
    for task in prange(n_batch * c_out):
        n = task // c_out
        o = task % c_out
        first_channel = (o // out_per_group) * c_per_group
        plane = out[n, o]
        for i in range(oh):
            row = plane[i]
            for j in range(ow):
                row[j] = 0
            for c in range(c_per_group):
                image = x[n, first_channel + c]
                for u in range(kh):
                    for v in range(kw):
                        tap = weight[o, c, u, v]
                        source = image[i + u * dh, v * dw : v * dw + ow]
                        for j in range(ow):
                            row[j] += tap * source[j]


@Loop
def im2col(xp, kh, kw, sh, sw, dh, dw, row0, cols):  # type: ignore[no-untyped-def]
    """Patch matrices of a batch of padded images, for output rows row0 .. row0 + rows - 1.

    xp is (N, C, Hp, Wp); cols is (N, C*kh*kw, rows*ow) with
    cols[n, (c*kh + u)*kw + v, r*ow + j] = xp[n, c, (row0 + r)*sh + u*dh, j*sw + v*dw].
    With a column stride, each source row is first split into its sw phases
    (phase p holds pixels p, p + sw, p + 2*sw, ...), so every tap copies a contiguous run.
    """
    n_images, channels, _, wp = xp.shape
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    rows = cols.shape[2] // ow
    tasks = n_images * channels * kh  # one (image, channel, kernel row) each
    chunks = min(tasks, _CHUNKS)
    for chunk in prange(chunks):
        # one scratch buffer per chunk: allocating one per task costs more than the copies
        phases = np.empty((sw, (wp + sw - 1) // sw if sw > 1 else 1), dtype=xp.dtype)
        for task in range(chunk * tasks // chunks, (chunk + 1) * tasks // chunks):
            n = task // (channels * kh)
            c = (task // kh) % channels
            u = task % kh
            first = (c * kh + u) * kw
            for r in range(rows):
                source = xp[n, c, (row0 + r) * sh + u * dh]
                base = r * ow
                if sw == 1:
                    for v in range(kw):
                        cols[n, first + v, base : base + ow] = source[v * dw : v * dw + ow]
                    continue
                for p in range(sw):
                    for q in range((wp - p + sw - 1) // sw):
                        phases[p, q] = source[q * sw + p]
                for v in range(kw):
                    start = (v * dw) // sw
                    cols[n, first + v, base : base + ow] = phases[(v * dw) % sw, start : start + ow]


@Loop
def col2im(cols, kh, kw, sh, sw, dh, dw, row0, gxp):  # type: ignore[no-untyped-def]
    """The adjoint of :func:`im2col`: add ``cols`` back onto the padded images' pixels.

    gxp is (N, C, Hp, Wp); every entry of cols is added to the pixel im2col read it
    from.  Each task owns one row of one channel of one image and gathers every patch
    entry that came from it, so no two threads write the same pixel.  With a column
    stride the row is gathered in its sw phases (see :func:`im2col`), then interleaved.
    """
    n_images, channels, hp, wp = gxp.shape
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    rows = cols.shape[2] // ow
    tasks = n_images * channels * hp  # one (image, channel, padded row) each
    chunks = min(tasks, _CHUNKS)
    for chunk in prange(chunks):
        phases = np.empty((sw, (wp + sw - 1) // sw if sw > 1 else 1), dtype=gxp.dtype)
        for task in range(chunk * tasks // chunks, (chunk + 1) * tasks // chunks):
            n = task // (channels * hp)
            c = (task // hp) % channels
            t = task % hp
            target = gxp[n, c, t]
            phases[:] = 0
            touched = False
            for u in range(kh):
                # output row r of this tile read source row (row0 + r)*sh + u*dh
                distance = t - u * dh - row0 * sh
                if distance < 0 or distance % sh != 0 or distance // sh >= rows:
                    continue
                base = (distance // sh) * ow
                touched = True
                for v in range(kw):
                    source = cols[n, (c * kh + u) * kw + v, base : base + ow]
                    if sw == 1:
                        for j in range(ow):
                            target[v * dw + j] += source[j]
                        continue
                    phase = phases[(v * dw) % sw]
                    start = (v * dw) // sw
                    for j in range(ow):
                        phase[start + j] += source[j]
            if sw > 1 and touched:
                for p in range(sw):
                    for q in range((wp - p + sw - 1) // sw):
                        target[q * sw + p] += phases[p, q]
