"""The SciPy face and the chapter's ``corr2d`` on Dask arrays: lazy, chunk by chunk, exact.

Each function takes the arguments of its in-memory twin (:func:`corr2d.correlate2d`,
:func:`corr2d.convolve2d`, :func:`corr2d.corr2d`), plus ``axes``, and returns a lazy
``dask.array.Array``.  Every output block is computed by the in-memory face itself, in
'valid' mode, on a window of the input that already holds the block's halo and, at the
*image's* edges, the border rule (:mod:`corr2d.dask._halo`): so every mode, boundary,
kernel size and chunking gives the numbers the in-memory call gives on the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from corr2d._validation import as_array, fail
from corr2d.core import correlate as _memory
from corr2d.core._padding import BOUNDARY_MODES
from corr2d.core.correlate import Boundary
from corr2d.dask._common import as_dask, in_memory, window_dtype
from corr2d.dask._graph import map_windows
from corr2d.dask._halo import merge_thin_chunks, plan_axis

__all__ = ["convolve2d", "corr2d", "correlate2d"]


@dataclass(frozen=True)
class _PlaneByPlane:
    """Apply an in-memory face, in 'valid' mode, to every plane of a window."""

    operation: str  # 'correlate2d', 'convolve2d' or 'corr2d'
    kernel: NDArray[Any]
    method: str
    dtype: Any
    out_dtype: np.dtype

    def __call__(self, window: NDArray[Any]) -> NDArray[Any]:
        if window.ndim == 2:
            return self.plane(window)
        kh, kw = self.kernel.shape
        rows, cols = window.shape[-2] - kh + 1, window.shape[-1] - kw + 1
        out = np.empty((*window.shape[:-2], rows, cols), dtype=self.out_dtype)
        for index in np.ndindex(window.shape[:-2]):
            out[index] = self.plane(window[index])
        return out

    def plane(self, window: NDArray[Any]) -> NDArray[Any]:
        face = getattr(_memory, self.operation)
        if self.operation == "corr2d":
            return face(window, self.kernel, method=self.method, dtype=self.dtype)
        return face(window, self.kernel, "valid", method=self.method, dtype=self.dtype)


def correlate2d(
    in1: ArrayLike,
    in2: ArrayLike,
    mode: Literal["full", "valid", "same"] = "full",
    boundary: Boundary = "fill",
    fillvalue: Any = 0,
    *,
    origin: int | tuple[int, int] | None = None,
    method: Literal["auto", "direct", "fft"] = "auto",
    dtype: DTypeLike | None = None,
    axes: tuple[int, int] = (-2, -1),
) -> Any:
    """Cross-correlate a Dask array with a kernel, lazily (:func:`corr2d.correlate2d`).

    Parameters
    ----------
    in1 : dask.array.Array or array_like, at least 2-D
        The image or images.  The two ``axes`` are correlated; every other axis is a
        batch (before them) or colour channels (after them), each plane correlated on its
        own.  NumPy data are chunked as :func:`corr2d.dask.auto_chunks` says.
    in2 : array_like, shape (m, n)
        The kernel, in memory.
    mode, boundary, fillvalue, origin, method, dtype
        As for :func:`corr2d.correlate2d`; the border rule applies at the image's
        edges, never at a chunk's.
    axes : (int, int), optional
        The image's rows and columns: ``(-2, -1)`` (default) for ``(..., H, W)``,
        ``(0, 1)`` for a colour image ``(H, W, C)``.

    Returns
    -------
    out : dask.array.Array
        Lazy; the in-memory result's shape along ``axes`` and dtype.  Its chunks follow
        the input's: the same for 'same', the last chunk longer for 'full' and shorter
        for 'valid'.

    Notes
    -----
    Each output block is computed from a window of the input: its own chunk plus the
    halo (``m - 1`` rows and ``n - 1`` columns in all) cut from its neighbours.  Input
    chunks thinner than the halo are first merged with their neighbours.  Errors that
    depend on the values (integer overflow, NaN with ``method='fft'``) are raised when
    the result is computed.

    Examples
    --------
    Row 0 is ``0 1 2 3``; wrapped around, its first output is 3 + 0 + 1 = 4, though
    the 3 lives in another chunk.

    >>> import numpy as np, dask.array as da
    >>> from corr2d.dask import correlate2d
    >>> x = da.from_array(np.arange(16.0).reshape(4, 4), chunks=2)
    >>> y = correlate2d(x, [[1.0, 1.0, 1.0]], mode="same", boundary="wrap")
    >>> y.chunks
    ((2, 2), (2, 2))
    >>> y.compute()
    array([[ 4.,  3.,  6.,  5.],
           [16., 15., 18., 17.],
           [28., 27., 30., 29.],
           [40., 39., 42., 41.]])
    """
    return _filter(
        "correlate2d", in1, in2, mode, boundary, fillvalue, origin, method, dtype, axes, False
    )


def convolve2d(
    in1: ArrayLike,
    in2: ArrayLike,
    mode: Literal["full", "valid", "same"] = "full",
    boundary: Boundary = "fill",
    fillvalue: Any = 0,
    *,
    origin: int | tuple[int, int] | None = None,
    method: Literal["auto", "direct", "fft"] = "auto",
    dtype: DTypeLike | None = None,
    axes: tuple[int, int] = (-2, -1),
) -> Any:
    """Convolve a Dask array with a kernel, lazily (:func:`corr2d.convolve2d`).

    Arguments and result as for :func:`correlate2d`, with the kernel flipped; 'same'
    mode centres an even kernel as :func:`corr2d.convolve2d` (and SciPy) do.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from corr2d.dask import convolve2d
    >>> x = da.from_array(np.array([[1.0, 2.0, 4.0, 8.0]]), chunks=(1, 1))
    >>> convolve2d(x, [[1.0, -1.0]], mode="valid").compute()
    array([[1., 2., 4.]])
    """
    return _filter(
        "convolve2d", in1, in2, mode, boundary, fillvalue, origin, method, dtype, axes, True
    )


def corr2d(
    X: ArrayLike,
    K: ArrayLike,
    *,
    method: Literal["auto", "direct", "fft"] = "auto",
    dtype: DTypeLike | None = None,
    axes: tuple[int, int] = (-2, -1),
) -> Any:
    """The chapter's 'valid' cross-correlation of a Dask array, lazily (:func:`corr2d.corr2d`).

    Arguments as for :func:`corr2d.corr2d`, plus ``axes`` as for :func:`correlate2d`.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from corr2d.dask import corr2d
    >>> X = da.from_array(np.arange(9.0).reshape(3, 3), chunks=1)
    >>> corr2d(X, [[0.0, 1.0], [2.0, 3.0]]).compute()
    array([[19., 25.],
           [37., 43.]])
    """
    func = "corr2d"
    x, sliding = as_dask(func, "X", X, 2, axes)
    kernel = as_array(in_memory(K), func, "K", ndim=2)
    height, width = x.shape[sliding[0]], x.shape[sliding[1]]
    if kernel.shape[0] > height or kernel.shape[1] > width:
        fail(
            func,
            "K",
            f"no larger than X (shape {(height, width)}) along each axis",
            got=f"shape {kernel.shape}",
        )
    probe = _memory.corr2d(np.zeros(kernel.shape, x.dtype), kernel, method=method, dtype=dtype)
    work = window_dtype(func, x.dtype, (kernel,), 0, False, dtype)
    blocks = _PlaneByPlane("corr2d", kernel, method, dtype, probe.dtype)
    pads = ((0, 0), (0, 0))
    return _sliding(x, sliding, kernel.shape, pads, "constant", blocks, work, probe.dtype, 0)


def _filter(
    func: str,
    in1: ArrayLike,
    in2: ArrayLike,
    mode: str,
    boundary: str,
    fillvalue: Any,
    origin: Any,
    method: str,
    dtype: DTypeLike | None,
    axes: Any,
    convolution: bool,
) -> Any:
    x, sliding = as_dask(func, "in1", in1, 2, axes)
    kernel = as_array(in_memory(in2), func, "in2", ndim=2)
    face = getattr(_memory, func)
    # The in-memory face checks every other argument (and the integer rule's fill value)
    # on a kernel-sized image, and says which dtype the result has.
    probe = face(
        np.zeros(kernel.shape, x.dtype),
        kernel,
        mode,
        boundary,
        fillvalue,
        origin=origin,
        method=method,
        dtype=dtype,
    )
    image_shape = (x.shape[sliding[0]], x.shape[sliding[1]])
    if mode == "valid" and _memory._inputs_swap_needed(func, image_shape, kernel.shape):
        return _swapped(func, x, sliding, kernel, boundary, fillvalue, method, dtype)
    fill = _memory._check_fillvalue(func, fillvalue)
    anchor = _memory.same_mode_anchor(func, kernel.shape, mode, origin)
    pads = _memory._pads(mode, kernel.shape, convolution, anchor)
    fill_used = boundary == "fill" and mode != "valid"
    work = window_dtype(func, x.dtype, (kernel,), fill, fill_used, dtype)
    blocks = _PlaneByPlane(func, kernel, method, dtype, probe.dtype)
    np_mode = BOUNDARY_MODES[boundary]
    return _sliding(x, sliding, kernel.shape, pads, np_mode, blocks, work, probe.dtype, fill)


def _sliding(
    x: Any,
    axes: tuple[int, int],
    extent: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
    np_mode: str,
    blocks: Any,
    work: np.dtype,
    out_dtype: np.dtype,
    fill: Any,
) -> Any:
    """Merge chunks thinner than the halo, plan the windows, and build the graph."""
    merged = {
        axis: merge_thin_chunks(x.chunks[axis], size - 1)
        for axis, size in zip(axes, extent, strict=True)
    }
    if any(merged[axis] != x.chunks[axis] for axis in axes):
        x = x.rechunk(merged)
    plans = (
        plan_axis(x.chunks[axes[0]], pads[0], np_mode, extent[0]),
        plan_axis(x.chunks[axes[1]], pads[1], np_mode, extent[1]),
    )
    return map_windows(
        x,
        axes,
        plans,
        blocks,
        window_dtype=work,
        out_dtype=out_dtype,
        fill=fill,
        name=blocks.operation,
    )


def _swapped(
    func: str,
    x: Any,
    axes: tuple[int, int],
    kernel: NDArray[Any],
    boundary: str,
    fillvalue: Any,
    method: str,
    dtype: DTypeLike | None,
) -> Any:
    """'valid' mode with a kernel larger than the image in every dimension (SciPy swaps
    the two): the image is no larger than the kernel, so compute it in memory."""
    import dask.array as da

    face = getattr(_memory, func)
    planes = np.moveaxis(np.asarray(x), axes, (-2, -1))
    results = [
        face(planes[index], kernel, "valid", boundary, fillvalue, method=method, dtype=dtype)
        for index in np.ndindex(planes.shape[:-2])
    ]
    out = np.stack(results).reshape(*planes.shape[:-2], *results[0].shape)
    return da.from_array(np.moveaxis(out, (-2, -1), axes))
