"""The depthwise layer's compiled loops (every plane a task; the per-channel weight
gradient; the one-pass backward) and the 1x1 layer's matrix products against the slow
twins, exactly on small integers, on tiny and large planes, every padding side, and with
non-finite pixels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corr2d.core import _blocked, _depthwise, _depthwise_blocks, _pointwise, _products
from corr2d.core._pool import run_tasks
from corr2d.core._reference import conv2d_reference, corr2d_reference
from corr2d.core._unrolled import MAX_TAPS, plane_gradient

#: Kernel shapes for every branch of the loops (one tap; a row or a column; rows of more
#: taps than are unrolled; more than ``MAX_TAPS`` taps, on the blocked loop), few
#: enough that a cold run compiles them in seconds.
KERNEL_SHAPES = [(1, 1), (1, 4), (3, 1), (2, 3), (3, 3), (5, 5), (4, 9), (9, 9)]


def _weight_gradient_reference(x, grad, pads):  # type: ignore[no-untyped-def]
    """dL/dw[c, 0, u, v] = sum over images of the 'valid' correlation of the zero-padded
    plane with its output gradient, at (u, v): the chapter's loop, image by image."""
    n_batch, channels = x.shape[:2]
    padded = np.pad(x, ((0, 0), (0, 0), *pads))
    kh = padded.shape[2] - grad.shape[2] + 1
    kw = padded.shape[3] - grad.shape[3] + 1
    out = np.zeros((channels, 1, kh, kw), dtype=x.dtype)
    for c in range(channels):
        for n in range(n_batch):
            out[c, 0] += corr2d_reference(padded[n, c], grad[n, c])
    return out


def _integers(rng, shape, dtype):  # type: ignore[no-untyped-def]
    return rng.integers(-3, 4, shape).astype(dtype)


@settings(deadline=None, max_examples=40)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    size=st.tuples(st.integers(1, 24), st.integers(1, 40)),
    kernel=st.sampled_from(KERNEL_SHAPES),
    pads=st.tuples(*(st.integers(0, 4) for _ in range(4))),
    seed=st.integers(0, 2**16),
)
def test_plane_loop_and_weight_gradient_against_the_slow_twins(
    dtype, size, kernel, pads, seed
) -> None:
    """Sums of small integers are exact in either precision and in any order."""
    (top, bottom, left, right), (kh, kw) = pads, kernel
    oh, ow = size[0] + top + bottom - kh + 1, size[1] + left + right - kw + 1
    if oh < 1 or ow < 1 or not _depthwise.serves(np.dtype(dtype), kernel, (oh, ow), (1, 1), (1, 1)):
        return
    rng = np.random.default_rng(seed)
    x = _integers(rng, (2, 3, *size), dtype)
    weight = _integers(rng, (3, 1, kh, kw), dtype)
    bias = _integers(rng, 3, dtype)
    zero_pads = ((top, bottom), (left, right))
    out = _depthwise.depthwise(x, weight, bias, zero_pads)
    expected = conv2d_reference(x, weight, bias, padding=zero_pads, groups=3)
    np.testing.assert_array_equal(out, expected)
    grad = _integers(rng, out.shape, dtype)
    np.testing.assert_array_equal(
        _depthwise.weight_gradient(x, grad, kernel, zero_pads),
        _weight_gradient_reference(x, grad, zero_pads),
    )


@settings(deadline=None, max_examples=30)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    size=st.tuples(st.integers(1, 14), st.integers(1, 30)),
    kernel=st.sampled_from([(1, 1), (1, 4), (3, 1), (2, 3), (3, 3), (5, 7)]),
    rows=st.tuples(st.integers(0, 6), st.integers(0, 6)),
    left=st.integers(0, 6),
    seed=st.integers(0, 2**16),
)
def test_plane_loop_with_same_columns_against_the_slow_twin(
    dtype, size, kernel, rows, left, seed
) -> None:
    """Output rows as wide as the planes': summed along the flat plane, the padding's
    columns masked, the first and last outputs tap by tap."""
    (height, width), (kh, kw) = size, kernel
    left = min(left, kw - 1)
    pads = (rows, (left, kw - 1 - left))
    if height + sum(rows) < kh:
        return
    rng = np.random.default_rng(seed)
    x = _integers(rng, (2, 3, height, width), dtype)
    weight = _integers(rng, (3, 1, kh, kw), dtype)
    bias = _integers(rng, 3, dtype)
    np.testing.assert_array_equal(
        _depthwise.depthwise(x, weight, bias, pads),
        conv2d_reference(x, weight, bias, padding=pads, groups=3),
    )


