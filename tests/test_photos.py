"""Photos as photos: 8- and 16-bit colour images filtered in their interleaved layout, in
one call, returned in their own depth; against OpenCV on a real photograph."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
from PIL import Image

from corr2d import kernels
from corr2d.cli import main
from corr2d.filtering import filter_image, filter_pixels, filter_work, pixel_work_dtype

REFLECT = cv2.BORDER_REFLECT  # OpenCV's name for SciPy's 'symm': fedcba|abcdef|fedcba


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """matplotlib's sample photograph, 600x512 RGB, 8 bits."""
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def photo16(photo) -> np.ndarray:
    """The photograph in 16 bits, with noise in the low bits."""
    rng = np.random.default_rng(1)
    return (photo.astype(np.uint16) * 257 + rng.integers(0, 200, photo.shape)).astype(np.uint16)


def _levels_apart(ours: np.ndarray, theirs: np.ndarray) -> int:
    return int(np.abs(ours.astype(np.int64) - theirs.astype(np.int64)).max())


@pytest.mark.parametrize("sigma", [1.0, 2.0, 5.0])
@pytest.mark.parametrize("depth", ["photo", "photo16"])
def test_gaussian_blur_matches_opencv_within_one_level(request, depth, sigma) -> None:
    image = request.getfixturevalue(depth)
    split = kernels.factors("gaussian", sigma=sigma)
    ours = filter_pixels(image, split)
    theirs = cv2.sepFilter2D(image, -1, split.row, split.column, borderType=REFLECT)
    assert ours.dtype == image.dtype and ours.shape == image.shape
    assert _levels_apart(ours, theirs) <= 1
    assert np.mean(ours == theirs) > 0.99


@pytest.mark.parametrize("depth", ["photo", "photo16"])
@pytest.mark.parametrize("size", [3, 15])
def test_box_blur_matches_opencv_within_one_level(request, depth, size) -> None:
    image = request.getfixturevalue(depth)
    ours = filter_pixels(image, kernels.box(size))
    theirs = cv2.blur(image, (size, size), borderType=REFLECT)
    assert _levels_apart(ours, theirs) <= 1


@pytest.mark.parametrize("name", ["sharpen", "emboss", "laplacian-8"])
def test_kernels_that_do_not_split_match_opencv_saturated(photo, name) -> None:
    """2-D kernels with negative weights: OpenCV saturates to 0..255, as we clamp."""
    kernel = kernels.get(name)
    ours = filter_pixels(photo, kernel)
    theirs = cv2.filter2D(photo, -1, kernel, borderType=REFLECT)
    assert _levels_apart(ours, theirs) <= 1
    assert ours.min() == 0 or theirs.min() > 0  # clamping happened where it should


def test_one_interleaved_call_equals_channel_by_channel(photo) -> None:
    for kernel in (kernels.gaussian(2.0), kernels.get("sharpen"), kernels.box(7)):
        together = filter_pixels(photo, kernel)
        for c in range(3):
            np.testing.assert_array_equal(together[..., c], filter_pixels(photo[..., c], kernel))


def test_pixels_are_the_float64_response_rounded_within_one_level(photo16) -> None:
    kernel = kernels.gaussian(3.0)
    response = filter_image(photo16, kernel, "same", "symm")  # float64
    expected = np.clip(np.rint(response), 0, 65535)
    assert pixel_work_dtype(np.uint16, kernel) == np.float32
    assert _levels_apart(filter_pixels(photo16, kernel), expected) <= 1
    # a kernel whose float32 error could exceed a level is computed in float64: exact
    heavy = np.full((9, 9), 100.0)
    assert pixel_work_dtype(np.uint16, heavy) == np.float64


@pytest.mark.parametrize("name", ["gaussian", "box", "sharpen"])
def test_vectorised_and_compiled_loops_give_the_same_bits(photo, photo16, name) -> None:
    """Which loops run depends on the work's size; the pixels must not."""
    kernel = kernels.gaussian(2.0) if name == "gaussian" else kernels.get(name)
    for image in (photo, photo16):
        quick = filter_pixels(image, kernel, compiled=False)
        np.testing.assert_array_equal(quick, filter_pixels(image, kernel, compiled=True))
    responses = [filter_image(photo, kernel, compiled=c) for c in (False, True)]
    np.testing.assert_array_equal(*responses)


def test_alpha_is_dropped_and_grey_stays_two_dimensional(photo) -> None:
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    assert filter_pixels(rgba, kernels.box(3)).shape == photo.shape
    assert filter_pixels(photo[..., 0], kernels.box(3)).shape == photo.shape[:2]


