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


# ---------------------------------------------------------------- repeated calls


def _scipy_same(
    image: np.ndarray, kernel: np.ndarray, fill: float = 0.0, **options: object
) -> np.ndarray:
    from scipy import signal

    boundary = str(options.get("boundary", "symm"))
    flip = bool(options.get("convolve", False))
    operation = signal.convolve2d if flip else signal.correlate2d
    return operation(image.astype(np.float64), kernel.astype(np.float64), "same", boundary, fill)


def test_repeated_filter_image_calls_reuse_a_prepared_loop_correctly(
    rng: np.random.Generator,
) -> None:
    """A call repeating an earlier call's shape, kernel and options runs the loop the
    first call prepared: against SciPy for new images, for a kernel changed in place
    after the call (kernels are compared by value), and for options that differ only
    slightly (border rule, fill value, convolution, method), each its own entry."""
    from corr2d import filtering

    filtering._prepared.clear()
    for dtype, tolerance in ((np.float32, 2e-5), (np.float64, 1e-12)):
        kernel = rng.standard_normal((5, 7)).astype(dtype)
        for _ in range(3):
            image = rng.random((160, 150)).astype(dtype)
            out = filter_image(image, kernel, "same", "symm")
            assert out.dtype == dtype and out.shape == image.shape
            np.testing.assert_allclose(out, _scipy_same(image, kernel), rtol=0, atol=tolerance * 20)
        assert len(filtering._prepared) >= 1
        kernel[2, 3] += 5.0  # in place: the next call must see it
        out = filter_image(image, kernel, "same", "symm")
        np.testing.assert_allclose(out, _scipy_same(image, kernel), rtol=0, atol=tolerance * 40)
        for options in (
            {"boundary": "fill", "fillvalue": 0.5},
            {"boundary": "fill", "fillvalue": 2},
            {"boundary": "wrap"},
            {"boundary": "symm", "convolve": True},
        ):
            for _ in range(2):
                out = filter_image(image, kernel, "same", **options)  # type: ignore[arg-type]
                fill = float(options.get("fillvalue", 0.0))  # type: ignore[arg-type]
                expected = _scipy_same(image, kernel, fill, **options)
                np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance * 40)
        fortran = np.asfortranarray(image)  # not C-contiguous: copied on the way in
        np.testing.assert_array_equal(
            filter_image(fortran, kernel, "same", "symm"),
            filter_image(image, kernel, "same", "symm"),
        )
    assert len(filtering._prepared) <= filtering._PREPARED_KEPT


def test_repeated_calls_still_refuse_what_the_first_refused(rng: np.random.Generator) -> None:
    """Only successful calls are kept, under every argument they were checked with."""
    import pytest

    image = rng.random((160, 150)).astype(np.float32)
    kernel = rng.standard_normal((3, 3)).astype(np.float32)
    filter_image(image, kernel, "same", "symm")
    with pytest.raises(ValueError, match="boundary"):
        filter_image(image, kernel, "same", "symmetric")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        filter_image(image, kernel, "same", "symm", method="fast")  # type: ignore[arg-type]


def test_byte_swapped_images_take_the_checked_path(rng: np.random.Generator) -> None:
    """A float32 image and kernel in the other byte order are not NumPy's native dtype:
    filtered correctly each time, never kept for reuse."""
    from corr2d import filtering

    image = rng.random((160, 150)).astype(np.float32)
    kernel = rng.standard_normal((5, 5)).astype(np.float32)
    swapped = image.astype(image.dtype.newbyteorder())
    swapped_kernel = kernel.astype(kernel.dtype.newbyteorder())
    filtering._prepared.clear()
    expected = _scipy_same(image, kernel)
    for _ in range(2):
        out = filter_image(swapped, swapped_kernel, "same", "symm")
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)
    assert not filtering._prepared
