"""The register-blocked kernels: micro-kernels by their formulas, the phase layout by its
formula, and the forward pass and gradients against PyTorch and the slow twin."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import corr2d
from corr2d.core import _blocked, _engine, _microkernels
from corr2d.core._reference import conv2d_reference

torch = pytest.importorskip("torch")
F = torch.nn.functional

ROWS, COLUMNS, TAPS = _microkernels.ROWS, _microkernels.COLUMNS, _microkernels.TAPS
OUTER_TAPS, OUTER_VECTORS = _microkernels.OUTER_TAPS, _microkernels.OUTER_VECTORS
#: Output channels per group from which float32 takes the outer-product weight gradient.
OUTER_CHANNELS = OUTER_VECTORS * _blocked.lanes(np.dtype(np.float32))


@njit
def _one_fma_block(x, x_base, offsets, packed, bias, out, out_stride):  # type: ignore[no-untyped-def]
    _microkernels.fma_block(x, x_base, offsets, packed, 0, bias, 0, out, 0, out_stride)


@njit
def _one_dot_block(g, g_stride, x, x_base, offsets, length, out):  # type: ignore[no-untyped-def]
    _microkernels.dot_block(g, 0, g_stride, x, x_base, offsets, 0, length, out, 0, TAPS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fma_block_by_its_formula(dtype) -> None:
    """Small integers, so every sum is exact in both precisions."""
    lanes = _blocked.lanes(np.dtype(dtype))
    width = COLUMNS * lanes
    x = np.arange(width + 40, dtype=dtype) % 7
    offsets = np.array([0, 3, 11], dtype=np.int64)
    weights = (np.arange(ROWS * 3).reshape(ROWS, 3) % 5 - 2).astype(dtype)
    packed = np.ascontiguousarray(weights.T).ravel()  # tap-major
    bias = np.arange(ROWS, dtype=dtype)
    out = np.full((ROWS, width + 5), -1.0, dtype=dtype)
    _one_fma_block(x, 2, offsets, packed, bias, out.ravel(), width + 5)
    windows = np.stack([x[2 + k : 2 + k + width] for k in offsets])  # (taps, width)
    expected = bias[:, None] + weights @ windows
    np.testing.assert_array_equal(out[:, :width], expected)
    assert (out[:, width:] == -1).all()  # nothing written past the block


@njit
def _one_fma_rows_block(
    x, offsets, packed, bias, out, out_base, plane, channels, q0, width, ow, limit
):  # type: ignore[no-untyped-def]
    _microkernels.fma_rows_block(
        x, 2, offsets, packed, 0, bias, 0, out, out_base, plane, channels, q0, width, ow, limit
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fma_rows_block_by_its_formula(dtype) -> None:
    """fma_block's sums, from row-major weights, stored into output planes: position
    q0 + p of wide rows of ``width`` goes to row (q0 + p) // width, column
    (q0 + p) % width where that column is below ``ow`` and q0 + p below ``limit``; a
    vector spanning two rows, dropped columns, a limit inside the block, fewer channels
    than a block; nothing else written."""
    lanes = _blocked.lanes(np.dtype(dtype))
    size = COLUMNS * lanes
    x = np.arange(size + 40, dtype=dtype) % 7
    offsets = np.array([0, 3, 11], dtype=np.int64)
    weights = (np.arange(ROWS * 3).reshape(ROWS, 3) % 5 - 2).astype(dtype)  # row-major
    bias = np.arange(ROWS, dtype=dtype)
    windows = np.stack([x[2 + k : 2 + k + size] for k in offsets])  # (taps, size)
    sums = bias[:, None] + weights @ windows
    for width, ow, q0, limit, channels in (
        (lanes, lanes, 0, 10**6, ROWS),
        (lanes + 1, lanes - 2, 5, 10**6, ROWS),
        (2 * lanes + 3, 2 * lanes, 2 * lanes + 1, 10**6, 3),
        (115, 112, 110, 110 + size - 7, ROWS),
        (115, 112, 0, -1, ROWS),
    ):
        plane = ((q0 + size) // width + 2) * ow + 5
        out = np.full(ROWS * plane + 40, -1.0, dtype=dtype)
        # the rows past ``channels`` are not read: their weights and bias left out
        rows = np.ascontiguousarray(weights[:channels]).ravel()
        _one_fma_rows_block(
            x, offsets, rows, bias[:channels].copy(), out, 7, plane, channels, q0, width, ow, limit
        )
        expected = np.full_like(out, -1.0)
        q = q0 + np.arange(size)
        i, j = np.divmod(q, width)
        real = (j < ow) & (q < limit)
        for r in range(channels):
            expected[7 + r * plane + (i * ow + j)[real]] = sums[r, real]
        np.testing.assert_array_equal(out, expected)


@njit
def _one_transpose_block(source, base, stride, target, target_base, target_stride):  # type: ignore[no-untyped-def]
    _microkernels.transpose_block(source, base, stride, target, target_base, target_stride)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transpose_block_by_its_formula(dtype) -> None:
    """A lanes x lanes block from strided rows into strided rows, nothing else written."""
    lanes = _blocked.lanes(np.dtype(dtype))
    source = np.arange(3 + 20 * lanes, dtype=dtype)
    target = np.full(5 + 25 * lanes, -1, dtype=dtype)
    _one_transpose_block(source, 3, 20, target, 5, 25)
    block = source[3 : 3 + 20 * lanes].reshape(lanes, 20)[:, :lanes]
    written = target[5 : 5 + 25 * lanes].reshape(lanes, 25)
    np.testing.assert_array_equal(written[:, :lanes], block.T)
    assert (written[:, lanes:] == -1).all() and (target[:5] == -1).all()


@njit
def _one_outer_block(g, g_base, g_stride, x, x_base, offsets, length, out, out_stride):  # type: ignore[no-untyped-def]
    _microkernels.outer_block(
        g, g_base, g_stride, x, x_base, offsets, 1, length, out, 0, out_stride
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("length", [0, 1, 7, 40])
def test_outer_block_by_its_formula(dtype, length) -> None:
    """Any number of positions; from tap 1 of the offsets; added to what ``out`` holds,
    nothing written past the block."""
    lanes = _blocked.lanes(np.dtype(dtype))
    channels = OUTER_VECTORS * lanes
    stride = channels + 3  # rows of the transposed gradient: positions by channels
    g = (np.arange(2 + (length + 1) * stride) % 5 - 2).astype(dtype)
    x = (np.arange(length + 60) % 7 - 3).astype(dtype)
    offsets = np.arange(OUTER_TAPS + 1, dtype=np.int64) * 3 + 2  # taps 1 .. OUTER_TAPS used
    out = np.ones((OUTER_TAPS, channels + 4), dtype=dtype)
    _one_outer_block(g, 2, stride, x, 5, offsets, length, out.ravel(), channels + 4)
    rows = g[2 : 2 + length * stride].reshape(length, stride)[:, :channels]
    pixels = np.stack([x[5 + k : 5 + k + length] for k in offsets[1:]])  # (taps, length)
    np.testing.assert_array_equal(out[:, :channels], 1 + pixels @ rows)
    assert (out[:, channels:] == 1).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dot_block_by_its_formula(dtype) -> None:
    lanes = _blocked.lanes(np.dtype(dtype))
    length = 4 * lanes
    g = (np.arange(ROWS * (length + 3)) % 5 - 2).astype(dtype)
    x = (np.arange(length + 30) % 3).astype(dtype)
    offsets = np.arange(TAPS, dtype=np.int64) * 2 + 1
    out = np.ones((ROWS, TAPS), dtype=dtype)  # the kernel adds to it
    _one_dot_block(g, length + 3, x, 4, offsets, length, out.ravel())
    rows = g.reshape(ROWS, length + 3)[:, :length]
    windows = np.stack([x[4 + k : 4 + k + length] for k in offsets])
    np.testing.assert_array_equal(out, 1 + rows @ windows.T)


@st.composite
def geometries(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    c_group = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hp = draw(st.integers(dilation[0] * (kh - 1) + 1, 14))
    wp = draw(st.integers(dilation[1] * (kw - 1) + 1, 14))
    batch = draw(st.integers(1, 3))
    return (batch, groups * c_group, hp, wp), groups, (kh, kw), stride, dilation


@given(
    geometry=geometries(),
    pads=st.tuples(*[st.integers(0, 3)] * 4),
    multiple=st.integers(1, 9),
    kept=st.booleans(),
)
def test_phase_layout_by_its_formula(geometry, pads, multiple, kept) -> None:
    """flat[n*image + g*group + offsets[k] + i*row_width + j] is the pixel of the
    zero-padded input that tap k of output (i, j) reads, for every real output; the
    buffer covers the reach and is zero beyond the images, also in a kept buffer that
    held an earlier layout."""
    shape, groups, kernel, stride, dilation = geometry
    top, bottom, left, right = pads
    n_batch, channels, hp, wp = shape
    x = np.arange(1, n_batch * channels * hp * wp + 1, dtype=np.float64)
    x = x.reshape(n_batch, channels, hp, wp)
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    hp, wp = xp.shape[2:]
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    shared = min(left, right, dw * (kw - 1)) if sw == 1 else 0  # zeros two rows share
    width = -(-wp // sw) - shared
    layout = _blocked.phase_layout(
        x, ((top, bottom), (left, right)), kernel, stride, dilation, groups, multiple, kept
    )
    assert layout.out_shape == (oh, ow) and layout.row_width == width
    assert layout.reach % multiple == 0 and 0 <= layout.reach - oh * width < multiple
    c_group = channels // groups
    i, j = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    for n in range(n_batch):
        for g in range(groups):
            for k, offset in enumerate(layout.offsets):
                c, u, v = np.unravel_index(k, (c_group, kh, kw))
                start = n * layout.image_stride + g * layout.group_stride + offset
                got = layout.flat[start + i * width + j]
                expected = xp[n, g * c_group + c, i * sh + u * dh, j * sw + v * dw]
                np.testing.assert_array_equal(got, expected)
                assert start + layout.reach <= layout.flat.size
    # every input pixel appears once, everything else is zero
    assert np.count_nonzero(layout.flat) == x.size
    assert layout.flat.sum() == x.sum()


@njit
def _one_copy_run(source, source_base, target, target_base, count):  # type: ignore[no-untyped-def]
    _microkernels.copy_run(source, source_base, target, target_base, count)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_copy_run_by_its_formula(dtype) -> None:
    """Runs shorter than a vector, whole vectors and whole vectors plus a rest: the run
    copied, nothing around it touched."""
    lanes = _blocked.lanes(np.dtype(dtype))
    source = np.arange(1, 4 * lanes + 10, dtype=dtype)
    for count in (0, 1, lanes - 1, lanes, lanes + 1, 3 * lanes + 5):
        target = np.full(4 * lanes + 12, -1.0, dtype=dtype)
        _one_copy_run(source, 3, target, 2, count)
        expected = np.full_like(target, -1.0)
        expected[2 : 2 + count] = source[3 : 3 + count]
        np.testing.assert_array_equal(target, expected)


@njit
def _one_copy_even_run(source, source_base, target, target_base, count):  # type: ignore[no-untyped-def]
    _microkernels.copy_even_run(source, source_base, target, target_base, count)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_copy_even_run_by_its_formula(dtype) -> None:
    """Every second element, runs shorter than a vector and longer, from a source that
    ends at the last element read; nothing around the run touched."""
    lanes = _blocked.lanes(np.dtype(dtype))
    for count in (0, 1, lanes - 1, lanes, lanes + 1, 2 * lanes, 3 * lanes + 5):
        source = np.arange(1, 3 + 2 * count, dtype=dtype)[: max(1, 2 + 2 * count)]
        target = np.full(4 * lanes + 12, -1.0, dtype=dtype)
        _one_copy_even_run(source, 3, target, 2, count)
        expected = np.full_like(target, -1.0)
        expected[2 : 2 + count] = source[3 : 3 + 2 * count : 2]
        np.testing.assert_array_equal(target, expected)


@njit
def _one_band(x, n, row0, top, left, sh, sw, phase_rows, row_width, buffer):  # type: ignore[no-untyped-def]
    _blocked._fill_band(x, n, row0, top, left, sh, sw, phase_rows, row_width, buffer)


@given(
    geometry=geometries(),
    pads=st.tuples(*[st.integers(0, 3)] * 4),
    row0=st.integers(0, 6),
    phase_rows=st.integers(1, 8),
    extra=st.integers(-2, 3),
)
def test_band_fill_equals_its_twin(geometry, pads, row0, phase_rows, extra) -> None:
    """A band of the phase layout, rows past the image and widths narrower or wider
    than the padded row included, against the NumPy slicing of the padded image; the
    buffer past the band untouched."""
    shape, _, _, stride, _ = geometry
    top, _, left, right = pads
    x = np.arange(1, np.prod(shape) + 1, dtype=np.float64).reshape(shape)
    sh, sw = stride
    row_width = max(1, -(-(shape[3] + left + right) // sw) + extra)
    size = shape[1] * sh * sw * phase_rows * row_width
    n = shape[0] - 1
    buffer = np.full(size + 7, -1.0)
    _one_band(x, n, row0, top, left, sh, sw, phase_rows, row_width, buffer)
    expected = _blocked.band_reference(
        x, n, row0, ((top, 0), (left, 0)), stride, phase_rows, row_width
    )
    np.testing.assert_array_equal(buffer[:size], expected.ravel())
    assert (buffer[size:] == -1).all()


def test_forward_in_bands_of_a_few_rows_matches_pytorch(rng, monkeypatch) -> None:
    """A band budget of a few rows: many bands per image, each with its own halo of
    phase rows, on two threads; the stem's geometry and a stride-1 layer."""
    monkeypatch.setattr(_blocked, "_BAND_BYTES", 4096)
    for stride, padding, kernel in (((2, 2), 3, 7), ((1, 1), 1, 3)):
        x = rng.standard_normal((2, 3, 29, 23)).astype(np.float32)
        weight = rng.standard_normal((ROWS + 3, 3, kernel, kernel)).astype(np.float32)
        pads = ((padding, padding), (padding, padding))
        bands = _blocked.band_plan(
            x.shape, 4, pads, (kernel, kernel), stride, (1, 1), 1, 48, 2, 2 * ROWS, 4096
        )
        assert bands.per_image > 3 and bands.rows * bands.per_image >= bands.out_shape[0]
        got = _blocked.conv2d_blocked(x, weight, None, stride, (1, 1), 1, pads, 2)
        expected = F.conv2d(torch.tensor(x), torch.tensor(weight), None, stride, padding)
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-4)