def test_the_command_line_writes_what_filter_pixels_computes(tmp_path, photo) -> None:
    source = tmp_path / "photo.png"
    Image.fromarray(photo).save(source)
    target = tmp_path / "blur.png"
    assert main(["filter", str(source), str(target), "--kernel", "gaussian:sigma=2"]) == 0
    written = np.asarray(Image.open(target))
    expected = filter_pixels(photo, kernels.gaussian(2.0), compiled=False)
    np.testing.assert_array_equal(written, expected)
    split = kernels.factors("gaussian", sigma=2.0)
    theirs = cv2.sepFilter2D(photo, -1, split.row, split.column, borderType=REFLECT)
    assert _levels_apart(written, theirs) <= 1


def heavy_modules_after(command: list[str], folder: Path) -> list[str]:
    """Which of numba, llvmlite and SciPy a fresh process has imported after running
    ``corr2d COMMAND`` in ``folder`` (asserting it succeeded)."""
    import ast
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from corr2d.cli import main\n"
        f"assert main({command!r}) == 0\n"
        "print(sorted(m for m in ('numba', 'scipy', 'llvmlite') if m in sys.modules))\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "0"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env,
        cwd=folder, check=True,
    )  # fmt: skip
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def make_pair(tmp_path: Path, photo: np.ndarray) -> None:
    """photo.png and dy.tif, its sobel-dy response as floats, in ``tmp_path``."""
    Image.fromarray(photo).save(tmp_path / "photo.png")
    assert main(["filter", str(tmp_path / "photo.png"), str(tmp_path / "dy.tif"),
                 "--kernel", "sobel-dy", "--scale", "none"]) == 0  # fmt: skip


def test_short_jobs_on_the_command_line_need_no_compiler(tmp_path, photo) -> None:
    """A fresh process filters the photograph without importing numba or SciPy."""
    Image.fromarray(photo).save(tmp_path / "photo.png")
    command = ["filter", "photo.png", "out.png", "--kernel", "gaussian:sigma=2"]
    assert heavy_modules_after(command, tmp_path) == []


@pytest.mark.parametrize(
    "command",
    [
        ["edges", "photo.png", "edges.png"],
        ["estimate", "photo.png", "dy.tif", "--size", "3x3", "--save", "k.npy"],
    ],
)
def test_short_edges_and_estimate_jobs_need_no_compiler(tmp_path, photo, command) -> None:
    """Like filter, a short `edges` or `estimate` job runs on NumPy: loading the
    compiled loops cost 0.3-0.5 s, compiling them into an empty cache 3-5 s."""
    make_pair(tmp_path, photo)
    assert "numba" not in heavy_modules_after(command, tmp_path)
    if command[0] == "estimate":
        np.testing.assert_allclose(np.load(tmp_path / "k.npy"), kernels.get("sobel-dy"), atol=1e-9)
    else:  # OpenCV's Sobel magnitude, rounded and clipped to 8 bits
        grey = photo.astype(np.float64)
        dx = cv2.Sobel(grey, cv2.CV_64F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
        dy = cv2.Sobel(grey, cv2.CV_64F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
        magnitude = np.hypot(dx, dy)
        written = np.asarray(Image.open(tmp_path / "edges.png")).astype(np.float64)
        assert written.shape == photo.shape
        # 'abs' scales the magnitude down to fit 8 bits when it does not
        scale = 255.0 / magnitude.max() if magnitude.max() > 255 else 1.0
        assert np.abs(written - np.clip(np.rint(magnitude * scale), 0, 255)).max() <= 1


@pytest.mark.parametrize(("steps", "compiled"), [("2", False), ("500", True)])
def test_gradient_descent_counts_its_steps_in_the_job(tmp_path, photo, steps, compiled) -> None:
    """`estimate --method gd` passes over the data three times a step: 500 steps on the
    photograph are a long job and keep the compiled layers (on NumPy layers it took
    14.3 s against 2.6 s); two steps are short."""
    make_pair(tmp_path, photo)
    command = ["estimate", "photo.png", "dy.tif", "-s", "3x3", "--method", "gd", "--steps", steps]
    assert ("numba" in heavy_modules_after(command, tmp_path)) == compiled


@pytest.mark.filterwarnings("error")  # the kernel's taps are never cast out of range
@pytest.mark.parametrize("scale", [1e39, 1e300])
def test_pixels_with_taps_beyond_float32_are_computed_in_float64(photo, scale) -> None:
    kernel = np.array([[1.0, -1.0, 0.5]]) * scale
    assert pixel_work_dtype(np.uint8, kernel) == np.float64
    got = filter_pixels(photo, kernel / kernel.sum())
    expected = cv2.filter2D(photo.astype(np.float64), -1, np.array([[2.0, -2.0, 1.0]]),
                            borderType=REFLECT)  # fmt: skip
    np.testing.assert_array_equal(got, np.clip(np.rint(expected), 0, 255).astype(np.uint8))
    assert filter_work(photo.shape, kernel) == 600 * 512 * 3 * 3
