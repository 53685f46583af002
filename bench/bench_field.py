"""The field suite: what users run, against the fastest peer, in four parts.

Usage::

    python bench/bench_field.py machine          # clock, copy bandwidth, matmul peak
    python bench/bench_field.py blur [--runs 3]  # Gaussian sigma 1/3/8, box 15
    python bench/bench_field.py single [--runs 3] [--sizes 512 2048]
    python bench/bench_field.py layers [--runs 3]
    python bench/bench_field.py idle [--runs 3]     # first call after idle / warm call
    python bench/bench_field.py idle-layers [--runs 3]  # the same for the layers' forward
    python bench/bench_field.py stream [--runs 3]   # 4096², k=3 against the copy floor

Each part runs in a few minutes (time each with the machine to yourself).  Contenders
are interleaved in one process (``_timing.py``), each timed two ways:

* **back to back**: blocks of calls, the previous call's data in cache and every thread
  awake (the usual benchmark);
* **one call at a time**: every call after ``IDLE`` seconds of sleep, so that thread
  pools have gone to sleep and caches have cooled, as for a program that filters one
  image now and then.

Each figure is the median over ``--runs`` rounds (each round itself a median of several
calls), with the range over the rounds in brackets; ratios are peer time over corr2d
time (above 1: corr2d is faster).

* ``blur``: Gaussian sigma 1, 3, 8 and a 15x15 box, 'same' output with mirrored borders
  (SciPy's 'symm', OpenCV's BORDER_REFLECT), the same kernel size for every library
  (``corr2d.kernels.gaussian``'s, 2*int(4*sigma + 0.5) + 1), on a 2048x2048 float32
  image and a 3000x4000 uint8 RGB image (uint8 out).  corr2d: ``filter_image`` for
  float32, ``filter_pixels`` for uint8; the peer is the fastest of
  ``cv2.GaussianBlur``/``cv2.sepFilter2D`` (``cv2.blur`` for the box).
* ``single``: random (not separable) float32 kernels k x k, k = 3 .. 31, on 512x512 and
  2048x2048 float32 images, 'same' with mirrored borders: ``filter_image`` against
  ``cv2.filter2D``.
* ``layers``: the six layer shapes, forward (``corr2d.conv2d`` against
  ``torch.nn.functional.conv2d``) and forward + backward (``Conv2D`` against torch
  autograd), with GFLOP/s and the share of the machine's float32 matrix-product peak.
* ``idle``: the first call after 2 ms, 50 ms and 1 s of sleep against back-to-back
  calls of the same function (float32, 'same', mirrored borders, random k x k kernels,
  512x512 and 2048x2048), for corr2d's ``filter_image``, ``cv2.filter2D`` and a plain
  copy of the image (what idling costs any code on this machine).
* ``stream``: a 4096x4096 float32 image, 3x3 random kernel, 'same' with mirrored
  borders: ``filter_image`` and ``cv2.filter2D`` against the copy floor, a NumPy copy of
  the image into a new array (``np.copy``: one read, one write, a fresh output as the
  filters return) and into an existing one (``np.copyto``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from _timing import compare

THREADS = 2
#: Seconds of sleep before each call "one at a time".
IDLE = 0.05


def _spread(values: Sequence[float], scale: float = 1e3, digits: int = 2) -> str:
    """'median [min-max]' of ``values`` times ``scale``."""
    med = statistics.median(values) * scale
    return f"{med:.{digits}f} [{min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f}]"


def _one_at_a_time(
    runs: Sequence[Callable[[], Any]], calls: int, idle: float = IDLE
) -> list[float]:
    """Median seconds of each of ``runs`` called after ``idle`` seconds of sleep,
    interleaved call by call."""
    for run in runs:
        run()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(calls):
        for index, run in enumerate(runs):
            time.sleep(idle)
            start = time.perf_counter()
            run()
            times[index].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def rounds(
    runs: Sequence[Callable[[], Any]], count: int, calls: int = 9
) -> tuple[list[list[float]], list[list[float]]]:
    """(back to back, one at a time): for each contender, its median in each round."""
    warm: list[list[float]] = [[] for _ in runs]
    cold: list[list[float]] = [[] for _ in runs]
    for _ in range(count):
        for index, seconds in enumerate(compare(runs, calls)):
            warm[index].append(seconds)
        for index, seconds in enumerate(_one_at_a_time(runs, calls)):
            cold[index].append(seconds)
    return warm, cold


# ------------------------------------------------------------------ the machine


def clock_mhz() -> str:
    """The cores' clock as the system reports it (MHz), or 'unknown'."""
    try:
        with open("/proc/cpuinfo") as info:
            speeds = [float(line.split(":")[1]) for line in info if line.startswith("cpu MHz")]
        return f"{statistics.median(speeds):.0f} MHz (reported)" if speeds else "unknown"
    except OSError:
        return "unknown"