@st.composite
def blocked_configs(draw):
    shape, groups, kernel, stride, dilation = draw(geometries())
    pads = draw(st.tuples(st.integers(0, 2), st.integers(0, 2)))
    shape = (*shape[:2], shape[2] + 2 * pads[0], shape[3] + 2 * pads[1])
    # partial and whole channel blocks, for the dot and the outer-product gradients
    out_group = draw(st.integers(1, max(2 * ROWS, 2 * OUTER_CHANNELS) + 1))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return shape, pads, groups, out_group, kernel, stride, dilation, dtype, draw(st.booleans())


@given(config=blocked_configs(), seed=st.integers(0, 2**32 - 1), parallel=st.booleans())
def test_blocked_forward_and_weight_gradient_match_pytorch(config, seed, parallel) -> None:
    shape, pads, groups, out_group, kernel, stride, dilation, dtype, with_bias = config
    rng = np.random.default_rng(seed)
    xp = rng.standard_normal(shape).astype(dtype)
    ph, pw = pads  # the blocked kernels pad the input themselves; torch pads too
    x = np.ascontiguousarray(xp[:, :, ph : shape[2] - ph, pw : shape[3] - pw])
    zero_pads = ((ph, ph), (pw, pw))
    weight = rng.standard_normal((groups * out_group, shape[1] // groups, *kernel)).astype(dtype)
    bias = rng.standard_normal(groups * out_group).astype(dtype) if with_bias else None
    xt = torch.tensor(x)
    wt = torch.tensor(weight, requires_grad=True)
    bt = None if bias is None else torch.tensor(bias)
    expected = F.conv2d(xt, wt, bt, stride, pads, dilation, groups)
    threads = 2 if parallel else 1
    got = _blocked.conv2d_blocked(x, weight, bias, stride, dilation, groups, zero_pads, threads)
    assert got.dtype == dtype and got.flags.c_contiguous
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    g = rng.standard_normal(got.shape).astype(dtype)
    expected.backward(torch.tensor(g))
    grad, grad_bias = _blocked.grad_weight_blocked(
        x, g, kernel, stride, dilation, groups, zero_pads, threads
    )
    scale = 1 + np.abs(wt.grad.numpy()).max()
    np.testing.assert_allclose(grad, wt.grad.numpy(), rtol=tolerance, atol=tolerance * scale)
    # the outer products sum the bias gradient on the way (in float64 past each segment)
    assert (grad_bias is None) == (out_group < OUTER_VECTORS * _blocked.lanes(np.dtype(dtype)))
    if grad_bias is not None:
        assert grad_bias.dtype == dtype
        exact = g.astype(np.float64).sum(axis=(0, 2, 3))
        bound = tolerance * np.abs(g).astype(np.float64).sum(axis=(0, 2, 3))
        assert (np.abs(grad_bias - exact) <= bound).all()


def _direct_choices(patch: pytest.MonkeyPatch) -> list[bool]:
    """Record, in the list returned, whether each forward pass stores straight into the
    output."""
    taken: list[bool] = []
    choose = _blocked._stores_direct

    def spy(row_width, dtype):  # type: ignore[no-untyped-def]
        taken.append(choose(row_width, dtype))
        return taken[-1]

    patch.setattr(_blocked, "_stores_direct", spy)
    return taken


def _assert_within_summation_bound(got, x, weight, bias, options) -> None:  # type: ignore[no-untyped-def]
    """``got`` against PyTorch's float64 layer, within the rounding bound of a sum of
    ``n`` terms in any order: ``n * eps`` times the same layer on |x|, |w|, |b|."""
    exact, scale = (
        F.conv2d(*(torch.tensor(f(a), dtype=torch.float64) for a in (x, weight, bias)), **options)
        for f in (np.asarray, np.abs)
    )
    assert got.shape == exact.shape
    bound = (weight[0].size + 1) * float(np.finfo(got.dtype).eps) * scale.numpy()
    np.testing.assert_array_less(np.abs(got - exact.numpy()), bound + 1e-300)


@settings(deadline=None, max_examples=40)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 3)),
    kernel=st.tuples(st.integers(1, 7), st.integers(2, 7)),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    size=st.tuples(st.integers(7, 23), st.integers(16, 61)),
    channels=st.tuples(st.integers(1, 4), st.integers(1, 2 * ROWS + 3)),
    groups=st.integers(1, 2),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_forward_stored_straight_into_the_output_equals_the_scratch_path(
    dtype, stride, kernel, padding, size, channels, groups, batch, seed
) -> None:
    """Wide rows of a vector or more store their sums straight into the output: the same
    bits as the sums copied from the scratch rows, and PyTorch's float64 result within
    the summation bound; strides, odd sizes, partial channel blocks, groups, one image."""
    (kh, kw), (ph, pw) = kernel, padding
    size = (max(size[0], kh), max(size[1], kw))
    c_group, out_group = channels
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, groups * c_group, *size)).astype(dtype)
    weight = rng.standard_normal((groups * out_group, c_group, kh, kw)).astype(dtype)
    bias = rng.standard_normal(groups * out_group).astype(dtype)
    pads = ((ph, ph), (pw, pw))
    with pytest.MonkeyPatch.context() as patch:
        taken = _direct_choices(patch)
        got = _blocked.conv2d_blocked(x, weight, bias, stride, (1, 1), groups, pads, 2)
        patch.setattr(_blocked, "_stores_direct", lambda row_width, dtype: False)
        scratch = _blocked.conv2d_blocked(x, weight, bias, stride, (1, 1), groups, pads, 2)
    assert len(taken) == 1
    np.testing.assert_array_equal(got, scratch)
    options = {"stride": stride, "padding": padding, "groups": groups}
    _assert_within_summation_bound(got, x, weight, bias, options)


