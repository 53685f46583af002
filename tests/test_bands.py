"""The tile loops (corr2d.core._bands) against the vectorised twin and brute force:
every border rule, interleaved channels, pixel types, and tiles cut small enough that
every kind of tile (interior, border, narrower than a block) occurs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corr2d.core import _bands, _paths, _vectorised
from corr2d.core._pool import run_tasks

NP_MODES = ("constant", "symmetric", "wrap", "reflect", "edge")


def _extended(x, pads, np_mode, fill, spacing):
    return _paths.extend(x, pads, np_mode, fill, spacing, np.dtype(np.float64))


def _run(task, *args, threads=2):
    run_tasks(task, *args, threads=threads)


@settings(max_examples=40)
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 50)),
    spacing=st.sampled_from([1, 3]),
    kernel=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    np_mode=st.sampled_from(NP_MODES),
    tile=st.tuples(st.integers(1, 20), st.integers(1, 70)),
    pixels=st.sampled_from([np.uint8, np.uint16, np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_tile_loops_equal_brute_force_exactly_on_integers(
    shape, spacing, kernel, np_mode, tile, pixels, seed
) -> None:
    """Small integers everywhere: every sum is exact in float32 and float64, so the
    loops must agree with an int64 sum to the last bit, whatever the tiling."""
    rng = np.random.default_rng(seed)
    height, width = shape
    kh, kw = kernel
    pads = ((kh // 2, kh - 1 - kh // 2), (kw - 1, 0))
    if np_mode == "reflect" and (max(pads[0]) >= height or max(pads[1]) >= width):
        return
    x = rng.integers(0, 9, (height, width * spacing)).astype(pixels)
    columns = rng.integers(-3, 4, (2, kh)).astype(np.float64)
    rows_f = rng.integers(-3, 4, (2, kw)).astype(np.float64)
    fill = 2.0
    extended = _extended(x, pads, np_mode, fill, spacing)
    rows, cols = _paths.index_tables(height, width, spacing, pads, np_mode)
    out_rows = height + sum(pads[0]) - kh + 1
    out_width = (width + sum(pads[1]) - kw + 1) * spacing
    tile_rows, tile_width = min(tile[0], out_rows), tile[1]
    for work in (np.float32, np.float64):
        expected = _vectorised.separable(extended, columns, rows_f, spacing)
        out = np.empty((out_rows, out_width), dtype=work)
        _run(
            _bands.separable_task,
            x,
            rows,
            cols,
            work(fill),
            columns.astype(work),
            rows_f.astype(work),
            spacing,
            out,
            tile_rows,
            tile_width,
        )
        np.testing.assert_array_equal(out, expected)
        kernel_2d = rng.integers(-3, 4, (kh, kw)).astype(work)
        expected = _vectorised.direct(extended, kernel_2d.astype(np.float64), spacing)
        _run(
            _bands.direct_task,
            x,
            rows,
            cols,
            work(fill),
            kernel_2d,
            spacing,
            out,
            tile_rows,
            tile_width,
        )
        np.testing.assert_array_equal(out, expected)
    if x.dtype.kind == "u":
        sums = _vectorised.box_sums(_paths.extend(x, pads, np_mode, 2, spacing), kh, kw, spacing)
        for out_type, top in ((np.float64, 0.0), (np.uint16, 65535.0)):
            out = np.empty((out_rows, out_width), dtype=out_type)
            like = np.zeros(1, dtype=_paths.box_sum_dtype(x.dtype, kh * kw, fill))
            _run(
                _bands.box_task,
                x,
                rows,
                cols,
                x.dtype.type(fill),
                like,
                np.float64(0.5),
                kh,
                kw,
                spacing,
                np.float64(top),
                out,
                tile_rows,
                tile_width,
            )
            np.testing.assert_array_equal(out, _paths.to_output(sums * 0.5, np.dtype(out_type)))


@settings(max_examples=40)
@given(
    shape=st.tuples(st.integers(1, 30), st.integers(1, 90)),
    spacing=st.sampled_from([1, 3]),
    kernel=st.tuples(st.integers(1, 20), st.integers(1, 40)),
    np_mode=st.sampled_from(NP_MODES),
    tile=st.tuples(st.integers(1, 40), st.integers(1, 130)),
    pixels=st.sampled_from([np.uint8, np.uint16, np.float32, np.float64]),
    fill=st.sampled_from([0, 7, -3, 300]),
    seed=st.integers(0, 2**16),
)
def test_running_sums_equal_brute_force_for_any_width(
    shape, spacing, kernel, np_mode, tile, pixels, fill, seed
) -> None:
    """Running sums down the rows and sums by doubling along them (every combination of
    binary digits of the width up to 40, five of them set at 31) against int64 sums of
    every window, in each sum type, with fill values outside the pixels' range."""
    rng = np.random.default_rng(seed)
    height, width = shape
    kh, kw = kernel
    pads = ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2))
    if np_mode == "reflect" and (max(pads[0]) >= height or max(pads[1]) >= width):
        return
    top = 255 if pixels == np.uint8 else 1000
    x = rng.integers(0, top + 1, (height, width * spacing)).astype(pixels)
    extended = _paths.extend(x, pads, np_mode, fill, spacing, np.dtype(np.int64))
    expected = _vectorised.direct(extended, np.ones((kh, kw), np.int64), spacing)
    rows, cols = _paths.index_tables(height, width, spacing, pads, np_mode)
    out = np.empty(expected.shape, dtype=np.float64)
    values = np.dtype(np.uint8 if top == 255 else np.uint16)  # the range of the pixels
    like = np.zeros(1, dtype=_paths.box_sum_dtype(values, kh * kw, fill))
    fits = x.dtype.kind == "f" or 0 <= fill <= np.iinfo(x.dtype).max
    source = x if fits else x.astype(like.dtype)
    tile_rows = min(tile[0], expected.shape[0])
    _run(
        _bands.box_task,
        *(source, rows, cols, source.dtype.type(fill), like, np.float64(1.0), kh, kw, spacing),
        *(np.float64(0.0), out, tile_rows, tile[1]),
    )
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("out_type", [np.uint8, np.uint16])
def test_pixels_are_rounded_half_to_even_and_clamped(out_type) -> None:
    """A 1x1 kernel of weight 0.5 on 0, 1, 3, 5, ... gives exact halves; values past the
    type's range clamp."""
    top = np.iinfo(out_type).max
    x = np.array([[0, 1, 3, 5, 7, 9, 2 * top, 2 * top + 2] * 16], dtype=np.float64)
    rows, cols = _paths.index_tables(1, x.shape[1], 1, ((0, 0), (0, 0)), "constant")
    for negative in (False, True):
        values = -x if negative else x
        out = np.empty(x.shape, dtype=out_type)
        _run(
            _bands.separable_task,
            values,
            rows,
            cols,
            0.0,
            np.ones((1, 1)),
            np.full((1, 1), 0.5),
            1,
            out,
            1,
            128,
        )
        expected = np.clip(np.rint(values * 0.5), 0, top).astype(out_type)
        np.testing.assert_array_equal(out, expected)


