"""Figures (corr2d.plot): PNG files, written atomically, small, never a window."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corr2d import corr2d
from corr2d.io import ImageWriteError
from corr2d.plot import (
    plot_arrays,
    plot_filter,
    plot_kernel_estimate,
    plot_loss,
    plot_receptive_field,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 150_000


def _is_small_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG_MAGIC) and len(data) < MAX_BYTES


def test_filter_figure(tmp_path: Path) -> None:
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    K = np.array([[1.0, -1.0]])
    path = plot_filter(X, K, corr2d(X, K), tmp_path / "edges.png", suptitle="edges")
    assert path == tmp_path / "edges.png" and _is_small_png(path)


def test_colour_and_large_arrays(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, size=(40, 50, 3)).astype(np.uint8)
    signed = rng.standard_normal((40, 50, 3))
    path = plot_arrays([rgb, signed], ["colour", "signed colour"], tmp_path / "c.png")
    assert _is_small_png(path)


def test_loss_curve_log_and_linear(tmp_path: Path) -> None:
    assert _is_small_png(plot_loss(np.geomspace(10, 1e-4, 50), tmp_path / "log.png"))
    assert _is_small_png(plot_loss([1.0, 0.0, 0.0], tmp_path / "linear.png"))
    with pytest.raises(ValueError, match="non-empty"):
        plot_loss([], tmp_path / "empty.png")


def test_kernel_estimate_figure(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = plot_kernel_estimate(
        rng.standard_normal((3, 3)), rng.standard_normal((30, 30)) * 1e-9, tmp_path / "k.png"
    )
    assert _is_small_png(path)


def test_receptive_field_with_mask_and_padding(tmp_path: Path) -> None:
    mask = np.zeros((16, 16), bool)
    mask[2:11:2, 2:11:2] = True
    assert _is_small_png(
        plot_receptive_field((16, 16), ((2, 11), (2, 11)), tmp_path / "a.png", mask=mask)
    )
    assert _is_small_png(plot_receptive_field((8, 8), ((-2, 3), (-2, 3)), tmp_path / "b.png"))
    with pytest.raises(ValueError, match="mask"):
        plot_receptive_field((8, 8), ((0, 3), (0, 3)), tmp_path / "c.png", mask=mask)


def test_figures_refuse_to_overwrite_and_need_png(tmp_path: Path) -> None:
    path = plot_loss([3.0, 2.0, 1.0], tmp_path / "loss.png")
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        plot_loss([1.0, 2.0], path)
    assert path.read_bytes() == before
    plot_loss([1.0, 2.0], path, overwrite=True)
    assert path.read_bytes() != before
    with pytest.raises(ImageWriteError, match=r"\.png"):
        plot_loss([1.0], tmp_path / "loss.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]


def test_plotting_never_uses_pyplot_and_import_stays_light() -> None:
    """``import corr2d`` loads no plotting, CLI or image library; plotting loads no pyplot."""
    code = (
        "import sys, corr2d\n"
        "names = ('matplotlib', 'typer', 'rich', 'PIL', 'tifffile')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import numpy as np, tempfile, os\n"
        "from corr2d.plot import plot_loss\n"
        "plot_loss([2.0, 1.0], os.path.join(tempfile.mkdtemp(), 'l.png'))\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
