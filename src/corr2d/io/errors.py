"""The errors of reading and writing files, one class per kind of failure."""

from __future__ import annotations

__all__ = [
    "ImageReadError",
    "ImageReadWarning",
    "ImageTooLargeError",
    "ImageWriteError",
    "KernelFileError",
]


class ImageReadError(ValueError):
    """An image file exists but cannot be decoded: corrupt, truncated or unsupported."""


class ImageReadWarning(UserWarning):
    """An image was decoded, but its decoder reported damage (bad tags, short data)."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the stated limit (a decompression-bomb guard)."""


class ImageWriteError(ValueError):
    """An output file cannot be written: unsupported format, dtype or folder."""


class KernelFileError(ValueError):
    """A kernel file holds something other than a 2-D array of finite numbers."""
