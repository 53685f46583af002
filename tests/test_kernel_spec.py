"""Kernel specifications and kernel files (corr2d.kernel_spec, corr2d.io.kernel_files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corr2d import kernels
from corr2d.io import KernelFileError, read_kernel, write_kernel
from corr2d.kernel_spec import KernelSpecError, load_kernel, parse_kernel


def test_inline_kernels() -> None:
    np.testing.assert_array_equal(parse_kernel("1,-1;0,2"), [[1, -1], [0, 2]])
    np.testing.assert_array_equal(parse_kernel("1 2 3"), [[1, 2, 3]])
    np.testing.assert_allclose(parse_kernel("1/9,1/9;1/9,1/9"), np.full((2, 2), 1 / 9))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2;3", "row 2 has 1 values"),
        ("1,x", "'x' is not a number"),
        ("1/0", "is not a number"),
        (";", "no numbers"),
    ],
)
def test_inline_kernel_errors(text: str, message: str) -> None:
    with pytest.raises(KernelSpecError, match=message):
        parse_kernel(text)


def test_kernel_files_round_trip(tmp_path: Path) -> None:
    kernel = np.array([[0.1, -0.2, 1 / 3], [4.0, 5.0, 6.0]])
    for name in ("k.npy", "k.txt", "k.csv"):
        write_kernel(tmp_path / name, kernel)
        np.testing.assert_array_equal(read_kernel(tmp_path / name), kernel)
        np.testing.assert_array_equal(load_kernel(str(tmp_path / name)), kernel)
    with pytest.raises(FileExistsError):
        write_kernel(tmp_path / "k.npy", kernel)


def test_text_kernel_files_allow_comments(tmp_path: Path) -> None:
    (tmp_path / "k.txt").write_text("# Laplacian\n0 1 0\n1 -4 1  # centre\n0 1 0\n")
    np.testing.assert_array_equal(read_kernel(tmp_path / "k.txt"), kernels.get("laplacian-4"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ragged.csv", "1,2\n3\n", "row 2 has 1 values"),
        ("words.txt", "1 2\nthree 4\n", "'three' is not a number"),
        ("empty.txt", "# nothing\n", "no numbers"),
    ],
)
def test_bad_text_kernel_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(KernelFileError, match=message):
        read_kernel(tmp_path / name)


def test_bad_npy_kernel_files(tmp_path: Path) -> None:
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    with pytest.raises(KernelFileError, match="2-D"):
        read_kernel(tmp_path / "cube.npy")
    np.save(tmp_path / "words.npy", np.array([["a", "b"]]))
    with pytest.raises(KernelFileError, match="real numbers"):
        read_kernel(tmp_path / "words.npy")
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(KernelFileError, match="not a readable"):
        read_kernel(tmp_path / "junk.npy")


def test_registry_names_with_parameters() -> None:
    np.testing.assert_array_equal(load_kernel("SOBEL_DX"), kernels.get("sobel-dx"))
    np.testing.assert_allclose(load_kernel("gaussian:sigma=2"), kernels.get("gaussian", sigma=2))
    np.testing.assert_allclose(load_kernel("box:size=5"), kernels.get("box", size=5))
    with pytest.raises(KernelSpecError, match="did you mean 'sobel-d"):
        load_kernel("sobl-dx")
    with pytest.raises(KernelSpecError, match="key=value"):
        load_kernel("box:5")
    with pytest.raises(KernelSpecError, match="sigma"):
        load_kernel("gaussian:sigma=-1")
    with pytest.raises(FileNotFoundError):
        load_kernel("absent.npy")


def test_inline_kernels_of_any_length_are_never_taken_for_paths(tmp_path: Path) -> None:
    """A 7x7 kernel with 6 decimals is over 255 characters, the longest file name."""
    rng = np.random.default_rng(4)
    kernel = np.round(rng.standard_normal((7, 7)), 6)
    text = ";".join(",".join(f"{v:.6f}" for v in row) for row in kernel)
    assert len(text) > 255
    np.testing.assert_array_equal(load_kernel(text), kernel)
    big = np.arange(31 * 31, dtype=np.float64).reshape(31, 31) / 7
    np.testing.assert_allclose(
        load_kernel(";".join(" ".join(repr(float(v)) for v in row) for row in big)), big
    )


def test_bad_long_arguments_are_echoed_short() -> None:
    for text in ("1,2;" * 200 + "3", "x" * 300, "a/" * 200, "1," * 150 + "oops"):
        with pytest.raises(KernelSpecError) as caught:
            load_kernel(text)
        message = str(caught.value)
        assert len(message) < 200, message
