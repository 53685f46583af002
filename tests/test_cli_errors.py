"""The command line's bad arguments: one line naming the option and its value, and the
documented exit code (5 for overflow, 6 for too large for this machine); Ctrl-C
prints 'interrupted' and exits 130."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from corr2d.cli import app
from corr2d.cli._shared import EXIT_CODES, EXIT_OVERFLOW, EXIT_TOO_LARGE, classify
from corr2d.io import write_image

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, list[str]]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stderr.strip().splitlines()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    write_image(tmp_path / "x.png", rng.integers(0, 256, size=(32, 32)).astype(np.uint8))
    write_image(tmp_path / "y.png", rng.integers(0, 256, size=(30, 30)).astype(np.uint8))
    with (tmp_path / "lying.npy").open("wb") as handle:  # a header claiming 100000x100000
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)}
        )
        handle.write(b"\0" * 800)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code", "pattern"),
    [
        (["learn", "{x}", "{x}", "--size", "3x3", "--seed", "-1"], 2,
         r"'--seed': must be a non-negative integer, got -1"),
        (["demo", "--seed", "-1"], 2, r"'--seed': must be a non-negative integer, got -1"),
        (["learn", "{x}", "{x}", "--size", "100000x100000"], 2,
         r"--size 100000x100000: the kernel is larger than the image \(32x32\)"),
        (["estimate", "{x}", "{tmp}/y.png", "--size", "100000x100000"], 2,
         r"--size 100000x100000: the kernel is larger than the image \(32x32\)"),
        (["learn", "{x}", "{tmp}/y.png", "--size", "3x3", "--steps", "100000000000000"],
         EXIT_TOO_LARGE, r"too large for this machine: fit: `steps` .* got 100000000000000"),
        (["learn", "{x}", "{x}", "--size", "3x3", "--steps", "100000000000000"], EXIT_TOO_LARGE,
         r"too large for this machine: fit: `steps` .* got 100000000000000"),
        (["rf", "3x3/p100000000000", "--input", "32", "--plot", "{tmp}/rf.png"], EXIT_TOO_LARGE,
         r"too large for this machine: .*`layers\[0\]` .*got 'conv 3x3/p100000000000'"),
        (["filter", "{x}", "{tmp}/o.png", "-k", "box:size=100000"], EXIT_TOO_LARGE,
         r"too large for this machine: kernels.box: `size` .*got 100000"),
        (["filter", "{x}", "{tmp}/o.png", "-k", "{tmp}/lying.npy"], 3,
         r"lying.npy: the header claims a 100000x100000 float64 array \(74.5 GiB\), but the "
         r"file holds 800 bytes"),
        (["kernels", "finite-difference:order=2000"], 2,
         r"`order` must be an int in \[1, 56\], got 2000"),
        (["bench", "--sizes", "100000000", "--quick"], EXIT_TOO_LARGE,
         r"--sizes 100000000: .*too large for this machine"),
    ],
)  # fmt: skip
def test_unclear_errors_name_the_option_and_its_value(folder, args, code, pattern) -> None:
    argv = [a.format(x=folder / "x.png", tmp=folder) for a in args]
    got, lines = run(*argv)
    assert got == code, lines
    assert len(lines) == 1 and lines[0].startswith("corr2d: error: "), lines
    assert re.search(pattern, lines[0]), lines[0]
    assert not (folder / "o.png").exists() and not (folder / "rf.png").exists()


def test_exit_codes_for_overflow_and_too_large_are_documented() -> None:
    assert "overflow" in EXIT_CODES[EXIT_OVERFLOW]
    assert "too large for this machine" in EXIT_CODES[EXIT_TOO_LARGE]
    docs = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    assert f"| {EXIT_OVERFLOW} | overflow: an exact integer result" in docs
    assert f"| {EXIT_TOO_LARGE} | too large for this machine" in docs
    assert classify(OverflowError("corr2d: integer inputs could overflow int64"))[0] == 5
    assert classify(MemoryError())[0] == EXIT_TOO_LARGE
    assert classify(ValueError("Maximum allowed dimension exceeded"))[0] == EXIT_TOO_LARGE


def _interrupt(seconds: float, args: list[str], cwd: Path) -> tuple[list[str], float]:
    """``corr2d ARGS`` in ``cwd``, sent a real SIGINT after ``seconds``: its stderr lines
    and the seconds from the signal to its exit, once it is known to have exited 130."""
    child = subprocess.Popen(
        [sys.executable, "-m", "corr2d", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(seconds)
    sent = time.perf_counter()
    child.send_signal(signal.SIGINT)
    try:
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    latency = time.perf_counter() - sent
    if child.returncode == 0:
        pytest.skip("the job finished before the signal: this machine is too fast for it")
    assert child.returncode == 130, stderr
    return stderr.strip().splitlines(), latency


def test_ctrl_c_prints_interrupted_exits_130_and_leaves_nothing(tmp_path) -> None:
    """A 5000x5000 image and a 41x41 kernel: seconds of compiled loops, interrupted."""
    rng = np.random.default_rng(1)
    write_image(tmp_path / "big.png", rng.integers(0, 256, (5000, 5000)).astype(np.uint8))
    np.save(tmp_path / "k.npy", rng.random((41, 41)))
    args = ["filter", "big.png", "out.png", "-k", "k.npy", "--method", "direct"]
    lines, _ = _interrupt(4.0, [*args, "--plot", "figure.png"], tmp_path)
    assert lines == ["corr2d: error: interrupted"]
    assert sorted(os.listdir(tmp_path)) == ["big.png", "k.npy"]


def test_ctrl_c_during_estimate_prints_interrupted_and_exits_130(tmp_path) -> None:
    """A real SIGINT to ``corr2d estimate`` while it accumulates the normal equations of
    a 2000x2000 pair (seconds of work): one line, exit 130, no kernel file."""
    rng = np.random.default_rng(2)
    x = rng.random((2000, 2000)).astype(np.float32)
    write_image(tmp_path / "X.tif", x)
    y = np.zeros_like(x)  # any Y: the job is interrupted long before the fit matters
    write_image(tmp_path / "Y.tif", y)
    args = ["estimate", "X.tif", "Y.tif", "-s", "21x21", "--save", "K.npy"]
    lines, latency = _interrupt(2.5, args, tmp_path)
    assert lines == ["corr2d: error: interrupted"]
    assert latency < 5.0, f"Ctrl-C took {latency:.2f} s"
    assert sorted(os.listdir(tmp_path)) == ["X.tif", "Y.tif"]
