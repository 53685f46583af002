"""Filtering images channel by channel, and edge maps (corr2d.filtering)."""

from __future__ import annotations

import numpy as np

from corr2d import correlate2d, kernels
from corr2d.filtering import filter_image, gradient_image


def test_filter_image_is_correlate2d_channel_by_channel(rng: np.random.Generator) -> None:
    image = rng.random((12, 10, 4))
    kernel = rng.standard_normal((3, 2))
    out = filter_image(image, kernel, "same", "symm")
    assert out.shape == (12, 10, 3)  # the alpha channel is dropped
    for c in range(3):
        np.testing.assert_allclose(out[..., c], correlate2d(image[..., c], kernel, "same", "symm"))
    grey = rng.random((12, 10))
    np.testing.assert_allclose(
        filter_image(grey, kernel, "valid", convolve=True),
        correlate2d(grey, kernel[::-1, ::-1], "valid"),
    )


def test_gradient_image_is_the_sobel_magnitude(rng: np.random.Generator) -> None:
    image = rng.random((16, 16))
    dx = correlate2d(image, kernels.get("sobel-dx"), "same", "symm")
    dy = correlate2d(image, kernels.get("sobel-dy"), "same", "symm")
    np.testing.assert_allclose(gradient_image(image), np.hypot(dx, dy))
    np.testing.assert_allclose(gradient_image(image, axis="y"), dy)


# ---------------------------------------------------------------- kernels
