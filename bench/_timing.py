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


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def compare(runs: Sequence[Callable[[], Any]], repeat: int, rounds: int = 3) -> list[float]:
    """Median wall time of each of ``runs``, timed in interleaved blocks.

    Each function is called once untimed (compilation, FFT plans, allocator), then
    ``rounds`` times in turn for a block of ``ceil(repeat / rounds)`` timed calls.
    """
    first = []
    for run in runs:
        time.sleep(SETTLE)
        first.append(_timed(run))
    times: list[list[float]] = [[] for _ in runs]
    block = max(1, math.ceil(repeat / rounds))
    for _ in range(rounds):
        for index, run in enumerate(runs):
            if first[index] > SLOW:
                continue
            time.sleep(SETTLE)
            times[index].extend(_timed(run) for _ in range(block))
    return [statistics.median(t) if t else f for t, f in zip(times, first, strict=True)]


def median_seconds(run: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``run`` over about ``repeat`` calls, after one untimed call."""
    return compare([run], repeat)[0]
