"""The PyTorch face: conv2d and conv2d_backward against torch.nn.functional.conv2d."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import corr2d
from corr2d.core import _engine

torch = pytest.importorskip("torch")
F = torch.nn.functional

PADDING_MODES = ["zeros", "reflect", "replicate", "circular"]


@st.composite
def layer_configs(draw, per_group=(1, 3)):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(*per_group))
    c_out = groups * draw(st.integers(*per_group))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    mode = draw(st.sampled_from(PADDING_MODES))
    min_h = max(dilation[0] * (kh - 1) + 1 - 2 * padding[0], padding[0] + 1, 1)
    min_w = max(dilation[1] * (kw - 1) + 1 - 2 * padding[1], padding[1] + 1, 1)
    height = draw(st.integers(min_h, min_h + 6))
    width = draw(st.integers(min_w, min_w + 6))
    batch = draw(st.integers(1, 3))
    bias = draw(st.booleans())
    return {
        "shape": (batch, c_in, height, width),
        "weight": (c_out, c_in // groups, kh, kw),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": mode,
        "bias": bias,
    }


def torch_forward(x, weight, bias, config):
    """PyTorch's reference: F.pad for the non-zero modes, then F.conv2d."""
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(weight, requires_grad=True)
    bt = torch.tensor(bias, requires_grad=True) if bias is not None else None
    ph, pw = config["padding"]
    if config["padding_mode"] == "zeros":
        out = F.conv2d(xt, wt, bt, config["stride"], (ph, pw), config["dilation"], config["groups"])
    else:
        padded = F.pad(xt, (pw, pw, ph, ph), mode=config["padding_mode"])
        out = F.conv2d(padded, wt, bt, config["stride"], 0, config["dilation"], config["groups"])
    return xt, wt, bt, out


def arguments(config):
    return {
        "stride": config["stride"],
        "padding": config["padding"],
        "dilation": config["dilation"],
        "groups": config["groups"],
        "padding_mode": config["padding_mode"],
    }


@given(config=layer_configs() | layer_configs(per_group=(4, 10)), seed=st.integers(0, 2**32 - 1))
def test_forward_and_backward_match_pytorch(config, seed) -> None:
    """Output, dL/dx, dL/dw and dL/db equal PyTorch's on random layer configurations
    (few channels per group: patch matrices; more: the register-blocked kernels)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(config["shape"])
    weight = rng.standard_normal(config["weight"])
    bias = rng.standard_normal(config["weight"][0]) if config["bias"] else None
    xt, wt, bt, expected = torch_forward(x, weight, bias, config)
    for method in ("direct", "fft", "auto"):
        got = corr2d.conv2d(x, weight, bias, method=method, **arguments(config))
        np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-9, atol=1e-9)
    grad_output = rng.standard_normal(expected.shape)
    expected.backward(torch.tensor(grad_output))
    grads = corr2d.conv2d_backward(grad_output, x, weight, **arguments(config))
    np.testing.assert_allclose(grads.input, xt.grad.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(grads.weight, wt.grad.numpy(), rtol=1e-9, atol=1e-9)
    if bt is not None:
        np.testing.assert_allclose(grads.bias, bt.grad.numpy(), rtol=1e-9, atol=1e-9)


@given(config=layer_configs() | layer_configs(per_group=(4, 10)), seed=st.integers(0, 2**32 - 1))
def test_a_short_jobs_numpy_layers_match_pytorch(config, seed) -> None:
    """Inside `short_job` every layer runs vectorised NumPy (one matrix product per tap,
    no compiled loop): output and every gradient still equal PyTorch's."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(config["shape"])
    weight = rng.standard_normal(config["weight"])
    bias = rng.standard_normal(config["weight"][0]) if config["bias"] else None
    xt, wt, bt, expected = torch_forward(x, weight, bias, config)
    grad_output = rng.standard_normal(expected.shape)
    expected.backward(torch.tensor(grad_output))
    with _engine.short_job():
        got = corr2d.conv2d(x, weight, bias, method="direct", **arguments(config))
        grads = corr2d.conv2d_backward(grad_output, x, weight, **arguments(config))
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(grads.input, xt.grad.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(grads.weight, wt.grad.numpy(), rtol=1e-9, atol=1e-9)
    if bt is not None:
        np.testing.assert_allclose(grads.bias, bt.grad.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("command", "printed"),
    [
        (["demo"], "batch 10, loss 0.004"),  # the chapter's trace, kept
        (["rf", "3x3", "3x3/d2", "3x3/d4", "--input", "24", "--plot", "rf.png"], "15x15"),
    ],
)
def test_the_demo_and_rf_in_a_fresh_process_need_no_compiler(
    command: list[str], printed: str, tmp_path
) -> None:
    """`corr2d demo`, the README's first command, runs the chapter's layer on NumPy, and
    `rf --plot` back-propagates through its stack there: loading the compiled loops took
    0.3-0.5 s of the demo's 0.7 s, compiling them 3 s (rf: 7 s)."""
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from corr2d.cli import main\n"
        f"assert main({command!r}) == 0\n"
        "print(sorted(m for m in ('numba', 'llvmlite') if m in sys.modules))\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "0", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env,
        cwd=tmp_path, check=True,
    )  # fmt: skip
    assert printed in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


