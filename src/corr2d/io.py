"""Images and kernels on disk: reading, writing, converting, and filtering per channel.

Images are NumPy arrays of shape ``(H, W)`` (grey) or ``(H, W, C)`` (colour, ``C`` of 3
or 4; 2 for grey with alpha) in the dtype they were stored in: ``uint8``, ``uint16``,
``float32`` or ``float64``.  Pixel values are never rescaled on reading, so a filter
computes on the numbers in the file.

* :func:`read_image` reads PNG, JPEG and TIFF (and the other formats Pillow decodes);
  TIFF goes through ``tifffile``, which keeps 16-bit colour and floating-point data.
  It refuses images with more pixels than ``max_pixels`` before decoding them.
* :func:`write_image` writes PNG, JPEG or TIFF atomically (a temporary file in the same
  folder, then a rename), and never replaces an existing file unless asked to.
* :func:`to_image_dtype` turns a filter response (any float values) into pixel values
  by one of the ``scale`` rules; :func:`filter_image` correlates every colour channel.
* :func:`load_kernel` turns a kernel specification -- a registered name with
  parameters, a ``.npy``/``.txt``/``.csv`` file, or inline rows -- into a 2-D array.

Errors are specific: :class:`ImageReadError` (and :class:`ImageTooLargeError`) for
inputs that cannot be decoded, :class:`ImageWriteError` for outputs that cannot be
written, :class:`KernelSpecError` for a kernel specification that does not parse and
:class:`KernelFileError` for a kernel file that does not.  Missing files raise
``FileNotFoundError`` and existing outputs ``FileExistsError``.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "EDGE_OPERATORS",
    "READ_SUFFIXES",
    "SCALES",
    "WRITE_SUFFIXES",
    "ImageReadError",
    "ImageTooLargeError",
    "ImageWriteError",
    "KernelFileError",
    "KernelSpecError",
    "filter_image",
    "gradient_image",
    "load_kernel",
    "parse_kernel",
    "read_image",
    "read_kernel",
    "to_float",
    "to_image_dtype",
    "write_image",
    "write_kernel",
]

#: The default limit on width * height, a guard against decompression bombs.
DEFAULT_MAX_PIXELS = 2**28

#: The ``scale`` rules of :func:`to_image_dtype`.
SCALES = ("auto", "clip", "abs", "none")

#: File suffixes :func:`write_image` writes, and the format each means.
WRITE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}

#: File suffixes :func:`read_image` is documented to read (others Pillow knows also work).
READ_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_KERNEL_FILE_SUFFIXES = (".npy", ".txt", ".csv")


def _kernel_suffix(file: Path, error: type[Exception]) -> str:
    """The lower-case suffix of a kernel file, which must be .npy, .txt or .csv."""
    suffix = file.suffix.lower()
    if suffix not in _KERNEL_FILE_SUFFIXES:
        raise error(
            f"{file}: kernel files must end in .npy, .txt or .csv, got {suffix or 'no suffix'!r}"
        )
    return suffix


class ImageReadError(ValueError):
    """An image file exists but cannot be decoded: corrupt, truncated or unsupported."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the stated limit (a decompression-bomb guard)."""


class ImageWriteError(ValueError):
    """An image cannot be written: unsupported format, dtype or folder."""


class KernelSpecError(ValueError):
    """A kernel specification (name, parameters or inline rows) does not parse."""


class KernelFileError(ValueError):
    """A kernel file holds something other than a 2-D array of finite numbers."""


# --------------------------------------------------------------------------- reading


