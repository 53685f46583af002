"""Receptive-field arithmetic: published networks, dilation, round trips, and the
arithmetic checked against gradients measured through the stack."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corr2d import (
    LayerSpec,
    conv2d_output_shape,
    empirical_receptive_field,
    parse_layer,
    receptive_field,
)

# AlexNet (Krizhevsky et al. 2012, as in torchvision and Caffe), 227x227 input.
ALEXNET = ["11x11/s4", "pool3x3/s2", "5x5/p2", "pool3x3/s2", "3x3/p1", "3x3/p1", "3x3/p1"]
# VGG16 (Simonyan & Zisserman 2015): 3x3/p1 convolutions, 2x2/s2 pools.
VGG16 = (["3x3/p1"] * 2 + ["pool2"]) * 2 + (["3x3/p1"] * 3 + ["pool2"]) * 3


def resnet50(stride_at_block_end: bool) -> list[Any]:
    """The main path of ResNet-50: 7x7/s2 stem, 3x3/s2 pool, bottlenecks 3-4-6-3.

    Each bottleneck is 1x1, 3x3, 1x1; one 3x3 per stage has stride 2.  TF-slim's
    resnet_v1_50 puts it in the last unit of stages 1-3; torchvision's in the first unit
    of stages 2-4.
    """
    layers: list[Any] = [(7, 2, 3), "pool3x3/s2"]
    units = [3, 4, 6, 3]
    for stage, count in enumerate(units):
        for unit in range(count):
            if stride_at_block_end:
                strided = stage < 3 and unit == count - 1
            else:
                strided = stage > 0 and unit == 0
            layers += ["1x1", (3, 2 if strided else 1, 1), "1x1"]
    return layers


def test_two_stacked_2x2_layers_see_a_3x3_patch() -> None:
    """The chapter's example: z on top of a 2x2 Y on top of a 3x3 X reads all nine."""
    rf = receptive_field(["2x2", "2x2"], input_shape=(3, 3))
    assert rf.size == (3, 3) and rf.jump == (1, 1) and rf.output_shape == (1, 1)
    assert rf.to_input(0, 0) == ((1.0, 1.0), (0, 3), (0, 3))
    assert empirical_receptive_field(["2x2", "2x2"], (3, 3), (0, 0)).all()


def test_alexnet_conv5_sees_163_pixels_with_jump_16() -> None:
    """Published: conv5 of AlexNet has receptive field 163 and effective stride 16;
    pool5 195 and 32.  Output sizes 55, 27, 27, 13, 13, 13, 13, then 6."""
    rf = receptive_field(ALEXNET, input_shape=227)
    assert rf.size == (163, 163) and rf.jump == (16, 16)
    assert [row.output_shape[0] for row in rf.rows[1:]] == [55, 27, 27, 13, 13, 13, 13]
    assert [row.size[0] for row in rf.rows[1:]] == [11, 19, 51, 67, 99, 131, 163]
    pool5 = receptive_field([*ALEXNET, "pool3/s2"], 227)
    assert pool5.size == (195, 195) and pool5.jump == (32, 32) and pool5.output_shape == (6, 6)


def test_vgg16_figures() -> None:
    """Published (Araujo et al., Distill 2019, table for vgg_16): receptive field 212,
    effective stride 32, effective padding 90 at pool5; conv5_3 sees 196 at jump 16."""
    rf = receptive_field(VGG16, input_shape=224)
    assert (rf.size, rf.jump, rf.effective_padding) == ((212, 212), (32, 32), (90, 90))
    assert rf.output_shape == (7, 7)
    conv5_3 = rf.rows[-2]
    assert conv5_3.size == (196, 196) and conv5_3.jump == (16, 16)