def test_stem_forward_stores_straight_into_the_output(rng) -> None:
    """The stem (224², 7x7, stride 2, padding 3, one image) takes the direct stores and
    matches PyTorch within the summation bound."""
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    weight = rng.standard_normal((64, 3, 7, 7)).astype(np.float32)
    bias = rng.standard_normal(64).astype(np.float32)
    with pytest.MonkeyPatch.context() as patch:
        taken = _direct_choices(patch)
        got = corr2d.conv2d(x, weight, bias, stride=2, padding=3)
    assert taken == [True]
    _assert_within_summation_bound(got, x, weight, bias, {"stride": 2, "padding": 3})


def test_blocked_forward_equals_the_reference_twin(rng) -> None:
    """Groups, a stride, a dilation and a partial channel block, against the slow twin."""
    x = rng.standard_normal((2, 4, 9, 10))
    weight = rng.standard_normal((2 * (ROWS + 1), 2, 3, 2))  # a partial block per group
    bias = rng.standard_normal(2 * (ROWS + 1))
    got = _blocked.conv2d_blocked(x, weight, bias, (2, 1), (1, 2), 2)
    expected = conv2d_reference(x, weight, bias, stride=(2, 1), dilation=(1, 2), groups=2)
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("width", [11, 41])
def test_outer_product_weight_gradient_exact_on_integers(parallel, width, rng) -> None:
    """Enough output channels for the outer products (a partial channel block, groups,
    a stride and zero padding; rows shorter than a vector, and rows of two vectors and
    a part, transposed in blocks): sums of small integers, exact, against PyTorch."""
    c_out = 2 * (OUTER_CHANNELS + 5)
    x = rng.integers(-3, 4, (3, 4, 13, width)).astype(np.float32)
    pads = ((2, 2), (1, 1))
    out_shape = corr2d.conv2d_output_shape((13, width), (3, 2), (2, 1), (2, 1))
    g = rng.integers(-3, 4, (3, c_out, *out_shape)).astype(np.float32)
    threads = 2 if parallel else 1
    got, grad_bias = _blocked.grad_weight_blocked(x, g, (3, 2), (2, 1), (1, 1), 2, pads, threads)
    np.testing.assert_array_equal(grad_bias, g.astype(np.int64).sum(axis=(0, 2, 3)))
    expected = torch.nn.grad.conv2d_weight(
        torch.tensor(x, dtype=torch.float64),
        (c_out, 2, 3, 2),
        torch.tensor(g, dtype=torch.float64),
        stride=(2, 1),
        padding=(2, 1),
        groups=2,
    )
    np.testing.assert_array_equal(got, expected.numpy())


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("segment", [7, 50, 512])
def test_outer_gradient_equals_the_slow_twin(threads, segment, rng) -> None:
    """The outer products' task loop on a rearranged batch (groups, a stride, wide rows
    with dropped positions, a partial block of channels; tasks cut mid-row and claimed
    in chunks), exactly, against the sums written out."""
    out_group = OUTER_CHANNELS + 3
    x = rng.integers(-3, 4, (3, 4, 11, 19)).astype(np.float32)
    pads, kernel, stride = ((1, 1), (2, 2)), (3, 2), (1, 2)
    layout = _blocked.phase_layout(x, pads, kernel, stride, (1, 1), 2, 1)
    oh, ow = layout.out_shape
    g = rng.integers(-3, 4, (3, 2 * out_group, oh, ow)).astype(np.float32)
    geometry = (layout.row_width, layout.flat, layout.image_stride, layout.group_stride)
    geometry += (layout.offsets, oh * layout.row_width, 2)
    weight, bias = _blocked.outer_gradient(g, *geometry, segment=segment, threads=threads)
    expected_weight, expected_bias = _blocked.outer_gradient_reference(g, *geometry)
    np.testing.assert_array_equal(weight, expected_weight)
    np.testing.assert_array_equal(bias, expected_bias)


