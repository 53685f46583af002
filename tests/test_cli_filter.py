"""``corr2d filter`` and ``edges`` on real and made files, against independent oracles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
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
