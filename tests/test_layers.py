"""Conv2D, Linear, ReLU and Sequential against PyTorch autograd and adjoint identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from corr2d import Conv2D, Linear, ReLU, Sequential, conv2d
from corr2d.nn import Parameter

# (in, out, kernel, stride, padding, dilation, groups, bias, padding_mode, size)
CONFIGS = [
    (1, 1, (3, 3), 1, 0, 1, 1, True, "zeros", (7, 8)),
    (2, 4, (3, 2), (2, 1), (1, 2), 1, 2, True, "zeros", (9, 7)),
    (3, 2, (2, 3), 1, 1, (2, 1), 1, False, "reflect", (6, 7)),
    (2, 2, (3, 3), 2, 2, 1, 2, True, "replicate", (8, 9)),
    (4, 2, (3, 1), (1, 2), (2, 1), (1, 2), 2, True, "circular", (6, 8)),
    (2, 3, (2, 2), 1, "same", 2, 1, True, "zeros", (5, 6)),
]


def torch_grads(layer: Conv2D, x: np.ndarray, g: np.ndarray):
    module = layer.to_torch()
    xt = torch.tensor(x, requires_grad=True)
    out = module(xt)
    out.backward(torch.tensor(g))
    bias_grad = None if module.bias is None else module.bias.grad.numpy()
    return out.detach().numpy(), xt.grad.numpy(), module.weight.grad.numpy(), bias_grad


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c[8]}-s{c[3]}-p{c[4]}-g{c[6]}")
def test_conv2d_layer_forward_and_backward_equal_torch_autograd(config, rng):
    c_in, c_out, k, s, p, d, groups, bias, padding_mode, (h, w) = config
    layer = Conv2D(
        k,
        c_in,
        c_out,
        stride=s,
        padding=p,
        dilation=d,
        groups=groups,
        bias=bias,
        padding_mode=padding_mode,
        rng=rng,
    )
    x = rng.normal(size=(2, c_in, h, w))
    out = layer(x)
    g = rng.normal(size=out.shape)
    grad_input = layer.backward(g)
    out_t, gx_t, gw_t, gb_t = torch_grads(layer, x, g)
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_input, gx_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, gw_t, rtol=1e-12, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.bias.grad, gb_t, rtol=1e-12, atol=1e-12)
    else:
        assert layer.bias is None and gb_t is None


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    padding_mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
    groups=st.sampled_from([1, 2]),
    bias=st.booleans(),
)
def test_random_conv2d_configurations_match_torch_autograd(
    seed, kernel, stride, dilation, padding, padding_mode, groups, bias
):
    rng = np.random.default_rng(seed)
    layer = Conv2D(
        kernel,
        2,
        4,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=bias,
        padding_mode=padding_mode,
        rng=rng,
    )
    x = rng.normal(size=(2, 2, 7, 6))
    out = layer(x)
    g = rng.normal(size=out.shape)
    grad_input = layer.backward(g)
    out_t, gx_t, gw_t, gb_t = torch_grads(layer, x, g)
    np.testing.assert_allclose(out, out_t, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(grad_input, gx_t, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, gw_t, rtol=1e-11, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.bias.grad, gb_t, rtol=1e-11, atol=1e-12)


def test_single_channel_layer_maps_2d_image_to_2d_output_plus_scalar_bias(rng):
    layer = Conv2D((2, 3), rng=rng)
    x = rng.normal(size=(5, 6))
    y = layer(x)
    assert y.shape == (4, 4)
    expected = conv2d(x[None, None], layer.weight.data)[0, 0] + layer.bias.data[0]
    np.testing.assert_allclose(y, expected, rtol=1e-13)
    g = rng.normal(size=y.shape)
    grad_input = layer.backward(g)
    assert grad_input.shape == x.shape
    _, gx_t, gw_t, gb_t = torch_grads(layer, x[None, None], g[None, None])
    np.testing.assert_allclose(grad_input, gx_t[0, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, gw_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, gb_t, rtol=1e-12)


def test_unbatched_chw_input_gives_chw_output_and_gradient(rng):
    layer = Conv2D(3, 2, 3, padding=1, rng=rng)
    x = rng.normal(size=(2, 5, 5))
    y = layer(x)
    assert y.shape == (3, 5, 5)
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_backward_accumulates_until_zero_grad(rng):
    layer = Conv2D(2, rng=rng)
    x = rng.normal(size=(4, 4))
    g = rng.normal(size=(3, 3))
    layer(x)
    layer.backward(g)
    once = layer.weight.grad.copy(), layer.bias.grad.copy()
    layer(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once[0])
    np.testing.assert_allclose(layer.bias.grad, 2 * once[1])
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    padding=st.integers(0, 2),
    padding_mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
    groups=st.sampled_from([1, 2]),
)
def test_conv2d_gradients_are_adjoints_of_the_forward_map(
    seed, kernel, stride, dilation, padding, padding_mode, groups
):
    # The layer without bias is linear in x and in the kernel, so for any g:
    # <conv(x, w), g> = <x, dL/dx(g)> = <w, dL/dw(g)>.
    rng = np.random.default_rng(seed)
    layer = Conv2D(
        kernel,
        2,
        2,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=False,
        padding_mode=padding_mode,
        rng=rng,
    )
    x = rng.normal(size=(2, 2, 7, 6))
    y = layer(x)
    g = rng.normal(size=y.shape)
    grad_input = layer.backward(g)
    forward_dot = float(np.sum(y * g))
    np.testing.assert_allclose(np.sum(x * grad_input), forward_dot, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        np.sum(layer.weight.data * layer.weight.grad), forward_dot, rtol=1e-10, atol=1e-10
    )


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_in=st.integers(1, 6), n_out=st.integers(1, 6))
def test_linear_gradients_are_adjoints_of_the_forward_map(seed, n_in, n_out):
    rng = np.random.default_rng(seed)
    layer = Linear(n_in, n_out, bias=False, rng=rng)
    x = rng.normal(size=(3, n_in))
    y = layer(x)
    g = rng.normal(size=y.shape)
    grad_input = layer.backward(g)
    np.testing.assert_allclose(np.sum(x * grad_input), np.sum(y * g), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        np.sum(layer.weight.data * layer.weight.grad), np.sum(y * g), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("bias", [True, False])
def test_linear_equals_torch_linear_with_autograd(bias, rng):
    layer = Linear(5, 3, bias=bias, rng=rng)
    module = torch.nn.Linear(5, 3, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(layer.weight.data))
        if bias:
            module.bias.copy_(torch.tensor(layer.bias.data))
    x = rng.normal(size=(2, 4, 5))
    g = rng.normal(size=(2, 4, 3))
    xt = torch.tensor(x, requires_grad=True)
    out_t = module(xt)
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(layer(x), out_t.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(layer.backward(g), xt.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(layer.weight.grad, module.weight.grad.numpy(), rtol=1e-13)
    if bias:
        np.testing.assert_allclose(layer.bias.grad, module.bias.grad.numpy(), rtol=1e-13)


def test_sequential_of_conv_relu_conv_equals_torch(rng):
    first = Conv2D(3, 1, 4, padding=1, rng=rng)
    second = Conv2D(2, 4, 2, stride=2, rng=rng)
    model = Sequential(first, ReLU(), second)
    torch_model = torch.nn.Sequential(first.to_torch(), torch.nn.ReLU(), second.to_torch())
    x = rng.normal(size=(2, 1, 8, 8))
    y = model(x)
    g = rng.normal(size=y.shape)
    grad_input = model.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_model(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_input, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(model.named_parameters(), torch_model.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_relu_passes_gradient_only_where_input_was_positive():
    relu = ReLU()
    np.testing.assert_array_equal(relu([[-2.0, 0.0, 3.0]]), [[0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(relu.backward([[5.0, 5.0, 5.0]]), [[0.0, 0.0, 5.0]])


def test_kaiming_uniform_matches_torch_default_bounds(rng):
    layer = Conv2D((3, 3), 4, 64, groups=2, rng=rng)
    bound = 1 / np.sqrt(2 * 3 * 3)  # fan_in = in_channels / groups * k_h * k_w
    assert np.abs(layer.weight.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.9 * bound
    assert np.abs(layer.bias.data).max() <= bound
    # torch's default initialisation has the same bound.
    module = torch.nn.Conv2d(4, 64, 3, groups=2, dtype=torch.float64)
    assert module.weight.abs().max().item() <= bound


@pytest.mark.parametrize(
    ("init", "low", "high"),
    [("uniform", 0.0, 1.0), ("zeros", 0.0, 0.0), ("normal", -np.inf, np.inf)],
)
def test_named_initialisers_and_zero_bias(init, low, high, rng):
    layer = Conv2D((4, 4), 1, 8, init=init, rng=rng)
    assert layer.weight.data.min() >= low and layer.weight.data.max() <= high
    assert not layer.bias.data.any()
    if init == "normal":
        assert 0.1 < layer.weight.data.std() < 0.5  # N(0, 1/16)


def test_array_initialiser_accepts_2d_kernel_and_full_weight_shape():
    assert Conv2D((1, 2), init=[[1.0, -1.0]]).weight.shape == (1, 1, 1, 2)
    weight = np.arange(12.0).reshape(2, 3, 1, 2)
    np.testing.assert_array_equal(Conv2D((1, 2), 3, 2, init=weight).weight.data, weight)


def test_seeded_initialisation_is_reproducible():
    a, b = Conv2D(3, 2, 2, rng=7), Conv2D(3, 2, 2, rng=7)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


def test_float32_layer_computes_in_float32(rng):
    layer = Conv2D(3, dtype=np.float32, rng=rng)
    y = layer(rng.normal(size=(6, 6)))
    assert y.dtype == np.float32 and layer.weight.data.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
def test_torch_round_trip_keeps_configuration_and_numbers(padding_mode, rng):
    layer = Conv2D(
        (3, 2),
        2,
        4,
        stride=(2, 1),
        padding=(1, 1),
        dilation=(1, 2),
        groups=2,
        padding_mode=padding_mode,
        rng=rng,
    )
    module = layer.to_torch()
    assert isinstance(module, torch.nn.Conv2d) and module.padding_mode == padding_mode
    back = Conv2D.from_torch(module)
    x = rng.normal(size=(1, 2, 7, 7))
    expected = module(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(back(x), expected, rtol=1e-12, atol=1e-12)
    assert repr(back) == repr(layer)


def test_from_torch_takes_float32_modules_and_string_padding():
    module = torch.nn.Conv2d(3, 5, 3, padding="same", bias=False)
    layer = Conv2D.from_torch(module)
    x = np.random.default_rng(0).normal(size=(1, 3, 6, 6)).astype(np.float32)
    assert layer.dtype == np.float32 and layer.bias is None
    np.testing.assert_allclose(
        layer(x), module(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5
    )


def test_parameter_counts_and_repr():
    assert Conv2D((1, 2), bias=False).num_parameters() == 2
    assert Linear(48, 42).num_parameters() == 48 * 42 + 42 == 2058
    assert repr(Conv2D(3, 1, 2, bias=False)) == (
        "Conv2D((3, 3), in_channels=1, out_channels=2, bias=False)"
    )
    assert "shape=(2,)" in repr(Parameter([1.0, 2.0], name="bias"))


@pytest.mark.parametrize(
    ("make", "exception", "match"),
    [
        (
            lambda: Conv2D((1, 2, 3)),
            ValueError,
            r"Conv2D: `kernel_size` must be an int or a tuple of one or two ints",
        ),
        (lambda: Conv2D(0), ValueError, r"Conv2D: `kernel_size` must be >= 1, got 0"),
        (lambda: Conv2D(2, init="glorot"), ValueError, r"Conv2D: `init` must be one of"),
        (lambda: Conv2D(2, init=np.ones((3, 3))), ValueError, r"`init` must be a name in"),
        (
            lambda: Conv2D(2, 3, 4, groups=2),
            ValueError,
            r"`groups` must be a divisor of "
            r"in_channels \(3\)",
        ),
        (lambda: Conv2D(2, in_channels=0), ValueError, r"`in_channels` must be an int >= 1"),
        (lambda: Conv2D(2, in_channels=1.5), TypeError, r"`in_channels` must be an int >= 1"),
        (lambda: Conv2D(2, padding_mode="mirror"), ValueError, r"`padding_mode` must be one of"),
        (lambda: Conv2D(2, stride=2, padding="same"), ValueError, r"`padding` must be an int"),
        (lambda: Conv2D(2, dtype=np.int32), ValueError, r"`dtype` must be float32 or float64"),
        (lambda: Conv2D(2, rng="seed"), TypeError, r"`rng` must be None, an int seed"),
        (lambda: Conv2D(2, bias=1), TypeError, r"`bias` must be a bool"),
        (lambda: Linear(0, 3), ValueError, r"Linear: `in_features` must be an int >= 1"),
        (lambda: Sequential(Conv2D(2), "relu"), TypeError, r"`layers\[1\]` must be a corr2d"),
        (
            lambda: Conv2D.from_torch(torch.nn.Linear(2, 2)),
            TypeError,
            r"from_torch: `module` must be a torch.nn.Conv2d",
        ),
    ],
)
def test_constructor_errors_name_argument_rule_and_value(make, exception, match):
    with pytest.raises(exception, match=match):
        make()


def test_backward_before_forward_is_an_error():
    with pytest.raises(ValueError, match=r"Conv2D.backward: `forward` must be called before"):
        Conv2D(2).backward(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"Linear.backward: `forward` must be called before"):
        Linear(2, 2).backward(np.ones(2))
    with pytest.raises(ValueError, match=r"ReLU.backward: `forward` must be called before"):
        ReLU().backward(np.ones(2))


def test_wrong_input_and_gradient_shapes_are_errors(rng):
    layer = Conv2D(2, 3, 2)
    with pytest.raises(ValueError, match=r"Conv2D.forward: `x` must be \(C, H, W\) or"):
        layer(np.ones((5, 5)))
    with pytest.raises(ValueError, match=r"`x` must be of 3 channels \(axis -3\), got 'shape"):
        layer(np.ones((1, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"`x` must be 2-D or 3-D or 4-D"):
        layer(np.ones(5))
    layer(np.ones((1, 3, 5, 5)))
    with pytest.raises(
        ValueError,
        match=r"`grad_output` must be of the last output's shape "
        r"\(1, 2, 4, 4\), got 'shape \(2, 4, 4\)'",
    ):
        layer.backward(np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match=r"Linear.forward: `x` must be of shape \(..., 4\)"):
        Linear(4, 2)(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"`x` must be a numeric array"):
        Conv2D(2)(np.array([["a", "b"], ["c", "d"]]))
