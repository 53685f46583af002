"""A small benchmark of corr2d's 'same' correlation against the peers that are installed.

Each case correlates a random square image with a random square kernel in 'same' mode
with zero fill, the common ground of all peers.  Every function is called once untimed
(to compile or plan), then up to ``repeat`` times within a time budget per case; the
median is reported.  corr2d is timed first, before the peers are imported (see
:func:`run_benchmark`).  A peer whose call would need more memory than a budget (PyTorch's
CPU convolution copies every patch: 1024x1024 pixels with a 31x31 kernel in float64 is
8 GB) or whose direct loop would take too long is skipped, and the table says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
import typer
from numpy.typing import NDArray

from corr2d._validation import byte_text, machine_memory
from corr2d.cli._shared import (
    EXIT_HELP,
    EXIT_TOO_LARGE,
    EXIT_USAGE,
    fail,
    make_console,
)

__all__ = [
    "DEFAULT_KERNELS",
    "DEFAULT_REPEAT",
    "DEFAULT_SIZES",
    "EPILOG",
    "SKIPPED_MEMORY",
    "SKIPPED_SLOW",
    "BenchRow",
    "available_peers",
    "bench_command",
    "peer_memory",
    "run_benchmark",
]

Runner = Callable[[NDArray[Any], NDArray[Any]], Any]

#: Stand-ins for a time in the results: a peer skipped as too slow, or as too large.
SKIPPED_SLOW = -1.0
SKIPPED_MEMORY = -2.0

#: Skip the direct SciPy loop when image pixels times kernel taps exceed this.
DIRECT_WORK_LIMIT = 3e8

#: Skip a peer whose call is estimated to allocate more than this many bytes.
MEMORY_LIMIT = 2**30

#: Timed calls of one implementation on one case stop after this many seconds (at least
#: one timed call is made), so slow peers cost seconds, not minutes.
TIME_BUDGET = 0.5

#: The defaults: image sizes, kernel sizes and timed calls per case.  On a 2-core
#: machine they finish in under a minute and stay under 2 GiB.
DEFAULT_SIZES = (256, 512, 1024)
DEFAULT_KERNELS = (3, 9, 31)
DEFAULT_REPEAT = 5


@dataclass(frozen=True)
class BenchRow:
    """One case: image and kernel size, and the median seconds of each implementation."""

    size: int
    kernel: int
    times: dict[str, float] = field(default_factory=dict)


def available_peers() -> dict[str, Runner]:
    """The peer implementations that can be imported, by display name."""
    peers: dict[str, Runner] = {}
    try:
        from scipy import ndimage, signal
    except ImportError:  # pragma: no cover - scipy is a dependency
        signal = ndimage = None
    if signal is not None:
        peers["scipy.signal.correlate2d"] = lambda x, k: signal.correlate2d(x, k, "same")
        peers["scipy.ndimage.correlate"] = lambda x, k: ndimage.correlate(
            x, k, mode="constant", origin=[-1 if n % 2 == 0 else 0 for n in k.shape]
        )
        peers["scipy.signal.fftconvolve"] = lambda x, k: signal.fftconvolve(
            x, k[::-1, ::-1], mode="same"
        )
    try:
        import cv2

        peers["cv2.filter2D"] = lambda x, k: cv2.filter2D(x, -1, k, borderType=cv2.BORDER_CONSTANT)
    except ImportError:
        pass
    try:
        import torch
        import torch.nn.functional as functional

        def torch_conv(x: NDArray[Any], k: NDArray[Any]) -> Any:
            with torch.no_grad():
                return functional.conv2d(
                    torch.from_numpy(x)[None, None],
                    torch.from_numpy(k)[None, None],
                    padding="same",
                )

        peers["torch conv2d"] = torch_conv
    except ImportError:
        pass
    return peers


def _median_time(run: Runner, x: NDArray[Any], k: NDArray[Any], repeat: int) -> float:
    """The median of up to ``repeat`` timed calls, after one untimed call, within budget."""
    run(x, k)
    times: list[float] = []
    spent = 0.0
    while len(times) < repeat and (not times or spent < TIME_BUDGET):
        start = time.perf_counter()
        run(x, k)
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return float(np.median(times))


def peer_memory(name: str, n: int, m: int, itemsize: int) -> float:
    """Bytes a peer's call is estimated to allocate for an n x n image, m x m kernel.

    PyTorch's CPU convolution of a large kernel unfolds every patch (n * n * m * m
    values); the others work on a few copies of the (padded) image.
    """
    if name == "torch conv2d":
        return float(n) * n * m * m * itemsize
    return 4.0 * (n + m) ** 2 * itemsize


def run_benchmark(
    sizes: Sequence[int],
    kernels: Sequence[int],
    *,
    dtype: str = "float64",
    repeat: int = 5,
    quick: bool = False,
    seed: int = 0,
    progress_console: Any = None,
) -> list[BenchRow]:
    """Time ``corr2d.correlate2d(x, k, 'same')`` and each peer on every case.

    Parameters
    ----------
    sizes, kernels : sequences of int
        Square image and kernel sizes; every kernel is tried on every image it fits.
    dtype : {'float32', 'float64'}, optional
    repeat : int, optional
        Timed runs per case, at most (the median is kept); they stop once
        :data:`TIME_BUDGET` seconds are spent.
    quick : bool, optional
        Skip the direct SciPy loop on the largest cases as well as the slowest ones.
    seed : int, optional
        Seed of the random data.
    progress_console : rich Console, optional
        Where to draw a progress bar (none by default).

    Returns
    -------
    list of BenchRow
        ``times`` holds :data:`SKIPPED_SLOW` or :data:`SKIPPED_MEMORY` for a skipped peer.
    """
    from corr2d import correlate2d

    cases = [(n, m) for n in sizes for m in kernels if m <= n]

    def data(n: int, m: int) -> tuple[NDArray[Any], NDArray[Any]]:
        rng = np.random.default_rng([seed, n, m])
        return rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((m, m)).astype(dtype)

    progress: Any = None
    if progress_console is not None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        progress = Progress(
            TextColumn("bench"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=progress_console,
            transient=True,
        )
        progress.start()
        task = progress.add_task("", total=2 * len(cases))
    times: dict[tuple[int, int], dict[str, float]] = {case: {} for case in cases}
    try:
        # corr2d first, before any peer is imported: OpenCV's and torch's thread pools,
        # once loaded, slow numba's OpenMP threads down on small machines.
        for n, m in cases:
            if progress is not None:
                progress.update(task, description=f"{n}x{n} * {m}x{m}: corr2d")
            x, k = data(n, m)
            times[(n, m)]["corr2d"] = _median_time(
                lambda a, b: correlate2d(a, b, "same"), x, k, repeat
            )
            if progress is not None:
                progress.advance(task)
        peers = available_peers()
        limit = DIRECT_WORK_LIMIT / (10 if quick else 1)
        itemsize = np.dtype(dtype).itemsize
        for n, m in cases:
            x, k = data(n, m)
            for name, run in peers.items():
                if name == "scipy.signal.correlate2d" and n * n * m * m > limit:
                    times[(n, m)][name] = SKIPPED_SLOW
                    continue
                if peer_memory(name, n, m, itemsize) > MEMORY_LIMIT:
                    times[(n, m)][name] = SKIPPED_MEMORY
                    continue
                if progress is not None:
                    progress.update(task, description=f"{n}x{n} * {m}x{m}: {name}")
                times[(n, m)][name] = _median_time(run, x, k, repeat)
            if progress is not None:
                progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()
    return [BenchRow(size=n, kernel=m, times=times[(n, m)]) for n, m in cases]


EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d bench --quick\n\n"
    "  corr2d bench --sizes 256,1024 --kernels 3,9,31 --dtype float32\n\n" + EXIT_HELP
)


def bench_command(
    quick: Annotated[
        bool, typer.Option("--quick", help="Sizes 128 and 256, kernels 3 and 9, 3 runs.")
    ] = False,
    sizes: Annotated[
        str | None,
        typer.Option(metavar="N,N,...", help="Image sizes (square). Default 256,512,1024."),
    ] = None,
    kernel_sizes: Annotated[
        str | None,
        typer.Option("--kernels", metavar="K,K,...", help="Kernel sizes (square). Default 3,9,31."),
    ] = None,
    dtype: Annotated[Literal["float32", "float64"], typer.Option(help="Data type.")] = "float64",
    repeat: Annotated[
        int | None,
        typer.Option(min=1, help="Timed runs per case, at most (default 5; 0.5 s budget)."),
    ] = None,
) -> None:
    """Time corr2d's 'same' correlation against the installed peers.

    Peers, when importable: scipy.signal.correlate2d, scipy.ndimage.correlate,
    scipy.signal.fftconvolve, cv2.filter2D and torch's conv2d.

    Prints each median time and its ratio to corr2d (above 1: corr2d is faster).

    The defaults finish in under a minute and under 2 GiB on a 2-core machine.
    Each case stops timing after 0.5 s; the direct SciPy loop is skipped past
    3e8 multiply-adds, and a peer needing over 1 GiB (torch) is skipped.
    """

    def numbers(text: str | None, default: tuple[int, ...], option: str) -> tuple[int, ...]:
        if text is None:
            return default
        try:
            values = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            fail(f"{option} must be comma-separated integers, got {text!r}", EXIT_USAGE)
        if not values or min(values) < 1:
            fail(f"{option} must be positive integers, got {text!r}", EXIT_USAGE)
        largest = max(values)
        total = machine_memory()
        if option == "--sizes" and total is not None and 3 * 8 * largest**2 > total:
            fail(
                f"{option} {largest}: a {largest}x{largest} image and its results would need "
                f"{byte_text(3 * 8 * largest**2)}, more than this machine's "
                f"{byte_text(total)}; too large for this machine",
                EXIT_TOO_LARGE,
            )
        return values

    image_sizes = numbers(sizes, (128, 256) if quick else DEFAULT_SIZES, "--sizes")
    kernels_ = numbers(kernel_sizes, (3, 9) if quick else DEFAULT_KERNELS, "--kernels")
    runs = repeat if repeat is not None else (3 if quick else DEFAULT_REPEAT)
    console = make_console()
    rows = run_benchmark(
        image_sizes,
        kernels_,
        dtype=dtype,
        repeat=runs,
        quick=quick,
        progress_console=make_console(stderr=True),
    )
    from rich import box
    from rich.table import Table

    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title=f"median of up to {runs} runs, {dtype}, mode 'same'; ratio = its time / "
        "corr2d's (above 1: corr2d is faster)",
        title_justify="left",
    )
    for column in ("image", "kernel", "implementation", "median", "ratio"):
        table.add_column(column, justify="left" if column == "implementation" else "right")
    skipped = {SKIPPED_SLOW: "skipped (slow)", SKIPPED_MEMORY: "skipped (> 1 GiB)"}
    for row in rows:
        base = row.times["corr2d"]
        for index, (name, value) in enumerate(row.times.items()):
            table.add_row(
                f"{row.size}x{row.size}" if index == 0 else "",
                f"{row.kernel}x{row.kernel}" if index == 0 else "",
                name,
                skipped.get(value, milliseconds(value)),
                "" if value < 0 else "1" if name == "corr2d" else f"{value / base:.2f}",
                end_section=index == len(row.times) - 1,
            )
    console.print(table)


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"
