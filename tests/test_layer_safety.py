"""Layers that cannot be fooled: what backward needs is kept by value, too-small inputs
are blamed on the layer, and complex gradients on real data are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import corr2d
from corr2d import nn


def _torch_grads(x: np.ndarray, weight: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, ...]:
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(weight, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt).backward(torch.tensor(g))
    assert xt.grad is not None and wt.grad is not None
    return xt.grad.numpy(), wt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_changing_the_input_after_forward_does_not_change_the_gradients(dtype) -> None:
    """The reported case: the weight gradient came out 100 times too large (1600 for
    16) because the layer read the caller's array, changed after forward."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    original = x.copy()
    layer = nn.Conv2D(3, in_channels=3, out_channels=4, bias=False, rng=1, dtype=dtype)
    y = layer(x)
    x *= 100.0  # the caller reuses its buffer
    g = rng.standard_normal(y.shape).astype(dtype)
    grad_x = layer.backward(g)
    want_x, want_w = _torch_grads(
        original.astype(np.float64), layer.weight.data.astype(np.float64), g.astype(np.float64)
    )
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(layer.weight.grad, want_w, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(grad_x, want_x, rtol=tolerance, atol=tolerance)


def test_the_chapters_layer_keeps_its_input_by_value() -> None:
    """Hand-worked: a 1x2 kernel's weight gradient is the sum of the pixels under each
    tap, 16 each for an all-ones 4x5 image, whatever the image becomes afterwards."""
    x = np.ones((4, 5))
    layer = nn.Conv2D((1, 2), bias=False, init=[[1.0, -1.0]])
    layer(x)
    x[...] = 100.0
    layer.backward(np.ones((4, 4)))
    np.testing.assert_array_equal(layer.weight.grad, [[[[16.0, 16.0]]]])


@pytest.mark.parametrize("second", ["float32 again", "float64 into float32", "a new shape"])
def test_the_kept_input_of_a_second_forward_is_the_second_input(second) -> None:
    """The layer copies each input into the previous one's buffer when it can: the
    gradients of the second step are the second input's, whatever the caller does with
    either array, and an array the caller holds is never the layer's buffer."""
    rng = np.random.default_rng(9)
    layer = nn.Conv2D(3, in_channels=2, out_channels=2, padding=1, groups=2, rng=1)
    layer = nn.Conv2D.from_torch(layer.to_torch().float())
    first = rng.standard_normal((2, 2, 7, 6)).astype(np.float32)
    layer(first)
    shape = (3, 2, 5, 8) if second == "a new shape" else first.shape
    x = rng.standard_normal(shape).astype(np.float64 if "float64" in second else np.float32)
    original = x.astype(np.float32)
    y = layer(x)
    x[...] = 100.0
    first[...] = -100.0
    g = rng.standard_normal(y.shape).astype(np.float32)
    layer.zero_grad()
    layer.backward(g)
    xt = torch.tensor(original, requires_grad=True)
    wt = torch.tensor(layer.weight.data, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt, padding=1, groups=2).backward(torch.tensor(g))
    assert wt.grad is not None
    np.testing.assert_allclose(layer.weight.grad, wt.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_linear_keeps_its_input_by_value() -> None:
    x = np.array([[1.0, 2.0, 3.0]])
    layer = nn.Linear(3, 1, bias=False, init=[[0.0, 0.0, 0.0]])
    layer(x)
    x[...] = -7.0
    layer.backward(np.array([[1.0]]))
    np.testing.assert_array_equal(layer.weight.grad, [[1.0, 2.0, 3.0]])


def test_a_too_small_input_is_blamed_on_the_layer() -> None:
    layer = nn.Conv2D(5, dilation=2)
    with pytest.raises(ValueError) as info:
        layer(np.ones((6, 20)))
    message = str(info.value)
    assert message.startswith("Conv2D.forward: `x` must be at least as large")
    assert "(9, 9)" in message and "shape (6, 20)" in message
    # padding counts: a padded input that holds the kernel is fine
    assert nn.Conv2D(5, dilation=2, padding=2)(np.ones((6, 20))).shape == (2, 16)


def test_complex_gradients_on_real_data_are_refused() -> None:
    """conv2d_backward used to drop the imaginary part with only a ComplexWarning."""
    x = np.ones((1, 1, 4, 4))
    w = np.ones((1, 1, 2, 2))
    g = np.full((1, 1, 3, 3), 1 + 1j)
    with pytest.raises(TypeError, match=r"conv2d_backward: `grad_output` must be real"):
        corr2d.conv2d_backward(g, x, w)
    # complex data differentiate in complex numbers
    grads = corr2d.conv2d_backward(g, x.astype(complex), w)
    assert grads.weight.dtype == np.complex128 and grads.weight[0, 0, 0, 0] == 9 + 9j
    layer = nn.Conv2D(2)
    layer(np.ones((4, 4)))
    with pytest.raises(TypeError, match=r"Conv2D.backward: `grad_output` must be real"):
        layer.backward(np.full((3, 3), 1j))
    linear = nn.Linear(2, 1)
    linear(np.ones((1, 2)))
    with pytest.raises(TypeError, match=r"Linear.backward: `grad_output` must be real"):
        linear.backward(np.array([[1j]]))
    with pytest.raises(TypeError, match=r"Conv2D.forward: `x` must be real"):
        nn.Conv2D(2)(np.ones((4, 4), complex))
