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
    plot_layer_chain,
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


def _kernel_panel_texts(n: int, kind: str) -> tuple[list, float]:
    """Draw an n x n kernel as plot_filter's panels are; its labels and cell width (px)."""
    from corr2d import plot

    rng = np.random.default_rng(n)
    if kind == "gaussian":  # values from about 0.1 down to 1e-5: the widest labels
        profile = np.exp(-(((np.arange(n) - (n - 1) / 2) / (n / 5)) ** 2) / 2)
        kernel = np.outer(profile, profile) / profile.sum() ** 2
    else:
        kernel = rng.standard_normal((n, n))
    figure = plot._new_figure(3 * plot._PANEL_INCHES, 3.1)
    panels = figure.subplots(1, 3)
    pending = [
        plot._draw(figure, panels[0], rng.random((40, 40)), "input"),
        plot._draw(figure, panels[1], kernel, "kernel", signed=True),
        plot._draw(figure, panels[2], rng.random((40, 40)), "output"),
    ]
    plot._label_all(figure, pending)
    figure.canvas.draw()
    return list(panels[1].texts), panels[1].get_window_extent().width / n


@pytest.mark.parametrize("n", [2, 3, 5, 7, 9, 11, 13, 15, 21])
@pytest.mark.parametrize("kind", ["normal", "gaussian"])
def test_kernel_labels_fit_their_cells_and_are_dropped_when_cells_are_small(
    n: int, kind: str
) -> None:
    """Each label is narrower than its cell (so neighbours never touch) and large enough."""
    from corr2d.plot import MIN_LABEL_POINTS

    texts, cell_width = _kernel_panel_texts(n, kind)
    if not texts:
        assert n >= 11  # labels are kept at least up to 9x9
        return
    assert len(texts) == n * n
    for text in texts:
        assert text.get_fontsize() >= MIN_LABEL_POINTS
        assert text.get_window_extent().width < 0.9 * cell_width, text.get_text()


def test_signed_limits_are_robust_to_an_outlier() -> None:
    from corr2d.plot import _signed_limit

    values = np.random.default_rng(0).uniform(-1, 1, (100, 100))
    values[0, 0] = 1e6
    assert 0.97 < _signed_limit(values) < 1.0  # the 99th percentile, not the outlier
    small = np.array([[-3.0, 1.0], [2.0, 0.5]])
    assert _signed_limit(small) == 3.0  # few values: the extreme


def test_filter_figure_of_a_colour_photo_shows_the_written_image(tmp_path: Path) -> None:
    import matplotlib

    from corr2d import correlate2d, kernels
    from corr2d.io import read_image, to_image_dtype

    photo = read_image(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    kernel = kernels.get("laplacian-4")
    response = np.stack(
        [correlate2d(photo[..., c], kernel, "same", "symm") for c in range(3)], axis=-1
    )
    pixels = to_image_dtype(response, np.uint8, kernel=kernel, source=np.uint8)
    path = plot_filter(photo, kernel, pixels, tmp_path / "photo.png", response=response)
    assert path.read_bytes().startswith(PNG_MAGIC)
    # The output panel is the written RGB image itself (no colour map applied).
    from corr2d.plot import _pixels

    shown = _pixels(pixels)
    assert shown is not None and shown.shape == photo.shape
    np.testing.assert_array_equal(shown, pixels / 255.0)


def test_layer_chain_figure(tmp_path: Path) -> None:
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    Y = corr2d(X, K)
    Z = corr2d(Y, K)
    path = plot_layer_chain(
        [X, Y, Z],
        [(0, 0), (0, 0)],
        [((0, 2), (0, 2)), ((0, 2), (0, 2))],
        tmp_path / "chain.png",
        field=((0, 3), (0, 3)),
        symbols=("X", "Y", "Z"),
    )
    assert _is_small_png(path)
    with pytest.raises(ValueError, match="one per layer"):
        plot_layer_chain([X, Y, Z], [(0, 0)], [((0, 2), (0, 2))], tmp_path / "bad.png")