def test_layers_wide_enough_take_the_blocked_kernels(rng, monkeypatch) -> None:
    """conv2d and conv2d_backward route real layers with enough channels here; complex
    layers and layers with few output channels keep the patch-matrix path."""
    calls = []
    for name in ("conv2d_blocked", "grad_weight_blocked"):
        original = getattr(_blocked, name)

        def spy(*args, _original=original, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(_blocked, name, spy)
    x = rng.standard_normal((2, 3, 8, 8))
    corr2d.conv2d(x, rng.standard_normal((ROWS, 3, 3, 3)), padding=1)
    corr2d.conv2d_backward(rng.standard_normal((2, ROWS, 8, 8)), x, np.ones((ROWS, 3, 3, 3)), 1, 1)
    # forward; weight gradient (the input gradient has 3 < ROWS / 2 channels: patches)
    assert calls == ["conv2d_blocked", "grad_weight_blocked"]
    calls.clear()
    corr2d.conv2d(x + 0j, rng.standard_normal((ROWS, 3, 3, 3)), padding=1)
    corr2d.conv2d(x, rng.standard_normal((1, 3, 3, 3)), padding=1)
    assert calls == []


def test_non_finite_inputs_keep_ieee_gradients(rng) -> None:
    """An inf pixel gives the weight gradient PyTorch's inf/NaN pattern, not extra NaNs
    from dropped positions (those are zero gradients times the pixels they would read)."""
    x = rng.standard_normal((1, 2, 7, 9))
    x[0, 1, 3, 8] = np.inf  # last column: read by real outputs through a few taps only
    weight = rng.standard_normal((ROWS, 2, 3, 3))
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(weight, requires_grad=True)
    out = F.conv2d(xt, wt)
    g = rng.standard_normal(out.shape)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(corr2d.conv2d(x, weight), out.detach().numpy(), atol=1e-12)
    grads = corr2d.conv2d_backward(g, x, weight)
    np.testing.assert_allclose(grads.weight, wt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads.input, xt.grad.numpy(), atol=1e-12)


def test_weight_gradient_exact_where_an_inf_is_read_only_by_dropped_positions(rng) -> None:
    """A 3x3 stride-2 layer never reads the last column of a 10-wide input, but the wide
    rows' dropped positions do (zero gradients times inf): the blocked sum is NaN there,
    so the patch matrices give the weight gradient, finite as PyTorch's."""
    x = rng.standard_normal((1, 2, 9, 10))
    x[0, 0, 4, 9] = np.inf
    weight = rng.standard_normal((ROWS, 2, 3, 3))
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(weight, requires_grad=True)
    out = F.conv2d(xt, wt, stride=2)
    g = rng.standard_normal(out.shape)
    out.backward(torch.tensor(g))
    grads = corr2d.conv2d_backward(g, x, weight, stride=2)
    assert np.isfinite(wt.grad.numpy()).all()
    np.testing.assert_allclose(grads.weight, wt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_scratch_buffers_kept_per_name_and_thread() -> None:
    """A buffer is reused by the next call of its name on its thread when it fits, never
    shared by two names or two threads; one over the limit is not kept."""
    first = _blocked.scratch("test-a", 100, np.float32)
    again = _blocked.scratch("test-a", 60, np.float32)
    assert again.size == 60 and np.shares_memory(first, again)
    assert not np.shares_memory(first, _blocked.scratch("test-b", 100, np.float32))
    assert not np.shares_memory(first, _blocked.scratch("test-a", 100, np.float64))
    larger = _blocked.scratch("test-a", 200, np.float32)
    assert larger.size == 200 and not np.shares_memory(first, larger)
    other: list[np.ndarray] = []

    def elsewhere() -> None:
        other.append(_blocked.scratch("test-a", 10, np.float32))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert not np.shares_memory(larger, other[0])
    huge = _blocked._KEPT_BYTES // 4 + 1
    assert not np.shares_memory(
        _blocked.scratch("test-c", huge, np.float32), _blocked.scratch("test-c", 1, np.float32)
    )


@st.composite
def strided_layers(draw):
    stride = (draw(st.integers(1, 3)), draw(st.integers(2, 3)))
    kernel = (draw(st.integers(1, 6)), draw(st.integers(2, 6)))  # 1x1: one matrix product
    padding = (draw(st.integers(0, kernel[0] - 1)), draw(st.integers(0, kernel[1] - 1)))
    groups = draw(st.integers(1, 2))
    c_group = draw(st.integers(2, 4))  # stride * c_group phase channels: blocked kernels
    size = (draw(st.integers(kernel[0], 16)), draw(st.integers(kernel[1], 16)))
    shape = (draw(st.integers(1, 2)), groups * c_group, *size)
    weight = (groups * draw(st.integers(1, 5)), c_group, *kernel)
    return shape, weight, stride, padding, groups


@given(layer=strided_layers(), seed=st.integers(0, 2**32 - 1))
def test_strided_input_gradient_by_phases_matches_pytorch(layer, seed) -> None:
    """A strided layer's input gradient, one stride-1 correlation of the phases' kernels,
    equals torch's (float64, within the summation bound) and takes that path."""
    shape, weight_shape, stride, padding, groups = layer
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    weight = rng.standard_normal(weight_shape)
    xt = torch.tensor(x, requires_grad=True)
    out = F.conv2d(xt, torch.tensor(weight), None, stride, padding, 1, groups)
    g = rng.standard_normal(out.shape)
    out.backward(torch.tensor(g))
    calls = []
    original = _engine._phase_input_gradient

    def spy(*args):  # type: ignore[no-untyped-def]
        calls.append(args[2])
        return original(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_engine, "_phase_input_gradient", spy)
        grads = corr2d.conv2d_backward(g, x, weight, stride, padding, groups=groups)
    assert calls == [stride]
    np.testing.assert_allclose(grads.input, xt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_strided_input_gradient_exact_on_integers_and_ieee_on_inf(rng) -> None:
    """The stem's geometry (7x7, stride 2, padding 3, three input channels): sums of small
    integers, exact; an inf in the output gradient gives torch's inf/NaN pattern (the
    phases' zero taps would add 0 * inf, so the patch matrices take it)."""
    x = rng.integers(-3, 4, (1, 3, 20, 18)).astype(np.float32)
    weight = rng.integers(-3, 4, (16, 3, 7, 7)).astype(np.float32)
    finite = rng.integers(-3, 4, (1, 16, 10, 9)).astype(np.float32)
    with_inf = finite.copy()
    with_inf[0, 5, 4, 4] = np.inf
    for g in (finite, with_inf):
        expected = torch.nn.grad.conv2d_input(
            x.shape,
            torch.tensor(weight, dtype=torch.float64),
            torch.tensor(g, dtype=torch.float64),
            stride=2,
            padding=3,
        )
        with np.errstate(invalid="ignore"):  # inf * 0 in the patch matrices' product
            got = corr2d.conv2d_backward(g, x, weight, 2, 3).input
        np.testing.assert_array_equal(got, expected.numpy())
