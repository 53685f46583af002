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

from corr2d.io.kernel_files import KERNEL_FILE_SUFFIXES, parse_rows, read_kernel

__all__ = ["KernelSpecError", "load_kernel", "parse_kernel"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


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
    >>> from corr2d.kernel_spec import load_kernel
    >>> load_kernel("0,1;2,3")
    array([[0., 1.],
           [2., 3.]])
    """
    text = spec.strip()
    if not text:
        raise KernelSpecError("kernel: empty specification")
    if Path(text).suffix.lower() in KERNEL_FILE_SUFFIXES or Path(text).is_file():
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
