"""Start-up: whole processes, in CPU seconds, corr2d's command line against OpenCV.

Usage::

    python bench/bench_startup.py [--runs 5]

Each case is a fresh process, timed by the CPU seconds (user + system) it and its
children used, ``--runs`` times; the table gives the median and the range.  The cases:

* ``corr2d filter`` of matplotlib's sample photograph (600x512 RGB JPEG) with
  ``gaussian:sigma=2``, written as PNG, against the equivalent OpenCV script (read,
  ``cv2.filter2D`` with the same 17x17 kernel and mirrored border, write);
* warm: corr2d's compile cache holds what the job needs (one run before the timed ones);
  cold: an empty compile cache for every run (``CORR2D_CACHE_DIR`` set to a new
  folder); cold, no bytecode: Python's bytecode too is written afresh
  (``PYTHONPYCACHEPREFIX`` set to a new folder), as on the first run after installing;
* the same on a 3000x4000 photograph, a job large enough for the compiled loops;
* the other commands a user starts with, warm and cold: ``demo``, ``edges`` and
  ``estimate --size 3x3`` of the photograph (Y: ``filter -k sobel-dy --scale none``),
  ``learn`` of the same pair, ``rf ... --input 24 --plot``;
* ``import corr2d``, ``corr2d --version`` and ``corr2d filter --help``.

Each tool writes PNG at its own default compression (OpenCV level 1; corr2d writes through
Pillow), as a user gets it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

PYTHON = sys.executable
CORR2D = str(Path(sys.executable).parent / "corr2d")

OPENCV_SCRIPT = """
import sys, cv2
image = cv2.imread(sys.argv[1])
column = cv2.getGaussianKernel(17, 2.0)
out = cv2.filter2D(image, -1, column @ column.T, borderType=cv2.BORDER_REFLECT)
cv2.imwrite(sys.argv[2], out)
"""


def cpu_seconds(command: list[str], env: dict[str, str] | None = None) -> float:
    """CPU seconds (user + system) of one run of ``command`` and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, capture_output=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(command: list[str], runs: int, fresh: tuple[str, ...] = ()) -> list[float]:
    """``runs`` timings; each variable in ``fresh`` is set to a new empty folder per run."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as scratch:
            env = dict(os.environ)
            for index, name in enumerate(fresh):
                folder = Path(scratch) / f"{index}"
                folder.mkdir(mode=0o700)
                env[name] = str(folder)
            times.append(cpu_seconds(command, env))
    return times


def cell(times: list[float]) -> str:
    return f"{statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f})"


def command_rows(folder: Path, photo: Path, warm_env: dict[str, str], runs: int) -> list[str]:
    """Warm and cold rows for the commands besides ``filter`` (no OpenCV column)."""
    pair = folder / "dy.tif"
    made = [CORR2D, "filter", str(photo), str(pair), "--force", "-k", "sobel-dy", "--scale", "none"]
    subprocess.run(made, check=True, capture_output=True)
    rows = []
    for label, arguments in (
        ("demo", ["demo"]),
        ("edges 600x512 RGB", ["edges", str(photo), str(folder / "e.png"), "--force"]),
        ("estimate 600x512 RGB, 3x3", ["estimate", str(photo), str(pair), "--size", "3x3"]),
        ("learn 600x512 RGB, 3x3", ["learn", str(photo), str(pair), "--size", "3x3"]),
        ("rf 3x3 3x3/d2 3x3/d4 --input 24 --plot", [
            "rf", "3x3", "3x3/d2", "3x3/d4", "--input", "24", "--plot",
            str(folder / "rf.png"), "--force",
        ]),
    ):  # fmt: skip
        command = [CORR2D, *arguments]
        subprocess.run(command, check=True, capture_output=True, env=warm_env)  # warm
        warm = [cpu_seconds(command, warm_env) for _ in range(runs)]
        cold = measure(command, runs, ("CORR2D_CACHE_DIR",))
        rows.append(f"| {label} | {cell(warm)} | {cell(cold)} | | | |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import matplotlib

    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        script = folder / "opencv_filter.py"
        script.write_text(OPENCV_SCRIPT)
        large = folder / "large.png"
        from PIL import Image

        rng = np.random.default_rng(0)
        tiles = np.asarray(Image.open(photo).convert("RGB"))
        big = np.tile(tiles, (5, 8, 1))[:3000, :4000]
        noisy = np.clip(big.astype(np.int16) + rng.integers(-3, 4, big.shape), 0, 255)
        Image.fromarray(noisy.astype(np.uint8)).save(large)
        cache = folder / "cache"
        warm_env = {**os.environ, "CORR2D_CACHE_DIR": str(cache)}
        rows = []
        for label, source in (("600x512 RGB", photo), ("3000x4000 RGB", large)):
            ours = [
                CORR2D,
                "filter",
                str(source),
                str(folder / "ours.png"),
                "--force",
                "--kernel",
                "gaussian:sigma=2",
            ]
            theirs = [PYTHON, str(script), str(source), str(folder / "theirs.png")]
            subprocess.run(ours, check=True, capture_output=True, env=warm_env)  # warm
            warm = [cpu_seconds(ours, warm_env) for _ in range(args.runs)]
            cold = measure(ours, args.runs, ("CORR2D_CACHE_DIR",))
            bare = measure(ours, args.runs, ("CORR2D_CACHE_DIR", "PYTHONPYCACHEPREFIX"))
            cpu_seconds(theirs)
            opencv = [cpu_seconds(theirs) for _ in range(args.runs)]
            ratio = statistics.median(warm) / statistics.median(opencv)
            rows.append(
                f"| filter {label}, gaussian sigma 2 | {cell(warm)} | {cell(cold)} | "
                f"{cell(bare)} | {cell(opencv)} | {ratio:.2f} |"
            )
            print(rows[-1], flush=True)
        rows.extend(command_rows(folder, photo, warm_env, args.runs))
        for label, command in (
            ("import corr2d", [PYTHON, "-c", "import corr2d"]),
            ("corr2d --version", [CORR2D, "--version"]),
            ("corr2d filter --help", [CORR2D, "filter", "--help"]),
            ("python -c pass", [PYTHON, "-c", "pass"]),
        ):
            times = [cpu_seconds(command, warm_env) for _ in range(args.runs)]
            rows.append(f"| {label} | {cell(times)} | | | | |")
            print(rows[-1], flush=True)
    print()
    print(
        "| job | corr2d warm (s) | corr2d cold (s) | cold, no bytecode (s) | OpenCV script (s) "
        "| warm / OpenCV |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
