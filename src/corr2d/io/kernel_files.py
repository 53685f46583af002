"""Kernel files: ``.npy`` arrays and ``.txt``/``.csv`` text, read and written.

A text kernel holds one row per line, values separated by commas or whitespace, ``#``
starting a comment; values are decimal numbers or fractions such as ``1/9``.  The same
row grammar, with rows split by ``;``, is the inline kernel of
:func:`corr2d.kernel_spec.parse_kernel`.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import byte_text, check_memory
from corr2d.io._atomic import atomic_write
from corr2d.io.errors import ImageWriteError, KernelFileError

__all__ = [
    "ECHO_LIMIT",
    "KERNEL_FILE_SUFFIXES",
    "check_kernel_range",
    "kernel_suffix",
    "parse_rows",
    "read_kernel",
    "short",
    "write_kernel",
]

#: The suffixes of kernel files.
KERNEL_FILE_SUFFIXES = (".npy", ".txt", ".csv")

#: How much of a bad argument an error message repeats.
ECHO_LIMIT = 40


def short(text: str, limit: int = ECHO_LIMIT) -> str:
    """``repr`` of ``text``, cut to its first ``limit`` characters when longer.

    >>> short("1," * 100)
    "'1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,'... (200 characters)"
    """
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_FRACTION = re.compile(rf"^({_NUMBER})(?:/({_NUMBER}))?$")


def kernel_suffix(file: Path, error: type[Exception]) -> str:
    """The lower-case suffix of a kernel file, which must be .npy, .txt or .csv."""
    suffix = file.suffix.lower()
    if suffix not in KERNEL_FILE_SUFFIXES:
        raise error(
            f"{file}: kernel files must end in .npy, .txt or .csv, got {suffix or 'no suffix'!r}"
        )
    return suffix


def parse_rows(
    text: str, *, separator: str, error: type[ValueError], where: str
) -> NDArray[np.float64]:
    """Parse rows of numbers split by ``separator``, values by commas or whitespace.

    With ``separator="\\n"`` (a text file) ``#`` starts a comment and blank lines are
    skipped.  Any failure raises ``error`` with ``where`` naming the source.

    Examples
    --------
    >>> from corr2d.io.kernel_files import parse_rows
    >>> parse_rows("1 1/2; -2 0", separator=";", error=ValueError, where="rows")
    array([[ 1. ,  0.5],
           [-2. ,  0. ]])
    """
    lines = [line.strip() for line in text.replace("\r", "").split(separator)]
    if separator == "\n":
        lines = [line.split("#", 1)[0].strip() for line in lines]
        lines = [line for line in lines if line]
    elif lines and lines[-1] == "":
        lines = lines[:-1]
    if not lines or all(not line for line in lines):
        raise error(f"{where}: no numbers found in {short(text)}")
    rows: list[list[float]] = []
    for number, line in enumerate(lines, start=1):
        cells = [cell for cell in re.split(r"[,\s]+", line) if cell]
        if not cells:
            raise error(f"{where}: row {number} is empty in {short(text)}")
        row = []
        for cell in cells:
            value = _parse_number(cell)
            if value is None:
                raise error(f"{where}: row {number}: {short(cell)} is not a number")
            row.append(value)
        if rows and len(row) != len(rows[0]):
            raise error(
                f"{where}: row {number} has {len(row)} values but row 1 has {len(rows[0])}; "
                "every row needs the same number"
            )
        rows.append(row)
    kernel = np.array(rows, dtype=np.float64)
    check_kernel_range(kernel, error, where)
    return kernel


def check_kernel_range(kernel: NDArray[np.float64], error: type[ValueError], where: str) -> None:
    """Refuse finite weights whose magnitudes sum beyond float64's range: no response,
    normalisation or scale of such a kernel is a finite number.

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.io.kernel_files import check_kernel_range
    >>> check_kernel_range(np.array([[1e308, 1e308]]), ValueError, "k")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: k: the magnitudes of the weights sum beyond float64's range (1.8e+308; ...
    """
    with np.errstate(over="ignore"):
        total = float(np.abs(kernel).sum())
    if not np.isfinite(total):
        largest = float(np.abs(kernel).max())
        raise error(
            f"{where}: the magnitudes of the weights sum beyond float64's range "
            f"({np.finfo(np.float64).max:.2g}; the largest is {largest:.3g}); scale the "
            "kernel down"
        )


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
    suffix = kernel_suffix(file, KernelFileError)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such kernel file")
    if suffix == ".npy":
        try:
            _check_npy_header(file)
            array = np.load(file, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            if isinstance(exc, KernelFileError):
                raise
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
        check_kernel_range(kernel, KernelFileError, str(file))
        return kernel
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KernelFileError(f"{file}: not a readable text file ({exc})") from exc
    return parse_rows(text, separator="\n", error=KernelFileError, where=str(file))


def _check_npy_header(file: Path) -> None:
    """Read a .npy file's header, and refuse an array the file cannot hold (a header
    may claim any shape) or this machine could not, before anything is allocated."""
    with file.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(handle, max_header_size=10_000)
        available = file.stat().st_size - handle.tell()
    if dtype.hasobject:
        raise KernelFileError(f"{file}: a kernel must hold real numbers, got {dtype}")
    needed = math.prod(shape) * dtype.itemsize
    shown = "x".join(map(str, shape))
    if needed > available:
        raise KernelFileError(
            f"{file}: the header claims a {shown} {dtype} array ({byte_text(needed)}), but "
            f"the file holds {byte_text(available)} of data; the file is truncated or not a "
            "kernel"
        )
    check_memory("read_kernel", "path", str(file), 2 * needed, f"a {shown} kernel")


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
    suffix = kernel_suffix(file, ImageWriteError)
    array = np.asarray(kernel, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"write_kernel: `kernel` must be 2-D, got shape {array.shape}")
    if not overwrite and file.exists():
        raise FileExistsError(f"{file}: already exists (use --force to replace it)")
    if not file.parent.is_dir():
        raise ImageWriteError(f"{file}: the folder {str(file.parent)!r} does not exist")

    def encode(target: IO[bytes]) -> None:
        if suffix == ".npy":
            np.save(target, array, allow_pickle=False)
        else:
            delimiter = "," if suffix == ".csv" else " "
            np.savetxt(target, array, fmt="%.17g", delimiter=delimiter)

    atomic_write(file, encode, overwrite=overwrite)