def test_resnet50_figures() -> None:
    """Published (Distill 2019, resnet_v1_50): 483, stride 32, padding 239 -- TF-slim's
    layout.  torchvision's layout (stride at the start of a stage) gives 427."""
    slim = receptive_field(resnet50(stride_at_block_end=True))
    assert (slim.size, slim.jump, slim.effective_padding) == ((483, 483), (32, 32), (239, 239))
    torchvision = receptive_field(resnet50(stride_at_block_end=False), input_shape=224)
    assert torchvision.size == (427, 427) and torchvision.jump == (32, 32)
    assert torchvision.output_shape == (7, 7)


def test_dilated_stacks_grow_exponentially() -> None:
    """3x3 layers with dilation 1, 2, 4, 8 (Yu & Koltun 2016): 3, 7, 15, 31 -- that is,
    k_eff = d (k - 1) + 1 per layer, which an implementation ignoring dilation misses."""
    layers = [(3, 1, 0, d) for d in (1, 2, 4, 8)]
    rf = receptive_field(layers, input_shape=40)
    assert [row.size[0] for row in rf.rows[1:]] == [3, 7, 15, 31]
    assert rf.output_shape == (10, 10)
    mask = empirical_receptive_field(layers, 40, (0, 0))
    assert mask[:31, :31].all() and mask.sum() == 31 * 31


def test_a_single_dilated_layer_leaves_holes() -> None:
    """One 3x3 layer with dilation 2 spans 5 pixels but reads only 3 of them per axis."""
    rf = receptive_field(["3x3/d2"], 7)
    assert rf.size == (5, 5)
    mask = empirical_receptive_field(["3x3/d2"], 7, (1, 2))
    rows, cols = np.nonzero(mask)
    assert sorted(set(rows)) == [1, 3, 5] and sorted(set(cols)) == [2, 4, 6]


def test_table_rows_and_text() -> None:
    """rows[0] is the input; the text table has a header and one line per row."""
    rf = receptive_field(["3x3/s2/p1", "pool2x2"], input_shape=(8, 6))
    assert [r.layer for r in rf.rows] == ["input", "conv 3x3/s2/p1", "pool 2x2/s2"]
    assert rf.rows[1].output_shape == (4, 3) and rf.rows[2].output_shape == (2, 1)
    assert rf.rows[2].start == (1.0, 1.0)  # size 3 + 1*2 = 5: pixels -1 .. 3
    text = str(rf).splitlines()
    assert text[0].split() == ["layer", "output", "jump", "size", "start"]
    assert text[2].split() == ["conv", "3x3/s2/p1", "4x3", "2", "3", "0"]
    assert text[3].split() == ["pool", "2x2/s2", "2x1", "4", "5", "1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3x3", LayerSpec((3, 3))),
        ("5", LayerSpec((5, 5))),
        ("3x3/s2", LayerSpec((3, 3), (2, 2))),
        ("3x3/d2/p1", LayerSpec((3, 3), padding=((1, 1), (1, 1)), dilation=(2, 2))),
        ("pool2x2/s2", LayerSpec((2, 2), (2, 2), kind="pool")),
        ("pool3", LayerSpec((3, 3), (3, 3), kind="pool")),
        (" MaxPool3x3/S2 ", LayerSpec((3, 3), (2, 2), kind="pool")),
        ("conv1x7/p0x3", LayerSpec((1, 7), padding=((0, 0), (3, 3)))),
        ("3x3/psame/d2", LayerSpec((3, 3), padding=((2, 2), (2, 2)), dilation=(2, 2))),
        ("4x4/psame", LayerSpec((4, 4), padding=((1, 2), (1, 2)))),
    ],
)
def test_parse_layer(text: str, expected: LayerSpec) -> None:
    """The string grammar, pools striding by their size by default."""
    assert parse_layer(text) == expected


@pytest.mark.parametrize(
    "text", ["", "3x", "3x3/s", "3x3/q2", "3x3/s2/s3", "3x3x3", "pool", "3x3/ssame", "3x3/s0"]
)
def test_parse_layer_rejects_malformed_text(text: str) -> None:
    """A bad string is a ValueError naming the text (and the grammar, or the rule)."""
    with pytest.raises(ValueError, match="parse_layer: `text"):
        parse_layer(text)


