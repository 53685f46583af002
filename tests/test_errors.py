"""Every user error of the core names the function, the argument, the rule and the value."""

from __future__ import annotations

import numpy as np
import pytest

import corr2d

IMAGE = np.ones((5, 6))
KERNEL = np.ones((2, 2))
BATCH = np.ones((1, 4, 6, 6))
WEIGHT = np.ones((2, 4, 3, 3))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: corr2d.corr2d(np.ones(5), KERNEL),
            ValueError,
            r"corr2d: `X` must be 2-D, got 1-D array of shape \(5,\)",
        ),
        (
            lambda: corr2d.corr2d(IMAGE, np.ones((0, 2))),
            ValueError,
            r"corr2d: `K` must be non-empty, got array of shape \(0, 2\)",
        ),
        (
            lambda: corr2d.corr2d(IMAGE, np.ones((6, 2))),
            ValueError,
            r"corr2d: `K` must be no larger than X \(shape \(5, 6\)\) along each axis, got shape",
        ),
        (
            lambda: corr2d.corr2d(np.array([["a"]]), KERNEL),
            TypeError,
            r"corr2d: `X` must be a numeric array .* got dtype <U1",
        ),
        (
            lambda: corr2d.corr2d(np.array([[object()]]), KERNEL),
            TypeError,
            r"corr2d: `X` must be a numeric array .* got dtype object",
        ),
        (
            lambda: corr2d.correlate2d(IMAGE, KERNEL, mode="middle"),
            ValueError,
            r"correlate2d: `mode` must be one of 'full', 'valid', 'same', got 'middle'",
        ),
        (
            lambda: corr2d.convolve2d(IMAGE, KERNEL, boundary="reflect"),
            ValueError,
            r"convolve2d: `boundary` must be one of 'fill', 'wrap', 'symm', 'mirror', "
            r"'nearest', got 'reflect'",
        ),
        (
            lambda: corr2d.correlate2d(IMAGE, KERNEL, method="winograd"),
            ValueError,
            r"correlate2d: `method` must be one of 'auto', 'direct', 'fft', got 'winograd'",
        ),
        (
            lambda: corr2d.correlate2d(IMAGE, KERNEL, fillvalue=[1, 2]),
            ValueError,
            r"correlate2d: `fillvalue` must be scalar or an array with one element",
        ),
        (
            lambda: corr2d.correlate2d(IMAGE, KERNEL, fillvalue=1j),
            ValueError,
            r"correlate2d: `fillvalue` must be real for real inputs \(could not cast `fillvalue` "
            r"directly to the output type\), got 1j",
        ),
        (
            lambda: corr2d.correlate2d(np.ones((5, 2)), np.ones((2, 5)), "valid"),
            ValueError,
            r"correlate2d: `in2` must be no larger than in1 in every dimension, or at least as "
            r"large in every dimension, for mode='valid' \(in1 has shape \(5, 2\)\), got shape",
        ),
        (
            lambda: corr2d.correlate2d(IMAGE, KERNEL, dtype=np.int32),
            ValueError,
            r"correlate2d: `dtype` must be one of float32, float64, complex64, complex128",
        ),
        (
            lambda: corr2d.correlate2d(IMAGE + 1j, KERNEL, dtype=np.float64),
            TypeError,
            r"correlate2d: `dtype` must be complex for complex inputs",
        ),
        (
            lambda: corr2d.conv2d(np.ones((6, 6)), WEIGHT),
            ValueError,
            r"conv2d: `input` must be 3-D or 4-D, got 2-D array of shape \(6, 6\)",
        ),
        (
            lambda: corr2d.conv2d(BATCH, np.ones((2, 4, 3))),
            ValueError,
            r"conv2d: `weight` must be 4-D, got 3-D array",
        ),
        (
            lambda: corr2d.conv2d(BATCH, np.ones((2, 3, 3, 3))),
            ValueError,
            r"conv2d: `weight` must be of shape \(C_out, C_in / groups, kH, kW\) = "
            r"\(\*, 4, \*, \*\) for 4 input channels and groups=1, got shape \(2, 3, 3, 3\)",
        ),
        (
            lambda: corr2d.conv2d(BATCH, np.ones((2, 1, 3, 3)), groups=3),
            ValueError,
            r"conv2d: `groups` must be a divisor of the input channels \(4\), got 3",
        ),
        (
            lambda: corr2d.conv2d(BATCH, np.ones((3, 2, 3, 3)), groups=2),
            ValueError,
            r"conv2d: `groups` must be a divisor of the output channels, weight.shape\[0\] \(3\)",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, groups=0),
            ValueError,
            r"conv2d: `groups` must be an int >= 1, got 0",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, stride=0),
            ValueError,
            r"conv2d: `stride` must be >= 1, got 0",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, dilation=(1, 0)),
            ValueError,
            r"conv2d: `dilation` must be >= 1, got \(1, 0\)",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, stride=(1, 2, 3)),
            ValueError,
            r"conv2d: `stride` must be an int or a tuple of one or two ints, got \(1, 2, 3\)",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, stride=1.5),
            TypeError,
            r"conv2d: `stride` must be an int or a tuple of one or two ints, got 1.5",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, padding=-1),
            ValueError,
            r"conv2d: `padding` must be >= 0, got -1",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, padding="full"),
            ValueError,
            r"conv2d: `padding` must be one of 'valid', 'same', got 'full'",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, padding="same", stride=2),
            ValueError,
            r"conv2d: `padding` must be an int or a pair when stride > 1 \('same' needs stride 1\)",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, padding=6, padding_mode="reflect"),
            ValueError,
            r"conv2d: `padding` must be smaller than the input size \(6, 6\) for "
            r"padding_mode='reflect', got 6",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, padding=7, padding_mode="circular"),
            ValueError,
            r"conv2d: `padding` must be at most the input size \(6, 6\) for "
            r"padding_mode='circular' \(it would wrap around more than once\), got 7",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, padding_mode="mirror"),
            ValueError,
            r"conv2d: `padding_mode` must be one of 'zeros', 'reflect', 'replicate', 'circular'",
        ),
        (
            lambda: corr2d.conv2d(BATCH, np.ones((2, 4, 7, 7))),
            ValueError,
            r"conv2d: `input` must be at least as large, once padded, as the dilated kernel "
            r"\(7, 7\), got padded size \(6, 6\)",
        ),
        (
            lambda: corr2d.conv2d(BATCH, WEIGHT, bias=np.ones(3)),
            ValueError,
            r"conv2d: `bias` must be of shape \(2,\), one per output channel, got shape \(3,\)",
        ),
        (
            lambda: corr2d.conv2d_backward(np.ones((1, 2, 3, 3)), BATCH, WEIGHT),
            ValueError,
            r"conv2d_backward: `grad_output` must be of the forward output's shape "
            r"\(1, 2, 4, 4\), got shape \(1, 2, 3, 3\)",
        ),
        (
            lambda: corr2d.choose_method(IMAGE, KERNEL, mode="big"),
            ValueError,
            r"choose_method: `mode` must be one of 'full', 'valid', 'same', got 'big'",
        ),
        (
            lambda: corr2d.conv2d_output_shape((5, 5), (3, 3), stride=0),
            ValueError,
            r"conv2d_output_shape: `stride` must be >= 1, got 0",
        ),
    ],
)
def test_user_errors_say_function_argument_rule_and_value(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


def test_fft_method_refuses_non_finite_weights() -> None:
    weight = WEIGHT.copy()
    weight[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"conv2d: `weight` must be finite for method='fft'"):
        corr2d.conv2d(BATCH, weight, method="fft")
