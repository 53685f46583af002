"""Timing shared by the benchmark scripts: medians of interleaved blocks of runs.

This machine's speed drifts by up to 2x over seconds (other tenants, thread pools
of the previous library still spinning).  Timing each contender in one block would
fold that drift into the ratios, so :func:`compare` times every contender in several
short blocks, round-robin, and takes each one's median over all its runs.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

#: Pause before each block, so that the thread pools of the previous library
#: (OpenMP and BLAS workers spin-wait after a call) are idle and do not steal the cores.
SETTLE = 0.3
#: A warm-up run slower than this many seconds is reported as is, not repeated.
SLOW = 2.0
#: Each block runs for at least about this long (more calls for fast functions), so
#: that a millisecond case gets tens of samples and one slow call cannot move its median.
BLOCK_SECONDS = 0.05
#: ... but never more calls than this per block.
MAX_BLOCK = 100


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def compare(runs: Sequence[Callable[[], Any]], repeat: int, rounds: int = 3) -> list[float]:
    """Median wall time of each of ``runs``, timed in interleaved blocks.

    Each function is called once untimed (compilation, FFT plans, allocator), then
    ``rounds`` times in turn for a block of timed calls: ``ceil(repeat / rounds)``
    calls, or as many as fill ``BLOCK_SECONDS`` going by the untimed call, whichever is
    more (at most ``MAX_BLOCK``).  The first call of a block finds caches holding the
    previous library's data, the others the function's own: the median is that of
    back-to-back calls.  A function whose untimed call takes more than ``SLOW`` seconds
    is not called again and that call's time is returned (a slow peer is timed once),
    so a function that compiles on first use must be called before it is compared.
    """
    first = []
    for run in runs:
        time.sleep(SETTLE)
        first.append(_timed(run))
    times: list[list[float]] = [[] for _ in runs]
    least = max(1, math.ceil(repeat / rounds))
    blocks = [min(MAX_BLOCK, max(least, int(BLOCK_SECONDS / max(f, 1e-6)))) for f in first]
    for _ in range(rounds):
        for index, run in enumerate(runs):
            if first[index] > SLOW:
                continue
            time.sleep(SETTLE)
            times[index].extend(_timed(run) for _ in range(blocks[index]))
    return [statistics.median(t) if t else f for t, f in zip(times, first, strict=True)]


def median_seconds(run: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``run`` over about ``repeat`` calls, after one untimed call."""
    return compare([run], repeat)[0]
