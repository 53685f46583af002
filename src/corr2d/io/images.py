"""Image files: reading PNG, JPEG and TIFF into arrays, and writing arrays back.

Images are NumPy arrays of shape ``(H, W)`` (grey) or ``(H, W, C)`` (colour, ``C`` of 3
or 4; 2 for grey with alpha) in the dtype they were stored in: ``uint8``, ``uint16``,
``float32`` or ``float64``.  Pixel values are never rescaled on reading, so a filter
computes on the numbers in the file.

* :func:`read_image` reads PNG, JPEG and TIFF (and the other formats Pillow decodes);
  TIFF goes through ``tifffile`` (with ``imagecodecs`` for LZW, JPEG, ZSTD and the other
  compressions), which keeps 16-bit colour and floating-point data, and 16-bit colour
  PNG through libpng (``imagecodecs``), since Pillow would reduce it to 8 bits.
  It refuses images with more pixels than ``max_pixels`` before decoding them.
* :func:`write_image` writes PNG, JPEG or TIFF atomically (a temporary file in the same
  folder, then a rename), and never replaces an existing file unless asked to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from corr2d._validation import check_int
from corr2d.io._atomic import atomic_write
from corr2d.io.errors import (
    ImageReadError,
    ImageReadWarning,
    ImageTooLargeError,
    ImageWriteError,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "READ_SUFFIXES",
    "WRITE_SUFFIXES",
    "check_writable",
    "decoder_reports",
    "read_image",
    "write_image",
]

#: The default limit on width * height, a guard against decompression bombs.
DEFAULT_MAX_PIXELS = 2**28

#: File suffixes :func:`write_image` writes, and the format each means.
WRITE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}

#: File suffixes :func:`read_image` is documented to read (others Pillow knows also work).
READ_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- reading


def read_image(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, orient: bool = True
) -> NDArray[Any]:
    """Read an image file into an array, keeping its dtype and values.

    Parameters
    ----------
    path : str or path-like
        A PNG, JPEG or TIFF file (other formats Pillow decodes, such as BMP, also work).
        TIFF files are read with ``tifffile``.  A file that holds several images (an
        animated GIF, PNG or WebP, a multi-page TIFF) is read from its first, with an
        :class:`ImageReadWarning` that says how many it holds.
    max_pixels : int, optional
        Refuse images with more than this many pixels (width times height) before
        decoding them.  Default ``2**28``.
    orient : bool, optional
        Turn the pixels upright as the file's EXIF orientation tag says (default), as
        image viewers and OpenCV's ``imread`` show them: a phone's portrait photo is
        often stored sideways with a tag saying so.  False keeps the stored order.
        TIFF files are read in their stored order either way.

    Returns
    -------
    image : ndarray, shape (H, W) or (H, W, C)
        ``uint8`` or ``uint16`` for integer images (1-bit images become ``uint8`` 0/255),
        ``float32``/``float64`` for floating-point TIFFs.  Palette and CMYK images are
        converted to RGB(A).  ``C`` is 2 (grey and alpha), 3 (RGB) or 4 (RGBA).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ImageTooLargeError
        If the image has more than ``max_pixels`` pixels.
    ImageReadError
        If the file is not an image, is corrupt or truncated, or holds data this
        function does not read (complex or more than 3-D TIFF data).

    Warns
    -----
    ImageReadWarning
        If the decoder reported damage it read past, or the file holds more than one
        image.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from corr2d.io import read_image, write_image
    >>> folder = tempfile.mkdtemp()
    >>> image = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    >>> write_image(os.path.join(folder, "ramp.png"), image)
    >>> back = read_image(os.path.join(folder, "ramp.png"))
    >>> back.dtype, bool((back == image).all())
    (dtype('uint16'), True)
    """
    max_pixels = check_int("read_image", "max_pixels", max_pixels, 1, None)
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"{file}: no such file")
    if file.is_dir():
        raise ImageReadError(f"{file}: is a folder, not an image file")
    try:
        with file.open("rb") as handle:
            head = handle.read(32)
    except OSError as exc:
        raise ImageReadError(f"{file}: cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise ImageReadError(f"{file}: empty file, not an image")
    if not isinstance(orient, (bool, np.bool_)):
        raise TypeError(f"read_image: `orient` must be True or False, got {orient!r}")
    with decoder_reports() as reports:
        try:
            if head[:4] in _TIFF_MAGIC:
                image, images = _read_tiff(file, int(max_pixels))
            elif _is_deep_png(head):
                image, images = _read_deep_png(file, int(max_pixels), bool(orient))
            else:
                image, images = _read_with_pillow(file, int(max_pixels), bool(orient))
        except ImageReadError as exc:
            if reports:
                raise type(exc)(f"{exc}; the decoder reported: {_joined(reports)}") from exc
            raise
    if reports:
        warnings.warn(
            f"{file}: decoded, but the decoder reported: {_joined(reports)}",
            ImageReadWarning,
            stacklevel=2,
        )
    if images > 1:
        warnings.warn(
            f"{file}: holds {images} images (frames or pages); only the first is read",
            ImageReadWarning,
            stacklevel=2,
        )
    if image.size == 0:
        raise ImageReadError(f"{file}: the image has no pixels")
    return image


class _DecoderReports(logging.Filter):
    """Keeps what the decoders log while this thread reads an image, instead of letting
    it reach stderr (tifffile logs damaged tags as warnings, which logging's last-resort
    handler prints): :func:`read_image` folds them into its error or one warning."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        bucket = getattr(self.local, "bucket", None)
        if bucket is None:
            return True  # not inside read_image: the logger behaves as configured
        bucket.append(record.getMessage())
        return False


