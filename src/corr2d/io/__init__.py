"""Files on disk: images (PNG, JPEG, TIFF), kernel files, and pixel values.

* :func:`read_image`, :func:`write_image` (:mod:`corr2d.io.images`): image files in
  and out, dtype and values kept, written atomically.
* :func:`read_kernel`, :func:`write_kernel` (:mod:`corr2d.io.kernel_files`): kernels as
  ``.npy``, ``.txt`` or ``.csv``.
* :func:`to_float`, :func:`to_image_dtype` (:mod:`corr2d.io.pixels`): pixel values to
  numbers and filter responses back to pixels.

Errors are specific: :class:`ImageReadError` (and :class:`ImageTooLargeError`) for
inputs that cannot be decoded (what the decoders log is folded into its message, or
into one :class:`ImageReadWarning` when the image decodes anyway),
:class:`ImageWriteError` for outputs that cannot be written, :class:`KernelFileError`
for a kernel file that does not hold a kernel.
Missing files raise ``FileNotFoundError`` and existing outputs ``FileExistsError``.
"""

from corr2d.io.errors import (
    ImageReadError,
    ImageReadWarning,
    ImageTooLargeError,
    ImageWriteError,
    KernelFileError,
)
from corr2d.io.images import (
    DEFAULT_MAX_PIXELS,
    READ_SUFFIXES,
    WRITE_SUFFIXES,
    check_writable,
    read_image,
    write_image,
)
from corr2d.io.kernel_files import read_kernel, write_kernel
from corr2d.io.pixels import SCALES, to_float, to_image_dtype

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "READ_SUFFIXES",
    "SCALES",
    "WRITE_SUFFIXES",
    "ImageReadError",
    "ImageReadWarning",
    "ImageTooLargeError",
    "ImageWriteError",
    "KernelFileError",
    "check_writable",
    "read_image",
    "read_kernel",
    "to_float",
    "to_image_dtype",
    "write_image",
    "write_kernel",
]
