"""The matrix forms of correlation against the core, SciPy and conv2d_backward."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from corr2d import conv2d, conv2d_backward, correlate2d, correlation_matrix, im2col
from corr2d.matrix import MAX_BYTES

FAST = settings(max_examples=60, deadline=None)


# The core compiles a loop per kernel shape on first use, so the random kernels come in a
# few shapes (odd, even, thin, and larger than most images); the images vary freely.
KERNEL_SHAPES = [(1, 1), (1, 2), (2, 2), (3, 3), (2, 5), (4, 1), (7, 8), (9, 9)]


@st.composite
def image_and_kernel(draw: st.DrawFn, fits: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Small non-square images and kernels with integer values (exact in float64)."""
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    if fits:
        kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
    else:
        kh, kw = draw(st.sampled_from(KERNEL_SHAPES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return (rng.integers(-5, 6, (h, w)).astype(float), rng.integers(-3, 4, (kh, kw)).astype(float))


@FAST
@given(
    data=image_and_kernel(),
    mode=st.sampled_from(["full", "same", "valid"]),
    boundary=st.sampled_from(["fill", "wrap", "symm"]),
)
def test_correlation_matrix_times_image_is_correlate2d(
    data: tuple[np.ndarray, np.ndarray], mode: str, boundary: str
) -> None:
    """W @ X.ravel() reshaped is correlate2d(X, K, mode, boundary), for every mode and
    boundary, kernels larger than the image included (SciPy is the second oracle)."""
    image, kernel = data
    try:
        expected = scipy.signal.correlate2d(image, kernel, mode, boundary)
    except ValueError:  # 'valid' with neither array containing the other
        with pytest.raises(ValueError, match="correlation_matrix: `kernel`"):
            correlation_matrix(image.shape, kernel, mode, boundary)
        return
    W = correlation_matrix(image.shape, kernel, mode, boundary)
    got = (W @ image.ravel()).reshape(expected.shape)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, correlate2d(image, kernel, mode, boundary))


def test_correlation_matrix_is_doubly_block_toeplitz() -> None:
    """With zero fill, block (i, r) of W depends only on r - i, and each block is
    Toeplitz: entry ((i, j), (r, c)) is K[r - i, c - j] or 0."""
    kernel = np.arange(1.0, 7.0).reshape(2, 3)
    shape = (4, 5)
    dense = correlation_matrix(shape, kernel).toarray()
    out_h, out_w = 3, 3
    blocks = dense.reshape(out_h, out_w, *shape)
    for i in range(out_h):
        for j in range(out_w):
            for r in range(shape[0]):
                for c in range(shape[1]):
                    a, b = r - i, c - j
                    inside = 0 <= a < 2 and 0 <= b < 3
                    assert blocks[i, j, r, c] == (kernel[a, b] if inside else 0)


def test_correlation_matrix_conjugates_complex_kernels_like_scipy() -> None:
    """SciPy's correlate2d conjugates in2; so does the matrix."""
    rng = np.random.default_rng(5)
    image = rng.normal(size=(4, 5)) + 1j * rng.normal(size=(4, 5))
    kernel = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    for mode in ["full", "same", "valid"]:
        W = correlation_matrix(image.shape, kernel, mode)
        expected = scipy.signal.correlate2d(image, kernel, mode)
        np.testing.assert_allclose((W @ image.ravel()).reshape(expected.shape), expected)


@pytest.mark.parametrize(
    ("mode", "boundary", "padding", "padding_mode"),
    [
        ("valid", "fill", 0, "zeros"),
        ("full", "fill", (2, 3), "zeros"),
        ("same", "fill", (1, 1), "zeros"),
        ("same", "wrap", (1, 1), "circular"),
    ],
)
def test_transpose_maps_output_gradient_to_input_gradient(
    mode: str, boundary: str, padding: tuple[int, int] | int, padding_mode: str
) -> None:
    """W.T @ g equals conv2d_backward's input gradient for the matching padding."""
    rng = np.random.default_rng(7)
    kernel = rng.normal(size=(3, 3)) if mode == "same" else rng.normal(size=(3, 4))
    image = rng.normal(size=(6, 7))
    W = correlation_matrix(image.shape, kernel, mode, boundary)
    forward = conv2d(
        image[None, None], kernel[None, None], padding=padding, padding_mode=padding_mode
    )[0, 0]
    np.testing.assert_allclose((W @ image.ravel()).reshape(forward.shape), forward)
    grad_out = rng.normal(size=forward.shape)
    grads = conv2d_backward(
        grad_out[None, None],
        image[None, None],
        kernel[None, None],
        padding=padding,
        padding_mode=padding_mode,
    )
    np.testing.assert_allclose(
        (W.T @ grad_out.ravel()).reshape(image.shape), grads.input[0, 0], atol=1e-12
    )


@FAST
@given(
    data=image_and_kernel(fits=True),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
)
def test_im2col_times_kernel_is_the_strided_dilated_correlation(
    data: tuple[np.ndarray, np.ndarray], stride: tuple[int, int], dilation: tuple[int, int]
) -> None:
    """im2col(X, K.shape) @ K.ravel() is conv2d with padding 0 (and correlate2d 'valid'
    at stride and dilation 1)."""
    image, kernel = data
    kh, kw = kernel.shape
    if dilation[0] * (kh - 1) + 1 > image.shape[0] or dilation[1] * (kw - 1) + 1 > image.shape[1]:
        with pytest.raises(ValueError, match="im2col: `kernel_shape`"):
            im2col(image, kernel.shape, stride, dilation)
        return
    patches = im2col(image, kernel.shape, stride, dilation)
    expected = conv2d(image[None, None], kernel[None, None], stride=stride, dilation=dilation)[0, 0]
    assert patches.shape == (expected.size, kernel.size)
    np.testing.assert_array_equal((patches @ kernel.ravel()).reshape(expected.shape), expected)
    if stride == (1, 1) and dilation == (1, 1):
        np.testing.assert_array_equal(
            (patches @ kernel.ravel()).reshape(expected.shape), correlate2d(image, kernel, "valid")
        )


def test_im2col_rows_are_the_windows_and_keep_the_dtype() -> None:
    """Hand-worked: a 3x4 integer image, 2x2 windows with stride 2 along x."""
    image = np.arange(12).reshape(3, 4)
    patches = im2col(image, 2, stride=(1, 2))
    assert patches.dtype == image.dtype
    assert patches.tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [4, 5, 8, 9], [6, 7, 10, 11]]


