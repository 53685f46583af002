"""Image files larger than memory: tiled TIFF and Zarr, read lazily, written band by band.

* :func:`open_image` reads a TIFF (tiled, or in strips) through tifffile's Zarr store,
  or a Zarr array, as a Dask array whose chunks are whole tiles grouped by
  :func:`stream_chunks`; nothing is read until the chunks are computed.  PNG and JPEG
  files, which cannot be read in parts, are read whole (``max_pixels`` guards them).
* :func:`write_tiff` and :func:`write_zarr` compute a Dask array one band of rows at a
  time (the next band computing while the last is written) and write it as a tiled TIFF
  or a Zarr array, under a temporary name renamed at the end, so an interrupted write
  leaves nothing behind.

Memory stays bounded by the bands and chunks, not by the image: a band of rows across
the image holds at most :data:`BAND_BYTES`, and chunks are about
:data:`corr2d.dask.CHUNK_PIXELS` pixels.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shutil
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.dask._common import CHUNK_PIXELS, auto_chunks
from corr2d.io.errors import (
    ImageReadError,
    ImageReadWarning,
    ImageTooLargeError,
    ImageWriteError,
)
from corr2d.io.images import DEFAULT_MAX_PIXELS

__all__ = [
    "BAND_BYTES",
    "TIFF_TILE",
    "TiffRegions",
    "is_zarr",
    "open_image",
    "stream_chunks",
    "write_tiff",
    "write_zarr",
]

#: The most bytes a band of rows across the image may hold (a chunk row being written).
BAND_BYTES = 64 * 2**20
#: The tile shape of the TIFF files :func:`write_tiff` writes (shorter tiles, in
#: multiples of 16 rows, for bands shorter than 256 rows).
TIFF_TILE = (256, 256)
#: Dtypes an image file holds.
_PIXEL_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- reading


def is_zarr(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a Zarr array: a ``.zarr`` name, or a folder holding one."""
    file = Path(path)
    if file.suffix.lower() == ".zarr":
        return True
    return file.is_dir() and any((file / name).exists() for name in ("zarr.json", ".zarray"))


