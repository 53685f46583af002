"""Argument checks shared by every public function.

All user-facing error text lives here.  Every message follows one template::

    "{func}: `{name}` must be {rule}, got {value!r}"

so that an error names the function, the argument, the rule and the value received.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np
from numpy.typing import DTypeLike, NDArray

__all__ = [
    "MAX_INT",
    "METHODS",
    "as_array",
    "as_pair",
    "available_memory",
    "byte_text",
    "check_choice",
    "check_finite_for_fft",
    "check_int",
    "check_memory",
    "check_real",
    "fail",
    "machine_memory",
    "result_dtype",
]

#: The computation methods every public function accepts.
METHODS = ("auto", "direct", "fft")


def fail(
    func: str,
    name: str,
    rule: str,
    value: Any = None,
    kind: type[Exception] = ValueError,
    *,
    got: str | None = None,
) -> NoReturn:
    """Raise ``kind`` with the house message template.

    The value is shown by its ``repr``, or ``got`` describes it (e.g. "shape (3, 4)").
    """
    shown = got if got is not None else _short_repr(value)
    raise kind(f"{func}: `{name}` must be {rule}, got {shown}")


def _short_repr(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_array(
    value: Any,
    func: str,
    name: str,
    ndim: int | tuple[int, ...] | None = None,
    *,
    empty_batch: bool = False,
) -> NDArray[Any]:
    """Convert ``value`` to an ndarray and check its dtype, dimensions and size.

    Numeric (bool, integer, floating, complex) arrays pass; object, string, bytes, void
    and datetime arrays raise ``TypeError``.  ``ndim`` is the allowed number (or numbers)
    of dimensions.  Empty arrays raise ``ValueError``, except, with ``empty_batch``, a
    4-D batch of no images whose other axes are not empty (PyTorch's layers take those).
    """
    array = np.asarray(value)
    if array.dtype.kind not in "biufc":
        fail(
            func,
            name,
            "a numeric array (bool, integer, floating or complex)",
            kind=TypeError,
            got=f"dtype {array.dtype}",
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if array.ndim not in allowed:
            rule = " or ".join(f"{d}-D" for d in allowed)
            fail(func, name, rule, got=f"{array.ndim}-D array of shape {array.shape}")
    if array.size == 0:
        no_images = empty_batch and array.ndim == 4 and min(array.shape[1:]) > 0
        if not no_images:
            fail(func, name, "non-empty", got=f"array of shape {array.shape}")
    return array


def result_dtype(func: str, *arrays: NDArray[Any], dtype: DTypeLike | None = None) -> np.dtype:
    """The floating or complex dtype a computation on ``arrays`` runs and returns in.

    Rules: float32 stays float32 and float64 stays float64; complex64 and complex128
    likewise; float16 computes in float32; bool and integer arrays are promoted to float64;
    mixed inputs follow NumPy's promotion of the promoted types.  (The correlation faces
    first apply the integer rule, :mod:`corr2d.core._integers`: all-integer inputs give
    an exact int64 result.)  ``dtype`` overrides the choice and must be floating or complex;
    a real ``dtype`` for complex data raises, since it would drop the imaginary part.
    """
    promoted: list[np.dtype[Any]] = []
    for array in arrays:
        kind = array.dtype.kind
        if kind in "biu":
            promoted.append(np.dtype(np.float64))
        elif array.dtype == np.float16:
            promoted.append(np.dtype(np.float32))
        elif kind == "f" and array.dtype.itemsize > 8:
            promoted.append(np.dtype(np.float64))
        elif kind == "c" and array.dtype.itemsize > 16:
            promoted.append(np.dtype(np.complex128))
        else:
            promoted.append(array.dtype)
    natural = np.result_type(*promoted)
    if dtype is None:
        return natural
    try:
        chosen = np.dtype(dtype)
    except TypeError:
        fail(func, "dtype", "a NumPy floating or complex dtype", dtype, TypeError)
    if chosen not in (np.float32, np.float64, np.complex64, np.complex128):
        fail(
            func,
            "dtype",
            "one of float32, float64, complex64, complex128 (integer results could overflow)",
            dtype,
        )
    if natural.kind == "c" and chosen.kind != "c":
        fail(
            func,
            "dtype",
            "complex for complex inputs (a real dtype would drop the imaginary part)",
            dtype,
            TypeError,
        )
    return chosen


def check_choice(func: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of the strings ``choices`` and return it."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        fail(func, name, f"one of {listed}", value)
    return value


#: The largest int a size, stride or padding may be: larger ones cannot index an array.
MAX_INT = 2**62


def _range_rule(
    kind: str, minimum: float | None, maximum: float | None, open_minimum: bool = False
) -> str:
    if minimum is not None and maximum is not None:
        left = "(" if open_minimum else "["
        return f"{kind} in {left}{minimum}, {maximum}]"
    if minimum is not None:
        return f"{kind} {'>' if open_minimum else '>='} {minimum}"
    if maximum is not None:
        return f"{kind} <= {maximum}"
    return kind


def check_int(
    func: str, name: str, value: Any, minimum: int | None = None, maximum: int | None = MAX_INT
) -> int:
    """``value`` as an int: a Python or NumPy integer (not a bool) in [minimum, maximum]
    (by default at most ``MAX_INT``, stated only to values beyond it)."""
    rule = _range_rule("an int", minimum, None if maximum == MAX_INT else maximum)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        fail(func, name, rule, value, TypeError)
    number = int(value)
    if minimum is not None and number < minimum:
        fail(func, name, rule, value)
    if maximum is not None and number > maximum:
        fail(
            func,
            name,
            _range_rule("an int", minimum, maximum).replace(str(MAX_INT), "2**62"),
            value,
        )
    return number


def check_real(
    func: str,
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    open_minimum: bool = False,
) -> float:
    """``value`` as a float: a finite Python or NumPy real number (not a bool, a string or
    a complex number) in [minimum, maximum] (``(minimum, maximum]`` with ``open_minimum``)."""
    rule = _range_rule("a finite real number", minimum, maximum, open_minimum)
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        fail(func, name, rule, value, TypeError)
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        fail(func, name, rule, value)
    low_ok = minimum is None or (number > minimum if open_minimum else number >= minimum)
    if not (math.isfinite(number) and low_ok and (maximum is None or number <= maximum)):
        fail(func, name, rule, value)
    return number


def machine_memory() -> int | None:
    """This machine's physical memory in bytes (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux's ``MemAvailable``; else
    the free pages), or None where the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def byte_text(count: float) -> str:
    """``count`` bytes in the largest binary unit that keeps it at least 1."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.3g} {unit}"
        count /= 1024
    raise AssertionError  # unreachable


def check_memory(func: str, name: str, value: Any, nbytes: float, what: str) -> None:
    """Raise ``MemoryError`` (the house message) if ``what``, of ``nbytes`` bytes, could
    not fit in this machine's memory at all: "too large for this machine"."""
    total = machine_memory()
    if total is not None and nbytes > total:
        fail(
            func,
            name,
            f"small enough for this machine ({what} would need {byte_text(nbytes)}; it has "
            f"{byte_text(total)} of memory)",
            value,
            MemoryError,
        )


