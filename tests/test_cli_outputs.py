"""Output paths on the command line: checked before any work, written only on success."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from corr2d.cli import app
from corr2d.io import write_image

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def one_line_error(code: int, stderr: str, expected: int, text: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == expected, stderr
    assert len(lines) == 1 and lines[0].startswith("corr2d: error: "), stderr
    assert text in lines[0], lines[0]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Input images in a fresh folder, which is also the working directory."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    write_image(tmp_path / "a.png", rng.integers(0, 256, (24, 20)).astype(np.uint8))
    write_image(tmp_path / "b.png", rng.integers(0, 256, (24, 20)).astype(np.uint8))
    X = rng.random((20, 22))
    write_image(tmp_path / "X.tif", X)
    K = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 0.5], [0.25, 0.0, 1.0]])
    from corr2d import correlate2d

    write_image(tmp_path / "Y.tif", correlate2d(X, K, "valid"))
    return tmp_path


#: One command line per command that writes files, with {out} the path under test.
WRITERS = {
    "filter image": ["filter", "a.png", "{out}", "-k", "box:size=3"],
    "filter --plot": ["filter", "a.png", "o.png", "-k", "box:size=3", "--plot", "{out}"],
    "edges": ["edges", "a.png", "{out}"],
    "rf --plot": ["rf", "2x2", "2x2", "--input", "3", "--plot", "{out}"],
    "estimate --save": ["estimate", "X.tif", "Y.tif", "-s", "3", "--save", "{out}"],
    "learn --save": ["learn", "X.tif", "Y.tif", "-s", "3", "--steps", "2", "--save", "{out}"],
}
SUFFIX = {"estimate --save": ".npy", "learn --save": ".npy"}


def command(label: str, out: Path) -> list[str]:
    return [part.format(out=out) for part in WRITERS[label]]


@pytest.mark.parametrize("label", WRITERS)
def test_existing_output_refused_before_work_and_untouched(folder: Path, label: str) -> None:
    out = folder / f"taken{SUFFIX.get(label, '.png')}"
    out.write_bytes(b"precious")
    before = listing(folder)
    code, _, err = run(*command(label, out))
    one_line_error(code, err, 4, "already exists (use --force")
    assert out.read_bytes() == b"precious" and listing(folder) == before


@pytest.mark.parametrize("label", [label for label in WRITERS if label != "rf --plot"])
def test_outputs_are_checked_before_the_inputs_are_read(folder: Path, label: str) -> None:
    """A bad output is reported before a (large, slow or broken) input is even opened."""
    for name in ("a.png", "X.tif", "Y.tif"):
        (folder / name).write_bytes(b"not an image at all")
    out = folder / f"taken{SUFFIX.get(label, '.png')}"
    out.write_bytes(b"precious")
    code, _, err = run(*command(label, out))
    one_line_error(code, err, 4, "already exists (use --force")


@pytest.mark.parametrize("label", WRITERS)
def test_output_in_a_missing_folder_refused(folder: Path, label: str) -> None:
    out = folder / "nowhere" / f"out{SUFFIX.get(label, '.png')}"
    before = listing(folder)
    code, _, err = run(*command(label, out))
    one_line_error(code, err, 4, "does not exist")
    assert listing(folder) == before  # the main output of 'filter --plot' included


@pytest.mark.parametrize(
    ("label", "name", "rule"),
    [
        ("filter image", "out.bmp", ".png, .jpg, .jpeg, .tif, .tiff"),
        ("filter --plot", "figure.jpg", "--plot must end in .png"),
        ("rf --plot", "rf.svg", "--plot must end in .png"),
        ("estimate --save", "K.json", "--save must end in .npy, .txt, .csv"),
        ("learn --save", "K", "got 'no suffix'"),
    ],
)
def test_unsupported_suffix_refused(folder: Path, label: str, name: str, rule: str) -> None:
    before = listing(folder)
    code, _, err = run(*command(label, folder / name))
    one_line_error(code, err, 4, rule)
    assert listing(folder) == before


def test_an_output_that_is_an_input_is_refused_even_with_force(folder: Path) -> None:
    data = (folder / "a.png").read_bytes()
    for args in (
        ["filter", "a.png", "a.png", "-k", "1", "--force"],
        ["filter", "a.png", "o.png", "-k", "1", "--plot", "a.png", "--force"],
        ["edges", "a.png", "./sub/../a.png", "--force"],
    ):
        (folder / "sub").mkdir(exist_ok=True)
        code, _, err = run(*args)
        one_line_error(code, err, 4, "is an input")
    os.link(folder / "a.png", folder / "hard.png")  # another name for the same file
    code, _, err = run("filter", "a.png", "hard.png", "-k", "1", "--force")
    one_line_error(code, err, 4, "is an input")
    assert (folder / "a.png").read_bytes() == data


def test_two_outputs_naming_one_file_are_refused(folder: Path) -> None:
    code, _, err = run("filter", "a.png", "o.png", "-k", "1", "--plot", "./o.png")
    one_line_error(code, err, 4, "OUTPUT and --plot name the same file")
    (folder / "x").mkdir()
    write_image(folder / "x" / "a.png", np.zeros((4, 4), np.uint8))
    code, _, err = run("filter", "a.png", "x/a.png", "out/", "-k", "1")
    one_line_error(code, err, 4, "name the same file")
    assert not (folder / "out").exists() and not (folder / "o.png").exists()


def test_folder_outputs(folder: Path) -> None:
    (folder / "file").write_text("x")
    code, _, err = run("demo", "--plot", "file")
    one_line_error(code, err, 4, "--plot needs a folder, and this is a file")
    code, _, err = run("demo", "--plot", "file/figures")
    one_line_error(code, err, 4, "is a file")
    code, _, err = run("filter", "a.png", "b.png", "file", "-k", "1")
    one_line_error(code, err, 4, "needs a folder, and this is a file")
    code, _, err = run("filter", "a.png", "o.png", "-k", "1", "--plot", "figures")
    one_line_error(code, err, 4, "--plot must end in .png")
    # A folder named like an image file is a slip: the figures would go inside it.
    for command in (["demo"], ["learn", "a.png", "a.png", "--size", "1x1", "--steps", "1"]):
        code, _, err = run(*command, "--plot", "loss.png")
        one_line_error(code, err, 2, "loss.png: --plot must be a folder here, and this names")
    code, _, err = run("filter", "a.png", "b.png", "out.jpg", "-k", "1")
    one_line_error(code, err, 2, "out.jpg: OUTPUT must be a folder here")
    assert not (folder / "loss.png").exists() and not (folder / "out.jpg").exists()
    # A folder the command creates may be nested; it is made only when the work is done.
    code, _, err = run("demo", "--plot", "new/deeper")
    assert code == 0, err
    assert len(list((folder / "new" / "deeper").iterdir())) == 4


def test_a_failure_after_the_checks_leaves_nothing(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image is computed and staged, then drawing the figure fails: nothing stays."""
    import corr2d.plot

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("plot_filter: simulated failure")

    monkeypatch.setattr(corr2d.plot, "plot_filter", broken)
    before = listing(folder)
    code, _, err = run("filter", "a.png", "o.png", "-k", "1", "--plot", "f.png")
    one_line_error(code, err, 1, "simulated failure")
    assert listing(folder) == before


