"""Estimating a 15x15 kernel from a 2048x2048 pair: time and peak memory per method.

The patch matrix of this problem would be (2034 * 2034) x 225 float64 values, 7.4 GB
(3.7 GB in float32); ``estimate_kernel`` accumulates its 225x225 Gram matrix tile by
tile instead.  Time is the median of the runs; peak memory is what ``tracemalloc`` sees
Python and NumPy allocate during one extra run (inputs excluded).

    python bench/bench_estimate.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np

from corr2d import corr2d, estimate_kernel

SIZE, KERNEL = 2048, 15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(SIZE, SIZE))
    kernel = rng.normal(size=(KERNEL, KERNEL))
    Y = corr2d(X, kernel)
    Y_circular = corr2d(np.pad(X, ((0, KERNEL - 1), (0, KERNEL - 1)), mode="wrap"), kernel)
    patch_gb = (SIZE - KERNEL + 1) ** 2 * KERNEL**2 * 8 / 1e9
    print(
        f"{SIZE}x{SIZE} float64 pair, {KERNEL}x{KERNEL} kernel; a full patch matrix "
        f"would take {patch_gb:.1f} GB; median of {args.repeats}"
    )
    print()
    print("| method | mode | time (s) | peak memory (MiB) | max abs error |")
    print("|---|---|---:|---:|---:|")
    cases = [("lstsq", "valid", Y), ("ridge", "valid", Y), ("fft", "circular", Y_circular)]
    for method, mode, target in cases:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = estimate_kernel(X, target, KERNEL, method=method, mode=mode)
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        estimate_kernel(X, target, KERNEL, method=method, mode=mode)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        error = float(np.abs(result.kernel - kernel).max())
        print(
            f"| {method} | {mode} | {statistics.median(times):.2f} | {peak / 2**20:.0f} | "
            f"{error:.1e} |"
        )


if __name__ == "__main__":
    main()
