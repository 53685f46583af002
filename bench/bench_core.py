"""Time corr2d's core against its peers, side by side in one run, and print markdown tables.

Usage::

    python bench/bench_core.py            # the full table (a few minutes)
    python bench/bench_core.py --quick    # 512² and 2048² only, fewer repeats

The second table times corr2d's 'direct' and 'fft' methods against each other, to check
the cost model behind ``method='auto'``.

Every case is float32, 2 threads, 'valid' output.  Each function runs once untimed
(FFT plans, allocator; corr2d once more before that, to compile its loops), then
``repeat`` times in blocks interleaved with its peers
(see ``_timing.py``); medians are reported, with the ratio peer / corr2d (above 1:
corr2d is faster).  Peers that produce a same-size output
(``ndimage.correlate``, ``cv2.filter2D``) are timed as they are; their 'valid' part is a
free slice.  A warm-up slower than 2 s is not repeated (see ``_timing.py``).
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable
from typing import Any

import numpy as np

from _timing import compare, median_seconds

THREADS = 2


def copy_bandwidth(nbytes: int = 64 * 2**20) -> float:
    """Bytes per second that ``np.copyto`` moves (read + write) on this machine."""
    source = np.ones(nbytes // 4, dtype=np.float32)
    target = np.empty_like(source)
    seconds = median_seconds(lambda: np.copyto(target, source), 15)
    return 2 * nbytes / seconds


def peers() -> dict[str, Callable[[np.ndarray, np.ndarray], Any]]:
    from scipy import ndimage, signal

    found: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
        "scipy.signal.correlate2d": lambda x, k: signal.correlate2d(x, k, "valid"),
        "scipy.ndimage.correlate": lambda x, k: ndimage.correlate(x, k, mode="constant"),
        "scipy.signal.fftconvolve": lambda x, k: signal.fftconvolve(x, k[::-1, ::-1], "valid"),
    }
    try:
        import cv2

        cv2.setNumThreads(THREADS)
        found["cv2.filter2D"] = lambda x, k: cv2.filter2D(x, -1, k)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(THREADS)

        def torch_conv(x: np.ndarray, k: np.ndarray) -> Any:
            with torch.no_grad():
                return torch.nn.functional.conv2d(
                    torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None]
                )

        found["torch conv2d"] = torch_conv
    except ImportError:
        pass
    return found


def image_table(sizes: list[int], kernels: list[int], repeat: int) -> str:
    import corr2d

    rng = np.random.default_rng(0)
    others = peers()
    bandwidth = copy_bandwidth()
    names = list(others)
    header = ["image", "k", "auto picks", "corr2d ms", "floor ms"] + [f"{n} ms (×)" for n in names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for size in sizes:
        x = rng.standard_normal((size, size)).astype(np.float32)
        for k in kernels:
            kernel = rng.standard_normal((k, k)).astype(np.float32)
            method = corr2d.choose_method(x, kernel, "valid")
            corr2d.corr2d(x, kernel)  # compile (or load from the disk cache) untimed
            contenders: list[Callable[[], Any]] = [
                lambda x=x, kernel=kernel: corr2d.corr2d(x, kernel)
            ]
            timed = []
            for name in names:
                if name == "scipy.signal.correlate2d" and size * size * k * k > 5e9:
                    continue
                run = others[name]
                contenders.append(lambda run=run, x=x, kernel=kernel: run(x, kernel))
                timed.append(name)
            ours, *theirs = compare(contenders, repeat)
            seconds_of = dict(zip(timed, theirs, strict=True))
            out_bytes = (size - k + 1) ** 2 * 4
            floor = (x.nbytes + out_bytes) / bandwidth
            cells = [f"{size}²", str(k), method, f"{ours * 1e3:.2f}", f"{floor * 1e3:.2f}"]
            for name in names:
                if name not in seconds_of:
                    cells.append("skipped (> 1 min)")
                    continue
                seconds = seconds_of[name]
                cells.append(f"{seconds * 1e3:.2f} ({seconds / ours:.1f}×)")
            lines.append("| " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def method_table(sizes: list[int], kernels: list[int], repeat: int) -> str:
    """corr2d's two methods side by side, against what ``method='auto'`` picks."""
    import corr2d

    rng = np.random.default_rng(0)
    header = ["image", "k", "auto picks", "direct ms", "fft ms", "faster", "auto right"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for size in sizes:
        x = rng.standard_normal((size, size)).astype(np.float32)
        for k in kernels:
            kernel = rng.standard_normal((k, k)).astype(np.float32)
            picked = corr2d.choose_method(x, kernel, "valid")
            corr2d.corr2d(x, kernel, method="direct")  # compile untimed
            direct, fft = compare(
                [
                    lambda x=x, kernel=kernel: corr2d.corr2d(x, kernel, method="direct"),
                    lambda x=x, kernel=kernel: corr2d.corr2d(x, kernel, method="fft"),
                ],
                repeat,
            )
            faster = "direct" if direct <= fft else "fft"
            # within 10% the two are a tie on this machine
            right = (
                "yes" if picked == faster or abs(direct - fft) < 0.1 * min(direct, fft) else "no"
            )
            cells = [f"{size}²", str(k), picked, f"{direct * 1e3:.2f}", f"{fft * 1e3:.2f}", faster]
            lines.append("| " + " | ".join([*cells, right]) + " |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


LAYERS = [
    ("N=8, 16→32, 64², 3×3, p1", (8, 16, 64, 64), (32, 16, 3, 3), {"padding": 1}),
    ("N=32, 64→64, 32², 3×3, p1", (32, 64, 32, 32), (64, 64, 3, 3), {"padding": 1}),
    ("N=1, 3→64, 224², 7×7, s2, p3", (1, 3, 224, 224), (64, 3, 7, 7), {"stride": 2, "padding": 3}),
]


def layer_table(repeat: int) -> str:
    import torch

    import corr2d

    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(1)
    lines = [
        "| layer | corr2d ms | torch ms | torch / corr2d | GFLOP/s (corr2d) |",
        "|---|---|---|---|---|",
    ]
    for label, shape, weight_shape, options in LAYERS:
        x = rng.standard_normal(shape).astype(np.float32)
        w = rng.standard_normal(weight_shape).astype(np.float32)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)

        def ours(x: np.ndarray = x, w: np.ndarray = w, o: dict[str, int] = options) -> Any:
            return corr2d.conv2d(x, w, **o)

        def theirs(xt: Any = xt, wt: Any = wt, o: dict[str, int] = options) -> Any:
            with torch.no_grad():
                return torch.nn.functional.conv2d(xt, wt, **o)

        ours_s, reference = compare([ours, theirs], repeat)
        out = corr2d.conv2d(x, w, **options)
        flops = 2 * out.size * weight_shape[1] * weight_shape[2] * weight_shape[3]
        lines.append(
            f"| {label} | {ours_s * 1e3:.2f} | {reference * 1e3:.2f} | "
            f"{reference / ours_s:.2f} | {flops / ours_s / 1e9:.0f} |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines)


def versions() -> str:
    import numba
    import scipy

    parts = [
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"SciPy {scipy.__version__}",
        f"numba {numba.__version__}",
    ]
    for module in ("cv2", "torch"):
        try:
            imported = __import__(module)
            parts.append(f"{module} {imported.__version__}")
        except ImportError:
            pass
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512² and 2048² only, 3 repeats")
    parser.add_argument("--layers", action="store_true", help="the NCHW layer table only")
    args = parser.parse_args()
    sizes = [512, 2048] if args.quick else [512, 2048, 4096]
    repeat = 3 if args.quick else 9
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; {versions()}")
    if not args.layers:
        print(f"copy bandwidth: {copy_bandwidth() / 1e9:.1f} GB/s\n")
        print(image_table(sizes, [3, 5, 7, 15, 31], repeat))
        print()
        print(method_table(sizes, [3, 5, 7, 11, 15, 21, 31], repeat))
        print()
    print(layer_table(repeat))


if __name__ == "__main__":
    main()
