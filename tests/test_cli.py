"""The ``corr2d`` command line, run on images made here, as a user would run it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from corr2d import correlate2d, kernels
from corr2d.cli import app
from corr2d.io import read_image, read_kernel, write_image

runner = CliRunner()

COMMANDS = ["filter", "edges", "estimate", "learn", "rf", "kernels", "demo", "bench"]


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, stderr: str, expected_code: int, pattern: str) -> None:
    """The failure is a single 'corr2d: error:' line, no traceback, the given exit code."""
    lines = stderr.strip().splitlines()
    assert code == expected_code, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("corr2d: error: ")
    assert "Traceback" not in stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    write_image(tmp_path / "grey.png", rng.integers(0, 256, size=(30, 40)).astype(np.uint8))
    write_image(tmp_path / "rgb.png", rng.integers(0, 256, size=(30, 40, 3)).astype(np.uint8))
    write_image(tmp_path / "deep.png", rng.integers(0, 65536, size=(30, 40)).astype(np.uint16))
    write_image(tmp_path / "float.tif", rng.standard_normal((30, 40)).astype(np.float32))
    return tmp_path


# ---------------------------------------------------------------- help


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    assert "Examples" in out and f"corr2d {command}" in out
    assert "Exit codes" in out


@pytest.mark.parametrize("command", [*COMMANDS, "explore"])
def test_help_paragraphs_fill_an_80_column_terminal(command: str) -> None:
    """Each paragraph of the description is wrapped by the terminal alone: every line
    but a paragraph's last is filled, none is cut short by a line break of the source."""
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0
    description = result.stdout.split("╭")[0].splitlines()[2:]
    paragraphs = "\n".join(line.strip() for line in description).split("\n\n")
    for paragraph in filter(None, (p.strip() for p in paragraphs)):
        for line in paragraph.splitlines()[:-1]:
            assert len(line) >= 60, (command, line)


def test_bare_command_prints_help_and_version() -> None:
    code, out, _ = run()
    assert code == 0 and "Commands" in out and "Exit codes" in out
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("corr2d ")


# ---------------------------------------------------------------- demo


def test_demo_prints_the_chapters_numbers() -> None:
    code, out, _ = run("demo")
    assert code == 0
    assert "[[19. 25.]\n [37. 43.]]" in out
    assert "0*0 + 1*1 + 3*2 + 4*3 = 19" in out
    assert "[[ 0.  1.  0.  0.  0. -1.  0.]" in out
    assert out.count("[ 0.  1.  0.  0.  0. -1.  0.]") == 6  # all six rows
    assert "[[0. 0. 0. 0. 0.]" in out and out.count("[0. 0. 0. 0. 0.]") == 8  # transposed
    for step, loss in zip(
        range(2, 11, 2), ["4.949", "0.831", "0.140", "0.024", "0.004"], strict=True
    ):
        assert f"batch {step}, loss {loss}" in out
    assert "[[ 0.9895 -0.9874]]" in out
    assert "[[3. 2.]\n [1. 0.]]" in out  # the flipped kernel
    assert "3x3 patch, all 9 inputs" in out


def test_demo_with_a_seed_still_learns_the_edge_kernel() -> None:
    code, out, _ = run("demo", "--seed", "3")
    assert code == 0 and "seed 3" in out
    learned = re.search(r"learned kernel =\n\[\[\s*([-\d.]+)\s+([-\d.]+)\]\]", out)
    assert learned is not None
    assert float(learned.group(1)) == pytest.approx(1.0, abs=0.1)
    assert float(learned.group(2)) == pytest.approx(-1.0, abs=0.1)


def test_demo_figures_and_no_silent_overwrite(tmp_path: Path) -> None:
    folder = tmp_path / "figs"
    code, _, _ = run("demo", "--plot", folder)
    assert code == 0
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "demo_correlation.png",
        "demo_edges.png",
        "demo_loss.png",
        "demo_receptive_field.png",
    ]
    stamps = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    code, _, err = run("demo", "--plot", folder)
    assert_one_line_error(code, err, 4, "already exists")
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    assert run("demo", "--plot", folder, "--force")[0] == 0


# ---------------------------------------------------------------- filter


def test_filter_raw_output_equals_the_library(images: Path) -> None:
    kernel = np.array([[1.0, -1.0], [0.0, 2.0]])
    out = images / "out.tif"
    code, _, err = run(
        "filter",
        images / "float.tif",
        out,
        "--kernel",
        "1,-1;0,2",
        "--scale",
        "none",
        "--boundary",
        "fill",
        "--mode",
        "same",
    )
    assert code == 0, err
    expected = correlate2d(read_image(images / "float.tif"), kernel, "same", "fill")
    result = read_image(out)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-6)


