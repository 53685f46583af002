"""The lazy faces (corr2d.dask) against the in-memory faces, SciPy and PyTorch.

Random shapes, chunkings down to one pixel, kernels (odd, even, larger than the image),
every mode x boundary, dtypes; a block's result must be what the in-memory call gives
on the whole image, and what SciPy gives.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import corr2d
from corr2d import dask as cdask
from corr2d import kernels

MODES = ("full", "same", "valid")
#: Each example is a few small graphs computed in milliseconds: many examples are cheap.
MANY = settings(max_examples=200)
BOUNDARIES = ("fill", "wrap", "symm", "mirror", "nearest")
#: scipy.signal's three; 'mirror' and 'nearest' are checked against scipy.ndimage
SCIPY_SIGNAL = ("fill", "wrap", "symm")


@pytest.fixture(autouse=True)
def _synchronous():
    """One thread: hypothesis runs many small graphs, where threads only add overhead."""
    with dask.config.set(scheduler="synchronous"):
        yield


@st.composite
def chunkings(draw, length: int) -> tuple[int, ...]:
    """A random split of ``length`` pixels into chunks, thin ones (1-2 pixels) included."""
    if length == 1:
        return (1,)
    cuts = draw(st.sets(st.integers(1, length - 1), max_size=min(length - 1, 6)))
    bounds = [0, *sorted(cuts), length]
    return tuple(b - a for a, b in itertools.pairwise(bounds))


@st.composite
def problems(draw, dtypes=("float64",)):
    height, width = draw(st.integers(1, 13)), draw(st.integers(1, 13))
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    image = _random(rng, (height, width), dtype)
    kernel = _random(rng, (kh, kw), dtype if dtype.kind in "biu" else np.dtype(np.float64))
    chunks = (draw(chunkings(height)), draw(chunkings(width)))
    return image, kernel, chunks


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100), shape, endpoint=True).astype(
            dtype
        )
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _tolerance(dtype: np.dtype) -> dict[str, float]:
    if dtype in (np.float32, np.complex64):
        return {"rtol": 1e-5, "atol": 1e-5}
    return {"rtol": 1e-12, "atol": 1e-12}


@MANY
@given(
    problems(dtypes=("float64", "complex128")),
    st.sampled_from(MODES),
    st.sampled_from(BOUNDARIES),
    st.booleans(),
)
def test_equals_in_memory_and_scipy(problem, mode, boundary, convolution):
    image, kernel, chunks = problem
    memory = corr2d.convolve2d if convolution else corr2d.correlate2d
    lazy = cdask.convolve2d if convolution else cdask.correlate2d
    peer = scipy.signal.convolve2d if convolution else scipy.signal.correlate2d
    fill = 0.5
    try:
        expected = memory(image, kernel, mode, boundary, fill)
    except ValueError as error:  # 'valid' with a kernel neither smaller nor larger
        with pytest.raises(ValueError, match=str(error).split(":")[0]):
            lazy(da.from_array(image, chunks=chunks), kernel, mode, boundary, fill)
        return
    result = lazy(da.from_array(image, chunks=chunks), kernel, mode, boundary, fill)
    assert isinstance(result, da.Array)
    computed = result.compute()
    assert computed.shape == expected.shape == result.shape
    assert computed.dtype == expected.dtype == result.dtype
    np.testing.assert_allclose(computed, expected, **_tolerance(image.dtype))
    if boundary in SCIPY_SIGNAL:
        np.testing.assert_allclose(
            computed, peer(image, kernel, mode, boundary, fill), rtol=1e-10, atol=1e-10
        )


@MANY
@given(problems(), st.sampled_from(BOUNDARIES), st.booleans(), st.data())
def test_origin_matches_ndimage(problem, boundary, convolution, data):
    """'same' with ndimage's origin, against scipy.ndimage.correlate / convolve."""
    image, kernel, chunks = problem
    kh, kw = kernel.shape
    origin = (
        data.draw(st.integers(-(kh // 2), (kh - 1) // 2)),
        data.draw(st.integers(-(kw // 2), (kw - 1) // 2)),
    )
    lazy = cdask.convolve2d if convolution else cdask.correlate2d
    memory = corr2d.convolve2d if convolution else corr2d.correlate2d
    x = da.from_array(image, chunks=chunks)
    computed = lazy(x, kernel, "same", boundary, 0.0, origin=origin).compute()
    expected = memory(image, kernel, "same", boundary, 0.0, origin=origin)
    np.testing.assert_allclose(computed, expected, rtol=1e-12, atol=1e-12)
    ndimage_mode = {
        "fill": "constant",
        "wrap": "grid-wrap",
        "symm": "reflect",
        "mirror": "mirror",
        "nearest": "nearest",
    }[boundary]
    if min(image.shape) > 1 or boundary != "mirror":
        peer = scipy.ndimage.convolve if convolution else scipy.ndimage.correlate
        reference = peer(image, kernel, mode=ndimage_mode, cval=0.0, origin=origin)
        np.testing.assert_allclose(computed, reference, rtol=1e-10, atol=1e-10)


@MANY
@given(
    problems(dtypes=("float32", "uint8", "int16", "bool", "uint16")),
    st.sampled_from(MODES),
    st.sampled_from(BOUNDARIES),
    st.booleans(),
)
def test_dtypes_follow_the_in_memory_rules(problem, mode, boundary, convolution):
    image, kernel, chunks = problem
    memory = corr2d.convolve2d if convolution else corr2d.correlate2d
    lazy = cdask.convolve2d if convolution else cdask.correlate2d
    fill = 3
    try:
        expected = memory(image, kernel, mode, boundary, fill)
    except ValueError:
        return
    result = lazy(da.from_array(image, chunks=chunks), kernel, mode, boundary, fill)
    computed = result.compute()
    assert computed.dtype == expected.dtype == result.dtype
    if image.dtype.kind in "biu":
        np.testing.assert_array_equal(computed, expected)  # integers are exact
    else:
        np.testing.assert_allclose(computed, expected, **_tolerance(image.dtype))


@given(problems(), st.sampled_from(("auto", "direct", "fft")))
def test_chapter_corr2d(problem, method):
    image, kernel, chunks = problem
    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
        with pytest.raises(ValueError, match=r"corr2d: `K` must be no larger than X"):
            cdask.corr2d(da.from_array(image, chunks=chunks), kernel)
        return
    result = cdask.corr2d(da.from_array(image, chunks=chunks), kernel, method=method)
    np.testing.assert_allclose(
        result.compute(), corr2d.corr2d(image, kernel), rtol=1e-10, atol=1e-10
    )


@MANY
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from(("zeros", "reflect", "replicate", "circular")),
    st.integers(0, 3),
    st.integers(1, 3),
    st.integers(1, 2),
    st.booleans(),
    st.integers(0, 2**32 - 1),
    st.data(),
)
def test_conv2d_equals_in_memory_and_torch(
    batch,
    channels,
    height,
    width,
    kh,
    kw,
    padding_mode,
    padding,
    stride,
    dilation,
    grouped,
    seed,
    data,
):
    rng = np.random.default_rng(seed)
    groups = channels if grouped else 1
    x = rng.standard_normal((batch, channels, height, width))
    weight = rng.standard_normal((2 * groups, channels // groups, kh, kw))
    bias = rng.standard_normal(2 * groups)
    arguments = (weight, bias, stride, padding, dilation, groups, padding_mode)
    try:
        expected = corr2d.conv2d(x, *arguments)
    except ValueError as error:
        with pytest.raises(
            ValueError, match=str(error).split(",")[0].replace("(", r"\(").replace(")", r"\)")
        ):
            cdask.conv2d(x, *arguments)
        return
    chunks = (
        data.draw(chunkings(batch)),
        channels,
        data.draw(chunkings(height)),
        data.draw(chunkings(width)),
    )
    result = cdask.conv2d(da.from_array(x, chunks=chunks), *arguments)
    computed = result.compute()
    assert computed.shape == expected.shape == result.shape
    np.testing.assert_allclose(computed, expected, rtol=1e-12, atol=1e-12)
    layer = torch.nn.Conv2d(
        channels, 2 * groups, (kh, kw), stride, padding, dilation, groups, padding_mode=padding_mode
    ).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
        reference = layer(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(computed, reference, rtol=1e-10, atol=1e-10)


def test_conv2d_same_padding_unbatched_and_channel_chunks(rng):
    x = rng.standard_normal((3, 20, 17))
    weight = rng.standard_normal((4, 3, 4, 3))
    result = cdask.conv2d(da.from_array(x, chunks=(1, 6, 5)), weight, padding="same", dilation=2)
    assert result.chunks[0] == (4,)
    np.testing.assert_allclose(
        result.compute(), corr2d.conv2d(x, weight, padding="same", dilation=2), rtol=1e-12
    )


def test_colour_images_and_batches_are_chunked_over(rng):
    """(H, W, C) with axes=(0, 1), and a (B, H, W) stack: each plane on its own."""
    colour = rng.random((23, 31, 3)).astype(np.float32)
    gaussian = kernels.gaussian(1.0)  # 9x9: a halo of 8
    result = cdask.correlate2d(
        da.from_array(colour, chunks=(8, 9, 1)), gaussian, "same", "symm", axes=(0, 1)
    )
    assert result.chunks == ((8, 15), (9, 9, 13), (1, 1, 1))  # the 7 and the 4 merged
    expected = np.stack(
        [corr2d.correlate2d(colour[..., c], gaussian, "same", "symm") for c in range(3)], axis=-1
    )
    np.testing.assert_allclose(result.compute(), expected, rtol=1e-5, atol=1e-6)

    stack = rng.standard_normal((2, 3, 15, 14))
    dx = kernels.get("sobel-dx")
    result = cdask.convolve2d(da.from_array(stack, chunks=(1, 2, 4, 5)), dx, "full", "wrap")
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(
                result[i, j].compute(),
                corr2d.convolve2d(stack[i, j], dx, "full", "wrap"),
                rtol=1e-12,
            )


def test_numpy_input_is_chunked_automatically(rng):
    image = rng.standard_normal((40, 30))
    result = cdask.correlate2d(image, np.ones((3, 3)), "same")
    assert isinstance(result, da.Array)
    np.testing.assert_allclose(result.compute(), corr2d.correlate2d(image, np.ones((3, 3)), "same"))


def test_nan_propagates_as_in_memory(rng):
    image = rng.standard_normal((30, 30))
    image[5, 7] = np.nan
    image[20, 29] = np.inf
    kernel = rng.standard_normal((5, 5))
    lazy = cdask.correlate2d(da.from_array(image, chunks=7), kernel, "same", "symm").compute()
    memory = corr2d.correlate2d(image, kernel, "same", "symm")
    np.testing.assert_array_equal(np.isnan(lazy), np.isnan(memory))
    np.testing.assert_allclose(lazy, memory, rtol=1e-12, equal_nan=True)
    with pytest.raises(ValueError, match="finite for method='fft'"):
        cdask.correlate2d(da.from_array(image, chunks=7), kernel, method="fft").compute()


def test_uint8_step_does_not_wrap():
    """dask-image returns the input's dtype: a Sobel step of 800 comes back as 32."""
    step = np.zeros((16, 16), dtype=np.uint8)
    step[:, 8:] = 200
    sobel = kernels.get("sobel-dx").astype(np.int64)
    lazy = cdask.correlate2d(da.from_array(step, chunks=5), sobel, "same", "symm").compute()
    memory = corr2d.correlate2d(step, sobel, "same", "symm")
    assert lazy.dtype == memory.dtype
    assert lazy.max() == 800
    np.testing.assert_array_equal(lazy, memory)


def test_real_photograph_blur_matches(grace_hopper):
    image = grace_hopper
    blur = kernels.gaussian(2.0)
    result = cdask.correlate2d(
        da.from_array(image, chunks=(97, 130, 3)), blur, "same", "symm", axes=(0, 1)
    )
    computed = result.compute()
    for c in range(3):
        np.testing.assert_allclose(
            computed[..., c], corr2d.correlate2d(image[..., c], blur, "same", "symm"), rtol=1e-12
        )


@pytest.fixture
def grace_hopper() -> np.ndarray:
    import matplotlib

    from corr2d.io import read_image

    path = f"{matplotlib.get_data_path()}/sample_data/grace_hopper.jpg"
    return read_image(path)


def test_thin_chunks_are_merged_and_the_graph_stays_small(rng):
    image = rng.standard_normal((64, 64))
    x = da.from_array(image, chunks=(1, 2))
    result = cdask.correlate2d(x, np.ones((5, 5)), "same", "symm")
    assert min(result.chunks[0]) >= 4 and min(result.chunks[1]) >= 4
    blocks = result.npartitions
    tasks = len(dict(result.__dask_graph__()))
    input_tasks = len(dict(x.__dask_graph__()))
    # rechunking, at most 8 halo strips and the block itself per output block
    assert tasks - input_tasks <= 12 * blocks + 4 * x.npartitions
    np.testing.assert_allclose(
        result.compute(), corr2d.correlate2d(image, np.ones((5, 5)), "same", "symm")
    )


def test_threaded_scheduler_gives_the_same_numbers(rng):
    image = rng.standard_normal((300, 257)).astype(np.float32)
    kernel = rng.standard_normal((15, 15)).astype(np.float32)
    lazy = cdask.correlate2d(da.from_array(image, chunks=(64, 100)), kernel, "same", "wrap")
    computed = lazy.compute(scheduler="threads")
    np.testing.assert_allclose(
        computed, corr2d.correlate2d(image, kernel, "same", "wrap"), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda x: cdask.correlate2d(x, [[1.0]], mode="middle"),
            ValueError,
            "correlate2d: `mode` must be one of",
        ),
        (
            lambda x: cdask.correlate2d(x, np.ones((3, 3)), "full", origin=1),
            ValueError,
            "correlate2d: `origin` must be None unless mode='same'",
        ),
        (
            lambda x: cdask.convolve2d(x, [[1.0]], boundary="reflect"),
            ValueError,
            "convolve2d: `boundary` must be one of",
        ),
        (
            lambda x: cdask.correlate2d(x, [[1.0]], axes=(0, 0)),
            ValueError,
            "correlate2d: `axes` must be two different axes",
        ),
        (
            lambda x: cdask.correlate2d(x, [[1.0]], axes=(0, 5)),
            ValueError,
            "correlate2d: `axes` must be axes of a 2-D array",
        ),
        (
            lambda x: cdask.correlate2d(x, [[1.0]], axes=0),
            TypeError,
            "correlate2d: `axes` must be a pair of ints",
        ),
        (
            lambda x: cdask.correlate2d(x[0], [[1.0]]),
            ValueError,
            "correlate2d: `in1` must be at least 2-D",
        ),
        (lambda x: cdask.correlate2d(x, [1.0]), ValueError, "correlate2d: `in2` must be 2-D"),
        (
            lambda x: cdask.correlate2d(x.astype(str), [[1.0]]),
            TypeError,
            "correlate2d: `in1` must be a numeric array",
        ),
        (
            lambda x: cdask.correlate2d(x, [[1.0]], fillvalue=1j),
            ValueError,
            "correlate2d: `fillvalue` must be real",
        ),
        (
            lambda x: cdask.corr2d(x, np.ones((9, 1))),
            ValueError,
            "corr2d: `K` must be no larger than X",
        ),
        (
            lambda x: cdask.conv2d(x, np.ones((1, 1, 2, 2))),
            ValueError,
            "conv2d: `input` must be at least 3-D",
        ),
        (
            lambda x: cdask.conv2d(
                x[None], np.ones((1, 1, 2, 2)), padding=4, padding_mode="reflect"
            ),
            ValueError,
            "conv2d: `padding` must be smaller than the input size",
        ),
    ],
)
def test_bad_arguments_name_the_function_and_argument(call, error, message):
    x = da.from_array(np.ones((4, 4)), chunks=2)
    with pytest.raises(error, match=message.replace("(", r"\(")):
        call(x)


def test_valid_mode_with_a_larger_kernel_swaps_as_scipy(rng):
    image = rng.standard_normal((3, 4))
    kernel = rng.standard_normal((6, 7))
    lazy = cdask.correlate2d(da.from_array(image, chunks=2), kernel, "valid").compute()
    np.testing.assert_allclose(lazy, scipy.signal.correlate2d(image, kernel, "valid"), rtol=1e-12)


def test_import_corr2d_does_not_import_dask():
    code = "import sys, corr2d; assert 'dask' not in sys.modules, 'dask imported'; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