def test_size_guards_name_the_bytes_needed() -> None:
    """Neither builder allocates past MAX_BYTES; the error says how much was asked."""
    big = np.broadcast_to(np.float64(0.0), (20_000, 20_000))  # no memory behind it
    with pytest.raises(ValueError, match=r"im2col: `X` must be small enough .* bytes needed"):
        im2col(big, (30, 30))
    with pytest.raises(ValueError, match=r"correlation_matrix: `input_shape` .*1 GiB"):
        correlation_matrix((20_000, 20_000), np.ones((5, 5)))
    assert MAX_BYTES == 2**30


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: correlation_matrix((3, 3), np.ones((2, 2)), "middle"), ValueError, "`mode`"),
        (
            lambda: correlation_matrix((3, 3), np.ones((2, 2)), boundary="reflect"),
            ValueError,
            "`boundary` must be one of 'fill', 'wrap', 'symm'",
        ),
        (lambda: correlation_matrix((3, 0), np.ones((2, 2))), ValueError, "`input_shape`"),
        (
            lambda: correlation_matrix((3, 3), np.ones((2, 4))),
            ValueError,
            "`kernel` must be no larger",
        ),
        (lambda: correlation_matrix((3, 3), np.ones(3)), ValueError, "2-D"),
        (lambda: im2col(np.ones((3, 3)), (2, 2), stride=0), ValueError, "`stride` must be >= 1"),
        (lambda: im2col(np.ones((3, 3)), (2, 2), dilation=3), ValueError, "once dilated"),
        (lambda: im2col(np.ones(3), (1, 1)), ValueError, "`X` must be 2-D"),
        (lambda: im2col(np.array([["a"]]), (1, 1)), TypeError, "numeric"),
    ],
)
def test_bad_arguments_raise_with_the_house_message(
    call: object, error: type[Exception], pattern: str
) -> None:
    """Every error names the function, the argument, the rule and the value."""
    with pytest.raises(error, match=pattern):
        call()
