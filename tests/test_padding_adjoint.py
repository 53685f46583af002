"""The adjoint of every border rule, folded pixel by pixel (no dense selection matrix)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import corr2d
from corr2d.core import _padding


@settings(max_examples=80, deadline=None)
@given(
    mode=st.sampled_from(["reflect", "edge", "wrap", "symmetric", "constant"]),
    height=st.integers(2, 7),
    width=st.integers(2, 7),
    pads=st.tuples(*[st.integers(0, 16)] * 4),
    seed=st.integers(0, 2**31 - 1),
)
def test_adjoint_of_padding_by_the_inner_product(mode, height, width, pads, seed) -> None:
    """<pad(x), g> == <x, pad_adjoint(g)>, with pads larger than the image too (the
    rule repeats), which the backward pass of SciPy-style boundaries needs."""
    if mode == "reflect":
        pads = tuple(min(p, (height if i < 2 else width) - 1) for i, p in enumerate(pads))
    widths = ((pads[0], pads[1]), (pads[2], pads[3]))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, height, width))
    padded = _padding.pad2d(x, widths, mode)
    g = rng.standard_normal(padded.shape)
    back = _padding.pad2d_adjoint(g, widths, mode, (height, width))
    assert back.shape == x.shape
    assert np.vdot(padded, g) == pytest.approx(np.vdot(x, back), rel=1e-12, abs=1e-12)


def test_adjoint_needs_memory_for_the_result_only() -> None:
    """A dense selection matrix for a row of 8192 pixels would be 512 MiB."""
    g = np.ones((2, 64, 8192 + 6))
    tracemalloc.start()
    try:
        back = _padding.pad2d_adjoint(g, ((0, 0), (3, 3)), "reflect", (64, 8192))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * back.nbytes
    assert list(back[0, 0, :5]) == [1, 2, 2, 2, 1]  # x3 x2 x1 | x0 x1 x2 x3 x4


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padded_backward_matches_pytorch(mode) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 11, 13))
    w = rng.standard_normal((4, 3, 3, 5))
    module = torch.nn.Conv2d(3, 4, (3, 5), padding=(2, 4), padding_mode=mode, bias=False)
    module = module.double()
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(w))
    xt = torch.tensor(x, requires_grad=True)
    out = module(xt)
    g = rng.standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(g))
    grads = corr2d.conv2d_backward(g, x, w, padding=(2, 4), padding_mode=mode)
    assert xt.grad is not None and module.weight.grad is not None
    np.testing.assert_allclose(grads.input, xt.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(grads.weight, module.weight.grad.numpy(), atol=1e-10)