def test_every_tile_is_done_once_however_many_threads(rng) -> None:
    x = rng.random((301, 257))
    rows, cols = _paths.index_tables(301, 257, 1, ((2, 2), (2, 2)), "symmetric")
    columns, rows_f = rng.random((1, 5)), rng.random((1, 5))
    expected = _vectorised.separable(
        _paths.extend(x, ((2, 2), (2, 2)), "symmetric"), columns, rows_f, 1
    )
    for threads in (1, 2, 4):
        out = np.full((301, 257), np.nan)
        _run(
            _bands.separable_task,
            x,
            rows,
            cols,
            0.0,
            columns,
            rows_f,
            1,
            out,
            16,
            64,
            threads=threads,
        )
        np.testing.assert_allclose(out, expected, rtol=1e-13)


@pytest.mark.parametrize("np_mode", ["symmetric", "constant", "wrap"])
@pytest.mark.parametrize("tile_width", [40, 128, 300])
def test_tiles_read_the_image_in_place_between_gathered_edges(rng, np_mode, tile_width) -> None:
    """Tiles whose rows lie inside the image read its own columns in place and gather
    only the columns past its edges (narrower or wider than a register block, on one
    side or both): the same bits as the vectorised twin."""
    x = rng.integers(0, 9, (90, 301)).astype(np.float32)
    pads = ((4, 3), (5, 6))
    rows, cols = _paths.index_tables(90, 301, 1, pads, np_mode)
    columns = rng.integers(-3, 4, (2, 8)).astype(np.float32)
    rows_f = rng.integers(-3, 4, (2, 12)).astype(np.float32)
    expected = _vectorised.separable(_paths.extend(x, pads, np_mode, 2.0, 1), columns, rows_f, 1)
    out = np.full(expected.shape, np.nan, dtype=np.float32)
    _run(
        _bands.separable_task,
        x,
        rows,
        cols,
        np.float32(2.0),
        columns,
        rows_f,
        1,
        out,
        16,
        tile_width,
    )
    np.testing.assert_array_equal(out, expected)