def test_filter_convolve_valid_equals_scipy(images: Path) -> None:
    from scipy import signal

    kernel = kernels.get("sobel-dx")
    np.save(images / "k.npy", kernel)
    out = images / "out.tif"
    code, _, err = run(
        "filter",
        images / "grey.png",
        out,
        "-k",
        images / "k.npy",
        "--mode",
        "valid",
        "--convolve",
        "--scale",
        "none",
    )
    assert code == 0, err
    expected = signal.convolve2d(read_image(images / "grey.png").astype(float), kernel, "valid")
    np.testing.assert_allclose(read_image(out), expected, atol=1e-3)


def test_filter_colour_keeps_channels_and_type(images: Path) -> None:
    out = images / "blur.png"
    code, _, err = run("filter", images / "rgb.png", out, "-k", "box:size=3")
    assert code == 0, err
    rgb = read_image(images / "rgb.png")
    result = read_image(out)
    assert result.shape == rgb.shape and result.dtype == np.uint8
    for c in range(3):
        expected = correlate2d(rgb[..., c], kernels.get("box", size=3), "same", "symm")
        np.testing.assert_array_equal(result[..., c], np.rint(expected).astype(np.uint8))


def test_filter_sixteen_bit_round_trip(images: Path) -> None:
    out = images / "same.png"
    code, _, err = run("filter", images / "deep.png", out, "-k", "identity")
    assert code == 0, err
    result = read_image(out)
    assert result.dtype == np.uint16
    np.testing.assert_array_equal(result, read_image(images / "deep.png"))


def test_filter_signed_response_is_centred_on_mid_grey(images: Path) -> None:
    flat = images / "flat.png"
    write_image(flat, np.full((8, 8), 77, np.uint8))
    out = images / "edges.png"
    assert run("filter", flat, out, "-k", "sobel-dx")[0] == 0
    assert (read_image(out) == 128).all()


def test_filter_several_inputs_into_a_folder(images: Path) -> None:
    folder = images / "out"
    code, _, err = run(
        "filter",
        images / "grey.png",
        images / "rgb.png",
        images / "deep.png",
        folder,
        "-k",
        "gaussian:sigma=1",
    )
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["deep.png", "grey.png", "rgb.png"]
    assert read_image(folder / "deep.png").dtype == np.uint16


def test_filter_plot(images: Path) -> None:
    figure = images / "fig.png"
    code, _, err = run(
        "filter", images / "grey.png", images / "o.png", "-k", "laplacian-4", "--plot", figure
    )
    assert code == 0, err
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_edges_magnitude_and_axis(images: Path) -> None:
    step = np.zeros((10, 12), np.uint8)
    step[:, 6:] = 200
    write_image(images / "step.png", step)
    assert run("edges", images / "step.png", images / "mag.tif", "--scale", "none")[0] == 0
    magnitude = read_image(images / "mag.tif")
    assert magnitude[:, 5:7].min() > 0 and magnitude[:, :4].max() == 0
    assert run("edges", images / "step.png", images / "dy.png", "--axis", "y")[0] == 0
    assert (read_image(images / "dy.png") == 128).all()  # no edge along rows


# ---------------------------------------------------------------- errors


