"""``corr2d filter`` and ``edges`` on real and made files, against independent oracles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage, signal
from typer.testing import CliRunner

from corr2d.cli import app
from corr2d.io import read_image, write_image

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def one_line_error(code: int, stderr: str, expected: int, text: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == expected, stderr
    assert len(lines) == 1 and lines[0].startswith("corr2d: error: "), stderr
    assert text in lines[0], lines[0]


@pytest.fixture
def grey(tmp_path: Path) -> Path:
    rng = np.random.default_rng(11)
    path = tmp_path / "grey.png"
    write_image(path, rng.integers(0, 256, (23, 31)).astype(np.uint8))
    return path


# ---------------------------------------------------------------- borders and origin


@pytest.mark.parametrize("name", ["reflect", "mirror", "nearest", "constant", "wrap"])
def test_boundary_takes_ndimage_names_with_ndimage_meanings(grey: Path, name: str) -> None:
    kernel = np.array([[1.0, 0.0, -2.0], [0.5, 3.0, 0.0], [0.0, 0.0, 1.0]])
    out = grey.parent / f"{name}.tif"
    code, _, err = run(
        "filter", grey, out, "-k", "1,0,-2;0.5,3,0;0,0,1", "--boundary", name, "--fillvalue",
        "7", "--scale", "none", "--dtype", "float64",
    )  # fmt: skip
    assert code == 0, err
    image = read_image(grey).astype(np.float64)
    expected = ndimage.correlate(image, kernel, mode=name, cval=7.0)
    np.testing.assert_allclose(read_image(out), expected, atol=1e-9)


def test_scipy_names_still_mean_scipys_rules(grey: Path) -> None:
    out = grey.parent / "symm.tif"
    code, _, err = run(
        "filter", grey, out, "-k", "1,2;3,4", "--scale", "none", "--boundary", "symm"
    )
    assert code == 0, err
    from scipy import signal

    image = read_image(grey).astype(np.float64)
    expected = signal.correlate2d(image, [[1, 2], [3, 4]], "same", "symm")
    np.testing.assert_allclose(read_image(out), expected, rtol=1e-6)


@pytest.mark.parametrize("origin", ["0", "-1", "1,-2"])
def test_origin_places_an_even_box_as_uniform_filter_does(grey: Path, origin: str) -> None:
    out = grey.parent / "box.tif"
    code, _, err = run(
        "filter", grey, out, "-k", "box:size=4", "--origin", origin, "--boundary", "reflect",
        "--scale", "none", "--dtype", "float64",
    )  # fmt: skip
    assert code == 0, err
    shift = [int(part) for part in origin.split(",")] * (2 if "," not in origin else 1)
    image = read_image(grey).astype(np.float64)
    expected = ndimage.uniform_filter(image, 4, mode="reflect", origin=shift)
    np.testing.assert_allclose(read_image(out), expected, atol=1e-9)


def test_origin_errors(grey: Path) -> None:
    out = grey.parent / "o.png"
    code, _, err = run("filter", grey, out, "-k", "box:size=4", "--origin", "2")
    one_line_error(code, err, 2, "--origin must be between -2 and 1")
    code, _, err = run("filter", grey, out, "-k", "box:size=3", "--origin", "0", "--mode", "full")
    one_line_error(code, err, 2, "--origin places the kernel in --mode same")
    code, _, err = run("filter", grey, out, "-k", "box:size=3", "--origin", "a")
    one_line_error(code, err, 2, "is not an origin")
    assert not out.exists()


# ---------------------------------------------------------------- real photographs


def grace_hopper() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def test_sharpen_on_a_photo_equals_opencv_filter2d(tmp_path: Path) -> None:
    """Weights summing to 1 are clipped as OpenCV saturates: within one grey level."""
    import cv2

    photo = read_image(grace_hopper())
    kernel = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float64)
    expected = cv2.filter2D(photo, -1, kernel)  # BORDER_REFLECT_101, saturated to uint8
    code, _, err = run("filter", grace_hopper(), tmp_path / "sharp.png", "-k", "sharpen")
    assert code == 0, err
    ours = read_image(tmp_path / "sharp.png")
    assert ours.dtype == np.uint8 and ours.shape == photo.shape
    inner = (slice(1, -1), slice(1, -1))
    difference = np.abs(ours[inner].astype(int) - expected[inner].astype(int))
    assert difference.max() <= 1
    # The look is kept: the mean brightness moves by under one grey level.
    assert abs(ours.mean() - photo.mean()) < 1.0
    # With OpenCV's border rule ('mirror' = BORDER_REFLECT_101) the border agrees too.
    code, _, err = run(
        "filter", grace_hopper(), tmp_path / "m.png", "-k", "sharpen", "--boundary", "mirror"
    )
    assert code == 0, err
    assert np.abs(read_image(tmp_path / "m.png").astype(int) - expected.astype(int)).max() <= 1


def test_a_blur_of_a_photo_equals_opencv_and_keeps_its_brightness(tmp_path: Path) -> None:
    import cv2

    from corr2d import kernels

    photo = read_image(grace_hopper())
    kernel = kernels.get("gaussian", sigma=2)
    expected = cv2.filter2D(photo, -1, kernel, borderType=cv2.BORDER_REFLECT)
    code, _, err = run("filter", grace_hopper(), tmp_path / "blur.png", "-k", "gaussian:sigma=2")
    assert code == 0, err
    ours = read_image(tmp_path / "blur.png")
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1


def test_a_sixteen_bit_colour_png_is_blurred_at_its_depth_as_opencv_blurs_it(
    tmp_path: Path,
) -> None:
    """A 48-bit PNG (a raw converter's output: here the photo at 16 bits, made by
    OpenCV) is read, filtered and written at 16 bits, not reduced to 8."""
    import cv2

    from corr2d import kernels

    deep = cv2.imread(str(grace_hopper())).astype(np.uint16) * 257  # BGR, 16-bit
    assert cv2.imwrite(str(tmp_path / "deep.png"), deep)
    kernel = kernels.get("gaussian", sigma=2)
    expected = cv2.filter2D(deep, -1, kernel, borderType=cv2.BORDER_REFLECT)[..., ::-1]
    code, out, err = run(
        "filter", tmp_path / "deep.png", tmp_path / "blur.png", "-k", "gaussian:sigma=2"
    )
    assert code == 0, err
    assert "(600x512x3, uint16" in out
    ours = cv2.imread(str(tmp_path / "blur.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert ours.dtype == np.uint16
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1


def test_derivatives_map_zero_to_mid_grey(tmp_path: Path) -> None:
    photo = read_image(grace_hopper()).astype(np.float64)
    code, _, err = run("filter", grace_hopper(), tmp_path / "dx.png", "-k", "sobel-dx")
    assert code == 0, err
    from scipy import signal

    from corr2d import kernels

    response = np.stack(
        [
            signal.correlate2d(photo[..., c], kernels.get("sobel-dx"), "same", "symm")
            for c in range(3)
        ],
        axis=-1,
    )
    expected = np.rint((response / np.abs(response).max() + 1) * 127.5)
    assert np.abs(read_image(tmp_path / "dx.png") - expected).max() <= 1


def test_dtype_moves_values_to_the_new_depth(tmp_path: Path) -> None:
    photo = read_image(grace_hopper())
    code, _, err = run(
        "filter", grace_hopper(), tmp_path / "deep.tif", "-k", "identity", "--dtype", "uint16"
    )
    assert code == 0, err
    deep = read_image(tmp_path / "deep.tif")
    assert deep.dtype == np.uint16
    np.testing.assert_array_equal(deep, photo.astype(np.uint16) * 257)
    code, _, err = run("filter", tmp_path / "deep.tif", tmp_path / "back.png", "-k", "identity",
                       "--dtype", "uint8")  # fmt: skip
    assert code == 0, err
    np.testing.assert_array_equal(read_image(tmp_path / "back.png"), photo)
    code, _, err = run(
        "filter", grace_hopper(), tmp_path / "unit.tif", "-k", "identity", "--dtype", "float32"
    )
    assert code == 0, err
    np.testing.assert_allclose(read_image(tmp_path / "unit.tif"), photo / 255.0, rtol=1e-6)


def test_alpha_is_passed_through(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    rgba = rng.integers(0, 256, (20, 24, 4)).astype(np.uint8)
    rgba[:, :8, 3] = 0  # a transparent band
    write_image(tmp_path / "rgba.png", rgba)
    code, _, err = run("filter", tmp_path / "rgba.png", tmp_path / "out.png", "-k", "box:size=3")
    assert code == 0, err
    out = read_image(tmp_path / "out.png")
    assert out.shape == (20, 24, 4)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    # 'valid' keeps each pixel's alpha in its place: output (i, j) is input (i + 1, j + 1).
    code, _, err = run("filter", tmp_path / "rgba.png", tmp_path / "v.png", "-k", "box:size=3",
                       "--mode", "valid")  # fmt: skip
    assert code == 0, err
    np.testing.assert_array_equal(read_image(tmp_path / "v.png")[..., 3], rgba[1:-1, 1:-1, 3])
    # To 16 bits, alpha moves with the depth; grey with alpha keeps it too.
    code, _, err = run("filter", tmp_path / "rgba.png", tmp_path / "d.tif", "-k", "box:size=3",
                       "--dtype", "uint16")  # fmt: skip
    assert code == 0, err
    np.testing.assert_array_equal(
        read_image(tmp_path / "d.tif")[..., 3], rgba[..., 3].astype(np.uint16) * 257
    )
    write_image(tmp_path / "la.png", rgba[..., [0, 3]])
    code, _, err = run("edges", tmp_path / "la.png", tmp_path / "e.png")
    assert code == 0, err
    np.testing.assert_array_equal(read_image(tmp_path / "e.png")[..., 1], rgba[..., 3])
    # JPEG holds no alpha: a warning, and the colour is written.
    code, _, err = run("filter", tmp_path / "rgba.png", tmp_path / "o.jpg", "-k", "box:size=3")
    assert code == 0 and "corr2d: warning:" in err and "alpha" in err
    assert read_image(tmp_path / "o.jpg").shape == (20, 24, 3)


def test_a_kernel_larger_than_the_image_blurs_it_as_scipy_does(tmp_path: Path) -> None:
    # a thumbnail blurred with the default Gaussian: the border rule repeats (SciPy's
    # symm), in memory and streamed; only 'valid', which would leave no pixel, is refused
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    write_image(tmp_path / "small.png", image)
    kernel = np.ones((25, 25)) / 625
    for mode in ("same", "full"):
        expected = signal.correlate2d(image.astype(float), kernel, mode, boundary="symm")
        expected = np.clip(np.round(expected), 0, 255)
        for name, extra in ((f"{mode}.png", []), (f"{mode}.tif", ["--chunks", "2x2"])):
            code, _, err = run("filter", tmp_path / "small.png", tmp_path / name,
                               "-k", "box:size=25", "--mode", mode, *extra)  # fmt: skip
            assert code == 0, err
            assert np.array_equal(read_image(tmp_path / name), expected)
    for extra in ([], ["--chunks", "2x2"]):
        code, _, err = run("filter", tmp_path / "small.png", tmp_path / "o.tif", "-k",
                           "box:size=25", "--mode", "valid", *extra)  # fmt: skip
        one_line_error(code, err, 3, "the kernel (25x25) is larger than the image (4x6), so "
                       "--mode valid leaves no pixel")  # fmt: skip
    assert not (tmp_path / "o.tif").exists()


def test_a_job_larger_than_the_memory_is_refused_with_the_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import corr2d.cli._shared

    monkeypatch.setattr(corr2d.cli._shared, "available_memory", lambda: 10 * 2**20)
    code, _, err = run("filter", grace_hopper(), tmp_path / "o.png", "-k", "sharpen")
    # 0.9 MiB of pixels, a 606x518 float64 plane (2.4), two float64 responses (2 x 7.0)
    one_line_error(code, err, 6, "(600x512) needs about 17 MiB of memory at its peak")
    assert "(estimated), more than the 10 MiB available" in err
    assert not (tmp_path / "o.png").exists()


def test_the_memory_estimate_bounds_the_measured_peak() -> None:
    """The estimate is above what numpy allocates (traced), and not by much."""
    import tracemalloc

    from corr2d import kernels
    from corr2d.cli.filter import _Job
    from corr2d.filtering import filter_image
    from corr2d.io import to_image_dtype

    photo = read_image(grace_hopper())
    for kernel in (kernels.get("sharpen"), kernels.get("gaussian", sigma=6)):
        job = _Job(kernel, "same", "symm", 0.0, None, (1, 1), False, "auto", "auto", "input",
                   2**28)  # fmt: skip
        filter_image(photo, kernel, "same", "symm")  # compile outside the measurement
        tracemalloc.start()
        response = filter_image(photo, kernel, "same", "symm")
        to_image_dtype(response, np.uint8, kernel=kernel, source=np.uint8)
        peak = tracemalloc.get_traced_memory()[1] + photo.nbytes
        tracemalloc.stop()
        estimate = job.peak_bytes(photo)
        assert peak <= estimate <= 3 * peak, (peak, estimate)


def test_inline_kernels_of_any_length_on_the_command_line(grey: Path) -> None:
    rng = np.random.default_rng(1)
    kernel = np.round(rng.random((7, 7)) / 49, 6)
    text = ";".join(",".join(f"{v:.6f}" for v in row) for row in kernel)
    assert len(text) > 255
    out = grey.parent / "k.tif"
    code, _, err = run("filter", grey, out, "-k", text, "--scale", "none", "--dtype", "float64")
    assert code == 0, err
    from scipy import signal

    image = read_image(grey).astype(np.float64)
    expected = signal.correlate2d(image, kernel, "same", "symm")
    np.testing.assert_allclose(read_image(out), expected, atol=1e-9)
    code, _, err = run("filter", grey, out, "-k", text[:-3] + "x" * 300, "--force")
    one_line_error(code, err, 2, "characters)")
    assert len(err) < 300


# ---------------------------------------------------------------- kernels


def test_kernels_prints_whole_numbers_and_the_given_parameters() -> None:
    """Output to a file or pipe is never cut to a width, and the header shows sigma=2."""
    import subprocess
    import sys

    from corr2d import kernels

    script = Path(sys.executable).parent / "corr2d"
    program = [str(script)] if script.exists() else [sys.executable, "-m", "corr2d"]
    done = subprocess.run(
        [*program, "kernels", "gaussian:sigma=2"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "40"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "gaussian: normalised Gaussian; params: sigma=2, truncate=4.0; separable"
    assert lines[1] == "17x17, weights sum to 1"
    assert "…" not in done.stdout
    printed = np.array([[float(v) for v in line.split()] for line in lines[2:]])
    np.testing.assert_allclose(printed, kernels.get("gaussian", sigma=2), rtol=1e-5)


# ---------------------------------------------------------------- weights near float64's edge


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_weights_summing_beyond_float64_are_refused_before_anything_is_written(
    grey: Path,
) -> None:
    # 1e308 + 1e308 is inf: a divisor of inf turned the blur into a white image, exit 0
    code, _, err = run("filter", grey, grey.parent / "o.png", "-k", "1e308,1e308")
    one_line_error(code, err, 2, "the magnitudes of the weights sum beyond float64's range")
    np.save(grey.parent / "k.npy", np.full((3, 3), 1e308))
    code, _, err = run("filter", grey, grey.parent / "o.png", "-k", grey.parent / "k.npy")
    one_line_error(code, err, 3, "k.npy: the magnitudes of the weights sum beyond")
    assert leftovers(grey.parent, {"grey.png", "k.npy"}) == []


def test_huge_zero_sum_kernel_gives_the_signed_map_without_warnings(grey: Path) -> None:
    # taps beyond float32's range: the response is computed and mapped in float64
    out = grey.parent / "d.png"
    code, _, err = run("filter", grey, out, "-k", "1e300,-1e300")
    assert code == 0 and err == "", err
    image = read_image(grey).astype(np.float64)
    right = np.concatenate([image[:, 1:], image[:, -1:]], axis=1)  # 'symm' repeats the edge
    response = image - right  # x[i, j] - x[i, j + 1], in units of 1e300
    expected = np.rint((response / np.abs(response).max() + 1.0) * 127.5)
    assert np.abs(read_image(out).astype(np.float64) - expected).max() <= 1.0


def test_raw_values_beyond_float32_are_refused_naming_the_output(grey: Path) -> None:
    out = grey.parent / "raw.tif"
    code, _, err = run("filter", grey, out, "-k", "1e300,1e300", "--scale", "none")
    one_line_error(code, err, 5, "raw.tif: to_image_dtype: `values` must lie within float32's")
    assert "use float64" in err and leftovers(grey.parent, {"grey.png"}) == []
    code, _, err = run(
        "filter", grey, out, "-k", "1e300,1e300", "--scale", "none", "--dtype", "float64"
    )
    assert code == 0, err
    image = read_image(grey).astype(np.float64)
    right = np.concatenate([image[:, 1:], image[:, -1:]], axis=1)
    np.testing.assert_allclose(read_image(out), (image + right) * 1e300, rtol=1e-12)


@pytest.mark.parametrize("command", ["filter", "edges"])
def test_response_beyond_float64_is_an_overflow_error_not_an_inf_image(
    tmp_path: Path, command: str
) -> None:
    image = np.full((16, 16), 1e308)
    image[:, 8:] = -1e308
    write_image(tmp_path / "big.tif", image)
    out = tmp_path / "o.tif"
    extra = ["-k", "1e10"] if command == "filter" else []
    code, _, err = run(command, tmp_path / "big.tif", out, *extra, "--scale", "none")
    one_line_error(code, err, 5, "o.tif: the response is beyond float64's range")
    assert leftovers(tmp_path, {"big.tif"}) == []


def test_several_inputs_report_on_stdout_and_fail_in_one_line(grey: Path) -> None:
    folder = grey.parent / "out"
    write_image(grey.parent / "b.png", np.zeros((2, 2), np.uint8))  # smaller than the kernel
    code, out, err = run("filter", grey, grey.parent / "b.png", folder, "-k", "box:size=3",
                         "--mode", "valid")  # fmt: skip
    one_line_error(code, err, 3, "b.png: the kernel (3x3) is larger than the image (2x2)")
    # the first file's output went with the failure, and no line claims it was written
    assert out == "" and not folder.exists()
    write_image(grey.parent / "c.png", np.zeros((4, 4), np.uint8))
    code, out, err = run("filter", grey, grey.parent / "c.png", folder, "-k", "box:size=3")
    assert code == 0 and err == "", err
    assert out.splitlines() == [
        f"{grey} -> {folder / 'grey.png'} (23x31, uint8, scale auto)",
        f"{grey.parent / 'c.png'} -> {folder / 'c.png'} (4x4, uint8, scale auto)",
    ]


def test_a_sideways_phone_photo_is_filtered_and_written_upright(tmp_path: Path) -> None:
    from PIL import Image

    photo = Image.open(grace_hopper())
    exif = photo.getexif()
    exif[0x0112] = 8  # stored sideways; viewers turn it 90 degrees anticlockwise
    photo.save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    code, out, err = run("filter", tmp_path / "phone.jpg", tmp_path / "o.png", "-k", "1")
    assert code == 0, err
    assert "(512x600x3, uint8, scale auto)" in out
    written = read_image(tmp_path / "o.png")  # no tag: shown as stored, as the input is shown
    np.testing.assert_array_equal(
        written, np.rot90(read_image(tmp_path / "phone.jpg", orient=False))
    )
