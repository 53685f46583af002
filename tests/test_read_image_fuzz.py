"""read_image on a few hundred mutated PNG, JPEG and TIFF files (seeded).

Every file either decodes to an image or raises ``ImageReadError``: never another
exception, never a line on stderr (tifffile logs damaged tags through ``logging``, whose
last-resort handler printed them for about one corrupt TIFF in ten).  What a decoder
reports is folded into the error, or into one ``ImageReadWarning`` when the image
decodes anyway; the command line prints either as one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import tifffile

from corr2d.io import ImageReadError, ImageReadWarning, read_image, write_image

MUTANTS = 300


def _bases(folder: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    grey = (rng.random((40, 50)) * 255).astype(np.uint8)
    rgb = (rng.random((30, 20, 3)) * 255).astype(np.uint8)
    write_image(folder / "grey.png", grey)
    write_image(folder / "rgb.png", rgb)
    write_image(folder / "grey16.png", grey.astype(np.uint16) * 257)
    write_image(folder / "rgb.jpg", rgb)
    write_image(folder / "grey16.tif", grey.astype(np.uint16) * 257)
    write_image(folder / "float.tif", rgb.astype(np.float32))
    tifffile.imwrite(folder / "zlib.tif", grey, compression="zlib")
    tifffile.imwrite(folder / "tiled.tif", np.zeros((64, 64), np.uint16), tile=(16, 16))
    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    files = {path.name: path.read_bytes() for path in folder.iterdir()}
    files["grace_hopper.jpg"] = photo.read_bytes()
    return files


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """Flipped bytes, a truncation, inserted noise, a run of 0xFF, or a cut."""
    out = bytearray(data)
    kind = int(rng.integers(5))
    if kind == 0:
        for _ in range(int(rng.integers(1, 10))):
            out[int(rng.integers(len(out)))] = int(rng.integers(256))
    elif kind == 1:
        out = out[: int(rng.integers(1, len(out)))]
    elif kind == 2:
        at = int(rng.integers(len(out)))
        out[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    elif kind == 3:
        at = int(rng.integers(8, min(64, len(out) - 4)))
        out[at : at + 4] = b"\xff\xff\xff\xff"
    else:
        start, end = sorted(int(i) for i in rng.integers(0, len(out), 2))
        del out[start:end]
    return bytes(out)


@pytest.fixture(scope="module")
def mutants(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("mutants")
    bases = _bases(tmp_path_factory.mktemp("bases"))
    rng = np.random.default_rng(20261121)
    paths = []
    names = sorted(bases)
    for number in range(MUTANTS):
        name = names[number % len(names)]
        path = folder / f"{number:03d}-{name}"
        path.write_bytes(_mutate(bases[name], rng))
        paths.append(path)
    return paths


def test_mutated_images_decode_or_raise_image_read_error_silently(mutants, capfd) -> None:
    outcomes = {"decoded": 0, "refused": 0, "reported": 0}
    for path in mutants:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                image = read_image(path)
            except ImageReadError as exc:
                outcomes["refused"] += 1
                assert "\n" not in str(exc) and str(path) in str(exc)
            else:
                outcomes["decoded"] += 1
                assert image.ndim in (2, 3) and image.size > 0
                assert image.dtype in (np.uint8, np.uint16, np.float32, np.float64)
        assert all(issubclass(item.category, ImageReadWarning) for item in caught), [
            str(item.message) for item in caught
        ]
        outcomes["reported"] += len(caught)
        captured = capfd.readouterr()
        assert captured.err == "" and captured.out == "", (path.name, captured.err)
    # the mix the seed gives: most refused, many decoded, some with decoder reports
    assert outcomes["refused"] > MUTANTS // 3 and outcomes["decoded"] > MUTANTS // 10
    assert outcomes["reported"] > 0


def test_decoder_reports_reach_the_command_line_as_one_line(mutants, tmp_path) -> None:
    """A corrupt TIFF whose tags tifffile complains about: one error line; one whose
    image still decodes: one warning line and a written output."""
    refused = decoded = None
    for path in mutants:
        if path.suffix != ".tif":
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                read_image(path)
                if caught and decoded is None:
                    decoded = path
            except ImageReadError as exc:
                if "the decoder reported" in str(exc) and refused is None:
                    refused = path
    assert refused is not None and decoded is not None
    corr2d_cli = [sys.executable, "-m", "corr2d"]
    env = {**os.environ, "CORR2D_TRACEBACK": ""}
    failed = subprocess.run(
        [*corr2d_cli, "filter", str(refused), str(tmp_path / "a.tif"), "-k", "box"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 3
    lines = failed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("corr2d: error: ")
    assert "the decoder reported" in lines[0]
    worked = subprocess.run(
        [*corr2d_cli, "filter", str(decoded), str(tmp_path / "b.tif"), "-k", "box",
         "--scale", "none"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert worked.returncode == 0, worked.stderr
    lines = worked.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("corr2d: warning: "), lines
    assert (tmp_path / "b.tif").exists()


def test_every_mutant_through_the_command_line_gives_one_line(mutants, tmp_path) -> None:
    """``corr2d filter`` on each mutant: written with at most one warning line, or
    refused with one error line and exit 3, never a traceback, never a stray line."""
    from typer.testing import CliRunner

    from corr2d.cli import app

    runner = CliRunner()
    codes: dict[int, int] = {}
    for number, path in enumerate(mutants):
        out = tmp_path / f"{number:03d}.tif"
        result = runner.invoke(app, ["filter", str(path), str(out), "-k", "box", "--scale", "none"])
        lines = result.stderr.splitlines()
        codes[result.exit_code] = codes.get(result.exit_code, 0) + 1
        assert result.exception is None or isinstance(result.exception, SystemExit), lines
        if result.exit_code == 0:
            assert out.exists()
            assert len(lines) <= 1 and all(x.startswith("corr2d: warning: ") for x in lines)
        else:
            assert result.exit_code == 3, (path.name, lines)
            assert len(lines) == 1 and lines[0].startswith("corr2d: error: "), lines
            assert str(path) in lines[0] and not out.exists()
    assert set(codes) == {0, 3}