def _block_runner(shape: tuple[int, ...]):  # type: ignore[no-untyped-def]
    """A compiled function calling the plane block of this (constant) shape."""
    from numba import njit

    namespace = {"plane_block": _depthwise_blocks.plane_block}
    exec(
        "def run(plane, row0, column0, kernel, bias, out, out_base, out_stride, last):\n"
        "    plane_block(plane, row0, column0, kernel, bias, out, out_base, out_stride, "
        f"last, {', '.join(map(str, shape))})\n",
        namespace,
    )
    return njit(namespace["run"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(4, 4, 3, 3), (1, 1, 1, 1), (1, 3, 2, 5), (4, 2, 7, 7), (4, 1, 5, 1)]
)
def test_plane_block_against_its_twin(dtype, shape, rng) -> None:
    """Every lane of every output row and vector, the last vector moved back over the
    one before it; blocks inside the plane, over each of its sides (columns masked, and
    rows with the rows checked) and over all of them; what the block does not write
    stays as it was."""
    rows, columns, kh, kw = shape
    lanes = _depthwise_blocks.lanes(np.dtype(dtype))
    last = max(0, (columns - 1) * lanes - 3)
    span = last + lanes + kw - 1
    plane = _integers(rng, (rows + kh + 3, span + 5), dtype)
    kernel = _integers(rng, kh * kw, dtype)
    for row0, column0, checked in [
        (1, 2, 0),
        (0, -1, 0),
        (3, 6, 0),
        (-kh + 1, 0, 1),
        (4, 3, 1),
        (-2, -kw, 1),
        (-1 - rows - kh, -span, 1),
    ]:
        out_stride = span + 1
        out = np.full((rows + 2) * out_stride, 99, dtype=dtype)
        expected = out.copy()
        args = (plane, row0, column0, kernel, dtype(2), out, 3, out_stride, last)
        _block_runner((*shape, checked))(*args)
        _depthwise_blocks.plane_block_twin(*args[:5], expected, *args[6:], *shape, checked)
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 3, 4, 5, 9])
@pytest.mark.parametrize("lanes_wide", [1.0, 1.5, 2.0, 3.25, 4.0, 4.5, 9.0])
def test_blocked_plane_loop_covers_every_output(dtype, rows, lanes_wide, rng) -> None:
    """Output rows from one vector to several blocks wide (whole vectors or not, a full
    block or not), planes shorter and taller than a block, against the twin; 3x3 with
    'same' padding (the plane copied into a zero-padded buffer) and 'valid' (read in
    place)."""
    lanes = _depthwise_blocks.lanes(np.dtype(dtype))
    width = int(lanes * lanes_wide)
    for pads in (((1, 1), (1, 1)), ((0, 0), (0, 0))):
        height = rows + 2 - sum(pads[0])
        plane_width = width + 2 - sum(pads[1])
        x = _integers(rng, (2, 3, height, plane_width), dtype)
        weight = _integers(rng, (3, 1, 3, 3), dtype)
        bias = _integers(rng, 3, dtype)
        assert _depthwise._blocks_serve(np.dtype(dtype), (3, 3), width, pads)
        np.testing.assert_array_equal(
            _depthwise.depthwise(x, weight, bias, pads),
            conv2d_reference(x, weight, bias, padding=pads, groups=3),
        )