_REPORTS = _DecoderReports()
#: The loggers of the decoders; Pillow reports through ``warnings`` instead.
_DECODER_LOGGERS = ("tifffile",)


#: Warnings that say nothing about the file being read: an unrelated object's unclosed
#: file collected meanwhile, a library's deprecation.  They pass on as they were raised.
_NOT_REPORTS = (ResourceWarning, DeprecationWarning, PendingDeprecationWarning, ImportWarning)


@contextlib.contextmanager
def decoder_reports() -> Iterator[list[str]]:
    """Collect the decoders' log records and warnings (in this thread) into a list,
    instead of letting them reach stderr; for code that opens image files itself."""
    for name in _DECODER_LOGGERS:
        logger = logging.getLogger(name)
        if _REPORTS not in logger.filters:
            logger.addFilter(_REPORTS)
    bucket: list[str] = []
    passed_on: list[warnings.WarningMessage] = []
    outer = getattr(_REPORTS.local, "bucket", None)
    _REPORTS.local.bucket = bucket
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield bucket
            finally:
                for item in caught:
                    if issubclass(item.category, _NOT_REPORTS):
                        passed_on.append(item)
                    else:
                        bucket.append(str(item.message))
    finally:
        _REPORTS.local.bucket = outer
        for item in passed_on:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def _joined(reports: list[str], limit: int = 3) -> str:
    """The first reports, each on one line, and how many more there were."""
    lines = [" ".join(report.split()) for report in dict.fromkeys(reports)]
    text = "; ".join(line if len(line) <= 160 else line[:157] + "..." for line in lines[:limit])
    return text + (f" (and {len(lines) - limit} more)" if len(lines) > limit else "")


def _check_pixels(file: Path, height: int, width: int, max_pixels: int) -> None:
    if height * width > max_pixels:
        raise ImageTooLargeError(
            f"{file}: {width}x{height} image has {width * height} pixels, more than the "
            f"limit of {max_pixels} (raise the limit, --max-pixels, only for a trusted file)"
        )


@contextlib.contextmanager
def _pillow_limit(max_pixels: int) -> Iterator[None]:
    """Make Pillow's decompression-bomb check use ``max_pixels``, its warning an error."""
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _read_with_pillow(file: Path, max_pixels: int, orient: bool) -> tuple[NDArray[Any], int]:
    """The first frame's pixels, and how many frames the file holds."""
    from PIL import Image

    with _pillow_errors(file, max_pixels), Image.open(file) as opened:
        _check_pixels(file, opened.height, opened.width, max_pixels)
        opened.load()
        image = _pillow_to_array(_upright(opened) if orient else opened)
        frames = int(getattr(opened, "n_frames", 1))
    return image, frames


