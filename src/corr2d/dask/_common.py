"""What every lazy face shares: inputs as Dask arrays, sliding axes, working dtypes, chunks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from corr2d._validation import fail, result_dtype

__all__ = [
    "CHUNK_PIXELS",
    "as_dask",
    "auto_chunks",
    "in_memory",
    "normalize_axes",
    "window_dtype",
]

#: Pixels per plane in a chunk the lazy faces choose themselves (from a NumPy array or a
#: file): 2048 x 2048.  Each task then does milliseconds of work (a 5x5 kernel on 4 Mpx
#: takes about 4 ms), so the scheduler's overhead per task (0.1-1 ms) stays a small
#: share, while a few chunks per thread in flight stay far below a gigabyte.
CHUNK_PIXELS = 2048 * 2048


def auto_chunks(
    shape: tuple[int, ...],
    axes: tuple[int, int],
    tile: tuple[int, int] | None = None,
    pixels: int = CHUNK_PIXELS,
) -> tuple[int, ...]:
    """Chunk sizes for an array of ``shape``: about ``pixels`` pixels per chunk.

    Along the sliding ``axes`` chunks are square-ish (full rows when the image is
    narrower than ``sqrt(pixels)``) and whole multiples of ``tile``, a file's tiles, so a
    chunk reads whole tiles.  Axes after the sliding ones (colour channels) stay whole;
    axes before them (a batch) group as many images per chunk as fit in ``pixels``.

    Examples
    --------
    >>> auto_chunks((10000, 1000), (0, 1), tile=(256, 256))
    (4096, 1000)
    >>> auto_chunks((10000, 3000), (0, 1), tile=(256, 256))
    (2048, 2048)
    >>> auto_chunks((8192, 8192, 3), (0, 1))
    (2048, 2048, 3)
    >>> auto_chunks((500, 64, 64), (1, 2))
    (500, 64, 64)
    """
    height, width = shape[axes[0]], shape[axes[1]]
    tile_h, tile_w = tile if tile is not None else (1, 1)
    side = math.isqrt(pixels)
    if width <= side:
        chunk_w, chunk_h = width, max(1, pixels // width)
    else:
        chunk_h = chunk_w = side
    chunk_h, chunk_w = _whole_tiles(height, chunk_h, tile_h), _whole_tiles(width, chunk_w, tile_w)
    images = max(1, pixels // (chunk_h * chunk_w))
    chunks = []
    for axis in reversed(range(len(shape))):
        if axis == axes[0]:
            chunks.append(chunk_h)
        elif axis == axes[1]:
            chunks.append(chunk_w)
        elif axis > min(axes):
            chunks.append(shape[axis])
        else:
            chunks.append(min(shape[axis], images))
            images = max(1, images // shape[axis])
    return tuple(reversed(chunks))


def _whole_tiles(length: int, wanted: int, tile: int) -> int:
    """``wanted`` rounded down to whole tiles (at least one), or the whole ``length``."""
    if wanted >= length:
        return length
    return min(length, max(tile, wanted // tile * tile))


def as_dask(
    func: str, name: str, value: Any, min_ndim: int, axes: Any
) -> tuple[Any, tuple[int, int]]:
    """``value`` as a Dask array (NumPy data chunked by :func:`auto_chunks`), checked, and
    its sliding ``axes`` normalised."""
    import dask.array as da

    if not isinstance(value, da.Array):
        value = np.asarray(value)
    if value.dtype.kind not in "biufc":
        fail(
            func,
            name,
            "a numeric array (bool, integer, floating or complex)",
            kind=TypeError,
            got=f"dtype {value.dtype}",
        )
    if value.ndim < min_ndim:
        fail(
            func, name, f"at least {min_ndim}-D", got=f"{value.ndim}-D array of shape {value.shape}"
        )
    if any(math.isnan(n) for n in value.shape):
        fail(
            func,
            name,
            "an array of known shape (call .compute_chunk_sizes() first)",
            got=f"shape {value.shape}",
        )
    if value.size == 0:
        fail(func, name, "non-empty", got=f"array of shape {value.shape}")
    sliding = normalize_axes(func, axes, value.ndim)
    if not isinstance(value, da.Array):
        value = da.from_array(value, chunks=auto_chunks(value.shape, sliding))
    return value, sliding


def normalize_axes(func: str, axes: Any, ndim: int) -> tuple[int, int]:
    """Two distinct axes of an ``ndim``-D array, as non-negative ints."""
    if (
        not isinstance(axes, (tuple, list))
        or len(axes) != 2
        or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes)
    ):
        fail(func, "axes", "a pair of ints", axes, TypeError)
    normalized = []
    for axis in axes:
        if not -ndim <= axis < ndim:
            fail(func, "axes", f"axes of a {ndim}-D array (from {-ndim} to {ndim - 1})", axes)
        normalized.append(int(axis) % ndim)
    if normalized[0] == normalized[1]:
        fail(func, "axes", "two different axes", axes)
    return (normalized[0], normalized[1])


def window_dtype(
    func: str,
    image_dtype: np.dtype,
    kernels: tuple[NDArray[Any], ...],
    fill: Any,
    fill_used: bool,
    dtype: DTypeLike | None,
) -> np.dtype:
    """The dtype a block's window is assembled in, so the core computes as in memory.

    Integer data (image, kernels and, where it shows, the fill value) keep integers,
    held as int64 (uint64 as it is, so that values beyond int64 reach the core's integer
    rule unchanged); the core then applies its integer rule to each window exactly as it
    would to the whole image.  Anything else is assembled in the floating or complex dtype
    the in-memory face computes in, so the fill value is rounded the same way.
    """
    integers = all(k.dtype.kind in "biu" for k in kernels) and image_dtype.kind in "biu"
    fill_integer = isinstance(fill, (int, np.integer, bool, np.bool_))
    if dtype is None and integers and (fill_integer or not fill_used):
        if image_dtype == np.uint64 and not (fill_used and int(fill) < 0):
            return np.dtype(np.uint64)
        return np.dtype(np.int64)
    probe = np.zeros((1, 1), dtype=image_dtype)
    return result_dtype(func, probe, *kernels, dtype=dtype)


def in_memory(value: Any) -> Any:
    """A kernel or weight given as a Dask array is small: compute it."""
    compute = getattr(value, "compute", None)
    return compute() if callable(compute) and hasattr(value, "dask") else value