def read_image(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> NDArray[Any]:
    """Read an image file into an array, keeping its dtype and values.

    Parameters
    ----------
    path : str or path-like
        A PNG, JPEG or TIFF file (other formats Pillow decodes, such as BMP, also work).
        TIFF files are read with ``tifffile``; only their first image is read.
    max_pixels : int, optional
        Refuse images with more than this many pixels (width times height) before
        decoding them.  Default ``2**28``.

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
        function does not read (16-bit colour PNG, which Pillow would silently reduce to
        8 bits, complex or more than 3-D TIFF data).

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
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"{file}: no such file")
    if file.is_dir():
        raise ImageReadError(f"{file}: is a folder, not an image file")
    if not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ValueError(f"read_image: `max_pixels` must be a positive int, got {max_pixels!r}")
    try:
        with file.open("rb") as handle:
            head = handle.read(32)
    except OSError as exc:
        raise ImageReadError(f"{file}: cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise ImageReadError(f"{file}: empty file, not an image")
    if head[:4] in _TIFF_MAGIC:
        image = _read_tiff(file, int(max_pixels))
    else:
        if head[:8] == _PNG_MAGIC and len(head) >= 26 and head[24] == 16 and head[25] in (2, 4, 6):
            raise ImageReadError(
                f"{file}: 16-bit colour PNG is not supported (Pillow would reduce it to "
                "8 bits); save it as TIFF instead"
            )
        image = _read_with_pillow(file, int(max_pixels))
    if image.size == 0:
        raise ImageReadError(f"{file}: the image has no pixels")
    return image


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


def _read_with_pillow(file: Path, max_pixels: int) -> NDArray[Any]:
    from PIL import Image, UnidentifiedImageError

    try:
        with _pillow_limit(max_pixels), Image.open(file) as opened:
            _check_pixels(file, opened.height, opened.width, max_pixels)
            opened.load()
            image = _pillow_to_array(opened)
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
    return image


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


def _read_tiff(file: Path, max_pixels: int) -> NDArray[Any]:
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
    except ImageReadError:
        raise
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise ImageReadError(f"{file}: corrupt or truncated TIFF ({exc})") from exc
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


def to_float(image: ArrayLike) -> NDArray[np.float64]:
    """Pixel values as float64, unchanged (no rescaling of integer images).

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.io import to_float
    >>> to_float(np.array([[0, 255]], dtype=np.uint8))
    array([[  0., 255.]])
    """
    return np.asarray(image, dtype=np.float64)


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
        ``C`` of 2 (grey and alpha), 3 (RGB) or 4 (RGBA).  PNG holds ``uint8`` images
        and ``uint16`` grey images; JPEG holds ``uint8`` grey or RGB; TIFF holds
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
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        listed = ", ".join(WRITE_SUFFIXES)
        raise ImageWriteError(f"{file}: unsupported output format {suffix!r} (use one of {listed})")
    array = np.asarray(image)
    fmt = WRITE_SUFFIXES[suffix]
    _check_writable(file, array, fmt)
    if not overwrite and file.exists():
        raise FileExistsError(f"{file}: already exists (use --force to replace it)")
    folder = file.parent
    if not folder.is_dir():
        raise ImageWriteError(f"{file}: the folder {str(folder)!r} does not exist")

    def encode(target: Path) -> None:
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
        else:
            from PIL import Image

            picture = Image.fromarray(np.ascontiguousarray(array))
            options: dict[str, Any] = {"quality": quality} if fmt == "JPEG" else {}
            picture.save(target, format=fmt, **options)

    _atomic_write(file, encode, overwrite=overwrite)


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
        if not (dtype == np.uint8 or (dtype == np.uint16 and channels == 1)):
            raise ImageWriteError(
                f"{file}: PNG output holds uint8 images and uint16 grey images, got {dtype} "
                f"with {channels} channel(s); write a .tif for this data"
            )
    elif not (dtype == np.uint8 and channels in (1, 3)):
        raise ImageWriteError(
            f"{file}: JPEG output holds uint8 grey or RGB images, got {dtype} with "
            f"{channels} channel(s); write a .png or .tif for this data"
        )


def _atomic_write(file: Path, encode: Callable[[Path], None], *, overwrite: bool = False) -> None:
    """Call ``encode(temporary_path)``, then move the result onto ``file`` atomically.

    The temporary file lives in ``file``'s folder (so the final rename never crosses a
    file system) and is removed if ``encode`` fails.  With ``overwrite`` False the move
    is ``os.link`` (which refuses an existing target) followed by removing the temporary
    name; where hard links are not supported it checks and uses ``os.replace``.
    """
    try:
        handle, name = tempfile.mkstemp(
            dir=file.parent, prefix=f".{file.stem}.", suffix=f"{file.suffix}.part"
        )
    except OSError as exc:
        raise ImageWriteError(
            f"{file}: cannot create a file there ({exc.strerror or exc})"
        ) from exc
    os.close(handle)
    temporary = Path(name)
    try:
        try:
            encode(temporary)
        except (OSError, ValueError, TypeError) as exc:
            raise ImageWriteError(f"{file}: could not be written ({exc})") from exc
        # mkstemp makes the file private (0600); give it the permissions a new file gets.
        os.chmod(temporary, 0o666 & ~_umask())
        if overwrite:
            os.replace(temporary, file)
            return
        try:
            os.link(temporary, file)
        except FileExistsError:
            raise FileExistsError(f"{file}: already exists (use --force to replace it)") from None
        except OSError:
            if file.exists():
                raise FileExistsError(
                    f"{file}: already exists (use --force to replace it)"
                ) from None
            os.replace(temporary, file)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- values


def to_image_dtype(
    values: ArrayLike,
    dtype: DTypeLike,
    scale: Literal["auto", "clip", "abs", "none"] = "auto",
    *,
    signed: bool | None = None,
) -> NDArray[Any]:
    """Turn a filter response into pixel values of ``dtype`` by a ``scale`` rule.

    Parameters
    ----------
    values : array_like
        The response, any real numbers (NaN becomes 0 for integer outputs).
    dtype : {uint8, uint16, float32, float64}
        The output pixel type.  Its range is ``[0, 255]``, ``[0, 65535]``, or (floats)
        unbounded.
    scale : {'auto', 'clip', 'abs', 'none'}, optional
        For integer ``dtype``, with ``top`` the largest value:

        ``'auto'`` (default)
            an *unsigned* response is kept as it is when it fits in ``[0, top]``
            (a blur of an 8-bit image stays in 8-bit units) and otherwise scaled by
            ``top / max`` so its maximum becomes ``top``; a *signed* response is mapped
            symmetrically around mid-grey, ``(v / max|v| + 1) * top / 2``, so 0 becomes
            mid-grey (128 or 32768), ``+max|v|`` white and ``-max|v|`` black.
        ``'clip'``
            values are rounded and clipped to ``[0, top]``: negatives become 0.
        ``'abs'``
            the magnitude ``|v|``, then the unsigned rule of ``'auto'``.
        ``'none'``
            not allowed for integer types: raw values need a floating ``dtype``.

        For floating ``dtype``, ``'auto'`` and ``'none'`` keep the values, ``'clip'``
        clips them to ``[0, 1]`` and ``'abs'`` takes ``|v|``.
    signed : bool, optional
        Whether the response is signed (for ``'auto'``).  By default it is signed if any
        value is negative; pass True for a kernel with negative weights, so that a flat
        region is mid-grey whatever the image.

    Returns
    -------
    pixels : ndarray of ``dtype``

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.io import to_image_dtype
    >>> to_image_dtype([[0.0, 100.0, 200.0]], np.uint8)
    array([[  0, 100, 200]], dtype=uint8)
    >>> to_image_dtype([[0.0, 255.0, 510.0]], np.uint8)
    array([[  0, 128, 255]], dtype=uint8)
    >>> to_image_dtype([[-2.0, 0.0, 2.0]], np.uint8)
    array([[  0, 128, 255]], dtype=uint8)
    >>> to_image_dtype([[-2.0, 0.0, 300.0]], np.uint8, "clip")
    array([[  0,   0, 255]], dtype=uint8)
    """
    if scale not in SCALES:
        raise ValueError(
            f"to_image_dtype: `scale` must be one of {', '.join(map(repr, SCALES))}, got {scale!r}"
        )
    target = np.dtype(dtype)
    v = np.asarray(values, dtype=np.float64)
    if np.iscomplexobj(values):
        raise TypeError("to_image_dtype: `values` must be real, got complex values")
    if target.kind == "f":
        if scale == "clip":
            v = np.clip(v, 0.0, 1.0)
        elif scale == "abs":
            v = np.abs(v)
        return v.astype(target)
    if target not in (np.uint8, np.uint16):
        raise ValueError(
            f"to_image_dtype: `dtype` must be uint8, uint16, float32 or float64, got {target}"
        )
    if scale == "none":
        raise ValueError(
            "to_image_dtype: `scale` must not be 'none' for an integer dtype "
            f"({target}); raw values need float32 or float64"
        )
    top = float(np.iinfo(target).max)
    v = np.where(np.isnan(v), 0.0, v)
    if scale == "abs":
        v = np.abs(v)
    if scale == "auto":
        is_signed = bool((v < 0).any()) if signed is None else signed
        if is_signed:
            peak = float(np.max(np.abs(v))) if v.size else 0.0
            if peak > 0 and np.isfinite(peak):
                v = (v / peak + 1.0) * (top / 2.0)
            else:
                v = np.full_like(v, top / 2.0)
        else:
            v = np.maximum(v, 0.0)
            peak = float(v.max()) if v.size else 0.0
            if peak > top and np.isfinite(peak):
                v = v * (top / peak)
    elif scale == "abs":
        peak = float(v.max()) if v.size else 0.0
        if peak > top and np.isfinite(peak):
            v = v * (top / peak)
    return np.rint(np.clip(v, 0.0, top)).astype(target)


def filter_image(
    image: ArrayLike,
    kernel: ArrayLike,
    mode: Literal["full", "valid", "same"] = "same",
    boundary: Literal["fill", "wrap", "symm"] = "fill",
    fillvalue: float = 0.0,
    *,
    convolve: bool = False,
    method: Literal["auto", "direct", "fft"] = "auto",
) -> NDArray[Any]:
    """Correlate (or convolve) every colour channel of an image with one kernel.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        A grey or colour image; an alpha channel (the last of 2 or 4) is dropped, since
        a filter response has no transparency.
    kernel : array_like, shape (kH, kW)
    mode, boundary, fillvalue, method
        As for :func:`corr2d.correlate2d`; ``mode`` defaults to ``'same'`` here, so the
        output has the input's size.
    convolve : bool, optional
        Convolve (flip the kernel) instead of correlating.

    Returns
    -------
    response : ndarray, shape (H', W') or (H', W', C')
        Floating point (float32 for float32 images, float64 otherwise), ``C'`` the
        number of colour channels (1 or 3; a single channel is returned 2-D).

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.io import filter_image
    >>> rgb = np.zeros((3, 3, 3)); rgb[1, 1] = [1, 2, 3]
    >>> filter_image(rgb, [[1.0]])[1, 1]
    array([1., 2., 3.])
    """
    from corr2d.core.correlate import convolve2d, correlate2d

    array = np.asarray(image)
    operation = convolve2d if convolve else correlate2d
    if array.ndim == 2:
        return operation(array, kernel, mode, boundary, fillvalue, method=method)
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(
            "filter_image: `image` must have shape (H, W) or (H, W, C) with C of 1 to 4, "
            f"got shape {array.shape}"
        )
    colour = array[..., :3] if array.shape[2] >= 3 else array[..., :1]
    channels = [
        operation(colour[..., c], kernel, mode, boundary, fillvalue, method=method)
        for c in range(colour.shape[2])
    ]
    if len(channels) == 1:
        return channels[0]
    return np.stack(channels, axis=-1)


#: Edge operators of :func:`gradient_image` and the registry kernels they use.
EDGE_OPERATORS = {
    "sobel": ("sobel-dx", "sobel-dy"),
    "scharr": ("scharr-dx", "scharr-dy"),
    "prewitt": ("prewitt-dx", "prewitt-dy"),
    "finite": ("central-dx", "central-dy"),
}


def gradient_image(
    image: ArrayLike,
    operator: Literal["sobel", "scharr", "prewitt", "finite"] = "sobel",
    axis: Literal["x", "y"] | None = None,
    boundary: Literal["fill", "wrap", "symm"] = "symm",
    *,
    method: Literal["auto", "direct", "fft"] = "auto",
) -> NDArray[Any]:
    """The gradient magnitude of an image, or its derivative along one axis.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        Colour channels are treated one by one (alpha dropped), as in
        :func:`filter_image`.
    operator : {'sobel', 'scharr', 'prewitt', 'finite'}, optional
        The derivative kernels: ``kernels.get(f'{operator}-dx')`` and ``-dy``; 'finite'
        uses the central differences ``central-dx``/``central-dy`` (``[-1/2, 0, 1/2]``).
    axis : {'x', 'y'}, optional
        Return the signed derivative along ``x`` (columns: responds to edges running
        up-down) or ``y`` (rows).  Default: the magnitude ``sqrt(dx**2 + dy**2)``.
    boundary : {'fill', 'wrap', 'symm'}, optional
        Border rule (default 'symm', so a flat image has no edge at its border).
    method : {'auto', 'direct', 'fft'}, optional
        As for :func:`corr2d.correlate2d`.

    Returns
    -------
    ndarray, the image's height and width
        Non-negative for the magnitude, signed for one axis.

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.io import gradient_image
    >>> step = np.zeros((3, 4)); step[:, 2:] = 1
    >>> gradient_image(step, "finite", axis="x")
    array([[0. , 0.5, 0.5, 0. ],
           [0. , 0.5, 0.5, 0. ],
           [0. , 0.5, 0.5, 0. ]])
    """
    from corr2d import kernels

    if operator not in EDGE_OPERATORS:
        raise ValueError(
            "gradient_image: `operator` must be one of "
            f"{', '.join(map(repr, EDGE_OPERATORS))}, got {operator!r}"
        )
    if axis not in (None, "x", "y"):
        raise ValueError(f"gradient_image: `axis` must be 'x', 'y' or None, got {axis!r}")
    names = EDGE_OPERATORS[operator]
    responses = {}
    for name, which in zip(names, ("x", "y"), strict=True):
        if axis is None or axis == which:
            responses[which] = filter_image(
                image, kernels.get(name), "same", boundary, method=method
            )
    if axis is not None:
        return responses[axis]
    return np.hypot(responses["x"], responses["y"])


# --------------------------------------------------------------------------- kernels


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_FRACTION = re.compile(rf"^({_NUMBER})(?:/({_NUMBER}))?$")


def parse_kernel(text: str) -> NDArray[np.float64]:
    """Parse an inline kernel: rows separated by ``;``, values by ``,`` or spaces.

    Values are decimal numbers or fractions such as ``1/9``.

    Raises
    ------
    KernelSpecError
        If the text is empty, a value is not a number, or the rows differ in length.

    Examples
    --------
    >>> from corr2d.io import parse_kernel
    >>> parse_kernel("1,-1;0,2")
    array([[ 1., -1.],
           [ 0.,  2.]])
    >>> parse_kernel("1/4 1/2 1/4")
    array([[0.25, 0.5 , 0.25]])
    """
    rows = _parse_rows(text, separator=";", error=KernelSpecError, where="inline kernel")
    return rows


def _parse_rows(
    text: str, *, separator: str, error: type[ValueError], where: str
) -> NDArray[np.float64]:
    lines = [line.strip() for line in text.replace("\r", "").split(separator)]
    if separator == "\n":
        lines = [line.split("#", 1)[0].strip() for line in lines]
        lines = [line for line in lines if line]
    elif lines and lines[-1] == "":
        lines = lines[:-1]
    if not lines or all(not line for line in lines):
        raise error(f"{where}: no numbers found in {text!r}")
    rows: list[list[float]] = []
    for number, line in enumerate(lines, start=1):
        cells = [cell for cell in re.split(r"[,\s]+", line) if cell]
        if not cells:
            raise error(f"{where}: row {number} is empty in {text!r}")
        row = []
        for cell in cells:
            value = _parse_number(cell)
            if value is None:
                raise error(f"{where}: row {number}: {cell!r} is not a number")
            row.append(value)
        if rows and len(row) != len(rows[0]):
            raise error(
                f"{where}: row {number} has {len(row)} values but row 1 has {len(rows[0])}; "
                "every row needs the same number"
            )
        rows.append(row)
    return np.array(rows, dtype=np.float64)


def _parse_number(cell: str) -> float | None:
    match = _FRACTION.match(cell)
    if match is None:
        return None
    value = float(match.group(1))
    if match.group(2) is not None:
        denominator = float(match.group(2))
        if denominator == 0:
            return None
        value /= denominator
    return value if np.isfinite(value) else None


def read_kernel(path: str | os.PathLike[str]) -> NDArray[np.float64]:
    """Read a kernel from a ``.npy`` file or a ``.txt``/``.csv`` text file.

    A text file holds one row per line, values separated by commas or whitespace;
    ``#`` starts a comment.  A ``.npy`` file holds a 2-D numeric array (a 1-D array is
    read as one row).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    KernelFileError
        If the suffix is not one of the three, or the file does not hold a non-empty 2-D
        array of finite real numbers.

    Examples
    --------
    >>> import os, tempfile
    >>> from corr2d.io import read_kernel
    >>> path = os.path.join(tempfile.mkdtemp(), "k.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("# a difference\\n1 -1\\n")
    >>> read_kernel(path)
    array([[ 1., -1.]])
    """
    file = Path(path)
    suffix = _kernel_suffix(file, KernelFileError)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such kernel file")
    if suffix == ".npy":
        try:
            array = np.load(file, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise KernelFileError(f"{file}: not a readable .npy array ({exc})") from exc
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            kind = getattr(array, "dtype", type(array).__name__)
            raise KernelFileError(f"{file}: a kernel must hold real numbers, got {kind}")
        if array.ndim == 1:
            array = array[np.newaxis, :]
        if array.ndim != 2 or array.size == 0:
            raise KernelFileError(
                f"{file}: a kernel must be a non-empty 2-D array, got shape {array.shape}"
            )
        kernel = array.astype(np.float64)
        if not np.isfinite(kernel).all():
            raise KernelFileError(f"{file}: the kernel contains NaN or inf")
        return kernel
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KernelFileError(f"{file}: not a readable text file ({exc})") from exc
    return _parse_rows(text, separator="\n", error=KernelFileError, where=str(file))


def load_kernel(spec: str) -> NDArray[np.float64]:
    """Resolve a kernel specification: a file, a registered name, or inline rows.

    Parameters
    ----------
    spec : str
        * a path ending in ``.npy``, ``.txt`` or ``.csv`` (see :func:`read_kernel`);
        * a name from :mod:`corr2d.kernels`, optionally with parameters after a colon:
          ``sobel_dx``, ``gaussian:sigma=2``, ``box:size=5``;
        * inline rows (see :func:`parse_kernel`): ``"1,-1;0,2"``.

    Returns
    -------
    kernel : ndarray of float64, shape (kH, kW)

    Raises
    ------
    FileNotFoundError
        If ``spec`` names a kernel file that does not exist.
    KernelFileError
        If the file does not hold a kernel.
    KernelSpecError
        If the name is unknown, its parameters are wrong, or the rows do not parse.

    Examples
    --------
    >>> from corr2d.io import load_kernel
    >>> load_kernel("0,1;2,3")
    array([[0., 1.],
           [2., 3.]])
    """
    text = spec.strip()
    if not text:
        raise KernelSpecError("kernel: empty specification")
    if Path(text).suffix.lower() in _KERNEL_FILE_SUFFIXES or Path(text).is_file():
        return read_kernel(text)
    name, _, params = text.partition(":")
    if _NAME.match(name.strip()):
        return _registry_kernel(name.strip(), params)
    return parse_kernel(text)


def _registry_kernel(name: str, params: str) -> NDArray[np.float64]:
    from corr2d import kernels

    known = list(kernels.names())
    key = name.lower().replace("_", "-")
    if key not in known:
        close = difflib.get_close_matches(key, known, n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise KernelSpecError(
            f"kernel: unknown name {name!r}{hint} ('corr2d kernels' lists them; inline "
            "kernels look like '1,-1;0,2')"
        )
    arguments: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in params.split(","))):
        param, equals, value = item.partition("=")
        if not equals or not _NAME.match(param.strip()):
            raise KernelSpecError(
                f"kernel: parameter {item!r} of {name!r} must look like key=value "
                "(e.g. gaussian:sigma=2,size=7)"
            )
        arguments[param.strip()] = _parse_param(value.strip())
    try:
        kernel = kernels.get(key, **arguments)
    except (TypeError, ValueError) as exc:
        raise KernelSpecError(f"kernel {key!r}: {exc}") from exc
    return np.asarray(kernel, dtype=np.float64)


def _parse_param(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def write_kernel(
    path: str | os.PathLike[str], kernel: ArrayLike, *, overwrite: bool = False
) -> None:
    """Write a kernel as ``.npy``, or as text (``.txt`` space-, ``.csv`` comma-separated).

    The file is written atomically and read back by :func:`read_kernel`; text files keep
    17 significant digits, so float64 values survive the round trip.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ImageWriteError
        If the suffix is not one of the three or the file cannot be created.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from corr2d.io import read_kernel, write_kernel
    >>> path = os.path.join(tempfile.mkdtemp(), "k.csv")
    >>> write_kernel(path, [[1.0, -1.0]])
    >>> read_kernel(path)
    array([[ 1., -1.]])
    """
    file = Path(path)
    suffix = _kernel_suffix(file, ImageWriteError)
    array = np.asarray(kernel, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"write_kernel: `kernel` must be 2-D, got shape {array.shape}")
    if not overwrite and file.exists():
        raise FileExistsError(f"{file}: already exists (use --force to replace it)")
    if not file.parent.is_dir():
        raise ImageWriteError(f"{file}: the folder {str(file.parent)!r} does not exist")

    def encode(target: Path) -> None:
        if suffix == ".npy":
            with target.open("wb") as handle:
                np.save(handle, array, allow_pickle=False)
        else:
            delimiter = "," if suffix == ".csv" else " "
            np.savetxt(target, array, fmt="%.17g", delimiter=delimiter)

    _atomic_write(file, encode, overwrite=overwrite)