@contextlib.contextmanager
def _pillow_errors(file: Path, max_pixels: int) -> Iterator[None]:
    """Pillow's limit set to ``max_pixels``, and its exceptions as this module's."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _pillow_limit(max_pixels):
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(
            f"{file}: more pixels than the limit of {max_pixels} (raise the limit, "
            "--max-pixels, only for a trusted file)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{file}: not an image in a supported format") from exc
    except (OSError, SyntaxError, EOFError, ValueError, zlib.error) as exc:
        if isinstance(exc, ImageReadError):
            raise
        raise ImageReadError(f"{file}: corrupt or truncated image ({exc})") from exc


def _is_deep_png(head: bytes) -> bool:
    """A PNG of 16-bit grey + alpha, RGB or RGBA (IHDR's bit depth and colour type),
    which Pillow would reduce to 8 bits."""
    return head[:8] == _PNG_MAGIC and len(head) >= 26 and head[24] == 16 and head[25] in (2, 4, 6)


def _read_deep_png(file: Path, max_pixels: int, orient: bool) -> tuple[NDArray[Any], int]:
    """A 16-bit grey + alpha or colour PNG at its full depth: Pillow reads the header
    (size, frames, EXIF orientation) without decoding, libpng (through ``imagecodecs``)
    the pixels."""
    import imagecodecs
    from PIL import Image

    with _pillow_errors(file, max_pixels), Image.open(file) as opened:
        _check_pixels(file, opened.height, opened.width, max_pixels)
        frames = int(getattr(opened, "n_frames", 1))
        orientation = _orientation(opened) if orient else 1
    try:
        image = imagecodecs.png_decode(file.read_bytes())
    except (imagecodecs.PngError, ValueError) as exc:
        raise ImageReadError(f"{file}: corrupt or truncated image ({exc})") from exc
    return np.ascontiguousarray(_turned(image, orientation)), frames


#: EXIF's orientation tag; values 2 to 8 flip or turn the stored pixels for display.
_ORIENTATION = 0x0112


def _orientation(image: Any) -> int:
    """The Pillow image's EXIF orientation, 1 (as stored) to 8; 1 when absent or damaged."""
    try:
        orientation = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # a damaged EXIF block: the pixels as stored
        return 1
    return orientation if orientation in range(2, 9) else 1


def _upright(image: Any) -> Any:
    """The Pillow image turned as its EXIF orientation tag says (Pillow's own rule)."""
    from PIL import ImageOps

    return image if _orientation(image) == 1 else ImageOps.exif_transpose(image)


def _turned(pixels: NDArray[Any], orientation: int) -> NDArray[Any]:
    """``pixels`` (H, W[, C]) turned as EXIF ``orientation`` says, as Pillow's
    ``ImageOps.exif_transpose`` turns an image: 2 mirrors left-right, 3 turns 180
    degrees, 4 mirrors top-bottom, 5 transposes, 6 turns clockwise, 7 transverses, 8
    turns anticlockwise."""
    if orientation in (5, 7):  # a mirror in a diagonal: transpose, then as 1 or 3
        pixels = np.swapaxes(pixels, 0, 1)
        orientation -= 4
    if orientation == 2:
        return pixels[:, ::-1]
    if orientation == 3:
        return pixels[::-1, ::-1]
    if orientation == 4:
        return pixels[::-1]
    if orientation == 6:
        return np.rot90(pixels, -1)
    if orientation == 8:
        return np.rot90(pixels, 1)
    return pixels


def _pillow_to_array(image: Any) -> NDArray[Any]:
    mode = image.mode
    if mode == "1":
        return np.asarray(image.convert("L"))
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image)
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    if mode == "I":
        values = np.asarray(image)
        if values.min() >= 0 and values.max() <= np.iinfo(np.uint16).max:
            return values.astype(np.uint16)
        return values.astype(np.float64)
    if mode == "F":
        return np.asarray(image).astype(np.float32)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    if mode == "La":
        return np.asarray(image.convert("LA"))
    if mode == "RGBa":
        return np.asarray(image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))


