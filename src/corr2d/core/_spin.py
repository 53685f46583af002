"""Waiting for another thread by watching memory, for a bounded time, without the GIL.

A thread that blocks (on a lock, an event, the GIL) gives its CPU back; on a virtual
machine whose idle CPUs halt at once (no polling in the guest), waking it again takes
the host tens of microseconds (about 50 us measured on the reference machine), which
is as long as a small task.  The task pool's threads therefore wait for one another,
for at most a millisecond or two at a time, by reading a flag in a compiled loop that
releases the GIL, with the CPU's spin-wait hint between reads; past that bound they
block as before, so a process that stops computing burns no more than that.

* :func:`park` -- a helper thread, after a job: mark itself idle, then watch for the
  next job to be posted and, when the caller computes too, for the caller to have
  entered its loop (so that the GIL is free when the helper needs it to start).
* :func:`wait_idle` -- the caller, after its share of a job: watch until every helper
  that joined is back in :func:`park`, past the last step that needs the GIL.

Time is counted in ticks of the CPU's time-stamp counter (:func:`ticks_per_second`).
Spinning is offered on x86-64 with the JIT on (:func:`available`); elsewhere the pool
blocks as before.  :func:`park_reference` and :func:`wait_idle_reference` are the slow
twins, in Python.
"""

from __future__ import annotations

import platform
import time
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numpy.typing import NDArray

from corr2d.core._cache import attach_disk_cache, cache_folder

__all__ = [
    "available",
    "park",
    "park_reference",
    "ticks_per_second",
    "wait_idle",
    "wait_idle_reference",
]

_I64 = ir.IntType(64)
_OPTIONS: dict[str, Any] = {"nogil": True, "error_model": "numpy", "boundscheck": False}


def _element(context: Any, builder: ir.IRBuilder, array_type: Any, array: Any, index: Any) -> Any:
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [index])


@intrinsic
def _cycles(typingctx):  # type: ignore[no-untyped-def]
    """The time-stamp counter (``llvm.readcyclecounter``)."""
    signature = types.int64()

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        read = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_I64, []), "llvm.readcyclecounter"
        )
        return builder.call(read, [])

    return signature, codegen


@intrinsic
def _load(typingctx, array, index):  # type: ignore[no-untyped-def]
    """``array[index]`` read as one atomic step (acquire): never hoisted out of a loop."""
    if not (isinstance(array, types.Array) and array.dtype == types.int64):
        return None
    signature = types.int64(array, types.intp)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        address = _element(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(address, "acquire", 8)

    return signature, codegen


@intrinsic
def _store(typingctx, array, index, value):  # type: ignore[no-untyped-def]
    """``array[index] = value`` as one atomic step (release)."""
    if not (isinstance(array, types.Array) and array.dtype == types.int64):
        return None
    signature = types.void(array, types.intp, types.int64)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        address = _element(context, builder, sig.args[0], args[0], args[1])
        builder.store_atomic(args[2], address, "release", 8)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def _pause(typingctx):  # type: ignore[no-untyped-def]
    """The spin-wait hint (x86 ``pause``): lets the core save power between reads."""
    signature = types.void()

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        hint = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause"
        )
        builder.call(hint, [])
        return context.get_dummy_value()

    return signature, codegen


@njit(**_OPTIONS)
def _now():  # type: ignore[no-untyped-def]
    return _cycles()  # type: ignore[call-arg]


@njit(**_OPTIONS)
def park(posted, seen, counter, busy, me, ticks):  # type: ignore[no-untyped-def]
    """Set ``busy[me] = 0``, then wait until ``posted[0] != seen`` and, if ``posted[1]``
    is not 0, until ``counter[0] != 0`` as well; at most ``ticks`` for each.

    True if a new job was posted (whether or not the caller had started it), False if
    the bound passed first."""
    _store(busy, me, 0)  # type: ignore[call-arg]
    start = _cycles()
    while _load(posted, 0) == seen:
        if _cycles() - start > ticks:
            return False
        _pause()
    if _load(posted, 1) != 0:
        start = _cycles()
        while _load(counter, 0) == 0 and _cycles() - start <= ticks:
            _pause()
    return True


@njit(**_OPTIONS)
def wait_idle(busy, count, ticks):  # type: ignore[no-untyped-def]
    """Wait until ``busy[:count]`` are all 0, at most ``ticks``; False if the bound
    passed first."""
    start = _cycles()  # type: ignore[call-arg,var-annotated]
    for i in range(count):
        while _load(busy, i) != 0:
            if _cycles() - start > ticks:
                return False
            _pause()
    return True


for _loop in (_now, park, wait_idle):
    attach_disk_cache(_loop, cache_folder())


def park_reference(
    posted: NDArray[np.int64],
    seen: int,
    counter: NDArray[np.int64],
    busy: NDArray[np.int64],
    me: int,
    seconds: float,
) -> bool:
    """The slow twin of :func:`park`, with the bound in seconds."""
    busy[me] = 0
    start = time.perf_counter()
    while posted[0] == seen:
        if time.perf_counter() - start > seconds:
            return False
    if posted[1] != 0:
        start = time.perf_counter()
        while counter[0] == 0 and time.perf_counter() - start <= seconds:
            pass
    return True


def wait_idle_reference(busy: NDArray[np.int64], count: int, seconds: float) -> bool:
    """The slow twin of :func:`wait_idle`, with the bound in seconds."""
    start = time.perf_counter()
    for i in range(count):
        while busy[i] != 0:
            if time.perf_counter() - start > seconds:
                return False
    return True


def available() -> bool:
    """Whether :func:`park` and :func:`wait_idle` may be used: an x86-64 CPU (the
    time-stamp counter and the ``pause`` hint) and the JIT on."""
    from corr2d.core._engine import jit_enabled

    return platform.machine().lower() in ("x86_64", "amd64") and jit_enabled()


def ticks_per_second() -> float:
    """Ticks of the time-stamp counter per second, measured once per process (a forked
    child keeps the figure) over 2 ms of sleep, after compiling or loading the loops
    above: the first call takes a few milliseconds (seconds with an empty cache), on
    the calling thread, which sleeps through the measurement."""
    if not _measured:
        flags = np.zeros(2, dtype=np.int64)
        park(flags, 0, flags, flags, 0, 0)
        wait_idle(flags, 1, 0)
        ticks, start = _now(), time.perf_counter()
        time.sleep(0.002)
        _measured.append(float(_now() - ticks) / (time.perf_counter() - start))
    return _measured[0]


_measured: list[float] = []