def test_layer_forms_agree() -> None:
    """Tuples with int or pair items, strings, LayerSpecs and duck-typed objects give the
    same arithmetic."""
    forms: list[Any] = [
        (3, 2, 1, 2),
        ((3, 3), (2, 2), (1, 1), (2, 2)),
        "3x3/s2/p1/d2",
        LayerSpec((3, 3), (2, 2), ((1, 1), (1, 1)), (2, 2)),
        SimpleNamespace(kernel_size=(3, 3), stride=2, padding=1, dilation=(2, 2)),
    ]
    results = [receptive_field([form, "2x2"], 11).rows for form in forms]
    assert all(rows == results[0] for rows in results[1:])
    assert receptive_field([((3, 2),)]).size == (3, 2)  # a pair as the kernel alone
    assert receptive_field([(3, 1, "same")], 5).output_shape == (5, 5)


def test_output_shapes_agree_with_conv2d_output_shape() -> None:
    """Each row's output shape is the formula conv2d uses."""
    layers = [(5, 2, 2, 1), (3, 1, 0, 2), (2, 2, (1, 0), 1)]
    rf = receptive_field(layers, (37, 29))
    shape = (37, 29)
    for row, (k, s, p, d) in zip(rf.rows[1:], layers, strict=True):
        shape = conv2d_output_shape(shape, (k, k), s, p, d)
        assert row.output_shape == shape


def test_torch_and_corr2d_layers_are_read_by_duck_typing() -> None:
    """torch.nn.Conv2d / MaxPool2d objects (and corr2d.Conv2D) work as layer specs, and
    the predicted output shape is what torch produces."""
    torch = pytest.importorskip("torch")
    net = [
        torch.nn.Conv2d(1, 2, kernel_size=3, stride=2, padding=1, dilation=2),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(2, 1, kernel_size=(3, 1), padding="same"),
    ]
    rf = receptive_field(net, input_shape=(23, 17))
    with torch.no_grad():
        out = torch.nn.Sequential(*net)(torch.zeros(1, 1, 23, 17))
    assert rf.output_shape == tuple(out.shape[2:])
    assert rf.rows[2].layer == "pool 2x2/s2"
    from corr2d import Conv2D

    layer = Conv2D(3, stride=2, padding=1, dilation=2)
    assert receptive_field([layer], 23).rows == receptive_field([net[0]], 23).rows


@st.composite
def stacks(draw: st.DrawFn) -> list[tuple[int, int, int, int]]:
    """Random stacks of 1-4 layers (kernel, stride, padding, dilation)."""
    count = draw(st.integers(1, 4))
    return [
        (
            draw(st.integers(1, 4)),
            draw(st.integers(1, 3)),
            draw(st.integers(0, 2)),
            draw(st.integers(1, 3)),
        )
        for _ in range(count)
    ]


@settings(max_examples=60, deadline=None)
@given(layers=stacks(), size=st.integers(8, 40), data=st.data())
def test_measured_gradient_support_matches_the_arithmetic(
    layers: list[tuple[int, int, int, int]], size: int, data: st.DataObject
) -> None:
    """Back-propagating one output unit through all-ones kernels lights exactly the
    arithmetic window (clipped to the image) -- never a pixel outside it, its bounding
    box when no layer pads, every pixel of it when no layer dilates or strides past its
    kernel and only the first layer pads."""
    try:
        rf = receptive_field(layers, (size, size + 3))
    except ValueError:
        return  # the stack does not fit this input
    assert rf.output_shape is not None
    unit = (
        data.draw(st.integers(0, rf.output_shape[0] - 1)),
        data.draw(st.integers(0, rf.output_shape[1] - 1)),
    )
    mask = empirical_receptive_field(layers, (size, size + 3), unit)
    window = rf.to_input(*unit)
    expected = np.zeros_like(mask)
    expected[
        max(window.rows[0], 0) : max(window.rows[1], 0),
        max(window.cols[0], 0) : max(window.cols[1], 0),
    ] = True
    rows, cols = np.nonzero(mask)
    if rows.size == 0:  # the whole window lies in the padding
        assert not expected.any() or any(p for _, _, p, _ in layers)
        return
    box = np.zeros_like(mask)
    box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    # padding after the first layer clips the window inside the stack (a feature of the
    # window may be padding there), which clipping to the image alone does not show
    gap_free = all(d == 1 and s <= k for k, s, _, d in layers) and not any(
        p for _, _, p, _ in layers[1:]
    )
    if gap_free:
        np.testing.assert_array_equal(mask, expected)
    else:
        assert not (mask & ~expected).any()  # never outside the window
        if all(p == 0 for _, _, p, _ in layers):  # then the corners are always read
            np.testing.assert_array_equal(box, expected)


