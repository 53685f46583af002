"""The slow twin on hand-worked values, then the fast loops and the FFT path against it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

import corr2d
from corr2d.core import _engine, _fft, _loops, _padding, _unrolled
from corr2d.core._reference import conv2d_reference, corr2d_reference


class TestReferenceTwin:
    def test_chapter_example_by_hand(self) -> None:
        X = np.arange(9.0).reshape(3, 3)
        K = np.array([[0.0, 1.0], [2.0, 3.0]])
        # 0*0 + 1*1 + 3*2 + 4*3 = 19; 1*0 + 2*1 + 4*2 + 5*3 = 25; ...
        np.testing.assert_array_equal(corr2d_reference(X, K), [[19, 25], [37, 43]])

    def test_non_square_output_by_hand(self) -> None:
        # one row, kernel [1, -1]: differences of neighbours along the row
        X = np.array([[1.0, 4.0, 9.0, 16.0]])
        np.testing.assert_array_equal(corr2d_reference(X, np.array([[1.0, -1.0]])), [[-3, -5, -7]])
        # a column kernel on a 3x2 image
        X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        np.testing.assert_array_equal(
            corr2d_reference(X, np.array([[1.0], [10.0]])), [[31, 42], [53, 64]]
        )

    def test_conv2d_reference_by_hand(self) -> None:
        x = np.arange(16.0).reshape(1, 1, 4, 4)
        weight = np.ones((1, 1, 2, 2))
        # stride 2: windows {0,1,4,5} {2,3,6,7} {8,9,12,13} {10,11,14,15}
        out = conv2d_reference(x, weight, np.array([1.0]), stride=(2, 2))
        np.testing.assert_array_equal(out[0, 0], [[11, 19], [43, 51]])
        # dilation 2 on a 4x4 image: taps x[i, j] + x[i, j+2] + x[i+2, j] + x[i+2, j+2]
        out = conv2d_reference(x, weight, dilation=(2, 2))
        np.testing.assert_array_equal(out[0, 0], [[20, 24], [36, 40]])
        # zero padding of 1 around a 1x1 kernel adds a frame of zeros
        out = conv2d_reference(x, np.full((1, 1, 1, 1), 2.0), padding=((1, 1), (1, 1)))
        assert out.shape == (1, 1, 6, 6) and out[0, 0, 0].sum() == 0 and out[0, 0, 1, 1] == 0

    def test_conv2d_reference_groups_by_hand(self) -> None:
        x = np.stack([np.ones((2, 2)), 2 * np.ones((2, 2))])[None]  # channels of 1s and 2s
        weight = np.ones((2, 1, 1, 1))
        out = conv2d_reference(x, weight, groups=2)
        np.testing.assert_array_equal(out[0, :, 0, 0], [1, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize(
    "kernel_shape", [(1, 1), (3, 3), (2, 5), (7, 7), (1, 9), (8, 8), (10, 7), (13, 1)]
)
def test_unrolled_loops_equal_the_twin(rng, dtype, kernel_shape) -> None:
    x = rng.standard_normal((23, 31)).astype(dtype)
    kernel = rng.standard_normal(kernel_shape).astype(dtype)
    if np.iscomplexobj(x):
        x = x + 1j * rng.standard_normal(x.shape)
    loop = _unrolled.unrolled_loop(*kernel_shape)
    assert loop is not None
    out = np.empty((23 - kernel_shape[0] + 1, 31 - kernel_shape[1] + 1), dtype=dtype)
    loop(x, kernel, out)
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, corr2d_reference(x, kernel), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("kernel_shape", [(3, 3), (10, 7)])
def test_unrolled_serial_build_equals_the_twin(rng, kernel_shape) -> None:
    x = rng.standard_normal((23, 31))
    kernel = rng.standard_normal(kernel_shape)
    loop = _unrolled.unrolled_loop(*kernel_shape)
    assert loop is not None
    out = np.empty((23 - kernel_shape[0] + 1, 31 - kernel_shape[1] + 1))
    loop.serial(x, kernel, out)
    np.testing.assert_allclose(out, corr2d_reference(x, kernel), atol=1e-12)


def test_unrolled_loop_source_is_readable_and_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CORR2D_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_unrolled, "_loaded", {})
    text = _unrolled.source(2, 2)
    assert "row[j] = (w0_0 * x0[j + 0] + w0_1 * x0[j + 1])" in text
    assert _unrolled.unrolled_loop(2, 2) is not None
    assert len(list(tmp_path.glob("corr2d_unrolled_2x2_*.py"))) == 1
    # more than MAX_TAPS: unrolled along the row only, one loop for every height
    assert _unrolled.unrolled_loop(9, 9) is _unrolled.unrolled_loop(12, 9) is not None
    assert "for u in range(kh):" in _unrolled.source(0, 9)
    assert len(list(tmp_path.glob("corr2d_unrolled_anyx9_*.py"))) == 1
    assert _unrolled.unrolled_loop(3, _unrolled.MAX_WIDTH + 1) is None  # generic loops


@pytest.mark.parametrize("dilation", [(1, 1), (2, 3)])
@pytest.mark.parametrize("stride", [(1, 1), (2, 1), (3, 2)])
def test_generic_loops_equal_the_twin(rng, stride, dilation) -> None:
    x = rng.standard_normal((1, 1, 19, 22))
    weight = rng.standard_normal((1, 1, 3, 4))
    got = _engine.correlate_valid(
        np.ascontiguousarray(x[0, 0]),
        np.ascontiguousarray(weight[0, 0]),
        "direct",
        stride,
        dilation,
    )
    np.testing.assert_allclose(
        got, conv2d_reference(x, weight, stride=stride, dilation=dilation)[0, 0], atol=1e-12
    )


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("dilation", [(1, 1), (2, 1)])
def test_multichannel_direct_loops_equal_the_twin(rng, groups, dilation) -> None:
    x = rng.standard_normal((2, 2, 9, 10))
    weight = rng.standard_normal((4, 2 // groups, 2, 2))
    out = np.empty((2, 4, 9 - dilation[0], 10 - dilation[1]))
    _loops.conv_direct(x, weight, groups, dilation[0], dilation[1], out)
    np.testing.assert_allclose(
        out, conv2d_reference(x, weight, dilation=dilation, groups=groups), atol=1e-12
    )


# (kh, kw, sh, sw, dh, dw, row0): strides and dilations on either axis, tiles from row0
PATCH_GEOMETRIES = [
    (3, 2, 2, 1, 1, 2, 0),
    (3, 3, 1, 2, 1, 1, 1),
    (2, 4, 3, 3, 2, 1, 0),
    (7, 7, 2, 2, 1, 1, 2),
    (1, 1, 1, 1, 1, 1, 2),
]


def _patch_buffer(kh, kw, sh, sw, dh, dw, row0):
    """x of shape (2, 3, 15, 17) and an empty patch tile for this geometry."""
    oh = (15 - dh * (kh - 1) - 1) // sh + 1
    ow = (17 - dw * (kw - 1) - 1) // sw + 1
    return np.full((2, 3 * kh * kw, (oh - row0) * ow), np.nan), oh - row0, ow


@pytest.mark.parametrize("build", ["parallel", "serial"])
@pytest.mark.parametrize("geometry", PATCH_GEOMETRIES)
def test_im2col_by_its_formula(rng, build, geometry) -> None:
    kh, kw, sh, sw, dh, dw, row0 = geometry
    x = rng.standard_normal((2, 3, 15, 17))
    cols, rows, ow = _patch_buffer(*geometry)
    getattr(_loops.im2col, build)(x, *geometry, cols)
    for n, c, u, v, r, j in np.ndindex(2, 3, kh, kw, rows, ow):
        expected = x[n, c, (row0 + r) * sh + u * dh, j * sw + v * dw]
        assert cols[n, (c * kh + u) * kw + v, r * ow + j] == expected


@pytest.mark.parametrize("build", ["parallel", "serial"])
@pytest.mark.parametrize("geometry", PATCH_GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(rng, build, geometry) -> None:
    """<im2col(x), c> == <x, col2im(c)>: the backward pass relies on it."""
    x = rng.standard_normal((2, 3, 15, 17))
    cols, _, _ = _patch_buffer(*geometry)
    getattr(_loops.im2col, build)(x, *geometry, cols)
    c = rng.standard_normal(cols.shape)
    back = np.zeros_like(x)
    getattr(_loops.col2im, build)(c, *geometry, back)
    assert np.vdot(cols, c) == pytest.approx(np.vdot(x, back), rel=1e-12)


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap", "symmetric", "constant"])
def test_padding_adjoint(rng, mode) -> None:
    """<pad(x), g> == <x, pad_adjoint(g)> for every border rule."""
    x = rng.standard_normal((2, 5, 6))
    pads = ((2, 1), (3, 4))
    padded = _padding.pad2d(x, pads, mode)
    g = rng.standard_normal(padded.shape)
    back = _padding.pad2d_adjoint(g, pads, mode, (5, 6))
    assert np.vdot(padded, g) == pytest.approx(np.vdot(x, back), rel=1e-12)


class TestFFTPath:
    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
    @pytest.mark.parametrize("across", [False, True], ids=["bands", "bands-and-columns"])
    def test_multi_tile_fft_within_its_documented_bound(
        self, rng, monkeypatch, dtype, across
    ) -> None:
        # shrink the band budget (and the widest untiled row) so that a small image
        # takes several bands of rows, and several tiles per band
        monkeypatch.setattr(_fft, "_BAND_BYTES", 12 * 675 * 100)
        if across:
            monkeypatch.setattr(_fft, "_MAX_BAND_WIDTH", 300)
            monkeypatch.setattr(_fft, "_WIDTH_CANDIDATES", (256, 512))
        x = rng.standard_normal((700, 650)).astype(dtype)
        kernel = rng.standard_normal((21, 17)).astype(dtype)
        bh, bw = _fft.tile_shape(x.shape, kernel.shape)
        assert (bh, bw) == ((256, 256) if across else (128, 675))  # several tiles
        out = np.empty((680, 634), dtype=dtype)
        _fft.correlate_valid_fft(x, kernel, out, workers=2)
        exact = signal.correlate2d(x.astype(np.complex128), kernel.astype(np.complex128), "valid")
        error = np.abs(out - exact).max()
        assert error <= _fft.fft_error_bound(x, kernel)
        assert error > 0  # the bound is not vacuous: this is a different computation

    def test_choose_method_picks_direct_for_small_and_fft_for_large_kernels(self, rng) -> None:
        image = np.zeros((2048, 2048), dtype=np.float32)
        small, large = rng.random((3, 3)), rng.random((31, 31))  # full rank: no split
        assert corr2d.choose_method(image, small, "valid") == "direct"
        assert corr2d.choose_method(image, large, "valid") == "fft"

    def test_choose_method_takes_no_fft_for_integer_data(self, rng) -> None:
        image = np.zeros((2048, 2048), dtype=np.int32)
        kernel = rng.integers(-5, 5, (31, 31)).astype(np.int32)
        assert corr2d.choose_method(image, kernel, "valid") == "direct"
        assert corr2d.choose_method(image, np.ones((31, 31), np.int32), "valid") == "box"

    def test_choose_method_can_measure(self, rng) -> None:
        image = rng.standard_normal((64, 64))
        method, times = corr2d.choose_method(image, rng.random((3, 3)), "valid", measure=True)
        assert method in ("direct", "fft") and set(times) == {"direct", "fft"}
        assert times[method] == min(times.values())
        gaussian = corr2d.kernels.gaussian(2.0)
        method, times = corr2d.choose_method(image, gaussian, "same", measure=True)
        assert set(times) == {"direct", "separable", "fft"}


def test_a_second_process_loads_compiled_loops_from_the_disk_cache(tmp_path) -> None:
    """Generated loops and numba's cache of them survive the process that made them."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np, corr2d\n"
        "x = np.arange(200 * 200, dtype=np.float64).reshape(200, 200) % 7\n"
        "k = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 0.0, 1.0]])  # does not split\n"
        "print(corr2d.corr2d(x, k, method='direct')[:2, :2].sum())\n"
    )
    env = {**os.environ, "CORR2D_CACHE_DIR": str(tmp_path)}
    first = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert list(tmp_path.glob("numba/*/*.nbi"))  # numba wrote its index
    second = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert first.stdout == second.stdout
    x = np.arange(200 * 200, dtype=np.float64).reshape(200, 200) % 7
    k = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 0.0, 1.0]])
    assert float(first.stdout) == corr2d_reference(x[:4, :4], k).sum()