def test_blocked_plane_loop_matches_pytorch_on_the_usual_layer(rng) -> None:
    """N8 64 channels 56x56, 3x3, padding 1: what the blocks compute (fused
    multiply-adds in the kernel's order) is within the direct sum's bound of torch's
    float64 result."""
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((8, 64, 56, 56), dtype=np.float32)
    weight = rng.standard_normal((64, 1, 3, 3), dtype=np.float32)
    bias = rng.standard_normal(64, dtype=np.float32)
    pads = ((1, 1), (1, 1))
    assert _depthwise._blocks_serve(np.dtype(np.float32), (3, 3), 56, pads)
    out = _depthwise.depthwise(x, weight, bias, pads)
    exact = torch.nn.functional.conv2d(
        *(torch.from_numpy(a.astype(np.float64)) for a in (x, weight, bias)), padding=1, groups=64
    ).numpy()
    magnitude = (
        torch.nn.functional.conv2d(
            torch.from_numpy(np.abs(x).astype(np.float64)),
            torch.from_numpy(np.abs(weight).astype(np.float64)),
            padding=1,
            groups=64,
        ).numpy()
        + np.abs(bias)[:, None, None]
    )
    bound = (9 + 1) * 2.0**-24 * magnitude
    assert np.all(np.abs(out - exact) <= bound)


