"""Kernel estimation against a plain NumPy normal-equations loop: time and peak memory.

The peer is the loop anyone would write: for each band of output rows, the band's patch
matrix from ``sliding_window_view(...).reshape(-1, n)``, then ``G += A.T @ A`` and
``b += A.T @ y``, then ``np.linalg.solve``; its bands hold the same 16 MiB of patches as
``estimate_kernel``'s workspace.  ``estimate_kernel`` does more: it also computes the
residual (a second pass), the eigendecomposition behind the rank report, and scales
extreme data.

Contenders run interleaved, one call at a time, ``--rounds`` times; times are medians
with the range over the rounds.  Peak memory is what ``tracemalloc`` sees Python and
NumPy allocate during one further call (inputs excluded).

    python bench/bench_estimate.py [--rounds 5] [--size 2048] [--kernel 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from corr2d import correlate2d, estimate_kernel
from corr2d.lstsq import WORKSPACE_BYTES


def plain_normal_equations(X: np.ndarray, Y: np.ndarray, k: int) -> np.ndarray:
    """The plain loop: patch matrices of 16 MiB row bands, summed normal equations."""
    n = k * k
    height, width = Y.shape
    rows = max(1, WORKSPACE_BYTES // (n * width * 8))
    gram = np.zeros((n, n))
    rhs = np.zeros(n)
    for row0 in range(0, height, rows):
        patches = sliding_window_view(X[row0 : row0 + rows + k - 1], (k, k)).reshape(-1, n)
        gram += patches.T @ patches
        rhs += patches.T @ Y[row0 : row0 + rows].ravel()
    return np.linalg.solve(gram, rhs).reshape(k, k)


def peak_mib(run: Callable[[], Any]) -> float:
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def interleaved(runs: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each contender, called in turn ``rounds`` times (after a warm-up)."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            time.sleep(0.3)  # let the previous call's BLAS threads go idle
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--kernel", type=int, default=15)
    args = parser.parse_args()
    size, k = args.size, args.kernel
    rng = np.random.default_rng(0)
    X = rng.normal(size=(size, size))
    kernel = rng.normal(size=(k, k))
    Y = correlate2d(X, kernel, "valid")
    Y_symm = correlate2d(X, kernel, "same", "symm")
    Y_wrap = correlate2d(X, kernel, "same", "wrap")
    # A smooth image (a random walk in both directions): the normal equations of its
    # patches lose digits, so estimate_kernel falls back to the tall-skinny QR.
    smooth = np.cumsum(np.cumsum(rng.normal(size=(size, size)), axis=0), axis=1)
    smooth /= np.abs(smooth).max()
    Y_smooth = correlate2d(smooth, kernel, "valid")

    solvers = {
        "estimate_kernel lstsq (valid)": lambda: estimate_kernel(X, Y, k).solver,
        "estimate_kernel lstsq, smooth image": lambda: estimate_kernel(smooth, Y_smooth, k).solver,
    }
    cases: dict[str, tuple[Callable[[], Any], np.ndarray | None]] = {
        "plain NumPy loop (valid)": (lambda: plain_normal_equations(X, Y, k), None),
        "estimate_kernel lstsq (valid)": (lambda: estimate_kernel(X, Y, k).kernel, None),
        "estimate_kernel ridge (valid)": (
            lambda: estimate_kernel(X, Y, k, method="ridge").kernel,
            None,
        ),
        "estimate_kernel lstsq (same, symm)": (
            lambda: estimate_kernel(X, Y_symm, k, mode="same", boundary="symm").kernel,
            None,
        ),
        "estimate_kernel fft (same, wrap)": (
            lambda: (
                estimate_kernel(X, Y_wrap, k, method="fft", mode="same", boundary="wrap").kernel
            ),
            None,
        ),
        "plain NumPy loop, smooth image": (
            lambda: plain_normal_equations(smooth, Y_smooth, k),
            None,
        ),
        "estimate_kernel lstsq, smooth image": (
            lambda: estimate_kernel(smooth, Y_smooth, k).kernel,
            None,
        ),
    }
    runs = {name: run for name, (run, _) in cases.items()}
    times = interleaved(runs, args.rounds)
    patch_mb = (size - k + 1) ** 2 * k**2 * 8 / 2**20
    print(
        f"{size}x{size} float64 pair, {k}x{k} kernel (a whole patch matrix: {patch_mb:.0f} MiB); "
        f"median of {args.rounds} interleaved rounds [min-max]"
    )
    print()
    print("| contender | time (ms) | peak memory (MiB) | max abs error |")
    print("|---|---:|---:|---:|")
    plain_median = statistics.median(times["plain NumPy loop (valid)"])
    for name, run in runs.items():
        spread = [1e3 * t for t in times[name]]
        peak = peak_mib(run)
        error = float(np.abs(run() - kernel).max())
        label = f"{name} ({solvers[name]()})" if name in solvers else name
        print(
            f"| {label} | {_ms(statistics.median(spread))} [{_ms(min(spread))}-"
            f"{_ms(max(spread))}] | {peak:.0f} | {error:.1e} |"
        )
    ours = statistics.median(times["estimate_kernel lstsq (valid)"])
    print()
    print(f"estimate_kernel lstsq / plain loop, time: {ours / plain_median:.2f}")


if __name__ == "__main__":
    main()
