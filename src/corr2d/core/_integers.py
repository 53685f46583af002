"""The integer rule: integer data give an exact int64 result, or an ``OverflowError``.

When the image and the kernel (and a fill value or a bias, where the function takes
one) are all bool or integer, every output is a sum of products of integers, and
corr2d returns it exactly, as ``int64``.  No output can exceed the bound

    B = max|x| * sum|k|        (plus max|bias|)

(for a layer, ``sum|k|`` is the largest over the output channels), and neither can any
partial sum, in whatever order the loops add.  So:

* ``B <= 2**53``: the float64 loops compute every partial sum exactly (all are integers
  no larger than 2**53), and the result is converted to int64 without rounding;
* ``2**53 < B <= 2**63 - 1``: the loops run on int64 itself, which cannot wrap;
* ``B > 2**63 - 1``, or an input value outside int64 (uint64 above 2**63 - 1): an
  ``OverflowError`` names the bound, the values and the way out.

The faces call :func:`integer_plan` before computing and :func:`to_int64` after.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["FLOAT64_EXACT", "INT64_MAX", "integer_plan", "is_integer", "to_int64"]

#: The largest bound for which float64 arithmetic is exact on integers.
FLOAT64_EXACT = 2**53
INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
#: Relative slack of a float64 estimate of a sum of absolute values: far more than
#: the rounding of summing millions of terms, far less than the gaps we compare it to.
_SLACK = 1e-6


def is_integer(value: Any) -> bool:
    """Whether ``value`` (an array or a scalar) is bool or integer."""
    if isinstance(value, np.ndarray | np.generic):
        return value.dtype.kind in "biu"
    return isinstance(value, int | np.integer | bool | np.bool_)


def _extreme(func: str, name: str, array: NDArray[Any]) -> int:
    """max |value| of a bool or integer array, as a Python int, checking int64's range."""
    if array.dtype.kind == "b":
        return int(array.any())
    high, low = int(array.max()), int(array.min())
    if high > INT64_MAX:
        raise OverflowError(
            f"{func}: `{name}` holds {high}, beyond int64's range [-2**63, 2**63 - 1], where "
            "integer results are exact; convert the inputs to float64 (or pass "
            "dtype=np.float64) to accept rounding, or compute with Python integers"
        )
    return max(abs(high), abs(low))


def _largest_abs_sum(kernel: NDArray[Any], per_channel: bool) -> int:
    """sum |k| (the largest over axis 0 when ``per_channel``), exactly, as a Python int."""
    rows = kernel.reshape(kernel.shape[0] if per_channel else 1, -1)
    estimates = np.abs(rows.astype(np.float64)).sum(axis=1)
    # only rows whose estimate could be the largest need an exact sum
    candidates = np.nonzero(estimates >= estimates.max() * (1 - _SLACK))[0]
    return max(sum(abs(v) for v in rows[i].tolist()) for i in candidates)


def integer_plan(
    func: str,
    image: tuple[str, NDArray[Any]],
    kernel: tuple[str, NDArray[Any]],
    *,
    fill: Any = 0,
    bias: NDArray[Any] | None = None,
    per_channel: bool = False,
) -> np.dtype | None:
    """The working dtype for integer inputs (float64 or int64), or None if the rule does
    not apply (some input is not bool or integer).

    ``image`` and ``kernel`` are ``(argument name, array)``; ``fill`` is the value past
    the border (SciPy's ``fillvalue``), ``bias`` a layer's bias, and ``per_channel`` says
    that the kernel is a layer's weight, one kernel per index of its first axis.

    Raises
    ------
    OverflowError
        If an input value lies outside int64, or the bound ``max|x| * sum|k|`` (plus
        ``max|bias|``) exceeds ``2**63 - 1``.
    """
    (image_name, x), (kernel_name, k) = image, kernel
    if not (is_integer(x) and is_integer(k) and is_integer(fill)):
        return None
    if bias is not None and not is_integer(bias):
        return None
    if not _INT64_MIN <= int(fill) <= INT64_MAX:
        raise OverflowError(
            f"{func}: `fillvalue` is {int(fill)}, beyond int64's range [-2**63, 2**63 - 1], "
            "where integer results are exact; pass dtype=np.float64 to accept rounding"
        )
    largest = max(_extreme(func, image_name, x), abs(int(fill)))
    _extreme(func, kernel_name, k)
    weight = _largest_abs_sum(k, per_channel)
    shift = 0 if bias is None else _extreme(func, "bias", bias)
    bound = largest * weight + shift
    if bound <= FLOAT64_EXACT:
        return np.dtype(np.float64)
    if bound <= INT64_MAX:
        return np.dtype(np.int64)
    terms = f"max|{image_name}| * sum|{kernel_name}|"
    values = f"{largest} * {weight}"
    if bias is not None:
        terms, values = f"{terms} + max|bias|", f"{values} + {shift}"
    raise OverflowError(
        f"{func}: integer inputs could overflow int64: the bound {terms} = {values} = "
        f"{bound} exceeds 2**63 - 1 = {INT64_MAX}; convert the inputs to float64 (or pass "
        "dtype=np.float64) to accept rounding, or compute with Python integers"
    )


def to_int64(out: NDArray[Any]) -> NDArray[Any]:
    """The exact result of a computation planned by :func:`integer_plan`, as int64."""
    if out.dtype == np.int64:
        return out
    return out.astype(np.int64)
