"""The register-blocked single-image loop: its micro-kernel by formula, the generated
loops against SciPy and exactly on integers (every tail and overlap), the task counter,
and which images the engine sends there."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit, prange
from scipy import signal

import corr2d
from corr2d.core import _engine, _microkernels, _unrolled

ROWS, COLUMNS = _microkernels.IMAGE_ROWS, _microkernels.IMAGE_COLUMNS


def _width(dtype: type) -> int:
    """Output columns per block."""
    return COLUMNS * _microkernels.VECTOR_BYTES // np.dtype(dtype).itemsize


@njit
def _block_of_2_rows(x, x_base, x_stride, kernel, kw, out, out_base, out_stride):  # type: ignore[no-untyped-def]
    _microkernels.image_block(x, x_base, x_stride, kernel, kw, out, out_base, out_stride, 2)


@njit
def _block_of_5_rows(x, x_base, x_stride, kernel, kw, out, out_base, out_stride):  # type: ignore[no-untyped-def]
    _microkernels.image_block(x, x_base, x_stride, kernel, kw, out, out_base, out_stride, 5)


@njit
def _block_3x4_unrolled(x, x_base, x_stride, kernel, kw, out, out_base, out_stride):  # type: ignore[no-untyped-def]
    # a constant row length: the block is unrolled along the kernel's row too
    _microkernels.image_block(x, x_base, x_stride, kernel, 4, out, out_base, out_stride, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("block", "kh", "kw"),
    [(_block_of_2_rows, 2, 3), (_block_of_5_rows, 5, 1), (_block_3x4_unrolled, 3, 4)],
)
def test_image_block_by_its_formula(dtype, block, kh, kw) -> None:
    """Small integers, so every sum is exact in both precisions."""
    width = _width(dtype)
    x_stride, out_stride = width + kw + 9, width + 4
    x = (np.arange((ROWS + kh + 2) * x_stride) % 7 - 3).astype(dtype)
    kernel = (np.arange(kh * kw) % 5 - 2).astype(dtype)
    out = np.full((ROWS + 1) * out_stride, -1.0, dtype=dtype)
    x_base, out_base = x_stride + 2, 1
    block(x, x_base, x_stride, kernel, kw, out, out_base, out_stride)
    image = x[x_base:].copy()
    image.resize((ROWS + kh - 1) * x_stride)
    expected = signal.correlate2d(
        image.reshape(-1, x_stride)[:, : width + kw - 1].astype(np.float64),
        kernel.reshape(kh, kw).astype(np.float64),
        "valid",
    )
    written = out[out_base : out_base + ROWS * out_stride].reshape(ROWS, out_stride)
    np.testing.assert_array_equal(written[:, :width], expected)
    assert (written[:, width:] == -1).all() and out[0] == -1  # nothing outside the block
    assert (out[out_base + ROWS * out_stride :] == -1).all()


@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    kh=st.sampled_from([1, 2, 3, 7, _unrolled.MAX_IMAGE_HEIGHT]),
    kw=st.integers(1, _unrolled.MAX_UNROLLED_WIDTH + 3),
    bands=st.integers(1, 3),
    extra_rows=st.integers(0, ROWS - 1),
    blocks=st.integers(1, 3),
    extra_columns=st.integers(0, 50),
    serial=st.booleans(),
)
def test_image_loops_are_exact_on_integers(
    dtype, kh, kw, bands, extra_rows, blocks, extra_columns, serial
) -> None:
    """Every output, in every partial band and block, against SciPy in float64."""
    oh, ow = bands * ROWS + extra_rows, blocks * _width(dtype) + extra_columns
    rng = np.random.default_rng(oh * 1000 + ow)
    x = rng.integers(-4, 5, size=(oh + kh - 1, ow + kw - 1)).astype(dtype)
    kernel = rng.integers(-3, 4, size=(kh, kw)).astype(dtype)
    loop = _unrolled.image_loop(kh, kw)
    out = np.full((oh, ow), np.nan, dtype=dtype)
    (loop.serial if serial else loop.parallel)(x, kernel, out)
    expected = signal.correlate2d(x.astype(np.float64), kernel.astype(np.float64), "valid")
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_image_loop_on_random_floats_against_scipy(rng, dtype) -> None:
    # a width that is a multiple of 1024, whose rows alias in the cache
    x = rng.standard_normal((300, 1024)).astype(dtype)
    kernel = rng.standard_normal((7, 5)).astype(dtype)
    out = np.empty((294, 1020), dtype=dtype)
    _unrolled.image_loop(7, 5)(x, kernel, out)
    expected = signal.correlate2d(x.astype(np.float64), kernel.astype(np.float64), "valid")
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)


def test_image_loop_follows_ieee_for_nan_and_inf() -> None:
    """An inf times a zero weight is NaN, as in the slow loops; elsewhere inf stays inf."""
    x = np.ones((200, 200))
    x[50, 60] = np.inf
    x[120, 10] = np.nan
    kernel = np.ones((3, 3))
    kernel[1, 1] = 0.0
    out = np.empty((198, 198))
    _unrolled.image_loop(3, 3)(x, kernel, out)
    with np.errstate(invalid="ignore"):
        expected = signal.correlate2d(x, kernel, "valid")
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(out, expected)  # NaNs compare equal here
    assert np.isnan(out[49, 59]) and np.isposinf(out[48, 58])


@njit(parallel=True)
def _claims(counter, tasks, workers):  # type: ignore[no-untyped-def]
    seen = np.zeros(tasks, dtype=np.int64)
    for _ in prange(workers):
        while True:
            task = _microkernels.next_task(counter)
            if task >= tasks:
                break
            seen[task] += 1
    return seen


def test_next_task_hands_out_every_task_once() -> None:
    counter = np.zeros(1, dtype=np.int64)
    seen = _claims(counter, 5000, 64)
    np.testing.assert_array_equal(seen, np.ones(5000, dtype=np.int64))
    assert counter[0] >= 5000 + 1  # each worker's last call finds the queue empty


def test_image_loop_source_is_readable_and_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CORR2D_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_unrolled, "_image_loaded", {})
    text = _unrolled.image_source(4, 3)
    assert "image_block(" in text and ", 3, flat_out" in text and ", 4)" in text
    assert "next_task(counter)" in text
    loop = _unrolled.image_loop(4, 3)
    assert _unrolled.image_loop(4, 3) is loop
    assert len(list(tmp_path.glob("corr2d_image_4x3_*.py"))) == 1
    # longer rows: one loop per height, the row length read at run time
    wide = _unrolled.MAX_UNROLLED_WIDTH + 1
    assert ", kw, flat_out" in _unrolled.image_source(4)
    assert _unrolled.image_loop(4, wide) is _unrolled.image_loop(4, wide + 7) is not loop
    assert len(list(tmp_path.glob("corr2d_image_4xany_*.py"))) == 1


@pytest.mark.parametrize(
    ("dtype", "shape", "kernel_shape", "expected"),
    [
        (np.float32, (300, 300), (3, 3), "image"),
        (np.float64, (300, 300), (_unrolled.MAX_IMAGE_HEIGHT, 2), "image"),
        (np.float64, (300, 300), (_unrolled.MAX_IMAGE_HEIGHT + 1, 2), "unrolled"),
        (np.complex128, (300, 300), (3, 3), "unrolled"),
        (np.float32, (100, 100), (3, 3), "generic"),  # too small to be worth compiling
        (np.float32, (2000, 40), (3, 3), "unrolled"),  # narrower than one block
    ],
)
def test_engine_routes_images_to_the_image_loop(
    monkeypatch, dtype, shape, kernel_shape, expected
) -> None:
    taken = []
    real_image_loop, real_unrolled_loop = _unrolled.image_loop, _unrolled.unrolled_loop

    def image_loop(kh, kw):  # type: ignore[no-untyped-def]
        taken.append("image")
        return real_image_loop(kh, kw)

    def unrolled_loop(kh, kw):  # type: ignore[no-untyped-def]
        taken.append("unrolled")
        return real_unrolled_loop(kh, kw)

    monkeypatch.setattr(_unrolled, "image_loop", image_loop)
    monkeypatch.setattr(_unrolled, "unrolled_loop", unrolled_loop)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal(kernel_shape).astype(dtype)
    out = _engine.correlate_valid(x, kernel, "direct")
    assert taken == ([] if expected == "generic" else [expected])
    expected_values = signal.correlate2d(x, kernel, "valid")
    np.testing.assert_allclose(out, expected_values, rtol=1e-4, atol=1e-3)


def test_public_corr2d_on_an_image_the_image_loop_serves(rng) -> None:
    """The chapter's corr2d on a real-sized image, through the public face."""
    x = rng.standard_normal((256, 320)).astype(np.float32)
    kernel = np.array([[1.0, -1.0]], dtype=np.float32)
    out = corr2d.corr2d(x, kernel, method="direct")
    np.testing.assert_allclose(out, x[:, :-1] - x[:, 1:], rtol=1e-6, atol=1e-6)


