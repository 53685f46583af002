"""Compiled loops (numba).  Private and deliberately dumb.

Every function here takes contiguous arrays of one dtype, already padded, and writes
into a preallocated ``out``.  No validation, no defaults, no allocation of results:
the wrappers in :mod:`corr2d.core` do all of that.  The innermost loop always runs
along a contiguous row with unit stride, so LLVM turns it into SIMD code; rows (or
channels) are spread over numba's threads with ``prange``.

Compiled code is cached on disk (``cache=True``), so only the first process that uses
a given signature pays for compilation.  This module is imported lazily, the first
time a computation needs it, so that ``import corr2d`` does not import numba.
"""

from __future__ import annotations

from numba import njit, prange

__all__ = [
    "col2im",
    "conv_direct",
    "correlate_valid",
    "correlate_valid_strided",
    "im2col",
]

# every loop: multithreaded over rows or channels, cached on disk, GIL released
_parallel_loop = njit(parallel=True, cache=True, nogil=True, error_model="numpy")


@_parallel_loop
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


@_parallel_loop
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


@_parallel_loop
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


@_parallel_loop
def im2col(xp, kh, kw, sh, sw, dh, dw, row0, cols):  # type: ignore[no-untyped-def]
    """Patch matrix of one padded image for the output rows row0 .. row0 + rows - 1.

    xp is (C, Hp, Wp); cols is (C*kh*kw, rows*ow) with
    cols[(c*kh + u)*kw + v, r*ow + j] = xp[c, (row0 + r)*sh + u*dh, j*sw + v*dw].
    """
    n_rows_cols, width = cols.shape
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    rows = width // ow
    for index in prange(n_rows_cols):
        c = index // (kh * kw)
        u = (index // kw) % kh
        v = index % kw
        target = cols[index]
        for r in range(rows):
            source = xp[c, (row0 + r) * sh + u * dh]
            base = r * ow
            if sw == 1:
                target[base : base + ow] = source[v * dw : v * dw + ow]
            else:
                for j in range(ow):
                    target[base + j] = source[j * sw + v * dw]


@_parallel_loop
def col2im(cols, kh, kw, sh, sw, dh, dw, row0, gxp):  # type: ignore[no-untyped-def]
    """The adjoint of :func:`im2col`: scatter-add ``cols`` back onto the padded image.

    gxp is (C, Hp, Wp); every entry of cols is added to the pixel im2col read it from.
    Each thread owns whole channels, so no two threads write the same pixel.
    """
    width = cols.shape[1]
    channels = gxp.shape[0]
    ow = (gxp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    rows = width // ow
    for c in prange(channels):
        for u in range(kh):
            for v in range(kw):
                source = cols[(c * kh + u) * kw + v]
                for r in range(rows):
                    target = gxp[c, (row0 + r) * sh + u * dh]
                    base = r * ow
                    for j in range(ow):
                        target[j * sw + v * dw] += source[base + j]