def _read_tiff(file: Path, max_pixels: int) -> tuple[NDArray[Any], int]:
    """The first page's pixels, and how many full-size pages the file holds (reduced
    pages, a pyramid's levels or a thumbnail, are not images of their own)."""
    import tifffile

    try:
        with tifffile.TiffFile(file) as tif:
            if not tif.pages:
                raise ImageReadError(f"{file}: TIFF file holds no image")
            page = tif.pages.first
            axes = page.axes
            shape = page.shape
            height = shape[axes.index("Y")] if "Y" in axes else 0
            width = shape[axes.index("X")] if "X" in axes else 0
            _check_pixels(file, height, width, max_pixels)
            data = page.asarray()
            pages = len(tif.pages)
            if pages > 1 and getattr(tif.pages[1], "is_reduced", False):
                pages = 1
    except ImageReadError:
        raise
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise ImageReadError(f"{file}: corrupt or truncated TIFF ({exc})") from exc
    return _tiff_array(file, data, axes), pages


def _tiff_array(file: Path, data: NDArray[Any], axes: str) -> NDArray[Any]:
    """A TIFF page's data as a grey or colour image: samples last, in a type we read."""
    if "S" in axes and axes.index("S") != data.ndim - 1 and data.ndim == 3:
        data = np.moveaxis(data, axes.index("S"), -1)
    data = np.squeeze(data) if data.ndim > 3 else data
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] > 4):
        raise ImageReadError(
            f"{file}: TIFF data of shape {data.shape} (axes {axes!r}) is not a 2-D grey or "
            "colour image"
        )
    kind = data.dtype.kind
    if kind == "b":
        return data.astype(np.uint8) * np.uint8(255)
    if kind == "f":
        return np.ascontiguousarray(data if data.dtype.itemsize >= 4 else data.astype(np.float32))
    if kind == "u" and data.dtype.itemsize <= 2:
        return np.ascontiguousarray(data)
    if kind in "ui":
        return data.astype(np.float64)
    raise ImageReadError(f"{file}: TIFF data of dtype {data.dtype} is not supported")


# --------------------------------------------------------------------------- writing


def write_image(
    path: str | os.PathLike[str],
    image: ArrayLike,
    *,
    overwrite: bool = False,
    quality: int = 95,
) -> None:
    """Write an image atomically, choosing the format by the file suffix.

    Parameters
    ----------
    path : str or path-like
        Ends in ``.png``, ``.jpg``/``.jpeg`` or ``.tif``/``.tiff``.
    image : array_like, shape (H, W) or (H, W, C)
        ``C`` of 2 (grey and alpha), 3 (RGB) or 4 (RGBA).  PNG holds ``uint8`` and
        ``uint16`` images; JPEG holds ``uint8`` grey or RGB; TIFF holds
        ``uint8``, ``uint16``, ``float32`` and ``float64`` images with any of those
        channel counts.  Other dtypes are refused rather than silently converted.
    overwrite : bool, optional
        Replace an existing file.  Default False: an existing file is left untouched.
    quality : int, optional
        JPEG quality, 1 to 95.  Default 95.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ImageWriteError
        If the suffix is not one of the above, the format cannot hold the image's dtype
        or channels, or the file cannot be created (missing folder, no permission).

    Notes
    -----
    The data are first written to a temporary file in the destination folder, which is
    then renamed onto ``path``, so an interrupted write never leaves a partial image.
    Without ``overwrite`` the rename is a hard link, which fails if ``path`` appeared in
    the meantime.
    """
    quality = check_int("write_image", "quality", quality, 1, 95)
    file = Path(path)
    array = np.asarray(image)
    fmt = _format(file)
    _check_writable(file, array, fmt)
    if not overwrite and file.exists():
        raise FileExistsError(f"{file}: already exists (use --force to replace it)")
    folder = file.parent
    if not folder.is_dir():
        raise ImageWriteError(f"{file}: the folder {str(folder)!r} does not exist")

    def encode(target: IO[bytes]) -> None:
        if fmt == "TIFF":
            import tifffile

            photometric = "rgb" if array.ndim == 3 and array.shape[2] in (3, 4) else "minisblack"
            extrasamples = None
            if array.ndim == 3 and array.shape[2] in (2, 4):
                extrasamples = ("unassalpha",)
            tifffile.imwrite(
                target,
                np.ascontiguousarray(array),
                photometric=photometric,
                extrasamples=extrasamples,
                planarconfig="contig" if array.ndim == 3 else None,
            )
        elif fmt == "PNG" and array.dtype == np.uint16 and array.ndim == 3:
            import imagecodecs  # libpng: Pillow writes no 16-bit colour PNG

            target.write(imagecodecs.png_encode(np.ascontiguousarray(array), level=1))
        else:
            from PIL import Image

            picture = Image.fromarray(np.ascontiguousarray(array))
            options: dict[str, Any] = {"quality": quality} if fmt == "JPEG" else {}
            if fmt == "PNG":
                # zlib's fastest level, OpenCV's default: a photograph's PNG is written
                # 2-2.5x faster than at Pillow's default level 6, about 7% larger
                options["compress_level"] = 1
            picture.save(target, format=fmt, **options)

    atomic_write(file, encode, overwrite=overwrite)