def test_cost_model_prices_complex_data_on_the_slower_loops() -> None:
    real = _engine.direct_cost((2000, 2000), (7, 7))
    complex_ = _engine.direct_cost((2000, 2000), (7, 7), complex_data=True)
    assert complex_ > real


@pytest.mark.parametrize("boundary", ["fill", "symm", "wrap", "mirror", "nearest"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_image_tasks_read_the_image_through_every_border_rule(boundary, dtype) -> None:
    """'same' mode on images the blocked loop serves: the interior read in place, the
    border strips and the top and bottom bands gathered; against scipy.ndimage's names
    for the two SciPy lacks, and scipy.signal for the others."""
    from scipy import ndimage

    rng = np.random.default_rng(3)
    for shape, kernel_shape in (((300, 257), (3, 3)), ((130, 400), (9, 12)), ((200, 97), (31, 5))):
        x = rng.standard_normal(shape).astype(dtype)
        kernel = rng.standard_normal(kernel_shape).astype(dtype)
        out = corr2d.correlate2d(x, kernel, "same", boundary, 0.5, separable=False)
        x64, k64 = x.astype(np.float64), kernel.astype(np.float64)
        if boundary in ("mirror", "nearest"):
            origin = tuple((k - 1) // 2 - k // 2 for k in kernel_shape)
            expected = ndimage.correlate(x64, k64, mode=boundary, origin=origin)
        else:
            expected = signal.correlate2d(x64, k64, "same", boundary, 0.5)
        tolerance = (1e-5 if dtype == np.float32 else 1e-12) * np.abs(expected).max()
        np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance)


def test_image_tasks_on_integers_are_exact_for_every_band_and_strip() -> None:
    """Small integers: every sum exact, so the in-place interior, the gathered strips and
    bands, and the blocks moved back must all give the same bits as brute force."""
    rng = np.random.default_rng(4)
    for shape in ((61, 200), (25, 49), (200, 60)):
        x = rng.integers(-4, 5, shape).astype(np.float32)
        kernel = rng.integers(-3, 4, (5, 4)).astype(np.float32)
        out = corr2d.correlate2d(x, kernel, "same", "symm", separable=False)
        expected = signal.correlate2d(x.astype(np.int64), kernel.astype(np.int64), "same", "symm")
        np.testing.assert_array_equal(out, expected)


def test_auto_runs_the_fft_it_plans() -> None:
    """A plan for the FFT is run by the FFT, however the loops would be chosen."""
    from corr2d.core import _paths

    rng = np.random.default_rng(5)
    x = rng.standard_normal((700, 700)).astype(np.float32)
    kernel = rng.standard_normal((41, 41)).astype(np.float32)
    plan = _paths.plan_image("test", x.shape, kernel, 1, x.dtype)
    assert plan.path == "fft" and plan.compiled
    assert corr2d.choose_method(x, kernel, "valid") == "fft"


@pytest.mark.parametrize("kh", [4, 5, 7, 9, 10])
def test_image_tasks_that_prefetch_give_the_bits_of_brute_force(kh: int) -> None:
    """Kernel heights whose loops prefetch the next block row (and their neighbours
    that do not): small integers, so every sum is exact, on images of several bands
    with border strips, widths that are not a multiple of a block and rows left over."""
    from corr2d.core import _unrolled

    assert ("prefetch(source" in _unrolled.image_task_source(kh, 5)) == (
        kh in _unrolled.PREFETCH_HEIGHTS
    )
    rng = np.random.default_rng(6)
    for shape in ((160, 150), (131, 517), (64, 61)):
        x = rng.integers(-4, 5, shape).astype(np.float32)
        kernel = rng.integers(-3, 4, (kh, 5)).astype(np.float32)
        for boundary in ("symm", "fill"):
            out = corr2d.correlate2d(x, kernel, "same", boundary, 1.0, separable=False)
            expected = signal.correlate2d(
                x.astype(np.int64), kernel.astype(np.int64), "same", boundary, 1
            )
            np.testing.assert_array_equal(out, expected)


def test_prefetch_hints_change_nothing_and_may_point_past_the_array() -> None:
    """The hint compiles for reads and writes, leaves every value as it was and does not
    fault for indices far beyond the array's end."""
    from numba import njit

    from corr2d.core._microkernels import prefetch

    @njit
    def hinted_sum(values, reach):  # type: ignore[no-untyped-def]
        total = 0.0
        for i in range(values.size):
            prefetch(values, i + reach, 0)
            prefetch(values, i + reach, 1)
            total += values[i]
        return total

    values = np.arange(100, dtype=np.float32)
    before = values.copy()
    for reach in (0, 16, 10**6, 10**9):
        assert hinted_sum(values, reach) == before.sum()
    np.testing.assert_array_equal(values, before)