def test_jit_switch_read_while_numba_is_still_being_imported(monkeypatch):
    """Another thread importing numba leaves a module without settings in sys.modules
    for a while: the switch then comes from the environment, as numba reads it."""
    import sys
    import types

    from corr2d.core import _engine

    monkeypatch.setitem(sys.modules, "numba", types.ModuleType("numba"))
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    assert _engine.jit_enabled() is True
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    assert _engine.jit_enabled() is False


def test_a_short_job_plans_numpy_unless_a_call_says_otherwise() -> None:
    """Inside `short_job` the calls that leave the choice take vectorised NumPy; the
    plan is the same path (same sums), and an explicit `compiled` is kept."""
    from corr2d.core import _paths

    kernel = np.ones((9, 9))
    outside = _paths.plan_image("t", (2048, 2048), kernel, 1, np.dtype(np.float64))
    assert outside.compiled  # 3.3e8 multiply-adds: compiled loops
    with _engine.short_job():
        inside = _paths.plan_image("t", (2048, 2048), kernel, 1, np.dtype(np.float64))
        forced = _paths.plan_image(
            "t", (2048, 2048), kernel, 1, np.dtype(np.float64), compiled=True
        )
    assert not inside.compiled and inside.path == outside.path
    assert forced.compiled
    after = _paths.plan_image("t", (2048, 2048), kernel, 1, np.dtype(np.float64))
    assert after.compiled