@settings(max_examples=60, deadline=None)
@given(layers=stacks(), i=st.integers(0, 50), j=st.integers(0, 50))
def test_to_feature_inverts_to_input(
    layers: list[tuple[int, int, int, int]], i: int, j: int
) -> None:
    """Round trip: the centre of feature (i, j)'s window maps back to (i, j), and the
    window contains exactly the pixels whose features_containing includes (i, j)."""
    rf = receptive_field(layers)
    window = rf.to_input(i, j)
    assert rf.to_feature(*window.center) == (i, j)
    assert window.rows[1] - window.rows[0] == rf.size[0]
    (r0, r1), (c0, c1) = rf.features_containing(window.rows[0], window.cols[1] - 1)
    assert r0 <= i < r1 and c0 <= j < c1
    (r0, r1), _ = rf.features_containing(window.rows[1], window.cols[0])
    assert not r0 <= i < r1


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: receptive_field([]), ValueError, "receptive_field: `layers` must be non-empty"),
        (lambda: receptive_field("3x3"), TypeError, "`layers` must be a list"),
        (lambda: receptive_field([3]), TypeError, r"`layers\[0\]` must be a tuple"),
        (lambda: receptive_field([(3, 1, 0, 1, 9)]), ValueError, r"`layers\[0\]`"),
        (lambda: receptive_field([(3, 0)]), ValueError, r"`layers\[0\] stride` must be >= 1"),
        (lambda: receptive_field(["3x3", "nope"]), ValueError, r"`layers\[1\]` must be of"),
        (lambda: receptive_field(["5x5", "5x5"], 7), ValueError, r"`layers\[1\]` must be no wider"),
        (lambda: receptive_field([(3, 1, "full")]), ValueError, "padding"),
        (
            lambda: empirical_receptive_field(["3x3"], 5, (3, 0)),
            ValueError,
            r"`unit` must be inside the output shape \(3, 3\)",
        ),
        (lambda: empirical_receptive_field(["3x3"], 5, 0), TypeError, "`unit` must be a pair"),
        (lambda: receptive_field(["3x3"]).to_input(-1, 0), ValueError, "`i` must be an int >= 0"),
        (
            lambda: receptive_field(["3x3"], (5, 5)).to_input(10, 10),
            ValueError,
            r"ReceptiveField.to_input: `i` must be an int in \[0, 2\], got 10",
        ),
        (lambda: receptive_field(["3x3"]).to_feature(float("nan"), 0), ValueError, "`y`"),
        (
            lambda: empirical_receptive_field(["3x3/p100000000000"], 32, (0, 0)),
            MemoryError,
            r"`layers\[0\]` must be small enough for this machine",
        ),
        (lambda: receptive_field(["3x3"]).to_feature("a", 0), TypeError, "`y`"),
    ],
)
def test_bad_arguments_raise_with_the_house_message(
    call: object, error: type[Exception], pattern: str
) -> None:
    """Every error names the function, the argument (down to the layer), and the rule."""
    with pytest.raises(error, match=pattern):
        call()
