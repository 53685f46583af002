"""``corr2d estimate`` and ``corr2d learn`` on a real photograph, as the README runs them.

The photograph is matplotlib's ``grace_hopper.jpg`` (600x512, colour), which ships with
every matplotlib install; Y is made by ``corr2d filter`` itself, so these tests check the
README's loop end to end: whatever border rule and size relation filter used, estimate
and learn given the same flags (or none) must give filter's kernel back.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from typer.testing import CliRunner

from corr2d import estimate as estimate_module
from corr2d.cli import app
from corr2d.io import read_image, write_image
from corr2d.kernel_spec import load_kernel

runner = CliRunner()
PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
SOBEL_DY = load_kernel("sobel-dy")


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def program() -> list[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "corr2d"
    return [str(script)] if script.exists() else [sys.executable, "-m", "corr2d"]


def console(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*program(), *(str(a) for a in args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=300,
        check=False,
    )


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    shutil.copy(PHOTO, tmp_path / "X.jpg")
    return tmp_path / "X.jpg"


def test_the_readme_loop_gives_the_kernel_back_with_no_border_flags(photo: Path) -> None:
    folder = photo.parent
    made = console(
        "filter", "X.jpg", "Y.tif", "--kernel", "sobel-dy", "--scale", "none", cwd=folder
    )
    assert made.returncode == 0, made.stderr
    done = console("estimate", "X.jpg", "Y.tif", "--size", "3x3", "--save", "K.npy", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no warning: the pair is explained
    np.testing.assert_allclose(np.load(folder / "K.npy"), SOBEL_DY, atol=1e-6)
    assert "(Y explained)" in done.stdout and "identifiable      yes" in done.stdout
    assert "same, boundary symm" in done.stdout


@pytest.mark.parametrize(
    "flags",
    [
        ["--boundary", "fill"],
        ["--boundary", "symm"],
        ["--boundary", "wrap"],
        ["--mode", "valid"],
        ["--mode", "same"],
        ["--mode", "full"],
    ],
    ids=lambda flags: " ".join(flags),
)
def test_the_readme_loop_with_the_same_flags_given_to_both_commands(
    photo: Path, flags: list[str]
) -> None:
    y = photo.parent / "Y.tif"
    code, _, err = run("filter", photo, y, "--kernel", "sobel-dy", "--scale", "none", *flags)
    assert code == 0, err
    saved = photo.parent / "K.npy"
    code, out, err = run("estimate", photo, y, "--size", "3x3", "--save", saved, *flags)
    assert code == 0, err
    assert err == ""
    np.testing.assert_allclose(np.load(saved), SOBEL_DY, atol=1e-6)
    assert "(Y explained)" in out


def test_an_even_kernel_and_an_origin_go_round_the_loop(photo: Path) -> None:
    y = photo.parent / "Y.tif"
    kernel = "1,2;-3,1"
    for flags in ([], ["--origin", "0,0"], ["--boundary", "mirror", "--origin", "-1,0"]):
        code, _, err = run("filter", photo, y, "-k", kernel, "--scale", "none", "-f", *flags)
        assert code == 0, err
        saved = photo.parent / "K.npy"
        code, _, err = run("estimate", photo, y, "-s", "2x2", "--save", saved, "-f", *flags)
        assert code == 0, err
        np.testing.assert_allclose(np.load(saved), [[1, 2], [-3, 1]], atol=1e-6)


def test_the_wrong_border_rule_is_named_with_the_flag_that_fits(photo: Path) -> None:
    y = photo.parent / "Y.tif"
    assert run("filter", photo, y, "--kernel", "sobel-dy", "--scale", "none")[0] == 0
    code, out, err = run("estimate", photo, y, "--size", "3x3", "--boundary", "fill")
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(
        "corr2d: warning: the pair is not explained by a correlation under these settings "
        "(relative residual 0.2 > 0.001): likely the border rule; --boundary symm fits"
    ), lines[0]
    assert "(Y NOT explained)" in out and "(Y explained)" not in out


def test_an_8_bit_target_is_blamed_on_output_scaling(photo: Path) -> None:
    y = photo.parent / "Y.png"
    assert run("filter", photo, y, "--kernel", "sobel-dy")[0] == 0  # --scale auto, uint8
    code, out, err = run("estimate", photo, y, "--size", "3x3")
    assert code == 0
    assert "likely output scaling: Y holds uint8 pixels" in err
    assert "--scale none" in err
    assert "(Y NOT explained)" in out


def test_a_blur_written_as_8_bit_pixels_is_explained_by_their_rounding(photo: Path) -> None:
    # the everyday loop: blur a photo into a PNG, get the kernel back from the pair
    y = photo.parent / "Y.png"
    assert run("filter", photo, y, "-k", "gaussian:sigma=1")[0] == 0  # 9x9, uint8 out
    saved = photo.parent / "K.npy"
    code, out, err = run("estimate", photo, y, "--size", "9x9", "--save", saved)
    assert code == 0 and err == "", err  # no misfit warning
    assert "(Y explained up to uint8 rounding)" in out
    largest = float(out.split("(largest ")[1].split()[0])
    assert 0.5 <= largest <= 1.0  # rounding alone makes 0.5
    grid = np.arange(-4, 5)
    gaussian = np.exp(-(grid[:, None] ** 2 + grid[None, :] ** 2) / 2.0)
    np.testing.assert_allclose(np.load(saved), gaussian / gaussian.sum(), atol=5e-4)
    # a kernel too small for the blur (sigma 2 reaches 8 pixels) leaves more than
    # rounding, and the line names the cause: a 19x19 kernel does fit
    assert run("filter", photo, y, "-k", "gaussian:sigma=2", "-f")[0] == 0
    code, out, err = run("estimate", photo, y, "--size", "9x9")
    assert code == 0 and "(Y NOT explained)" in out
    assert "likely the kernel size: a 19x19 kernel fits" in err, err


def test_the_chapter_edge_kernel_written_as_mid_grey_pixels_is_learned_back(photo: Path) -> None:
    # --scale auto writes the signed response around mid-grey: a scale and an offset,
    # which --bias recovers; half the values fall on ties of the rounding
    y = photo.parent / "Y.png"
    assert run("filter", photo, y, "-k", "edge-dx")[0] == 0
    code, out, err = run("learn", photo, y, "--size", "1x2", "--bias")
    assert code == 0 and err == "", err
    assert "NOT explained" not in out
    code, out, err = run("estimate", photo, y, "--size", "1x2", "--bias")
    assert code == 0 and err == "" and "(Y explained up to uint8 rounding)" in out
    kernel = np.array([float(v) for v in out.splitlines()[1].split()])
    np.testing.assert_allclose(kernel / kernel[0], [1.0, -1.0], atol=1e-3)


def test_a_nonlinear_step_is_named_when_nothing_else_explains_the_pair(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 50))
    from corr2d import correlate2d

    write_image(tmp_path / "X.tif", x)
    write_image(tmp_path / "Y.tif", np.abs(correlate2d(x, SOBEL_DY, "same", "symm")))
    code, _, err = run("estimate", tmp_path / "X.tif", tmp_path / "Y.tif", "--size", "3x3")
    assert code == 0
    assert "likely a nonlinear step (clipping, absolute value, a threshold)" in err


def test_learn_with_its_defaults_reaches_the_closed_form_kernel(photo: Path) -> None:
    y = photo.parent / "Y.tif"
    assert run("filter", photo, y, "--kernel", "sobel-dy", "--scale", "none")[0] == 0
    saved = photo.parent / "K.npy"
    done = console("learn", "X.jpg", "Y.tif", "--size", "3x3", "--save", "K.npy", cwd=photo.parent)
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(saved), SOBEL_DY, atol=1e-3)
    assert "converged after" in done.stdout
    assert "the learned kernel agrees within 0.001" in done.stdout
    # Losses keep their digits: no 0.000 where training has gone far below it.
    assert "0.000" not in done.stdout


def test_learn_says_when_it_has_not_converged(photo: Path) -> None:
    y = photo.parent / "Y.tif"
    assert run("filter", photo, y, "--kernel", "sobel-dy", "--scale", "none")[0] == 0
    code, out, err = run(
        "learn", photo, y, "--size", "3x3", "--optimizer", "sgd", "--lr", "0.1", "--steps", "5"
    )
    assert code == 0, err
    assert "NOT converged: --steps 5 ran out with the gradient at" in out
    assert "the learned kernel does NOT agree yet" in out


def test_learn_that_diverges_fails_in_one_line_and_writes_nothing(photo: Path) -> None:
    y = photo.parent / "Y.tif"
    assert run("filter", photo, y, "--kernel", "sobel-dy", "--scale", "none")[0] == 0
    saved, figures = photo.parent / "K.npy", photo.parent / "figures"
    code, out, err = run(
        "learn", photo, y, "--size", "3x3", "--optimizer", "sgd", "--lr", "1e30",
        "--steps", "50", "--save", saved, "--plot", figures,
    )  # fmt: skip
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("corr2d: error: training diverged: the loss became ")
    assert "lower --lr, got 1e+30" in line
    assert not saved.exists() and not figures.exists()
    assert "learned kernel" not in out


def test_ctrl_c_during_learn_keeps_the_kernel_so_far(photo: Path) -> None:
    folder = photo.parent
    y = folder / "Y.tif"
    assert run("filter", photo, y, "--kernel", "sobel-dy", "--scale", "none")[0] == 0
    process = subprocess.Popen(
        [
            *program(),
            "learn",
            "X.jpg",
            "Y.tif",
            "--size",
            "3x3",
            "--optimizer",
            "adam",
            "--steps",
            "1000000",
            "--save",
            "K.npy",
            "--plot",
            "figures",
        ],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        assert process.stdout.readline().startswith("training Conv2D(3x3")
        assert process.stdout.readline().startswith("batch ")  # training is under way
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corr2d: interrupted at step "), err
    step = int(lines[0].split("step ")[1].split(";")[0])
    assert step >= 10  # the first log line came at step 10
    assert f"interrupted at step {step}" in out
    kernel = np.load(folder / "K.npy")
    assert kernel.shape == (3, 3) and np.isfinite(kernel).all()
    assert sorted(p.name for p in (folder / "figures").iterdir()) == [
        "learn_kernel.png",
        "learn_loss.png",
    ]
    assert read_image(folder / "figures" / "learn_loss.png").ndim == 3


def test_estimate_by_gradient_descent_shows_progress(photo: Path) -> None:
    y = photo.parent / "Y.tif"
    assert run("filter", photo, y, "--kernel", "sobel-dy", "--scale", "none")[0] == 0
    code, out, err = run("estimate", photo, y, "-s", "3x3", "--method", "gd", "--steps", "20")
    assert code == 0, err
    progress = [line for line in err.splitlines() if line.startswith("gradient descent: step")]
    assert [line.split()[3] for line in progress] == [
        "1",
        "2",
        "4",
        "6",
        "8",
        "10",
        "12",
        "14",
        "16",
        "18",
        "20",
    ]
    # 20 plain steps do not reach the kernel, and the result says so.
    assert "--method gd stopped short; the least-squares kernel fits" in err
    assert "(Y NOT explained)" in out


def test_fourier_division_reads_a_wrapped_pair(photo: Path) -> None:
    y = photo.parent / "Y.tif"
    flags = ["--boundary", "wrap"]
    assert run("filter", photo, y, "-k", "gaussian:sigma=1", "--scale", "none", *flags)[0] == 0
    saved = photo.parent / "K.npy"
    code, _, err = run(
        "estimate", photo, y, "-s", "9x9", "--method", "fft", "--save", saved, *flags
    )
    assert code == 0, err
    np.testing.assert_allclose(np.load(saved), load_kernel("gaussian:sigma=1"), atol=1e-6)
    code, _, err = run("estimate", photo, y, "-s", "9x9", "--method", "fft")
    assert code == 2 and "--method fft needs periodic data" in err


@pytest.mark.parametrize("command", ["estimate", "learn"])
def test_impossible_sizes_are_refused_up_front_with_both_numbers(
    command: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    write_image(tmp_path / "X.tif", rng.normal(size=(6, 7)))
    write_image(tmp_path / "Y.tif", rng.normal(size=(6, 7)))
    saved = tmp_path / "K.npy"
    code, _, err = run(
        command, tmp_path / "X.tif", tmp_path / "Y.tif", "-s", "8x8", "--save", saved
    )
    assert code == 2 and "the kernel is larger than the image (6x7)" in err, err
    write_image(tmp_path / "X.tif", rng.normal(size=(8, 9)), overwrite=True)
    write_image(tmp_path / "Y.tif", rng.normal(size=(2, 3)), overwrite=True)  # 7x7 'valid'
    code, _, err = run(
        command, tmp_path / "X.tif", tmp_path / "Y.tif", "-s", "7x7", "--save", saved
    )
    assert code == 2, err
    assert "--size 7x7: 49 unknowns but the images give only 6 equations" in err
    assert len(err.strip().splitlines()) == 1
    assert not saved.exists()


def test_a_job_larger_than_memory_is_refused_with_the_estimate(
    photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    y = photo.parent / "Y.tif"
    assert run("filter", photo, y, "--kernel", "sobel-dy", "--scale", "none")[0] == 0
    monkeypatch.setattr(estimate_module, "available_memory", lambda: 10 * 2**20)
    saved = photo.parent / "K.npy"
    code, _, err = run("estimate", photo, y, "-s", "3x3", "--save", saved)
    assert code == 3, err
    assert len(err.strip().splitlines()) == 1
    assert "--size 3x3: this job needs about 49 MiB and 10 MiB is available" in err
    assert not saved.exists()


def test_a_long_job_says_so_before_it_starts(photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from corr2d.cli import _pairs

    y = photo.parent / "Y.tif"
    assert run("filter", photo, y, "--kernel", "sobel-dy", "--scale", "none")[0] == 0
    monkeypatch.setattr(_pairs, "LONG_JOB_MULTIPLY_ADDS", 1e6)
    code, _, err = run("estimate", photo, y, "-s", "3x3")
    assert code == 0, err
    assert err.startswith(
        "corr2d: note: 9 unknowns from 921600 equations: about 7e+07 multiply-adds"
    ), err