def test_a_refused_write_names_the_output_not_its_temporary_file(folder: Path) -> None:
    """JPEG holds no 16-bit image: the one line names o.jpg, nothing stays."""
    rng = np.random.default_rng(4)
    write_image(folder / "deep.tif", rng.integers(0, 65536, (24, 20, 3)).astype(np.uint16))
    before = listing(folder)
    for command in (
        ["filter", "deep.tif", "o.jpg", "-k", "box:size=3"],
        ["edges", "deep.tif", "o.jpg"],
    ):
        code, _, err = run(*command)
        one_line_error(code, err, 4, "corr2d: error: o.jpg: JPEG output holds uint8 grey or RGB")
        assert ".part" not in err
        assert listing(folder) == before


def test_an_output_that_cannot_hold_the_pixels_is_refused_before_filtering(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import corr2d.filtering

    def not_reached(*args: object, **kwargs: object) -> None:
        raise AssertionError("filtered an image whose output was already known to fail")

    monkeypatch.setattr(corr2d.filtering, "filter_image", not_reached)
    monkeypatch.setattr(corr2d.filtering, "filter_pixels", not_reached)
    monkeypatch.setattr(corr2d.filtering, "gradient_image", not_reached)
    rng = np.random.default_rng(5)
    write_image(folder / "deep.tif", rng.integers(0, 65536, (24, 20, 3)).astype(np.uint16))
    for command in (
        ["filter", "deep.tif", "o.jpg", "-k", "box:size=3"],
        ["edges", "deep.tif", "o.jpg"],
    ):
        code, _, err = run(*command)
        one_line_error(
            code, err, 4, "o.jpg: JPEG output holds uint8 grey or RGB images, got uint16"
        )
    code, _, err = run("filter", "deep.tif", "o.png", "-k", "box:size=3", "--scale", "none")
    one_line_error(code, err, 2, "o.png: floating-point output (--scale none or --dtype float)")


def test_the_summary_line_gives_the_shape_written(folder: Path) -> None:
    """An alpha channel passed through is counted; a JPEG, which drops it, is not."""
    rgba = np.random.default_rng(6).integers(0, 256, (24, 20, 4)).astype(np.uint8)
    write_image(folder / "rgba.png", rgba)
    for name, channels in (("o.png", 4), ("o.jpg", 3)):
        code, out, err = run("filter", "rgba.png", name, "-k", "box:size=3")
        assert code == 0, err
        assert f"rgba.png -> {name} (24x20x{channels}, uint8" in out
        code, out, err = run("edges", "rgba.png", "e" + name)
        assert code == 0, err
        assert f"24x20x{channels}, uint8)" in out


def test_a_full_disk_names_the_output(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import corr2d.io.images

    def no_space(path: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(corr2d.io.images, "atomic_write", no_space)
    before = listing(folder)
    code, _, err = run("filter", "a.png", "o.png", "-k", "box:size=3")
    one_line_error(code, err, 4, "corr2d: error: o.png: cannot be written: No space left")
    assert listing(folder) == before


def test_ctrl_c_after_the_checks_leaves_nothing(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import corr2d.plot

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(corr2d.plot, "plot_receptive_field", interrupted)
    monkeypatch.setattr(corr2d.plot, "plot_filter", interrupted)
    before = listing(folder)
    code, _, err = run("demo", "--plot", "new/figures")
    assert code == 130, err
    code, _, err = run("filter", "a.png", "b.png", "out/deep", "-k", "1")
    assert code == 0, err  # no figure drawn: works
    code, _, err = run("filter", "a.png", "o.png", "-k", "1", "--plot", "f.png")
    assert code == 130, err
    assert listing(folder) == sorted(
        [*before, "out", "out/deep", "out/deep/a.png", "out/deep/b.png"]
    )


def test_a_real_sigint_during_a_batch_leaves_nothing(tmp_path: Path) -> None:
    """SIGINT to the console script once outputs are staged: no folder, exit 130."""
    rng = np.random.default_rng(0)
    names = []
    for index in range(40):
        name = f"in{index:02d}.png"
        write_image(tmp_path / name, rng.integers(0, 256, (400, 400)).astype(np.uint8))
        names.append(name)
    script = Path(sys.executable).parent / "corr2d"
    program = [str(script)] if script.exists() else [sys.executable, "-m", "corr2d"]
    process = subprocess.Popen(
        [*program, "filter", *names, "out", "-k", "gaussian:sigma=6", "--method", "direct"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "out").exists():  # created just before the first file is read
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    time.sleep(0.1)  # a few of the 40 outputs staged (each takes about 20 ms here)
    assert process.poll() is None
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
