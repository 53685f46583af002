"""gradcheck: central finite differences in float64 as the oracle of every backward."""

from __future__ import annotations

import numpy as np
import pytest

from corr2d import Conv2D, Linear, ReLU, Sequential, conv2d, corr2d, gradcheck


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"stride": 2, "padding": 1},
        {"padding": (2, 1), "padding_mode": "reflect", "dilation": (1, 2)},
        {"padding": 1, "padding_mode": "replicate", "groups": 2},
        {"padding": 2, "padding_mode": "circular", "stride": (1, 2)},
    ],
    ids=["plain", "strided", "reflect-dilated", "replicate-groups", "circular"],
)
def test_conv2d_layer_gradients_equal_finite_differences(options, rng):
    layer = Conv2D((2, 3), 2, 2, rng=rng, **options)
    report = gradcheck(layer, rng.normal(size=(1, 2, 5, 6)))
    assert report.ok, str(report)
    assert [e.name for e in report.entries] == ["input", "weight", "bias"]
    assert max(e.max_abs_error for e in report.entries) < 1e-7


def test_linear_relu_sequential_gradients_equal_finite_differences(rng):
    model = Sequential(Linear(6, 5, rng=rng), ReLU(), Linear(5, 2, rng=rng))
    report = gradcheck(model, rng.normal(size=(3, 6)))
    assert report.ok, str(report)
    assert len(report.entries) == 5  # input + 2 weights + 2 biases


def test_known_functions_corr2d_and_conv2d_are_checked_through_conv2d_backward(rng):
    assert gradcheck(corr2d, (rng.normal(size=(5, 6)), rng.normal(size=(2, 3)))).ok
    report = gradcheck(
        conv2d,
        (rng.normal(size=(1, 2, 6, 6)), rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2)),
        options={"stride": 2, "padding": 1, "groups": 2},
    )
    assert report.ok, str(report)
    assert [e.name for e in report.entries] == ["inputs[0]", "inputs[1]", "inputs[2]"]


def test_custom_function_backward_pair(rng):
    def square(x):
        return x * x

    def square_backward(g, x):
        return (2 * x * g,)

    assert gradcheck((square, square_backward), rng.normal(size=(3, 3))).ok


def test_a_wrong_backward_fails_with_a_readable_report(rng):
    def cube(x):
        return x**3

    def wrong_backward(g, x):
        return (2 * x * g,)

    report = gradcheck((cube, wrong_backward), rng.normal(size=(2, 2)) + 2)
    assert not report.ok
    text = str(report)
    assert text.startswith("gradcheck: FAIL")
    assert "inputs[0]" in text and "NO" in text
    assert report.entries[0].max_rel_error > 0.1


def test_report_str_lists_every_tensor(rng):
    text = str(gradcheck(Conv2D(2, rng=rng), rng.normal(size=(4, 4))))
    assert text.splitlines()[0].startswith("gradcheck: PASS (central differences, eps=1e-06")
    assert [line.split()[0] for line in text.splitlines()[2:]] == ["input", "weight", "bias"]


def test_gradcheck_errors():
    with pytest.raises(
        TypeError,
        match=r"gradcheck: `layer_or_function` must be a float64 "
        r"layer",
    ):
        gradcheck(Conv2D(2, dtype=np.float32), np.ones((3, 3)))
    with pytest.raises(
        TypeError,
        match=r"gradcheck: `layer_or_function` must be a Module, one "
        r"of the functions with a known backward",
    ):
        gradcheck(np.sin, np.ones(3))
    with pytest.raises(ValueError, match=r"gradcheck: `eps` must be a finite real number > 0"):
        gradcheck(Conv2D(2), np.ones((3, 3)), eps=0)
    with pytest.raises(ValueError, match=r"gradcheck: `options` must be empty for a layer"):
        gradcheck(Conv2D(2), np.ones((3, 3)), options={"stride": 2})
    with pytest.raises(
        ValueError,
        match=r"must be a backward returning one gradient per "
        r"input \(2\)",
    ):
        gradcheck((corr2d, lambda g, x, k: (g,)), (np.ones((3, 3)), np.ones((2, 2))))
