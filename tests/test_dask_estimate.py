"""Kernel estimation over chunks (corr2d.dask.estimate_kernel) against the in-memory solve."""

from __future__ import annotations

import itertools
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import corr2d
from corr2d import dask as cdask
from corr2d import kernels

MODES = ("valid", "same", "full")
BOUNDARIES = ("fill", "wrap", "symm", "mirror", "nearest")


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _both(X, Y, shape, chunks_x, chunks_y, **options):
    """The in-memory and the chunked estimates (warnings of either recorded, not shown)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        memory = corr2d.estimate_kernel(X, Y, shape, **options)
        lazy = cdask.estimate_kernel(
            da.from_array(X, chunks=chunks_x), da.from_array(Y, chunks=chunks_y), shape, **options
        )
    return memory, lazy, caught


def _assert_same(memory, lazy, rtol=1e-10):
    assert lazy.rank == memory.rank
    assert lazy.n_unknowns == memory.n_unknowns
    assert lazy.solver == memory.solver
    assert lazy.identifiable == memory.identifiable
    if memory.identifiable:
        scale = np.abs(memory.kernel).max()
        np.testing.assert_allclose(lazy.kernel, memory.kernel, rtol=0, atol=rtol * scale)
        if memory.bias is not None:
            assert lazy.bias == pytest.approx(memory.bias, rel=rtol, abs=rtol * scale)
    np.testing.assert_allclose(lazy.residual, memory.residual, rtol=1e-6, atol=1e-12)
    assert lazy.condition_number == pytest.approx(memory.condition_number, rel=1e-6)


@settings(max_examples=40)
@given(
    st.integers(6, 24),
    st.integers(6, 24),
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from(MODES),
    st.sampled_from(BOUNDARIES),
    st.booleans(),
    st.booleans(),
    st.integers(2, 9),
    st.integers(2, 9),
    st.integers(0, 2**32 - 1),
)
def test_every_mode_and_boundary_equals_in_memory(
    height, width, kh, kw, mode, boundary, convolution, bias, chunk_x, chunk_y, seed
):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((height, width))
    K = rng.standard_normal((kh, kw))
    face = corr2d.convolve2d if convolution else corr2d.correlate2d
    Y = face(X, K, mode, boundary, 0.5) + (0.75 if bias else 0.0)
    options = {
        "mode": mode, "boundary": boundary, "fillvalue": 0.5, "convolution": convolution,
        "bias": bias,
    }  # fmt: skip
    try:
        memory, lazy, _ = _both(X, Y, (kh, kw), chunk_x, chunk_y, **options)
    except ValueError as error:  # e.g. more unknowns than a 'valid' output has pixels
        with pytest.raises(ValueError, match=str(error).split(":")[1][:20]):
            cdask.estimate_kernel(X, Y, (kh, kw), **options)
        return
    _assert_same(memory, lazy)
    if memory.identifiable:
        np.testing.assert_allclose(lazy.kernel, K, atol=1e-8 * np.abs(K).max())


def test_ridge_and_batches(rng):
    X = rng.standard_normal((3, 30, 28))
    K = rng.standard_normal((3, 4))
    Y = np.stack([corr2d.correlate2d(x, K, "same", "wrap") for x in X])
    Y += 1e-3 * rng.standard_normal(Y.shape)
    for alpha in (None, 2.0):
        memory, lazy, _ = _both(
            X, Y, (3, 4), (1, 7, 9), (2, 11, 5), method="ridge", alpha=alpha, mode="same",
            boundary="wrap",
        )  # fmt: skip
        _assert_same(memory, lazy)
    lists = cdask.estimate_kernel(list(X), list(Y), (3, 4), mode="same", boundary="wrap")
    _assert_same(
        corr2d.estimate_kernel(list(X), list(Y), (3, 4), mode="same", boundary="wrap"), lists
    )


def test_ill_conditioned_pairs_fall_back_to_tall_skinny_qr(rng):
    """A smooth image: the normal equations would lose digits, the QR keeps them."""
    X = corr2d.correlate2d(rng.standard_normal((140, 150)), kernels.gaussian(2.0), "same", "symm")
    K = rng.standard_normal((5, 5))
    Y = corr2d.correlate2d(X, K, "valid")
    memory, lazy, _ = _both(X, Y, (5, 5), (37, 41), (29, 50))
    assert memory.solver == lazy.solver == "qr"
    assert memory.condition_number > 1e4
    _assert_same(memory, lazy, rtol=1e-9)
    np.testing.assert_allclose(lazy.kernel, K, atol=1e-7 * np.abs(K).max())


def test_rank_deficient_pairs_report_the_same_rank_and_warn(rng):
    """Every row of X the same: only the column sums of K are determined."""
    X = np.tile(rng.standard_normal(40), (30, 1))
    Y = corr2d.correlate2d(X, rng.standard_normal((3, 3)), "valid")
    memory, lazy, caught = _both(X, Y, (3, 3), (7, 9), (5, 6))
    assert memory.rank == lazy.rank == 3 and not lazy.identifiable
    messages = [str(w.message) for w in caught]
    assert sum("only the column sums" in m for m in messages) == 2
    np.testing.assert_allclose(
        lazy.null_space @ memory.null_space.T @ memory.null_space, lazy.null_space, atol=1e-9
    )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda x, y: cdask.estimate_kernel(x, y, 3, method="fft"),
            ValueError,
            "`method` must be 'lstsq' or 'ridge' on Dask arrays",
        ),
        (
            lambda x, y: cdask.estimate_kernel(x, y, 3, mode="same"),
            ValueError,
            "`Y` must be of shape (20, 20)",
        ),
        (
            lambda x, y: cdask.estimate_kernel(x, y, 3, boundary="reflect"),
            ValueError,
            "`boundary` must be one of",
        ),
        (
            lambda x, y: cdask.estimate_kernel(x, y, 3, split_every=1),
            ValueError,
            "`split_every` must be an int >= 2",
        ),
        (lambda x, y: cdask.estimate_kernel(x, y[None], 3), ValueError, "`Y` must be 2-D like X"),
        (lambda x, y: cdask.estimate_kernel(x * np.nan, y, 3), ValueError, "`X` must be finite"),
        (
            lambda x, y: cdask.estimate_kernel(x.astype(complex), y, 3),
            TypeError,
            "`X` must be real",
        ),
    ],
)
def test_bad_arguments(call, error, message):
    x = da.ones((20, 20), chunks=7)
    y = da.ones((18, 18), chunks=7)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(x, y)


def test_chunks_never_build_more_than_their_own_patches(rng, monkeypatch):
    """Each accumulator sees one chunk's window: at most its chunk plus the halo."""
    from corr2d import lstsq

    seen = []
    original = lstsq.NormalEquations.add

    def spy(self, x, y):
        seen.append((np.shape(x), np.shape(y)))
        return original(self, x, y)

    monkeypatch.setattr(lstsq.NormalEquations, "add", spy)
    X = rng.standard_normal((100, 90))
    Y = corr2d.correlate2d(X, np.ones((5, 5)), "same", "symm")
    cdask.estimate_kernel(da.from_array(X, chunks=(25, 30)), Y, 5, mode="same", boundary="symm")
    assert len(seen) == 12
    for (wh, ww), (yh, yw) in seen:
        assert (wh, ww) == (yh + 4, yw + 4) and yh <= 25 and yw <= 30


def test_every_combination_once_with_odd_and_even_kernels(rng):
    """The full grid of modes x boundaries x correlation/convolution on one pair."""
    X = rng.standard_normal((23, 19))
    for mode, boundary, convolution, shape in itertools.product(
        MODES, BOUNDARIES, (False, True), ((3, 3), (2, 4))
    ):
        K = rng.standard_normal(shape)
        face = corr2d.convolve2d if convolution else corr2d.correlate2d
        Y = face(X, K, mode, boundary)
        options = {"mode": mode, "boundary": boundary, "convolution": convolution}
        memory, lazy, _ = _both(X, Y, shape, (6, 5), (7, 8), **options)
        _assert_same(memory, lazy)
