"""Timing shared by the benchmark scripts: medians after a warm-up and a settling pause."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

#: Pause before each timed set, so that the thread pools of the previous library
#: (OpenMP and BLAS workers spin-wait after a call) are idle and do not steal the cores.
SETTLE = 0.3
#: A warm-up run slower than this many seconds is reported as is, not repeated.
SLOW = 2.0


def median_seconds(run: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``run`` over ``repeat`` calls, after one untimed call."""
    time.sleep(SETTLE)
    start = time.perf_counter()
    run()  # compilation, FFT plans, allocator
    first = time.perf_counter() - start
    if first > SLOW:
        return first
    time.sleep(SETTLE)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