def as_pair(func: str, name: str, value: Any, minimum: int) -> tuple[int, int]:
    """Normalise an int, or a tuple or list of one or two ints, to a pair, each at least
    ``minimum`` (and at most ``MAX_INT``).  A single value serves both axes (``(2,)`` is
    ``(2, 2)``), as in PyTorch's layers.

    Unlike ``torch.nn.modules.utils._pair`` this checks the length and the types.
    """
    rule = "an int or a tuple of one or two ints"
    if isinstance(value, (bool, np.bool_)):
        fail(func, name, rule, value, TypeError)
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) in (1, 2):
        if not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value
        ):
            fail(func, name, rule, value, TypeError)
        pair = (int(value[0]), int(value[-1]))
    else:
        kind = ValueError if isinstance(value, (tuple, list)) else TypeError
        fail(func, name, rule, value, kind)
    if min(pair) < minimum:
        fail(func, name, f">= {minimum}", value)
    if max(pair) > MAX_INT:
        fail(func, name, "<= 2**62 (an array index)", value)
    return pair


def check_finite_for_fft(func: str, name: str, array: NDArray[Any]) -> None:
    """The FFT path mixes every value of a tile into every output of it.

    A NaN or inf would therefore spread over a whole tile instead of the outputs whose
    window contains it, so the FFT method refuses non-finite data.
    """
    if not np.isfinite(array).all():
        fail(
            func,
            name,
            "finite for method='fft' (NaN or inf would spread across a whole FFT tile; "
            "use method='direct', which propagates them as IEEE arithmetic says)",
            got="an array containing NaN or inf",
        )