def stream_chunks(
    shape: tuple[int, ...],
    itemsize: int,
    tile: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, ...]:
    """Chunks for streaming an image ``(H, W)`` or ``(H, W, C)`` band by band.

    A band (one row of chunks across the image) holds at most :data:`BAND_BYTES`; each
    chunk about ``CHUNK_PIXELS`` pixels (fewer if ``max_pixels`` says so), in whole
    ``tile``\\ s of the file.  Memory then stays bounded whatever the image's size.

    Examples
    --------
    >>> stream_chunks((8192, 8192), 4, (256, 256))
    (2048, 2048)
    >>> stream_chunks((32768, 32768), 4, (256, 256))
    (512, 8192)
    >>> stream_chunks((32768, 32768, 3), 1, (256, 256))
    (512, 8192, 3)
    """
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) > 2 else 1
    tile_h, tile_w = tile or (1, 1)
    pixels = min(CHUNK_PIXELS, max_pixels)
    band_rows = max(1, BAND_BYTES // (width * channels * itemsize))
    side = math.isqrt(pixels)
    rows = min(side, band_rows, max(1, max_pixels // width), height)
    if rows >= tile_h:
        rows = rows // tile_h * tile_h
    elif rows >= 16:  # narrower than a tile: re-reads tiles, but memory stays bounded
        rows = rows // 16 * 16
    cols = max(1, pixels // rows)
    cols = width if cols >= width else max(min(tile_w, width), cols // tile_w * tile_w)
    return (min(rows, height), min(cols, width), *shape[2:])


@dataclass(frozen=True)
class TiffRegions:
    """The first image of a TIFF file, read region by region through tifffile's Zarr store.

    Only the path travels to a worker; each thread opens the file once and keeps it
    open (reopening it if the file changed).  ``shape`` and ``dtype`` are the stored
    image's, in its stored axes.
    """

    path: str
    shape: tuple[int, ...]
    dtype: np.dtype
    _local: threading.local = field(default_factory=threading.local, compare=False, repr=False)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, key: Any) -> NDArray[Any]:
        return np.asarray(self._array()[key])

    def _array(self) -> Any:
        stamp = os.stat(self.path)
        identity = (stamp.st_mtime_ns, stamp.st_size)
        cached = getattr(self._local, "opened", None)
        if cached is None or cached[0] != identity:
            import tifffile
            import zarr

            if cached is not None:
                cached[1].close()
            tif = tifffile.TiffFile(self.path)
            array = zarr.open_array(tif.aszarr(series=0, level=0), mode="r")
            self._local.opened = (identity, tif, array)
            cached = self._local.opened
        return cached[2]

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        stamp = os.stat(self.path)
        return (self.path, stamp.st_mtime_ns, stamp.st_size, self.shape, str(self.dtype))

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "shape": self.shape, "dtype": self.dtype}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_local", threading.local())


def open_image(
    path: str | os.PathLike[str],
    *,
    chunks: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Any:
    """An image file as a lazy Dask array of shape ``(H, W)`` or ``(H, W, C)``.

    Parameters
    ----------
    path : str or path-like
        A TIFF (tiled or in strips: read through tifffile's Zarr store, part by part), a
        Zarr array, or a PNG/JPEG (read whole, as :func:`corr2d.io.read_image` does).
    chunks : (int, int), optional
        Chunk rows and columns (colour samples stay whole); by default
        :func:`stream_chunks` of the file's tiles.
    max_pixels : int, optional
        The most pixels read at once: a chunk, or a file that cannot be read in parts.

    Returns
    -------
    dask.array.Array
        The stored values and dtype (colour samples last); nothing read yet.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ImageReadError
        If the file is not an image this function reads.
    ImageTooLargeError
        If the file stores pieces (or, for PNG/JPEG, an image) larger than
        ``max_pixels``.

    Examples
    --------
    >>> import numpy as np, tempfile, os, tifffile
    >>> from corr2d.dask.files import open_image
    >>> path = os.path.join(tempfile.mkdtemp(), "ramp.tif")
    >>> tifffile.imwrite(path, np.arange(600.0).reshape(20, 30), tile=(16, 16))
    >>> image = open_image(path, chunks=(16, 30))
    >>> image.shape, image.chunks, float(image[19, 29].compute())
    ((20, 30), ((16, 4), (30,)), 599.0)
    """
    import dask.array as da

    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"{file}: no such file")
    if is_zarr(file):
        return _open_zarr(file, chunks, max_pixels)
    with file.open("rb") as handle:
        head = handle.read(4)
    if head in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _open_tiff(file, chunks, max_pixels)
    from corr2d.io import read_image

    image = read_image(file, max_pixels=max_pixels)
    chosen = (*chunks, *image.shape[2:]) if chunks else auto_chunks(image.shape, (0, 1))
    return da.from_array(image, chunks=chosen)


def _open_zarr(file: Path, chunks: tuple[int, int] | None, max_pixels: int) -> Any:
    import dask.array as da
    import zarr

    try:
        array = zarr.open_array(str(file), mode="r")
    except Exception as exc:  # zarr raises many kinds for folders that hold no array
        raise ImageReadError(f"{file}: not a Zarr array ({exc})") from exc
    _check_image_shape(file, array.shape, "Zarr array")
    _check_dtype(file, np.dtype(array.dtype))
    stored = (int(array.chunks[0]), int(array.chunks[1]))
    _check_piece(file, stored, max_pixels)
    chosen = _chosen(array.shape, array.dtype.itemsize, stored, chunks, max_pixels)
    return da.from_zarr(array, chunks=chosen)


def _open_tiff(file: Path, chunks: tuple[int, int] | None, max_pixels: int) -> Any:
    import dask.array as da
    import tifffile

    try:
        with tifffile.TiffFile(file) as tif:
            series = tif.series[0]
            axes, shape, dtype = series.axes, tuple(series.shape), np.dtype(series.dtype)
            page = series.pages[0] if series.pages else tif.pages.first
            piece = tuple(page.chunks)  # a tile, or a strip
            others = sum(
                not getattr(other.pages[0] if other.pages else None, "is_reduced", False)
                for other in tif.series[1:]
            )
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise ImageReadError(f"{file}: corrupt or truncated TIFF ({exc})") from exc
    _check_dtype(file, dtype)
    kept = [i for i, axis in enumerate(axes) if axis in "YXS"]
    images = math.prod(n for i, n in enumerate(shape) if i not in kept) + others
    if images > 1:  # a stack of pages: its first, as read_image reads it
        warnings.warn(
            f"{file}: holds {images} images (frames or pages); only the first is read",
            ImageReadWarning,
            stacklevel=3,
        )
    if [axes[i] for i in kept] not in (["Y", "X"], ["Y", "X", "S"], ["S", "Y", "X"]):
        raise ImageReadError(
            f"{file}: TIFF data of shape {shape} (axes {axes!r}) is not a 2-D grey or colour image"
        )
    piece_yx = (piece[axes.index("Y") - len(axes)], piece[axes.index("X") - len(axes)])
    _check_piece(file, piece_yx, max_pixels)
    regions = TiffRegions(str(file), shape, dtype)
    lazy = da.from_array(regions, chunks=_stored_chunks(shape, axes, piece), asarray=False)
    lazy = lazy[tuple(slice(None) if i in kept else 0 for i in range(len(shape)))]
    if axes[kept[0]] == "S":
        lazy = da.moveaxis(lazy, 0, -1)
    _check_image_shape(file, lazy.shape, "TIFF image")
    return lazy.rechunk(_chosen(lazy.shape, dtype.itemsize, piece_yx, chunks, max_pixels))


def _chosen(
    shape: tuple[int, ...],
    itemsize: int,
    piece: tuple[int, int],
    chunks: tuple[int, int] | None,
    max_pixels: int,
) -> tuple[int, ...]:
    """The chunks asked for (colour samples whole), or :func:`stream_chunks`'."""
    if chunks is None:
        return stream_chunks(shape, itemsize, piece, max_pixels)
    return (min(chunks[0], shape[0]), min(chunks[1], shape[1]), *shape[2:])


def _stored_chunks(shape: tuple[int, ...], axes: str, piece: tuple[int, ...]) -> tuple[int, ...]:
    """The file's own pieces as chunks: tiles (or strips) along Y and X, whole elsewhere."""
    sizes = dict(zip(axes[-len(piece) :], piece, strict=True))
    return tuple(
        sizes.get(axis, 1) if axis in "YX" else n for axis, n in zip(axes, shape, strict=True)
    )


def _check_image_shape(file: Path, shape: tuple[int, ...], what: str) -> None:
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] > 4) or 0 in shape:
        raise ImageReadError(
            f"{file}: {what} of shape {shape} is not a 2-D grey or colour image "
            "(H, W) or (H, W, C) with C of 1 to 4"
        )


def _check_dtype(file: Path, dtype: np.dtype) -> None:
    if dtype.kind not in "buif" or dtype.itemsize > 8:
        raise ImageReadError(f"{file}: data of dtype {dtype} is not supported")


def _check_piece(file: Path, piece: tuple[int, ...], max_pixels: int) -> None:
    pixels = int(piece[0]) * int(piece[1])
    if pixels > max_pixels:
        raise ImageTooLargeError(
            f"{file}: stored in pieces of {piece[0]}x{piece[1]} = {pixels} pixels, more than "
            f"the limit of {max_pixels} read at once (raise --max-pixels only for a trusted "
            "file, or store it in tiles)"
        )


# --------------------------------------------------------------------------- writing


def write_tiff(
    path: str | os.PathLike[str],
    image: Any,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> None:
    """Compute ``image`` band by band and write it as a tiled TIFF, atomically.

    Parameters
    ----------
    path : str or path-like
        A ``.tif`` or ``.tiff`` file (BigTIFF when larger than 4 GiB).
    image : dask.array.Array or array_like, shape (H, W) or (H, W, C)
        ``uint8``, ``uint16``, ``float32`` or ``float64``; ``C`` of 1 to 4.  Its row
        chunks are the bands computed at once.
    overwrite : bool, optional
        Replace an existing file.
    progress : callable, optional
        Called as ``progress(rows_written, rows_total)`` after each band.

    Notes
    -----
    Tiles are :data:`TIFF_TILE` (shorter for bands under 256 rows), uncompressed.  The
    file is written under a temporary name in the same folder and renamed when complete;
    an exception or Ctrl-C removes it.
    """
    file, image = Path(path), _as_lazy(image)
    _check_writable(file, image, (".tif", ".tiff"))
    channels = image.shape[2] if image.ndim == 3 else 1
    options: dict[str, Any] = {
        "photometric": "rgb" if channels in (3, 4) else "minisblack",
        "extrasamples": ("unassalpha",) if channels in (2, 4) else None,
        "planarconfig": "contig" if image.ndim == 3 else None,
    }
    band = int(image.chunks[0][0])
    tile = (TIFF_TILE[0] if band >= TIFF_TILE[0] else max(16, band // 16 * 16), TIFF_TILE[1])
    with _staged(file, overwrite) as temporary:
        import tifffile

        tifffile.imwrite(
            temporary,
            _tiles(_bands(image, progress), tile, image.shape[1]),
            shape=image.shape,
            dtype=image.dtype,
            tile=tile,
            **options,
        )


def write_zarr(
    path: str | os.PathLike[str],
    image: Any,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> None:
    """Compute ``image`` band by band and write it as a Zarr array, atomically.

    Parameters and behaviour as for :func:`write_tiff`; ``path`` ends in ``.zarr`` and the
    array's chunks are ``image``'s first chunk along each axis.
    """
    import zarr

    file, image = Path(path), _as_lazy(image)
    _check_writable(file, image, (".zarr",))
    with _staged(file, overwrite) as temporary:
        target = zarr.create_array(
            str(temporary),
            shape=image.shape,
            dtype=image.dtype,
            chunks=tuple(int(c[0]) for c in image.chunks),
        )
        for start, band in _bands(image, progress):
            target[start : start + band.shape[0]] = band


def _as_lazy(image: Any) -> Any:
    import dask.array as da

    if isinstance(image, da.Array):
        return image
    array = np.asarray(image)
    return da.from_array(array, chunks=stream_chunks(array.shape, array.dtype.itemsize))


def _check_writable(file: Path, image: Any, suffixes: tuple[str, ...]) -> None:
    if file.suffix.lower() not in suffixes:
        raise ImageWriteError(f"{file}: must end in {', '.join(suffixes)}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] > 4):
        raise ImageWriteError(
            f"{file}: an image must have shape (H, W) or (H, W, C) with C of 1 to 4, "
            f"got shape {image.shape}"
        )
    if np.dtype(image.dtype) not in _PIXEL_DTYPES:
        raise ImageWriteError(
            f"{file}: holds uint8, uint16, float32 or float64 images, got {image.dtype}"
        )
    if not file.parent.is_dir():
        raise ImageWriteError(f"{file}: the folder {str(file.parent)!r} does not exist")


def _bands(image: Any, progress: Progress | None) -> Iterator[tuple[int, NDArray[Any]]]:
    """Each row of chunks, computed (the next one while the caller writes this one)."""
    starts = np.concatenate([[0], np.cumsum(image.chunks[0])]).astype(int)
    total = int(image.shape[0])
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="corr2d-band") as pool:
        pending: Future[NDArray[Any]] | None = None
        try:
            for index, start in enumerate(starts[:-1]):
                if pending is None:
                    pending = pool.submit(_compute, image[start : starts[index + 1]])
                band = pending.result()
                pending = None
                if index + 2 < len(starts):
                    pending = pool.submit(_compute, image[starts[index + 1] : starts[index + 2]])
                yield int(start), band
                del band
                if progress is not None:
                    progress(int(starts[index + 1]), total)
        finally:
            if pending is not None:
                pending.cancel()


def _compute(lazy: Any) -> NDArray[Any]:
    return np.ascontiguousarray(lazy.compute())


def _tiles(
    bands: Iterator[tuple[int, NDArray[Any]]], tile: tuple[int, int], width: int
) -> Iterator[NDArray[Any]]:
    """TIFF tiles in the file's order (row-major), from bands of any height."""
    tile_h, tile_w = tile
    carry: NDArray[Any] | None = None
    for _, band in bands:
        rows = band if carry is None else np.concatenate([carry, band])
        whole = rows.shape[0] // tile_h * tile_h
        for top in range(0, whole, tile_h):
            yield from _tile_row(rows[top : top + tile_h], tile_w, width)
        carry = rows[whole:] if whole < rows.shape[0] else None
    if carry is not None:
        yield from _tile_row(carry, tile_w, width)


def _tile_row(rows: NDArray[Any], tile_w: int, width: int) -> Iterator[NDArray[Any]]:
    for left in range(0, width, tile_w):
        yield rows[:, left : left + tile_w]


@contextlib.contextmanager
def _staged(file: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary name beside ``file``, moved onto it when the block succeeds and
    removed (file or folder) whatever happens."""
    if file.exists() and not overwrite:
        raise FileExistsError(f"{file}: already exists (use --force to replace it)")
    temporary = file.parent / f".{file.name}.{secrets.token_hex(4)}.part"
    try:
        yield temporary
        _move_into_place(temporary, file, overwrite)
    finally:
        _remove(temporary)


def _move_into_place(temporary: Path, file: Path, overwrite: bool) -> None:
    if file.exists():
        if not overwrite:
            raise FileExistsError(f"{file}: already exists (use --force to replace it)")
        if file.is_dir():  # an old Zarr array: move it aside, then remove it
            old = file.parent / f".{file.name}.{secrets.token_hex(4)}.old"
            file.rename(old)
            temporary.rename(file)
            _remove(old)
            return
    os.replace(temporary, file)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
