"""Image pairs for ``estimate`` and ``learn``: read, matched, and related by a mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.cli._shared import (
    EXIT_INPUT,
    check_inputs,
    fail,
    shape_text,
)

__all__ = ["channel_planes", "infer_relation", "predict", "read_pair"]


def read_pair(x_path: Path, y_path: Path, max_pixels: int) -> tuple[NDArray[Any], NDArray[Any]]:
    from corr2d.io import read_image

    check_inputs([x_path, y_path])
    X = read_image(x_path, max_pixels=max_pixels)
    Y = read_image(y_path, max_pixels=max_pixels)
    x_channels = 1 if X.ndim == 2 else X.shape[2]
    y_channels = 1 if Y.ndim == 2 else Y.shape[2]
    if x_channels != y_channels:
        fail(
            f"{x_path} has {x_channels} channel(s) but {y_path} has {y_channels}; give "
            "two grey or two colour images",
            EXIT_INPUT,
        )
    return X, Y


def channel_planes(image: NDArray[Any]) -> list[NDArray[np.float64]]:
    from corr2d.io import to_float

    if image.ndim == 2:
        return [to_float(image)]
    return [to_float(image[..., c]) for c in range(image.shape[2])]


def infer_relation(
    x_shape: tuple[int, ...], y_shape: tuple[int, ...], size: tuple[int, int], mode: str
) -> str:
    """The mode relating X's and Y's sizes, checked (or inferred for 'auto')."""
    kh, kw = size
    h, w = x_shape[:2]
    expected = {
        "valid": (h - kh + 1, w - kw + 1),
        "same": (h, w),
        "full": (h + kh - 1, w + kw - 1),
    }
    y = tuple(y_shape[:2])
    if mode == "auto":
        for candidate in ("same", "valid", "full"):
            if expected[candidate] == y:
                return candidate
        fail(
            f"the images do not fit together: X is {h}x{w} and Y is {y[0]}x{y[1]}, but with a "
            f"{kh}x{kw} kernel Y must be {h}x{w} (same), {shape_text(expected['valid'])} "
            f"(valid) or {shape_text(expected['full'])} (full)",
            EXIT_INPUT,
        )
    if expected[mode] != y:
        fail(
            f"the images do not fit together: X is {h}x{w} and Y is {y[0]}x{y[1]}, but "
            f"--mode {mode} with a {kh}x{kw} kernel needs Y of "
            f"{shape_text(expected[mode])}",
            EXIT_INPUT,
        )
    return mode


def predict(
    x: NDArray[Any],
    kernel: NDArray[Any],
    bias: float,
    mode: str,
    convolution: bool,
    boundary: str = "fill",
) -> NDArray[Any]:
    from corr2d import convolve2d, correlate2d

    operation = convolve2d if convolution else correlate2d
    return operation(x, kernel, mode, boundary) + bias  # type: ignore[arg-type]