@pytest.mark.parametrize("kernel", [(1, 9), (7, 9), (2, 13)])
@pytest.mark.parametrize("size", [(1, 1), (3, 2), (9, 30)])
def test_rows_longer_than_the_unrolled_width_on_small_planes(kernel, size, rng) -> None:
    """Up to ``MAX_TAPS`` taps in rows of more than ``MAX_UNROLLED_WIDTH``: still one
    expression per output, on planes smaller than a register block."""
    x = _integers(rng, (2, 2, *size), np.float32)
    weight = _integers(rng, (2, 1, *kernel), np.float32)
    pads = ((kernel[0] // 2,) * 2, (kernel[1] // 2,) * 2)
    out = _depthwise.depthwise(x, weight, None, pads)
    np.testing.assert_array_equal(out, conv2d_reference(x, weight, padding=pads, groups=2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", [(3, 3), (1, 5), (9, 9)])
def test_row_loop_weight_gradient_against_the_slow_twin(dtype, kernel, rng) -> None:
    """The loop large kernels and non-finite inputs take, run on its own."""
    x = _integers(rng, (3, 4, 21, 37), dtype)
    pads = ((1, 2), (3, 0))
    oh = 21 + 3 - kernel[0] + 1
    ow = 37 + 3 - kernel[1] + 1
    grad = _integers(rng, (3, 4, oh, ow), dtype)
    rows, cols = _depthwise._tables(x.shape, pads)
    partial = np.empty((4, *kernel), dtype=dtype)
    run_tasks(
        _depthwise.weight_gradient_task,
        *(x.reshape(12, 21, 37), rows, cols, grad.reshape(12, oh, ow), partial),
        threads=2,
    )
    np.testing.assert_array_equal(partial[:, None], _weight_gradient_reference(x, grad, pads))


@pytest.mark.parametrize("kernel", [(3, 3), (5, 7)])
def test_flat_weight_gradient_loop_against_the_slow_twin(kernel, rng) -> None:
    assert kernel[0] * kernel[1] <= MAX_TAPS
    x = _integers(rng, (2, 3, 30, 45), np.float32)
    pads = ((2, 1), (0, 3))
    oh, ow = 30 + 3 - kernel[0] + 1, 45 + 3 - kernel[1] + 1
    grad = _integers(rng, (2, 3, oh, ow), np.float32)
    rows, cols = _depthwise._tables(x.shape, pads)
    partial = np.empty((3, *kernel), dtype=np.float32)
    run_tasks(
        plane_gradient(*kernel),
        *(x.reshape(6, 30, 45), rows, cols, grad.reshape(6, oh, ow), partial),
        threads=1,
    )
    np.testing.assert_array_equal(partial[:, None], _weight_gradient_reference(x, grad, pads))


@settings(deadline=None, max_examples=40)
@given(
    size=st.tuples(st.integers(1, 12), st.integers(1, 30)),
    kernel=st.sampled_from([(1, 1), (1, 4), (3, 1), (2, 3), (3, 3), (5, 7)]),
    top=st.integers(0, 6),
    bottom=st.integers(0, 6),
    left=st.integers(0, 6),
    seed=st.integers(0, 2**16),
)
def test_flat_weight_gradient_in_place_against_the_slow_twin(
    size, kernel, top, bottom, left, seed
) -> None:
    """Output rows as wide as the plane's ('same' columns, any rows): the loop reads the
    plane in place, masking the positions whose window leaves it sideways."""
    (height, width), (kh, kw) = size, kernel
    left = min(left, kw - 1)
    pads = ((top, bottom), (left, kw - 1 - left))
    oh = height + top + bottom - kh + 1
    if oh < 1:
        return
    rng = np.random.default_rng(seed)
    x = _integers(rng, (2, 3, height, width), np.float64)
    grad = _integers(rng, (2, 3, oh, width), np.float64)
    rows, cols = _depthwise._tables(x.shape, pads)
    partial = np.empty((3, kh, kw))
    run_tasks(
        plane_gradient(kh, kw),
        *(x.reshape(6, height, width), rows, cols, grad.reshape(6, oh, width), partial),
        threads=2,
    )
    np.testing.assert_array_equal(partial[:, None], _weight_gradient_reference(x, grad, pads))


@pytest.mark.parametrize("where", [(0, 0), (3, 0), (3, 5), (7, 5), (4, 2)])
def test_flat_weight_gradient_of_a_non_finite_output_gradient(where, rng) -> None:
    """An inf in the output gradient multiplies the zero padding to NaN, as in the twin,
    wherever it is: at a corner, on a side, inside."""
    x = _integers(rng, (1, 2, 8, 6), np.float64)
    grad = _integers(rng, (1, 2, 8, 6), np.float64)
    grad[0, 1, where[0], where[1]] = np.inf
    pads = ((1, 1), (1, 1))
    rows, cols = _depthwise._tables(x.shape, pads)
    partial = np.empty((2, 3, 3))
    run_tasks(
        plane_gradient(3, 3),
        *(x.reshape(2, 8, 6), rows, cols, grad.reshape(2, 8, 6), partial),
        threads=1,
    )
    with np.errstate(invalid="ignore"):
        expected = _weight_gradient_reference(x, grad, pads)
    assert np.isnan(expected).any()
    np.testing.assert_array_equal(partial[:, None], expected)


@pytest.mark.parametrize("columns", [(2, 2), "same"])
@pytest.mark.parametrize("kernel", [(3, 3), (9, 9)])
def test_non_finite_pixels_reach_only_the_sums_that_read_them(kernel, columns, rng) -> None:
    """An inf pixel makes inf or NaN only where the twin's sums read it; a zero output
    gradient next to it must not turn the weight gradient into NaN (output rows wider
    than the planes: the row loop; as wide: the flat loop, reading the planes in
    place)."""
    x = _integers(rng, (2, 2, 20, 70), np.float64)
    x[0, 1, 4, 6] = np.inf
    x[1, 0, 10, 69] = -np.inf
    weight = _integers(rng, (2, 1, *kernel), np.float64)
    if columns == "same":
        columns = (kernel[1] // 2, kernel[1] - 1 - kernel[1] // 2)
    pads = ((1, 1), columns)
    out = _depthwise.depthwise(x, weight, None, pads)
    grad = _integers(rng, out.shape, np.float64)
    grad[0, 1] = 0.0  # the plane holding +inf: 0 * inf only where the twin multiplies it
    with np.errstate(invalid="ignore"):  # the twins' own inf * 0
        expected = conv2d_reference(x, weight, padding=pads, groups=2)
        expected_weight = _weight_gradient_reference(x, grad, pads)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(
        _depthwise.weight_gradient(x, grad, kernel, pads), expected_weight
    )


def _backward_twins(x, weight, grad, pads):  # type: ignore[no-untyped-def]
    """(dL/dx, dL/dw, dL/db) by definition: dL/dx the full correlation of the output
    gradient with the flipped kernel, cropped to the input (the zeros' gradient
    dropped), dL/dw as :func:`_weight_gradient_reference`, dL/db the plain sum."""
    (top, bottom), (left, right) = pads
    kh, kw = weight.shape[2:]
    flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1])
    full = ((kh - 1 - top, kh - 1 - bottom), (kw - 1 - left, kw - 1 - right))
    grad_x = conv2d_reference(grad, flipped, padding=full, groups=x.shape[1])
    return grad_x, _weight_gradient_reference(x, grad, pads), grad.sum(axis=(0, 2, 3))


@settings(deadline=None, max_examples=40)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    size=st.tuples(st.integers(1, 14), st.integers(1, 30)),
    kernel=st.sampled_from([(1, 1), (1, 4), (3, 1), (2, 3), (3, 3), (5, 7)]),
    rows=st.tuples(st.integers(0, 4), st.integers(0, 4)),
    left=st.integers(0, 6),
    seed=st.integers(0, 2**16),
)
def test_fused_backward_against_the_slow_twins(dtype, size, kernel, rows, left, seed) -> None:
    """The one-pass backward (input, weight and bias gradients of each plane) on every
    padding it takes: 'same' columns, up to ``kh - 1`` rows on either side; exact on
    small integers."""
    (height, width), (kh, kw) = size, kernel
    top, bottom = min(rows[0], kh - 1), min(rows[1], kh - 1)
    left = min(left, kw - 1)
    pads = ((top, bottom), (left, kw - 1 - left))
    if height + top + bottom < kh:
        return
    assert _depthwise.backward_serves(kernel, pads, inner=True)
    rng = np.random.default_rng(seed)
    x = _integers(rng, (2, 3, height, width), dtype)
    weight = _integers(rng, (3, 1, kh, kw), dtype)
    grad = _integers(rng, (2, 3, height + top + bottom - kh + 1, width), dtype)
    for ours, expected in zip(
        _depthwise.backward(x, weight, grad, pads),
        _backward_twins(x, weight, grad, pads),
        strict=True,
    ):
        assert ours.dtype == dtype
        np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("where", [(0, 0), (3, 0), (3, 5), (7, 5), (4, 2)])
@pytest.mark.parametrize("which", ["pixel", "gradient"])
def test_fused_backward_with_non_finite_values(where, which, rng) -> None:
    """An inf pixel reaches only the weight-gradient sums whose windows hold it (a zero
    output gradient beside it gives 0 * inf = NaN only there); an inf output gradient
    multiplies the zero padding to NaN, as in the twins, at a corner, a side or inside."""
    x = _integers(rng, (2, 2, 8, 6), np.float64)
    weight = _integers(rng, (2, 1, 3, 3), np.float64)
    grad = _integers(rng, (2, 2, 8, 6), np.float64)
    if which == "pixel":
        x[1, 0, where[0], where[1]] = np.inf
        grad[1, 0] = 0.0
    else:
        grad[0, 1, where[0], where[1]] = -np.inf
    pads = ((1, 1), (1, 1))
    with np.errstate(invalid="ignore"):
        expected = _backward_twins(x, weight, grad, pads)
    for ours, want in zip(_depthwise.backward(x, weight, grad, pads), expected, strict=True):
        np.testing.assert_array_equal(ours, want)


def test_the_backward_pass_takes_the_fused_loop_only_where_it_serves() -> None:
    assert _depthwise.backward_serves((3, 3), ((1, 1), (1, 1)), inner=True)
    assert _depthwise.backward_serves((5, 5), ((0, 4), (2, 2)), inner=True)
    assert not _depthwise.backward_serves((3, 3), ((1, 1), (1, 1)), inner=False)
    assert not _depthwise.backward_serves((3, 3), ((1, 1), (0, 0)), inner=True)
    assert not _depthwise.backward_serves((3, 3), ((3, 0), (1, 1)), inner=True)
    assert not _depthwise.backward_serves((9, 9), ((4, 4), (4, 4)), inner=True)


@pytest.mark.parametrize("stride", [(1, 1), (2, 3)])
@pytest.mark.parametrize("groups", [1, 2])
def test_pointwise_products_against_the_slow_twin(stride, groups, rng) -> None:
    x = _integers(rng, (3, 4, 9, 11), np.float64)
    weight = _integers(rng, (6, 4 // groups, 1, 1), np.float64)
    bias = _integers(rng, 6, np.float64)
    out = _pointwise.pointwise(x, weight, bias, stride, groups)
    expected = conv2d_reference(x, weight, bias, stride=stride, groups=groups)
    np.testing.assert_array_equal(out, expected)
    # the backward pass by its definition: the adjoint of the (bias-free) forward map
    grad = _integers(rng, out.shape, np.float64)
    grad_x, grad_weight, grad_bias = _pointwise.pointwise_backward(x, weight, grad, stride, groups)
    forward = conv2d_reference(x, weight, stride=stride, groups=groups)
    assert np.vdot(grad, forward) == np.vdot(grad_x, x) == np.vdot(grad_weight, weight)
    assert grad_bias is None or np.array_equal(grad_bias, grad.sum(axis=(0, 2, 3)))


@settings(deadline=None, max_examples=25)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=st.tuples(st.integers(1, 3), st.integers(8, 19), st.integers(8, 17)),
    pixels=st.integers(48, 90),
    bias=st.booleans(),
    threads=st.sampled_from([1, 2]),
    segment=st.sampled_from([16, 40, 256]),
    seed=st.integers(0, 2**16),
)
def test_blocked_products_against_the_slow_twins(
    dtype, shape, pixels, bias, threads, segment, seed
) -> None:
    """The 1x1 layer's register-blocked products, exact on small integers: row counts
    that are not a multiple of the block (the last block overlaps), inner sizes that are
    not a multiple of the gradient's taps, pixel counts past the last full vector, output
    channels fewer than a transposed block, images cut into several tasks."""
    n_batch, rows, inner = shape
    rng = np.random.default_rng(seed)
    matrix = _integers(rng, (rows, inner), dtype)
    b = _integers(rng, (n_batch, inner, pixels), dtype)
    added = _integers(rng, rows, dtype) if bias else None
    np.testing.assert_array_equal(
        _products.batched_product(matrix, b, added, threads),
        _products.batched_product_reference(matrix, b, added),
    )
    # the weight gradient: the layers' outer products, each input channel a tap
    g = _integers(rng, (n_batch, rows, 1, pixels), dtype)
    geometry = (pixels, b.reshape(-1), inner * pixels, 0, np.arange(inner) * pixels, pixels, 1)
    weight, summed = _blocked.outer_gradient(g, *geometry, segment=segment, threads=threads)
    expected, expected_sums = _blocked.outer_gradient_reference(g, *geometry)
    np.testing.assert_array_equal(weight, expected)
    np.testing.assert_array_equal(summed, expected_sums)
    assert summed.dtype == weight.dtype == dtype


def test_blocked_pointwise_layer_against_the_slow_twin(rng) -> None:
    """A 1x1 layer the blocked products take, forward and backward, exactly."""
    x = _integers(rng, (2, 12, 7, 9), np.float32)
    weight = _integers(rng, (10, 12, 1, 1), np.float32)
    bias = _integers(rng, 10, np.float32)
    if _products.VECTOR_BYTES == 64:
        assert _pointwise._blocked(x, weight, (1, 1), 1)
    out = _pointwise.pointwise(x, weight, bias, (1, 1), 1)
    np.testing.assert_array_equal(out, conv2d_reference(x, weight, bias))
    grad = _integers(rng, out.shape, np.float32)
    grad_x, grad_weight, grad_bias = _pointwise.pointwise_backward(x, weight, grad, (1, 1), 1)
    flipped = np.ascontiguousarray(weight.transpose(1, 0, 2, 3))
    np.testing.assert_array_equal(grad_x, conv2d_reference(grad, flipped))
    expected = np.einsum("nohw,nchw->oc", grad.astype(np.float64), x.astype(np.float64))
    np.testing.assert_array_equal(grad_weight[:, :, 0, 0], expected)
    assert grad_bias is not None and grad_bias.dtype == np.float32
    np.testing.assert_array_equal(grad_bias, grad.astype(np.float64).sum(axis=(0, 2, 3)))


def test_blocked_products_only_with_64_byte_vectors(monkeypatch) -> None:
    """Elsewhere NumPy's BLAS takes the 1x1 layers."""
    assert _products.suitable(np.dtype(np.float32), 64, 256, 784) == (_products.VECTOR_BYTES == 64)
    monkeypatch.setattr(_products, "VECTOR_BYTES", 32)
    assert not _products.suitable(np.dtype(np.float32), 64, 256, 784)
    monkeypatch.setattr(_products, "VECTOR_BYTES", 64)
    assert not _products.suitable(np.dtype(np.float32), 7, 256, 784)
    assert not _products.suitable(np.dtype(np.float32), 64, 256, 47)
    assert _products.suitable(np.dtype(np.float64), 8, 8, 24)
