"""The window plans of corr2d.dask._halo, against np.pad on one axis."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from corr2d.dask._halo import FILL, merge_thin_chunks, output_chunks, plan_axis

NP_MODES = ("constant", "wrap", "symmetric", "reflect", "edge")


@st.composite
def axes(draw):
    length = draw(st.integers(1, 20))
    cuts = draw(st.sets(st.integers(1, max(1, length - 1)), max_size=6)) if length > 1 else set()
    bounds = [0, *sorted(c for c in cuts if 0 < c < length), length]
    chunks = tuple(b - a for a, b in itertools.pairwise(bounds))
    mode = draw(st.sampled_from(NP_MODES))
    limit = length - 1 if mode == "reflect" else 25
    pads = (draw(st.integers(0, limit)), draw(st.integers(0, limit)))
    extent = draw(st.integers(1, length + sum(pads)))
    stride = draw(st.integers(1, 4))
    return chunks, pads, mode, extent, stride


@settings(max_examples=300)
@given(axes())
def test_windows_rebuild_the_padded_axis(axis):
    """Reading each window's runs from the chunks gives np.pad's extended axis."""
    chunks, pads, mode, extent, stride = axis
    values = np.arange(1.0, sum(chunks) + 1)
    kwargs = {"constant_values": -7.0} if mode == "constant" else {}
    padded = np.pad(values, pads, mode=mode, **kwargs)
    pieces = np.split(values, np.cumsum(chunks)[:-1])
    plan = plan_axis(chunks, pads, mode, extent, stride)
    out_length = (len(padded) - extent) // stride + 1
    assert sum(plan.chunks) == out_length
    first = 0
    for size, window in zip(plan.chunks, plan.windows, strict=True):
        begin = stride * first
        expected = padded[begin : stride * (first + size - 1) + extent]
        rebuilt = np.empty(window.length)
        reads = {chunk: (lo, hi) for chunk, lo, hi in window.reads}
        for run in window.runs:
            if run.chunk == FILL:
                rebuilt[run.start : run.start + run.length] = -7.0
                continue
            lo, hi = reads[run.chunk]
            positions = run.first + run.step * np.arange(run.length)
            assert lo <= positions.min() and positions.max() < hi  # within what is read
            rebuilt[run.start : run.start + run.length] = pieces[run.chunk][positions]
        np.testing.assert_array_equal(rebuilt, expected)
        first += size


@given(st.lists(st.integers(1, 9), min_size=1, max_size=12), st.integers(0, 12))
def test_merged_chunks_are_thick_enough_and_keep_the_length(chunks, minimum):
    merged = merge_thin_chunks(tuple(chunks), minimum)
    assert sum(merged) == sum(chunks)
    if sum(chunks) >= minimum:
        assert min(merged) >= minimum
    else:
        assert merged == (sum(chunks),)


def test_output_chunks_follow_the_input():
    assert output_chunks((256, 256, 100), 612, 1) == (256, 256, 100)  # same
    assert output_chunks((256, 256, 100), 616, 1) == (256, 256, 104)  # full, 5x5
    assert output_chunks((256, 256, 100), 608, 1) == (256, 256, 96)  # valid, 5x5
    assert output_chunks((256, 256, 100), 306, 2) == (128, 128, 50)  # stride 2
