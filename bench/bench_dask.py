"""corr2d on Dask: chunking overhead, dask-image, streamed memory and distributed estimation.

Usage (each part is one run; give each its own exclusive slot)::

    python bench/bench_dask.py speed              # 8192² float32, k = 5 and 15
    python bench/bench_dask.py rss [--sizes 8192 32768] [--folder DIR]
    python bench/bench_dask.py estimate [--size 16384]

``speed`` times, one call at a time and interleaved, in-memory ``corr2d.correlate2d``,
``corr2d.dask.correlate2d`` and dask-image's ``ndfilters.correlate`` (``pip install
dask-image``; the same chunks, 2048², and the same mirrored border), each computed to a
NumPy array on the local threaded scheduler, and prints medians with their range and
the ratios.  ``rss`` writes tiled float32 TIFFs (256² tiles; the 32768² one is 4 GiB,
deleted afterwards), runs ``corr2d filter`` on each with its default flags (a tiled
TIFF this large streams) and reports the peak resident memory of the command's
process.  ``estimate`` writes a pair (``X`` random, ``Y`` its 15x15 correlation, both
tiled TIFFs), starts a ``distributed.LocalCluster`` of two single-threaded worker
processes on loopback and runs ``corr2d estimate --scheduler`` against it, reporting the
time, the kernel's error and the peak memory of the command and of each worker.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 2048
THREADS = 2


def _interleaved(runs: dict[str, object], repeat: int) -> dict[str, list[float]]:
    """Wall times of each run, one call at a time, the runs taking turns."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # untimed: compilation, FFT plans, allocator
        run()  # type: ignore[operator]
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()  # type: ignore[operator]
            times[name].append(time.perf_counter() - start)
    return times


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def speed(repeat: int) -> None:
    import dask
    import dask.array as da

    import corr2d
    from corr2d import dask as cdask

    try:
        from dask_image import ndfilters
    except ImportError:
        sys.exit("bench_dask.py speed: needs dask-image (pip install dask-image)")
    dask.config.set(scheduler="threads", num_workers=THREADS)
    rng = np.random.default_rng(0)
    image = rng.standard_normal((8192, 8192), dtype=np.float32)
    lazy = da.from_array(image, chunks=CHUNK)
    print(
        f"8192² float32, chunks {CHUNK}², 'same' output with a mirrored border, {THREADS} threads"
    )
    print(f"seconds: median (min-max) of {repeat} interleaved calls\n")
    print(
        "| k | in memory | corr2d.dask | dask-image | corr2d.dask / in memory "
        "| dask-image / corr2d.dask |"
    )
    print("|---|---|---|---|---|---|")
    for size in (5, 15):
        kernel = rng.standard_normal((size, size)).astype(np.float32)
        ours = cdask.correlate2d(lazy, kernel, "same", "symm")
        peer = ndfilters.correlate(lazy, kernel, mode="reflect")
        expected = corr2d.correlate2d(image, kernel, "same", "symm")
        np.testing.assert_allclose(ours.compute(), expected, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(peer.compute(), expected, rtol=1e-3, atol=1e-3)
        times = _interleaved(
            {
                "memory": lambda k=kernel: corr2d.correlate2d(image, k, "same", "symm"),
                "dask": ours.compute,
                "peer": peer.compute,
            },
            repeat,
        )
        memory, ours_t, peer_t = (statistics.median(times[n]) for n in ("memory", "dask", "peer"))
        print(
            f"| {size} | {_spread(times['memory'])} | {_spread(times['dask'])} | "
            f"{_spread(times['peer'])} | {ours_t / memory:.2f} | {peer_t / ours_t:.1f} |"
        )


def _write_tiff(path: Path, size: int, seed: int) -> None:
    """A size² float32 TIFF in 256² tiles, written tile row by tile row."""
    import tifffile

    rng = np.random.default_rng(seed)

    def tiles():
        for _ in range(0, size, 256):
            band = rng.random((256, size), dtype=np.float32)
            for left in range(0, size, 256):
                yield band[:, left : left + 256]

    tifffile.imwrite(path, tiles(), shape=(size, size), dtype=np.float32, tile=(256, 256))


def _peak_rss(command: list[str]) -> tuple[float, float, str]:
    """Seconds, peak resident MiB of ``command``'s process, and its output."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{output}")
    return seconds, usage.ru_maxrss / 1024, output


def rss(sizes: list[int], folder: Path) -> None:
    corr2d_cli = str(Path(sys.executable).with_name("corr2d"))
    print("| image | on disk | seconds | peak RSS (MiB) | chunks |")
    print("|---|---|---|---|---|")
    peaks = []
    for size in sizes:
        source, target = folder / f"x{size}.tif", folder / f"y{size}.tif"
        try:
            _write_tiff(source, size, seed=size)
            seconds, peak, output = _peak_rss(
                [corr2d_cli, "filter", str(source), str(target), "-k", "gaussian:sigma=1",
                 "--scale", "none"]
            )  # fmt: skip
            chunks = output.split("streamed in ")[-1].split(")")[0] if "streamed" in output else "-"
            print(
                f"| {size}² float32 | {source.stat().st_size / 2**30:.2f} GiB | {seconds:.1f} | "
                f"{peak:.0f} | {chunks} |"
            )
            peaks.append(peak)
        finally:
            source.unlink(missing_ok=True)
            target.unlink(missing_ok=True)
    if len(peaks) > 1:
        print(f"\npeak RSS grows {peaks[-1] / peaks[0]:.2f}x while pixels grow "
              f"{(sizes[-1] / sizes[0]) ** 2:.0f}x")  # fmt: skip


def estimate(size: int, folder: Path) -> None:
    import logging

    from distributed import Client, LocalCluster

    from corr2d import kernels

    corr2d_cli = str(Path(sys.executable).with_name("corr2d"))
    source, target = folder / "x.tif", folder / "y.tif"
    kernel = kernels.gaussian(2.0)[1:16, 1:16] + 0.01 * np.random.default_rng(3).standard_normal(
        (15, 15)
    )
    np.save(folder / "k.npy", kernel)
    try:
        _write_tiff(source, size, seed=1)
        subprocess.run(
            [corr2d_cli, "filter", str(source), str(target), "-k", str(folder / "k.npy"),
             "--scale", "none", "--boundary", "fill", "--chunks", "2048"],
            check=True, capture_output=True,
        )  # fmt: skip
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            seconds, peak, output = _peak_rss(
                [corr2d_cli, "estimate", str(source), str(target), "--size", "15x15",
                 "--scheduler", cluster.scheduler_address, "--save", str(folder / "found.npy")]
            )  # fmt: skip
            workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        found = np.load(folder / "found.npy")
        error = float(np.abs(found - kernel).max() / np.abs(kernel).max())
        worker_peaks = " + ".join(f"{v:.0f}" for v in workers.values())
        print(
            f"| {size}² float32 pair, 15x15 | {seconds:.0f} s | {peak:.0f} MiB | "
            f"{worker_peaks} MiB | {error:.1e} |"
        )
        print("\n" + output)
    finally:
        for path in (source, target):
            path.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["speed", "rss", "estimate"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8192, 32768])
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--folder", type=Path, default=None)
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-dask-", dir=arguments.folder))
    try:
        if arguments.part == "speed":
            speed(arguments.repeat)
        elif arguments.part == "rss":
            rss(arguments.sizes, folder)
        else:
            estimate(arguments.size, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