def copy_bandwidth(nbytes: int = 64 * 2**20) -> float:
    """Bytes per second that ``np.copyto`` moves (read + write)."""
    source = np.ones(nbytes // 4, dtype=np.float32)
    target = np.empty_like(source)
    seconds = compare([lambda: np.copyto(target, source)], 15)[0]
    return 2 * nbytes / seconds


def matmul_peak() -> dict[str, float]:
    """float32 GFLOP/s of a 2048x2048 matrix product: NumPy's BLAS and torch's."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    b = rng.standard_normal((2048, 2048), dtype=np.float32)
    flops = 2 * 2048**3
    found = {"numpy": flops / compare([lambda: a @ b], 9)[0] / 1e9}
    try:
        import torch

        torch.set_num_threads(THREADS)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        found["torch"] = flops / compare([lambda: ta @ tb], 9)[0] / 1e9
    except ImportError:
        pass
    return found


def machine() -> dict[str, Any]:
    import numba

    peak = matmul_peak()
    facts = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "clock": clock_mhz(),
        "copy GB/s": copy_bandwidth() / 1e9,
        "matmul GFLOP/s": peak,
        "numba threads": numba.get_num_threads(),
    }
    for key, value in facts.items():
        print(f"{key}: {value}")
    return facts


# ------------------------------------------------------------------ blur


def blur(count: int) -> None:
    import cv2

    from corr2d import kernels
    from corr2d.filtering import filter_image, filter_pixels

    cv2.setNumThreads(THREADS)
    rng = np.random.default_rng(0)
    images = {
        "2048² float32": rng.random((2048, 2048), dtype=np.float32),
        "3000x4000 RGB uint8": rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8),
    }
    reflect = cv2.BORDER_REFLECT  # SciPy's 'symm'
    print(
        "| image | filter | k | corr2d ms, back to back | fastest peer | peer ms | × "
        "| corr2d ms, one at a time | peer ms | × |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, image in images.items():
        ours_filter = filter_image if image.dtype == np.float32 else filter_pixels
        for name in ("gaussian 1", "gaussian 3", "gaussian 8", "box 15"):
            if name.startswith("gaussian"):
                sigma = float(name.split()[1])
                kernel = kernels.gaussian(sigma)
                split = kernels.factors("gaussian", sigma=sigma)
                assert split is not None
                size = kernel.shape[0]
                column = split.column.astype(np.float32)
                peers: dict[str, Callable[[], Any]] = {
                    "cv2.GaussianBlur": lambda i=image, s=size, g=sigma: cv2.GaussianBlur(
                        i, (s, s), g, borderType=reflect
                    ),
                    "cv2.sepFilter2D": lambda i=image, c=column: cv2.sepFilter2D(
                        i, -1, c, c, borderType=reflect
                    ),
                }
            else:
                size = 15
                kernel = kernels.box(size)
                peers = {
                    "cv2.blur": lambda i=image: cv2.blur(i, (15, 15), borderType=reflect),
                    "cv2.sepFilter2D": lambda i=image: cv2.sepFilter2D(
                        i,
                        -1,
                        np.full(15, 1 / 15, np.float32),
                        np.full(15, 1 / 15, np.float32),
                        borderType=reflect,
                    ),
                }
            k32 = kernel.astype(np.float32)

            def ours(i: np.ndarray = image, k: np.ndarray = k32, f: Any = ours_filter) -> Any:
                return f(i, k, "same", "symm")

            ours()  # compile or load the loops, untimed
            names = list(peers)
            warm, cold = rounds([ours, *peers.values()], count)
            best = min(range(len(names)), key=lambda n: statistics.median(warm[n + 1]))
            best_cold = min(range(len(names)), key=lambda n: statistics.median(cold[n + 1]))
            ratio = statistics.median(warm[best + 1]) / statistics.median(warm[0])
            ratio_cold = statistics.median(cold[best_cold + 1]) / statistics.median(cold[0])
            print(
                f"| {label} | {name} | {size} | {_spread(warm[0])} | {names[best]} | "
                f"{_spread(warm[best + 1])} | {ratio:.2f} | {_spread(cold[0])} | "
                f"{_spread(cold[best_cold + 1])} | {ratio_cold:.2f} |",
                flush=True,
            )


# ------------------------------------------------------------------ single calls


def single(count: int, sizes: Sequence[int]) -> None:
    import cv2

    from corr2d import choose_method
    from corr2d.filtering import filter_image

    cv2.setNumThreads(THREADS)
    rng = np.random.default_rng(1)
    print(
        "| image | k | corr2d path | corr2d ms, one at a time | cv2.filter2D ms | × "
        "| corr2d ms, back to back | cv2 ms | × |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        image = rng.random((size, size), dtype=np.float32)
        for k in (3, 5, 7, 9, 11, 15, 21, 31):
            kernel = rng.standard_normal((k, k)).astype(np.float32)
            path = choose_method(image, kernel, "same", "symm")

            def ours(i: np.ndarray = image, w: np.ndarray = kernel) -> Any:
                return filter_image(i, w, "same", "symm")

            def theirs(i: np.ndarray = image, w: np.ndarray = kernel) -> Any:
                return cv2.filter2D(i, -1, w, borderType=cv2.BORDER_REFLECT)

            ours()
            warm, cold = rounds([ours, theirs], count)
            cold_ratio = statistics.median(cold[1]) / statistics.median(cold[0])
            warm_ratio = statistics.median(warm[1]) / statistics.median(warm[0])
            print(
                f"| {size}² | {k} | {path} | {_spread(cold[0], digits=3)} | "
                f"{_spread(cold[1], digits=3)} | {cold_ratio:.2f} | "
                f"{_spread(warm[0], digits=3)} | {_spread(warm[1], digits=3)} | "
                f"{warm_ratio:.2f} |",
                flush=True,
            )


# ------------------------------------------------------------------ layers

# (label, N, C_in, C_out, size, kernel, stride, padding, groups)
LAYERS = [
    ("N8 16→32 64² 3×3 p1", 8, 16, 32, 64, 3, 1, 1, 1),
    ("N32 64→64 32² 3×3 p1", 32, 64, 64, 32, 3, 1, 1, 1),
    ("N1 3→64 224² 7×7 s2 p3", 1, 3, 64, 224, 7, 2, 3, 1),
    ("N16 128→128 28² 3×3 p1", 16, 128, 128, 28, 3, 1, 1, 1),
    ("N8 64ch 56² 3×3 depthwise", 8, 64, 64, 56, 3, 1, 1, 64),
    ("N8 256→64 28² 1×1", 8, 256, 64, 28, 1, 1, 0, 1),
]


def _forwards(
    rng: np.random.Generator, n: int, c_in: int, c_out: int, size: int, k: int, *options: int
) -> tuple[np.ndarray, Callable[[], Any], Callable[[], Any]]:
    """A layer's random input (float32), and its forward pass with a random weight by
    corr2d and by torch (``options``: stride, padding, groups)."""
    import torch

    import corr2d

    stride, padding, groups = options
    x = rng.standard_normal((n, c_in, size, size), dtype=np.float32)
    weight = rng.standard_normal((c_out, c_in // groups, k, k), dtype=np.float32)
    keywords = {"stride": stride, "padding": padding, "groups": groups}
    xt, wt = torch.from_numpy(x), torch.from_numpy(weight)

    def forward() -> Any:
        return corr2d.conv2d(x, weight, **keywords)

    def forward_torch() -> Any:
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, **keywords)

    return x, forward, forward_torch


def layers(count: int, peak: float) -> None:
    import torch

    from corr2d import Conv2D

    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(2)
    print(f"matrix-product peak: {peak:.0f} GFLOP/s (float32, {THREADS} threads)")
    print(
        "| layer | pass | corr2d ms | torch ms | torch / corr2d | corr2d GFLOP/s (% peak) "
        "| torch GFLOP/s (% peak) |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, n, c_in, c_out, size, k, stride, padding, groups in LAYERS:
        x, forward, forward_torch = _forwards(rng, n, c_in, c_out, size, k, stride, padding, groups)
        out = forward()
        flops = 2.0 * out.size * (c_in // groups) * k * k

        layer = Conv2D(
            k, c_in, c_out, stride=stride, padding=padding, groups=groups, rng=rng, dtype=np.float32
        )
        module = layer.to_torch()
        grad = rng.standard_normal(out.shape, dtype=np.float32)
        x_torch, grad_torch = torch.from_numpy(x).requires_grad_(), torch.from_numpy(grad)

        def step(layer: Any = layer, x: np.ndarray = x, g: np.ndarray = grad) -> None:
            layer.zero_grad()
            layer(x)
            layer.backward(g)

        def step_torch(m: Any = module, x: Any = x_torch, g: Any = grad_torch) -> None:
            m.zero_grad()
            x.grad = None
            m(x).backward(g)

        for name, runs, work in (
            ("forward", [forward, forward_torch], flops),
            ("forward + backward", [step, step_torch], 3 * flops),
        ):
            runs[0]()
            per_round: list[list[float]] = [[] for _ in runs]
            for _ in range(count):
                for index, seconds in enumerate(compare(runs, 9)):
                    per_round[index].append(seconds)
            ours_s, theirs_s = (statistics.median(t) for t in per_round)
            print(
                f"| {label} | {name} | {_spread(per_round[0])} | {_spread(per_round[1])} | "
                f"{theirs_s / ours_s:.2f} | {work / ours_s / 1e9:.0f} "
                f"({100 * work / ours_s / 1e9 / peak:.0f}%) | {work / theirs_s / 1e9:.0f} "
                f"({100 * work / theirs_s / 1e9 / peak:.0f}%) |",
                flush=True,
            )


# ------------------------------------------------------------------ idle and stream

#: Sleeps before a call "after idle" (seconds).
IDLES = (0.002, 0.05, 1.0)


def _warm_and_after_idle(
    contenders: Sequence[Callable[[], Any]], count: int, calls: int, long_calls: int
) -> list[str]:
    """For each contender, the table cells 'back to back | after each of IDLES': each
    the median over ``count`` rounds with its range, and its ratio to back to back.
    Each round times ``calls`` calls after each pause (``long_calls`` after a second)."""
    warm: list[list[float]] = [[] for _ in contenders]
    cold: dict[float, list[list[float]]] = {s: [[] for _ in contenders] for s in IDLES}
    for _ in range(count):
        for index, seconds in enumerate(compare(contenders, 9)):
            warm[index].append(seconds)
        for pause in IDLES:
            after = _one_at_a_time(contenders, calls if pause < 1 else long_calls, pause)
            for index, seconds in enumerate(after):
                cold[pause][index].append(seconds)
    rows = []
    for index in range(len(contenders)):
        base = statistics.median(warm[index])
        cells = [_spread(warm[index], digits=3)] + [
            f"{_spread(cold[s][index], digits=3)} ({statistics.median(cold[s][index]) / base:.2f})"
            for s in IDLES
        ]
        rows.append(" | ".join(cells))
    return rows


def _idle_header(first: str) -> None:
    """The header of an idle table whose first columns are ``first``."""
    pauses = " | ".join(f"after {s * 1e3:g} ms idle: ms (× warm)" for s in IDLES)
    print(f"{first} back to back ms | {pauses} |")
    print("|---" * (first.count("|") + len(IDLES)) + "|")


def idle(count: int) -> None:
    import cv2

    from corr2d.filtering import filter_image

    cv2.setNumThreads(THREADS)
    rng = np.random.default_rng(3)
    _idle_header("| image | k | library |")
    for size in (512, 2048):
        image = rng.random((size, size), dtype=np.float32)
        for k in (3, 7, 15):
            kernel = rng.standard_normal((k, k)).astype(np.float32)
            runs: dict[str, Callable[[], Any]] = {
                "corr2d": lambda i=image, w=kernel: filter_image(i, w, "same", "symm"),
                "cv2.filter2D": lambda i=image, w=kernel: cv2.filter2D(
                    i, -1, w, borderType=cv2.BORDER_REFLECT
                ),
                "np.copy (the machine's own wake-up)": lambda i=image: np.copy(i),
            }
            contenders = list(runs.values())
            for run in contenders:
                run()  # compile or load the loops, untimed
            calls = 9 if size == 512 else 5
            cells = _warm_and_after_idle(contenders, count, calls, 3)
            for name, row in zip(runs, cells, strict=True):
                print(f"| {size}² | {k} | {name} | {row} |", flush=True)


def idle_layers(count: int) -> None:
    """The six layers' forward pass (``corr2d.conv2d`` and torch's), first call after
    idle against back to back, as :func:`idle` times the filters."""
    import torch

    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(5)
    _idle_header("| layer | library |")
    for label, n, c_in, c_out, size, k, stride, padding, groups in LAYERS:
        _, forward, forward_torch = _forwards(rng, n, c_in, c_out, size, k, stride, padding, groups)
        runs = {"corr2d": forward, "torch": forward_torch}
        cells = _warm_and_after_idle(list(runs.values()), count, 5, 2)
        for name, row in zip(runs, cells, strict=True):
            print(f"| {label} | {name} | {row} |", flush=True)


def stream(count: int) -> None:
    import cv2

    from corr2d.filtering import filter_image

    cv2.setNumThreads(THREADS)
    rng = np.random.default_rng(4)
    image = rng.random((4096, 4096), dtype=np.float32)
    kernel = rng.standard_normal((3, 3)).astype(np.float32)
    target = np.empty_like(image)
    runs: dict[str, Callable[[], Any]] = {
        "corr2d filter_image": lambda: filter_image(image, kernel, "same", "symm"),
        "cv2.filter2D": lambda: cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT),
        "np.copy (floor, new array)": lambda: np.copy(image),
        "np.copyto (floor, existing array)": lambda: np.copyto(target, image),
    }
    names = list(runs)
    per_round: list[list[float]] = [[] for _ in names]
    for _ in range(count):
        for index, seconds in enumerate(compare(list(runs.values()), 15)):
            per_round[index].append(seconds)
    floor = statistics.median(per_round[2])
    moved = 2 * image.nbytes
    print("| 4096² float32, k=3 | ms, back to back | GB/s moved | × the copy floor (np.copy) |")
    print("|---|---|---|---|")
    for index, name in enumerate(names):
        seconds = statistics.median(per_round[index])
        print(
            f"| {name} | {_spread(per_round[index])} | {moved / seconds / 1e9:.1f} | "
            f"{seconds / floor:.2f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "part", choices=["machine", "blur", "single", "layers", "idle", "idle-layers", "stream"]
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds per case (>= 3)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048])
    args = parser.parse_args()
    if args.part == "machine":
        machine()
    elif args.part == "blur":
        blur(args.runs)
    elif args.part == "single":
        single(args.runs, args.sizes)
    elif args.part == "idle":
        idle(args.runs)
    elif args.part == "idle-layers":
        idle_layers(args.runs)
    elif args.part == "stream":
        stream(args.runs)
    else:
        layers(args.runs, max(matmul_peak().values()))


if __name__ == "__main__":
    main()