def check_writable(path: str | os.PathLike[str], shape: tuple[int, ...], dtype: DTypeLike) -> None:
    """Refuse now an image that :func:`write_image` would refuse at ``path``.

    Lets a program check its output before the work that makes the image.

    Parameters
    ----------
    path : str or path-like
        The output file; its suffix chooses the format.
    shape : tuple of int
        The image's shape, (H, W) or (H, W, C).
    dtype : dtype
        The image's pixel type.

    Raises
    ------
    ImageWriteError
        If the suffix is not a format :func:`write_image` writes, or the format cannot
        hold images of this dtype and channel count.

    Examples
    --------
    >>> check_writable("out.png", (480, 640, 3), "uint16")
    >>> check_writable("out.png", (480, 640, 3), "float32")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    corr2d.io.errors.ImageWriteError: out.png: PNG output holds uint8 and uint16 images, ...
    """
    file = Path(path)
    image = np.broadcast_to(np.zeros((), np.dtype(dtype)), shape)  # no pixels stored
    _check_writable(file, image, _format(file))


def _format(file: Path) -> str:
    suffix = file.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        listed = ", ".join(WRITE_SUFFIXES)
        raise ImageWriteError(f"{file}: unsupported output format {suffix!r} (use one of {listed})")
    return WRITE_SUFFIXES[suffix]


def _check_writable(file: Path, array: NDArray[Any], fmt: str) -> None:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ImageWriteError(
            f"{file}: an image must have shape (H, W) or (H, W, C) with C of 2, 3 or 4, "
            f"got shape {array.shape}"
        )
    if array.size == 0:
        raise ImageWriteError(f"{file}: the image has no pixels (shape {array.shape})")
    channels = 1 if array.ndim == 2 else array.shape[2]
    dtype = array.dtype
    if fmt == "TIFF":
        if dtype not in (np.uint8, np.uint16, np.float32, np.float64):
            raise ImageWriteError(
                f"{file}: TIFF output holds uint8, uint16, float32 or float64 images, got {dtype}"
            )
    elif fmt == "PNG":
        if dtype not in (np.uint8, np.uint16):
            raise ImageWriteError(
                f"{file}: PNG output holds uint8 and uint16 images, got {dtype}; write a "
                ".tif for this data"
            )
    elif not (dtype == np.uint8 and channels in (1, 3)):
        raise ImageWriteError(
            f"{file}: JPEG output holds uint8 grey or RGB images, got {dtype} with "
            f"{channels} channel(s); write a .png or .tif for this data"
        )