def _corrupt(folder: Path) -> Path:
    data = (folder / "rgb.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    return folder / "cut.png"


ERROR_CASES = [
    # (arguments after 'filter INPUT OUTPUT', how to make the input, exit code, message)
    ("missing input", ["-k", "1"], "missing", 3, "no such file"),
    ("corrupt image", ["-k", "1"], "corrupt", 3, "corrupt or truncated"),
    ("unsupported format", ["-k", "1"], "text", 3, "not an image"),
    ("too many pixels", ["-k", "1", "--max-pixels", "100"], "grey", 3, "limit of 100"),
    ("bad kernel shape", ["-k", "{cube}"], "grey", 3, "2-D"),
    ("kernel file words", ["-k", "{words}"], "grey", 3, "'x' is not a number"),
    ("inline kernel", ["-k", "1,2;3"], "grey", 2, "row 2 has 1 values"),
    ("unknown name", ["-k", "sobol-dx"], "grey", 2, "unknown name 'sobol-dx'"),
    ("bad option value", ["-k", "1", "--mode", "middle"], "grey", 2, "'middle' is not one"),
    (
        "kernel larger than the image",
        ["-k", "1,1,1;1,1,1;1,1,1;1,1,1", "--mode", "valid"],
        "tiny",
        3,
        r"the kernel \(4x3\) is larger than the image \(2x5\)",
    ),
    ("float into png", ["-k", "1", "--scale", "none"], "grey", 2, r"needs a \.tif"),
    ("uint16 into jpeg", ["-k", "1"], "deep", 4, "JPEG output holds uint8"),
]


@pytest.mark.parametrize(
    ("label", "options", "source", "exit_code", "pattern"),
    ERROR_CASES,
    ids=[case[0] for case in ERROR_CASES],
)
def test_filter_errors_are_one_line_and_write_nothing(
    images: Path, label: str, options: list[str], source: str, exit_code: int, pattern: str
) -> None:
    np.save(images / "cube.npy", np.zeros((2, 2, 2)))
    (images / "words.txt").write_text("1 x\n")
    (images / "text.png").write_text("hello")
    write_image(images / "tiny.png", np.zeros((2, 5), np.uint8))
    inputs = {
        "missing": images / "absent.png",
        "corrupt": _corrupt(images),
        "text": images / "text.png",
        "grey": images / "grey.png",
        "deep": images / "deep.png",
        "tiny": images / "tiny.png",
    }
    output = images / ("out.jpg" if source == "deep" else "out.png")
    filled = [o.format(cube=images / "cube.npy", words=images / "words.txt") for o in options]
    before = sorted(p.name for p in images.iterdir())
    code, _, err = run("filter", inputs[source], output, *filled)
    assert_one_line_error(code, err, exit_code, pattern)
    assert not output.exists()
    assert sorted(p.name for p in images.iterdir()) == before  # no temporary left either


def test_existing_output_is_untouched_without_force(images: Path) -> None:
    output = images / "out.png"
    output.write_bytes(b"precious")
    code, _, err = run("filter", images / "grey.png", output, "-k", "1")
    assert_one_line_error(code, err, 4, "already exists")
    assert output.read_bytes() == b"precious"
    assert run("filter", images / "grey.png", output, "-k", "1", "--force")[0] == 0
    assert read_image(output).shape == (30, 40)


def test_an_input_is_never_overwritten(images: Path) -> None:
    before = (images / "grey.png").read_bytes()
    code, _, err = run("filter", images / "grey.png", images / "grey.png", "-k", "2", "--force")
    assert_one_line_error(code, err, 4, "is an input")
    folder_code, _, folder_err = run(
        "filter", images / "grey.png", images / "rgb.png", images, "-k", "2", "--force"
    )
    assert_one_line_error(folder_code, folder_err, 4, "is an input")
    assert (images / "grey.png").read_bytes() == before


# ---------------------------------------------------------------- estimate and learn


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A 16-bit PNG and its exact filtered version as a float TIFF."""
    rng = np.random.default_rng(5)
    X = rng.integers(0, 65536, size=(32, 36)).astype(np.uint16)
    K = np.array([[0.5, -1.0, 0.0], [2.0, 0.25, -0.5], [0.0, 1.0, 0.125]])
    write_image(tmp_path / "X.png", X)
    write_image(tmp_path / "Y.tif", correlate2d(X, K, "valid"))
    return tmp_path / "X.png", tmp_path / "Y.tif", K


def test_estimate_recovers_the_kernel_from_two_files(pair: tuple[Path, Path, np.ndarray]) -> None:
    x, y, K = pair
    saved = x.parent / "K.csv"
    code, out, err = run("estimate", x, y, "--size", "3x3", "--save", saved, "--plot", x.parent)
    assert code == 0, err
    assert "identifiable      yes" in out and "Y from X          valid" in out
    np.testing.assert_allclose(read_kernel(saved), K, atol=1e-9)
    assert (x.parent / "estimate.png").exists()


def test_estimate_through_the_filter_command(tmp_path: Path) -> None:
    """filter --scale none, then estimate: the named kernel comes back."""
    rng = np.random.default_rng(2)
    write_image(tmp_path / "X.tif", rng.random((40, 40)).astype(np.float64))
    assert (
        run(
            "filter",
            tmp_path / "X.tif",
            tmp_path / "Y.tif",
            "-k",
            "sobel-dy",
            "--boundary",
            "fill",
            "--scale",
            "none",
            "--dtype",
            "float64",
        )[0]
        == 0
    )
    code, _, err = run(
        "estimate",
        tmp_path / "X.tif",
        tmp_path / "Y.tif",
        "-s",
        "3",
        "--boundary",
        "fill",
        "--save",
        tmp_path / "k.npy",
    )
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "k.npy"), kernels.get("sobel-dy"), atol=1e-9)


def test_estimate_mismatched_sizes(pair: tuple[Path, Path, np.ndarray]) -> None:
    x, y, _ = pair
    code, _, err = run("estimate", x, y, "--size", "5x5", "--save", x.parent / "K.npy")
    assert_one_line_error(code, err, 3, "do not fit together: X is 32x36 and Y is 30x34")
    assert not (x.parent / "K.npy").exists()
    code, _, err = run("estimate", x, y, "--size", "3x3", "--mode", "same")
    assert_one_line_error(code, err, 3, "--mode same")
    code, _, err = run("estimate", x, y, "--size", "3y3")
    assert_one_line_error(code, err, 2, "not a size")


def test_learn_reports_the_kernel_and_draws_the_loss(pair: tuple[Path, Path, np.ndarray]) -> None:
    x, y, K = pair
    saved = x.parent / "learned.npy"
    code, out, err = run(
        "learn",
        x,
        y,
        "--size",
        "3x3",
        "--steps",
        "400",
        "--save",
        saved,
        "--plot",
        x.parent / "figs",
    )
    assert code == 0, err
    assert "learned kernel 3x3" in out and "loss:" in out
    np.testing.assert_allclose(np.load(saved), K, atol=0.05)
    assert sorted(p.name for p in (x.parent / "figs").iterdir()) == [
        "learn_kernel.png",
        "learn_loss.png",
    ]


# ---------------------------------------------------------------- rf, kernels, bench


def test_rf_table_and_plot(tmp_path: Path) -> None:
    code, out, _ = run("rf", "2x2", "2x2", "--input", "3")
    assert code == 0
    assert "receptive field: 3x3" in out
    code, out, _ = run(
        "rf", "3x3", "3x3/s2", "3x3/d2", "--input", "32", "--plot", tmp_path / "rf.png"
    )
    assert code == 0
    assert "13x13" in out and (tmp_path / "rf.png").exists()
    code, _, err = run("rf", "3x3/q2")
    assert_one_line_error(code, err, 2, "layer 1")
    code, listed, _ = run("rf", "3x3,3x3/s2", "3x3/d2", "--input", "32")
    assert code == 0  # layers split by commas in one argument
    assert listed == run("rf", "3x3", "3x3/s2", "3x3/d2", "--input", "32")[1]
    code, _, err = run("rf", "3x3,3x3/q2")
    assert_one_line_error(code, err, 2, r"layer 2 \('3x3/q2'\)")
    code, _, err = run("rf", " , ")
    assert_one_line_error(code, err, 2, "give at least one layer")
    code, _, err = run("rf", "3x3", "--input", "8", "--unit", "9,0")
    assert_one_line_error(code, err, 2, "outside the output")


def test_kernels_listing() -> None:
    code, out, _ = run("kernels")
    assert code == 0
    for name in kernels.names():
        assert name in out
    code, out, _ = run("kernels", "sobel-dx")
    assert code == 0
    assert re.search(r"-1\s+0\s+1\n\s*-2\s+0\s+2\n\s*-1\s+0\s+1", out)
    code, _, err = run("kernels", "nope")
    assert_one_line_error(code, err, 2, "unknown name")


def test_bench_skips_peers_over_the_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from corr2d.cli import bench

    # The defaults' largest torch case would unfold 8 GB of patches: it must be skipped.
    largest = max(bench.DEFAULT_SIZES)
    assert bench.peer_memory("torch conv2d", largest, max(bench.DEFAULT_KERNELS), 8) > 2**32
    monkeypatch.setattr(bench, "MEMORY_LIMIT", 64 * 64 * 5 * 5 * 8 - 1)
    code, out, err = run("bench", "--sizes", "64", "--kernels", "5", "--repeat", "1")
    assert code == 0, err
    assert re.search(r"torch conv2d\s+skipped \(> 1 GiB\)", out)
    assert re.search(r"cv2.filter2D\s+[\d.]+ ms", out)


def test_bench_quick_runs() -> None:
    code, out, err = run("bench", "--quick", "--sizes", "32", "--kernels", "3", "--repeat", "1")
    assert code == 0, err
    assert "32x32" in out and "corr2d" in out and "scipy.signal.correlate2d" in out
    assert "ratio" in out


# ---------------------------------------------------------------- the real console script


def _console_script() -> list[str]:
    script = Path(sys.executable).parent / "corr2d"
    return [str(script)] if script.exists() else [sys.executable, "-m", "corr2d"]


def _subprocess(command: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


def test_console_script_filters_and_fails_cleanly(images: Path) -> None:
    done = _subprocess(
        [*_console_script(), "filter", "grey.png", "edges.png", "-k", "sobel-dx"], images
    )
    assert done.returncode == 0, done.stderr
    assert read_image(images / "edges.png").dtype == np.uint8
    failed = _subprocess([*_console_script(), "filter", "grey.png", "x.png", "-k", "1,2;3"], images)
    assert_one_line_error(failed.returncode, failed.stderr, 2, "row 2 has 1 values")
    assert not (images / "x.png").exists()


def test_python_dash_m_runs_the_demo(tmp_path: Path) -> None:
    done = _subprocess([sys.executable, "-m", "corr2d", "demo"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[[19. 25.]\n [37. 43.]]" in done.stdout
    assert "batch 10, loss 0.004" in done.stdout
