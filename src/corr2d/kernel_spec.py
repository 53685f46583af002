"""Kernel specifications: a registered name with parameters, a kernel file, or inline rows.

:func:`load_kernel` is what ``--kernel`` accepts on the command line:

* a name from :mod:`corr2d.kernels`, optionally with parameters after a colon:
  ``sobel-dx``, ``gaussian:sigma=2``, ``box:size=5``;
* inline rows, split by ``;``, values by ``,`` or spaces: ``"1,-1;0,2"``;
* a ``.npy``, ``.txt`` or ``.csv`` file (see :mod:`corr2d.io.kernel_files`).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.io.kernel_files import KERNEL_FILE_SUFFIXES, parse_rows, read_kernel, short

__all__ = ["KernelSpecError", "describe_kernel", "load_kernel", "parse_kernel"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")

#: Text made only of what inline rows are made of: numbers, fractions, separators.
_INLINE = re.compile(r"^[0-9eE+\-./,;\s]+$")


class KernelSpecError(ValueError):
    """A kernel specification (name, parameters or inline rows) does not parse."""


def parse_kernel(text: str) -> NDArray[np.float64]:
    """Parse an inline kernel: rows separated by ``;``, values by ``,`` or spaces.

    Values are decimal numbers or fractions such as ``1/9``.

    Raises
    ------
    KernelSpecError
        If the text is empty, a value is not a number, or the rows differ in length.

    Examples
    --------
    >>> from corr2d.kernel_spec import parse_kernel
    >>> parse_kernel("1,-1;0,2")
    array([[ 1., -1.],
           [ 0.,  2.]])
    >>> parse_kernel("1/4 1/2 1/4")
    array([[0.25, 0.5 , 0.25]])
    """
    rows = parse_rows(text, separator=";", error=KernelSpecError, where="inline kernel")
    return rows


def load_kernel(spec: str) -> NDArray[np.float64]:
    """Resolve a kernel specification: a file, a registered name, or inline rows.

    Parameters
    ----------
    spec : str
        * inline rows (see :func:`parse_kernel`): ``"1,-1;0,2"``, of any length;
        * a path ending in ``.npy``, ``.txt`` or ``.csv`` (see :func:`read_kernel`);
        * a name from :mod:`corr2d.kernels`, optionally with parameters after a colon:
          ``sobel_dx``, ``gaussian:sigma=2``, ``box:size=5``.

        Text made only of numbers and separators is read as inline rows before
        anything else (no kernel file name looks like that), so a long kernel is never
        mistaken for a path.

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
    >>> from corr2d.kernel_spec import load_kernel
    >>> load_kernel("0,1;2,3")
    array([[0., 1.],
           [2., 3.]])
    """
    text = spec.strip()
    if not text:
        raise KernelSpecError("kernel: empty specification")
    if _INLINE.match(text):  # no kernel file name (.npy, .txt, .csv) looks like this
        return parse_kernel(text)
    if Path(text).suffix.lower() in KERNEL_FILE_SUFFIXES or _is_file(text):
        return read_kernel(text)
    name, _, params = text.partition(":")
    if _NAME.match(name.strip()):
        return _registry_kernel(name.strip(), params)
    return parse_kernel(text)


def _is_file(text: str) -> bool:
    """Whether ``text`` names an existing file; False for text no file system allows."""
    if len(text) > 4096 or "\0" in text:
        return False
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def describe_kernel(spec: str) -> str:
    """One line naming the kernel ``spec`` stands for, with the parameters it was given.

    Examples
    --------
    >>> from corr2d.kernel_spec import describe_kernel
    >>> describe_kernel("gaussian:sigma=2")
    'gaussian: normalised Gaussian; params: sigma=2, truncate=4.0; separable'
    >>> describe_kernel("1,-1;0,2")
    'inline kernel'
    """
    from corr2d import kernels

    text = spec.strip()
    name, _, params = text.partition(":")
    if _INLINE.match(text):
        return "inline kernel"
    if Path(text).suffix.lower() in KERNEL_FILE_SUFFIXES or _is_file(text):
        return f"kernel file {text}"
    if not _NAME.match(name.strip()):
        return "inline kernel"
    key, arguments = _registry_arguments(name.strip(), params)
    return kernels.describe(key, **arguments)


def _registry_kernel(name: str, params: str) -> NDArray[np.float64]:
    from corr2d import kernels

    key, arguments = _registry_arguments(name, params)
    try:
        kernel = kernels.get(key, **arguments)
    except (TypeError, ValueError) as exc:
        raise KernelSpecError(f"kernel {key!r}: {exc}") from exc
    return np.asarray(kernel, dtype=np.float64)


def _registry_arguments(name: str, params: str) -> tuple[str, dict[str, Any]]:
    """The registry's key for ``name`` and the keyword arguments in ``params``."""
    from corr2d import kernels

    known = list(kernels.names())
    key = name.lower().replace("_", "-")
    if key not in known:
        close = difflib.get_close_matches(key, known, n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise KernelSpecError(
            f"kernel: unknown name {short(name)}{hint} ('corr2d kernels' lists them; inline "
            "kernels look like '1,-1;0,2')"
        )
    arguments: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in params.split(","))):
        param, equals, value = item.partition("=")
        if not equals or not _NAME.match(param.strip()):
            raise KernelSpecError(
                f"kernel: parameter {short(item)} of {name!r} must look like key=value "
                "(e.g. gaussian:sigma=2,size=7)"
            )
        arguments[param.strip()] = _parse_param(value.strip())
    return key, arguments


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