@given(config=layer_configs() | layer_configs(per_group=(4, 10)), seed=st.integers(0, 2**32 - 1))
def test_backward_is_the_adjoint_of_forward(config, seed) -> None:
    """<conv(x, w), g> == <x, dL/dx> == <w, dL/dw> for bias-free conv (it is bilinear)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(config["shape"])
    weight = rng.standard_normal(config["weight"])
    out = corr2d.conv2d(x, weight, **arguments(config))
    g = rng.standard_normal(out.shape)
    grads = corr2d.conv2d_backward(g, x, weight, **arguments(config))
    inner = np.vdot(out, g)
    scale = 1 + abs(inner)
    assert abs(np.vdot(x, grads.input) - inner) <= 1e-9 * scale
    assert abs(np.vdot(weight, grads.weight) - inner) <= 1e-9 * scale


@pytest.mark.parametrize("kernel", [(3, 3), (2, 4), (5, 2)])
@pytest.mark.parametrize("dilation", [1, 2])
# torch says an even kernel with padding='same' makes it copy the input: not our concern
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_padding_same_and_valid_strings_match_pytorch(rng, kernel, dilation) -> None:
    x = rng.standard_normal((2, 3, 9, 8))
    weight = rng.standard_normal((4, 3, *kernel))
    for padding in ("same", "valid"):
        expected = F.conv2d(
            torch.tensor(x), torch.tensor(weight), padding=padding, dilation=dilation
        )
        got = corr2d.conv2d(x, weight, padding=padding, dilation=dilation)
        np.testing.assert_allclose(got, expected.numpy(), atol=1e-10)


def test_unbatched_input_gives_unbatched_output(rng) -> None:
    x = rng.standard_normal((3, 7, 7))
    weight = rng.standard_normal((2, 3, 3, 3))
    out = corr2d.conv2d(x, weight, padding=1)
    assert out.shape == (2, 7, 7)
    np.testing.assert_allclose(out, corr2d.conv2d(x[None], weight, padding=1)[0])
    grads = corr2d.conv2d_backward(np.ones_like(out), x, weight, padding=1)
    assert grads.input.shape == x.shape


def test_float32_stays_float32_and_matches_pytorch(rng) -> None:
    x = rng.standard_normal((2, 16, 20, 20)).astype(np.float32)
    weight = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    got = corr2d.conv2d(x, weight, padding=1)
    assert got.dtype == np.float32
    expected = F.conv2d(torch.tensor(x), torch.tensor(weight), padding=1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_single_channel_layer_is_the_chapters_correlation(rng) -> None:
    from scipy import signal

    x = rng.standard_normal((1, 1, 300, 200))  # large enough for the unrolled loops
    weight = rng.standard_normal((1, 1, 4, 3))
    np.testing.assert_allclose(
        corr2d.conv2d(x, weight)[0, 0],
        signal.correlate2d(x[0, 0], weight[0, 0], "valid"),
        atol=1e-12,
    )


def test_depthwise_layer_matches_pytorch(rng) -> None:
    x = rng.standard_normal((2, 4, 12, 12))
    weight = rng.standard_normal((4, 1, 3, 3))
    expected = F.conv2d(torch.tensor(x), torch.tensor(weight), groups=4, stride=2, padding=1)
    got = corr2d.conv2d(x, weight, groups=4, stride=2, padding=1)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-12)


def test_tiled_patch_matrix_gives_the_same_result(rng, monkeypatch) -> None:
    """With a tiny workspace the patch matrix is built a few output rows at a time."""
    x = rng.standard_normal((2, 6, 17, 15))
    weight = rng.standard_normal((5, 6, 3, 3))
    expected = F.conv2d(torch.tensor(x), torch.tensor(weight), stride=(2, 1), padding=1).numpy()
    monkeypatch.setattr(_engine, "WORKSPACE_BYTES", 6 * 9 * 15 * 8 * 2)  # two rows per tile
    np.testing.assert_allclose(
        corr2d.conv2d(x, weight, stride=(2, 1), padding=1, method="direct"), expected, atol=1e-12
    )
    g = rng.standard_normal(expected.shape)
    grads = corr2d.conv2d_backward(g, x, weight, stride=(2, 1), padding=1)
    xt = torch.tensor(x, requires_grad=True)
    F.conv2d(xt, torch.tensor(weight), stride=(2, 1), padding=1).backward(torch.tensor(g))
    np.testing.assert_allclose(grads.input, xt.grad.numpy(), atol=1e-12)


def test_images_grouped_in_tiles_give_the_same_result(rng, monkeypatch) -> None:
    """Two images per patch tile (the last tile holds one), groups and a column stride."""
    x = rng.standard_normal((3, 4, 11, 13))
    weight = rng.standard_normal((6, 2, 3, 3))
    options = {"stride": (1, 2), "padding": 1, "groups": 2}
    out_shape = corr2d.conv2d_output_shape((11, 13), (3, 3), (1, 2), 1)
    per_image = 4 * 9 * out_shape[0] * out_shape[1] * 8
    monkeypatch.setattr(_engine, "WORKSPACE_BYTES", 2 * per_image)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(weight, requires_grad=True)
    expected = F.conv2d(xt, wt, **options)
    got = corr2d.conv2d(x, weight, **options, method="direct")
    np.testing.assert_allclose(got, expected.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(got.shape)
    expected.backward(torch.tensor(g))
    grads = corr2d.conv2d_backward(g, x, weight, **options)
    np.testing.assert_allclose(grads.input, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads.weight, wt.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation", "expected"),
    [
        ((224, 224), (7, 7), 2, 3, 1, (112, 112)),
        ((6, 8), (1, 2), 1, 0, 1, (6, 7)),
        ((32, 32), (3, 3), 1, 1, 1, (32, 32)),
        ((10, 11), (3, 3), 3, 0, 2, (2, 3)),
    ],
)
def test_output_shape_formula(size, kernel, stride, padding, dilation, expected) -> None:
    """floor((n + 2p - d(k - 1) - 1) / s) + 1, checked by hand and by the real output."""
    assert corr2d.conv2d_output_shape(size, kernel, stride, padding, dilation) == expected
    out = corr2d.conv2d(
        np.ones((1, 1, *size)),
        np.ones((1, 1, *kernel)),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    assert out.shape[2:] == expected


class TestWhatPyTorchAccepts:
    """Arguments PyTorch's own tests use: a batch of no images, one-element tuples."""

    def test_an_empty_batch_gives_an_empty_batch_and_zero_gradients(self, rng) -> None:
        x = np.zeros((0, 3, 10, 12), dtype=np.float32)
        weight = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        out = corr2d.conv2d(x, weight, np.ones(4, np.float32), stride=2, padding=1)
        expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), stride=2, padding=1)
        assert out.shape == tuple(expected.shape) == (0, 4, 5, 6) and out.dtype == np.float32
        grads = corr2d.conv2d_backward(
            np.zeros(out.shape, np.float32), x, weight, stride=2, padding=1
        )
        assert grads.input.shape == x.shape
        np.testing.assert_array_equal(grads.weight, np.zeros_like(weight))
        np.testing.assert_array_equal(grads.bias, np.zeros(4, np.float32))
        integers = corr2d.conv2d(np.zeros((0, 3, 4, 4), np.int64), np.ones((2, 3, 2, 2), np.int64))
        assert integers.shape == (0, 2, 3, 3) and integers.dtype == np.int64

    def test_only_the_batch_may_be_empty(self) -> None:
        with pytest.raises(ValueError, match=r"conv2d: `input` must be non-empty"):
            corr2d.conv2d(np.zeros((2, 3, 0, 4)), np.ones((1, 3, 1, 1)))

    @pytest.mark.parametrize("name", ["stride", "padding", "dilation"])
    def test_one_element_tuples_serve_both_axes(self, rng, name) -> None:
        x = rng.standard_normal((2, 2, 11, 9))
        weight = rng.standard_normal((3, 2, 3, 3))
        out = corr2d.conv2d(x, weight, **{name: (2,)})
        expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), **{name: (2,)})
        np.testing.assert_allclose(out, expected.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(out, corr2d.conv2d(x, weight, **{name: 2}))
        with pytest.raises(ValueError, match=rf"conv2d: `{name}` must be an int or a tuple of"):
            corr2d.conv2d(x, weight, **{name: (1, 1, 1)})


@st.composite
def depthwise_configs(draw):
    """Layers with one kernel per channel (and the 1x1 and grouped layers beside them),
    on planes large enough for the plane-by-plane loop (at least a register block)."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    channels = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["depthwise", "pointwise", "grouped"]))
    k = 1 if kind == "pointwise" else draw(st.integers(1, 5))
    groups = channels if kind == "depthwise" else draw(st.sampled_from([1, channels]))
    c_out = channels * (draw(st.integers(1, 2)) if kind == "grouped" else 1)
    if kind == "grouped":
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
    stride = 1 if kind == "depthwise" else draw(st.integers(1, 2))
    padding = draw(st.integers(0, 2))
    height = draw(st.integers(k + 5, 20))
    width = draw(st.integers(50 + k, 70))
    return dtype, channels, c_out, k, groups, stride, padding, (height, width)


def _torch_layer(x, weight, bias, grad, options):  # type: ignore[no-untyped-def]
    """PyTorch's (output, dL/dx, dL/dw, dL/db) in float64."""
    xt, wt, bt = (
        torch.from_numpy(a.astype(np.float64)).requires_grad_() for a in (x, weight, bias)
    )
    out = F.conv2d(xt, wt, bt, **options)
    out.backward(torch.from_numpy(grad.astype(np.float64)))
    return [t.numpy() for t in (out.detach(), xt.grad, wt.grad, bt.grad)]


def _assert_against_pytorch(x, weight, bias, options, input_terms, rng) -> None:  # type: ignore[no-untyped-def]
    """Forward and backward (with a random output gradient) against PyTorch's autograd in
    float64, each element within the rounding bound of a sum of ``n`` terms in any
    order, ``n * eps`` times the sum of the terms' magnitudes (the same layer on |x|,
    |w|, |b|, |g|); ``input_terms`` terms per element of the input gradient."""
    dtype = x.dtype
    out = corr2d.conv2d(x, weight, bias, **options)
    grad = rng.standard_normal(out.shape).astype(dtype)
    grads = corr2d.conv2d_backward(grad, x, weight, **options)
    exact = _torch_layer(x, weight, bias, grad, options)
    magnitude = _torch_layer(np.abs(x), np.abs(weight), np.abs(bias), np.abs(grad), options)
    positions = grad[:, 0].size
    terms = (weight[0].size + 1, input_terms, positions, positions)
    eps = float(np.finfo(dtype).eps)
    for ours, theirs, scale, n in zip(
        (out, grads.input, grads.weight, grads.bias), exact, magnitude, terms, strict=True
    ):
        assert ours.shape == theirs.shape and ours.dtype == dtype
        np.testing.assert_array_less(np.abs(ours - theirs), n * eps * scale + 1e-300)


@given(config=depthwise_configs(), seed=st.integers(0, 2**16))
def test_depthwise_pointwise_and_grouped_layers_against_pytorch(config, seed) -> None:
    """Forward and backward against PyTorch's autograd in float64, each element within
    the rounding bound of a sum of ``n`` terms in any order, ``n * eps`` times the sum
    of the terms' magnitudes (the same layer on |x|, |w|, |b|, |g|), which holds where
    the terms cancel too."""
    dtype, channels, c_out, k, groups, stride, padding, size = config
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, channels, *size)).astype(dtype)
    weight = rng.standard_normal((c_out, channels // groups, k, k)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    options = {"stride": stride, "padding": padding, "groups": groups}
    _assert_against_pytorch(x, weight, bias, options, c_out // groups * weight[0].size, rng)


@settings(deadline=None, max_examples=20)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    channels=st.tuples(st.integers(8, 40), st.integers(8, 40)),
    size=st.tuples(st.integers(4, 12), st.integers(12, 20)),
    padding=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_wide_pointwise_layers_against_pytorch(dtype, channels, size, padding, seed) -> None:
    """1x1 layers with enough channels for the register-blocked products: forward and
    backward against PyTorch's autograd in float64, within the rounding bound of a sum
    of ``n`` terms in any order (as for the layers above)."""
    c_in, c_out = channels
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, c_in, *size)).astype(dtype)
    weight = rng.standard_normal((c_out, c_in, 1, 1)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    options = {"padding": padding}
    _assert_against_pytorch(x, weight, bias, options, c_out, rng)


@settings(deadline=None, max_examples=20)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    channels=st.tuples(st.integers(2, 20), st.integers(30, 70)),
    kernel=st.tuples(st.integers(1, 4), st.integers(2, 4)),
    size=st.tuples(st.integers(4, 12), st.integers(4, 40)),
    padding=st.integers(0, 2),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_dense_layers_with_outer_product_gradients_against_pytorch(
    dtype, channels, kernel, size, padding, batch, seed
) -> None:
    """Dense layers with enough output channels for the outer-product weight gradient
    (which sums the bias gradient on the way): forward and backward against PyTorch's
    autograd in float64, within the rounding bound of a sum of ``n`` terms in any order
    (as for the layers above)."""
    c_in, c_out = channels
    kh, kw = kernel
    size = (max(size[0], kh), max(size[1], kw))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, c_in, *size)).astype(dtype)
    weight = rng.standard_normal((c_out, c_in, kh, kw)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    options = {"padding": padding}
    _assert_against_pytorch(x, weight, bias, options, c_out * kh * kw, rng)


def test_depthwise_layers_run_every_plane_in_one_loop(monkeypatch, rng) -> None:
    """A depthwise layer on 56x56 planes takes the plane loop forward and the fused loop
    (input, weight and bias gradients in one pass) backward."""
    from corr2d.core import _depthwise

    calls = []
    for name in ("depthwise", "backward"):
        real = getattr(_depthwise, name)

        def spy(*args, real=real, name=name):  # type: ignore[no-untyped-def]
            calls.append(name)
            return real(*args)

        monkeypatch.setattr(_depthwise, name, spy)
    x = rng.standard_normal((2, 8, 56, 56)).astype(np.float32)
    weight = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)
    out = corr2d.conv2d(x, weight, padding=1, groups=8)
    corr2d.conv2d_backward(np.ones_like(out), x, weight, padding=1, groups=8)
    assert calls == ["depthwise", "backward"]
