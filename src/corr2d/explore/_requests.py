"""Reading the page's JSON requests: numbers, matrices, choices, and arrays sent back.

Every check raises :class:`RequestError`, which the server turns into a 4xx answer whose
body names what was wrong (``{"error": ..., "field": ..., "cell": ...}``): the page shows
the message beside the control it names.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d.io.kernel_files import parse_rows

__all__ = [
    "RequestError",
    "choice",
    "encode_array",
    "integer",
    "matrix",
    "number",
    "object_field",
]


class RequestError(Exception):
    """A request the page (or anyone) got wrong: an HTTP status and a reason.

    Parameters
    ----------
    message : str
        One line saying what is wrong and what is allowed.
    status : int, optional
        The HTTP status (default 400).
    field : str, optional
        The request field at fault, so the page can mark its control.
    cell : (int, int), optional
        The 0-based (row, column) of a bad matrix cell.
    """

    def __init__(
        self,
        message: str,
        status: int = 400,
        *,
        field: str | None = None,
        cell: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field
        self.cell = cell

    def to_json(self) -> dict[str, Any]:
        """The answer's body."""
        body: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.cell is not None:
            body["cell"] = list(self.cell)
        return body


def object_field(body: Mapping[str, Any], name: str, required: bool = True) -> dict[str, Any]:
    """``body[name]`` as a JSON object ({} when absent and not required)."""
    if name not in body:
        if required:
            raise RequestError(f"`{name}` is missing", field=name)
        return {}
    value = body[name]
    if not isinstance(value, dict):
        raise RequestError(f"`{name}` must be an object, got {_shown(value)}", field=name)
    return value


def number(
    body: Mapping[str, Any],
    name: str,
    default: float,
    *,
    low: float | None = None,
    high: float | None = None,
    positive: bool = False,
) -> float:
    """A finite real number, from a JSON number or a string in the kernel grammar."""
    if name not in body or body[name] is None or body[name] == "":
        return default
    value = _cell_value(body[name])
    if value is None:
        raise RequestError(f"`{name}`: {_shown(body[name])} is not a number", field=name)
    if positive and value <= 0:
        raise RequestError(f"`{name}` must be > 0, got {value:g}", field=name)
    if low is not None and value < low:
        raise RequestError(f"`{name}` must be >= {low:g}, got {value:g}", field=name)
    if high is not None and value > high:
        raise RequestError(f"`{name}` must be <= {high:g}, got {value:g}", field=name)
    return value


def integer(body: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """An int in ``[low, high]`` (a JSON number or a string of digits)."""
    value = body.get(name, default)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise RequestError(f"`{name}` must be a whole number, got {_shown(value)}", field=name)
    if not low <= value <= high:
        raise RequestError(f"`{name}` must be in {low}..{high}, got {int(value)}", field=name)
    return int(value)


def choice(body: Mapping[str, Any], name: str, options: Sequence[str], default: str) -> str:
    """One of ``options``."""
    value = body.get(name, default)
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise RequestError(f"`{name}` must be one of {listed}, got {_shown(value)}", field=name)
    return str(value)


def matrix(
    body: Mapping[str, Any],
    name: str,
    label: str,
    max_shape: tuple[int, int],
    field: str | None = None,
) -> NDArray[np.float64]:
    """A matrix sent as rows of cells, each a number or text such as ``-1.5`` or ``1/9``.

    The text of a cell is read with the grammar of kernel files and inline kernels
    (:func:`corr2d.io.kernel_files.parse_rows`), so the page accepts what the command
    line accepts.  A bad cell raises a :class:`RequestError` naming its row and column;
    ``field`` (default ``name``) is the field the error names.
    """
    field = field or name
    rows = body.get(name)
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise RequestError(f"the {label} must be a non-empty list of rows", field=field)
    height, width = len(rows), len(rows[0])
    if width == 0:
        raise RequestError(f"the {label} has an empty first row", field=field)
    if height > max_shape[0] or width > max_shape[1]:
        raise RequestError(
            f"the {label} is {height}x{width}; the largest allowed is "
            f"{max_shape[0]}x{max_shape[1]}",
            field=field,
        )
    values = np.empty((height, width))
    for r, row in enumerate(rows):
        if len(row) != width:
            raise RequestError(
                f"the {label}'s row {r + 1} has {len(row)} cells but row 1 has {width}",
                field=field,
            )
        for c, cell in enumerate(row):
            value = _cell_value(cell)
            if value is None:
                shown = "an empty cell" if str(cell).strip() == "" else f"{_shown(cell)}"
                raise RequestError(
                    f"{label} row {r + 1}, column {c + 1}: {shown} is not a number "
                    "(write e.g. 2, -0.5, 1e-3 or 1/9)",
                    field=field,
                    cell=(r, c),
                )
            values[r, c] = value
    return values


def _cell_value(cell: Any) -> float | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float)):
        return float(cell) if math.isfinite(cell) else None
    if not isinstance(cell, str) or not cell.strip() or len(cell) > 64:
        return None
    try:
        parsed = parse_rows(cell.strip(), separator=";", error=ValueError, where="cell")
    except ValueError:
        return None
    return float(parsed[0, 0]) if parsed.shape == (1, 1) else None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def encode_array(array: ArrayLike) -> dict[str, Any]:
    """A 2-D array for the page: its shape and its float64 values, little-endian, base64.

    Binary keeps every value exact (and inf or NaN representable) and stays compact for
    512x512 images; the page reads it into a ``Float64Array``.

    Examples
    --------
    >>> encode_array([[1.0, 2.0]])["shape"]
    [1, 2]
    """
    values = np.ascontiguousarray(np.asarray(array, dtype="<f8"))
    return {
        "shape": [int(n) for n in values.shape],
        "data": base64.b64encode(values.tobytes()).decode("ascii"),
    }
