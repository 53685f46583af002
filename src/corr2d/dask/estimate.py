"""Kernel estimation from image pairs larger than memory: per-chunk sums, merged in a tree.

:func:`estimate_kernel` solves what :func:`corr2d.estimate_kernel` solves, on Dask
arrays.  Each chunk of ``Y`` and the window of ``X`` it sees (halo and border rule
included, as :mod:`corr2d.dask.correlate` cuts them) feed one accumulator of
:mod:`corr2d.lstsq`; the accumulators of all chunks merge in a tree, and the merged one
is solved on the machine that asked.  Three passes over the data, as in memory: the
largest magnitudes (for exact power-of-two scaling, and the finiteness check), the
normal equations (or, where they would lose digits, a tall-skinny QR whose per-chunk
triangular factors merge pairwise), and the residual of the solution.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from corr2d import estimate as _memory
from corr2d._validation import as_pair, fail
from corr2d.core._padding import BOUNDARY_MODES, NO_PADS
from corr2d.core.correlate import _pads as correlate_pads
from corr2d.core.correlate import same_mode_anchor
from corr2d.dask._common import as_dask
from corr2d.dask._graph import WindowAssembler, window_task
from corr2d.dask._halo import merge_thin_chunks, plan_axis
from corr2d.estimate import KernelEstimate
from corr2d.lstsq import NormalEquations, ResidualSum, TallSkinnyQR, power_of_two_scale

__all__ = ["SPLIT_EVERY", "estimate_kernel"]

#: Accumulators merged by one task of the tree.
SPLIT_EVERY = 8

#: The methods that accumulate per chunk.
METHODS = ("lstsq", "ridge")


def estimate_kernel(
    X: Any,
    Y: Any,
    kernel_shape: int | tuple[int, int],
    *,
    bias: bool = False,
    method: Literal["lstsq", "ridge"] = "lstsq",
    alpha: float | None = None,
    mode: Literal["valid", "same", "full"] = "valid",
    boundary: Literal["fill", "wrap", "symm", "mirror", "nearest"] = "fill",
    fillvalue: float = 0.0,
    origin: int | tuple[int, int] | None = None,
    convolution: bool = False,
    rtol: float | None = None,
    split_every: int = SPLIT_EVERY,
) -> KernelEstimate:
    """Estimate ``K`` (and bias) with ``Y = correlate2d(X, K, mode, boundary) + b``, chunk
    by chunk (:func:`corr2d.estimate_kernel` on Dask arrays).

    Parameters
    ----------
    X, Y : dask.array.Array or array_like
        One pair of 2-D images, a batch stacked along axis 0, or two equally long
        sequences of 2-D images; chunked as the caller likes (``Y`` is rechunked to
        follow ``X``).
    kernel_shape, bias, alpha, mode, boundary, fillvalue, origin, convolution, rtol
        As for :func:`corr2d.estimate_kernel`.
    method : {'lstsq', 'ridge'}, optional
        Least squares (the minimum-norm solution; a tall-skinny QR where the normal
        equations would lose digits), or ridge.  Fourier division and gradient descent
        need whole images and are not offered here.
    split_every : int, optional
        Accumulators merged by one task of the reduction tree (default 8).

    Returns
    -------
    KernelEstimate
        As :func:`corr2d.estimate_kernel` returns it: kernel, bias, residual, fit,
        rank, condition number and null space of the merged system.

    Warns
    -----
    UserWarning
        When the data do not determine every unknown, naming what is undetermined.

    Notes
    -----
    Each chunk builds only its own patches, in tiles of at most
    :data:`corr2d.lstsq.WORKSPACE_BYTES`, and sends on an ``n x n`` accumulator (``n``
    unknowns: 225 for 15x15, 405 KiB), so memory is bounded by the chunks in flight.
    The work runs on Dask's current scheduler (threads, or a ``distributed.Client``).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from corr2d import correlate2d
    >>> from corr2d.dask import estimate_kernel
    >>> X = np.random.default_rng(0).random((40, 50))
    >>> Y = correlate2d(X, [[0.0, 1.0], [2.0, 0.0]], 'same', 'symm')
    >>> lazy_x, lazy_y = da.from_array(X, chunks=9), da.from_array(Y, chunks=13)
    >>> estimate = estimate_kernel(lazy_x, lazy_y, (2, 2), mode='same', boundary='symm')
    >>> estimate.kernel.round(12) + 0.0, estimate.rank
    (array([[0., 1.],
           [2., 0.]]), 4)
    """
    func = "estimate_kernel"
    kh, kw = as_pair(func, "kernel_shape", kernel_shape, 1)
    if method not in METHODS:
        fail(
            func,
            "method",
            "'lstsq' or 'ridge' on Dask arrays (Fourier division and gradient descent need "
            "the whole images in memory)",
            method,
        )
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        fail(func, "split_every", "an int >= 2", split_every)
    options = _memory._check_options(
        func, bias, method, alpha, mode, boundary, fillvalue, convolution, 500, None, rtol
    )
    anchor = same_mode_anchor(func, (kh, kw), mode, origin)
    pairs = _pairs(func, X, Y)
    pads = correlate_pads(options.mode, (kh, kw), options.convolution, anchor)
    problem = _memory._Problem(pairs, kh, kw, options, pads, 1.0, 1.0)
    _memory._check_shapes(func, problem)
    problem = _scaled(func, problem)
    plan = _Plan.build(problem, split_every)
    try:
        solution = _solve(plan)
    except OverflowError as exc:
        raise OverflowError(f"{func}: {exc}") from None
    fit = plan.reduce(
        functools.partial(
            ResidualSum,
            solution.kernel,
            solution.bias or 0.0,
            x_scale=problem.x_scale,
            y_scale=problem.y_scale,
        )
    )
    return _memory._report(func, problem, solution, fit)


def _pairs(func: str, X: Any, Y: Any) -> list[tuple[Any, Any]]:
    """One pair, a batch (axis 0) or sequences of 2-D images, as Dask arrays (not read)."""
    return _memory.split_pairs(
        func, X, Y, lambda name, value, ndim: _array(func, name, value, ndim)
    )


def _array(func: str, name: str, value: Any, ndim: int | tuple[int, ...]) -> Any:
    array, _ = as_dask(func, name, value, 2, (-2, -1))
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in allowed:
        rule = " or ".join(f"{d}-D" for d in allowed)
        fail(func, name, rule, got=f"{array.ndim}-D array of shape {array.shape}")
    if array.dtype.kind == "c":
        fail(
            func,
            name,
            "real (complex data is not supported)",
            got=f"dtype {array.dtype}",
            kind=TypeError,
        )
    return array


def _scaled(func: str, problem: Any) -> Any:
    """The problem with its power-of-two scales, from one pass over every image; refuses
    NaN and inf as the in-memory estimate does."""
    import dask
    import dask.array as da

    lazy = []
    for x, y in problem.pairs:
        lazy += [da.min(x), da.max(x), da.min(y), da.max(y)]
    found = [float(v) for v in dask.compute(*lazy)]
    for i in range(len(problem.pairs)):
        low_x, high_x, low_y, high_y = found[4 * i : 4 * i + 4]
        for name, low, high in (("X", low_x, high_x), ("Y", low_y, high_y)):
            if not (np.isfinite(low) and np.isfinite(high)):
                fail(func, name, "finite", got=f"an array containing NaN or inf (pair {i})")
    largest_x = max(
        max(abs(v) for v in found[4 * i : 4 * i + 2]) for i in range(len(problem.pairs))
    )
    largest_y = max(
        max(abs(v) for v in found[4 * i + 2 : 4 * i + 4]) for i in range(len(problem.pairs))
    )
    options = problem.options
    if options.boundary == "fill" and problem.pads != NO_PADS:
        largest_x = max(largest_x, abs(options.fillvalue))
    return type(problem)(
        problem.pairs,
        problem.kh,
        problem.kw,
        options,
        problem.pads,
        power_of_two_scale(largest_x),
        power_of_two_scale(largest_y),
    )


@dataclass(frozen=True)
class _AddChunk:
    """One chunk's task: a new accumulator fed the chunk of ``Y`` and its window of ``X``."""

    assembler: WindowAssembler
    new: Callable[[], Any]

    def __call__(self, *reads: NDArray[Any]) -> Any:
        *strips, y = reads
        accumulator = self.new()
        accumulator.add(self.assembler.window(tuple(strips)), y)
        return accumulator


def _merge(*parts: Any) -> Any:
    """One accumulator holding every part's equations."""
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total


@dataclass(frozen=True)
class _Plan:
    """Every chunk's window of ``X`` and chunk of ``Y``, over every pair."""

    problem: Any
    chunks: tuple[tuple[Any, Any, tuple[Any, Any]], ...]  # (x, y, plans) per pair
    split_every: int

    @classmethod
    def build(cls, problem: Any, split_every: int) -> _Plan:
        np_mode = BOUNDARY_MODES[problem.options.boundary]
        pairs = []
        for x, y in problem.pairs:
            merged = (
                merge_thin_chunks(x.chunks[0], problem.kh - 1),
                merge_thin_chunks(x.chunks[1], problem.kw - 1),
            )
            if merged != x.chunks:
                x = x.rechunk(merged)
            plans = (
                plan_axis(x.chunks[0], problem.pads[0], np_mode, problem.kh),
                plan_axis(x.chunks[1], problem.pads[1], np_mode, problem.kw),
            )
            y = y.rechunk((plans[0].chunks, plans[1].chunks))
            pairs.append((x, y, plans))
        return cls(problem, tuple(pairs), split_every)

    def reduce(self, new: Callable[[], Any]) -> Any:
        """Feed every chunk to a fresh accumulator from ``new``, merge them all in a tree,
        and compute the merged accumulator on the current scheduler."""
        from dask.base import tokenize
        from dask.delayed import Delayed
        from dask.highlevelgraph import HighLevelGraph

        token = tokenize(
            self.problem.options, self.problem.pads, new, *(p[:2] for p in self.chunks)
        )
        name, strip_name = f"estimate-{token}", f"estimate-halo-{token}"
        layer: dict[Any, Any] = {}
        keys: list[Any] = []
        fill = self.problem.options.fillvalue
        for number, (x, y, plans) in enumerate(self.chunks):
            for index in product(range(len(plans[0].chunks)), range(len(plans[1].chunks))):
                assembler, reads = window_task(
                    x,
                    (0, 1),
                    plans,
                    index,
                    np.dtype(np.float64),
                    fill,
                    f"{strip_name}-{number}",
                    layer,
                )
                key = (name, number, *index)
                layer[key] = (_AddChunk(assembler, new), *reads, (y.name, *index))
                keys.append(key)
        level = 0
        while len(keys) > self.split_every:
            level += 1
            merged = []
            for start in range(0, len(keys), self.split_every):
                merged.append((f"{name}-merge-{level}", start))
                layer[merged[-1]] = (_merge, *keys[start : start + self.split_every])
            keys = merged
        layer[name] = (_merge, *keys)  # the root of the tree
        sources = [array for x, y, _ in self.chunks for array in (x, y)]
        graph = HighLevelGraph.from_collections(name, layer, dependencies=sources)
        return Delayed(name, graph).compute()


def _solve(plan: _Plan) -> Any:
    """Normal equations (ridge, or least squares), then a tall-skinny QR if they lose
    digits: :func:`corr2d.estimate_kernel`'s choice, on the merged accumulators."""
    problem = plan.problem
    options = problem.options
    shape = (problem.kh, problem.kw)
    scales = {"bias": options.bias, "x_scale": problem.x_scale, "y_scale": problem.y_scale}
    equations = plan.reduce(functools.partial(NormalEquations, shape, **scales))
    if options.method == "ridge":
        return equations.solve(
            options.rtol, ridge="auto" if options.alpha is None else options.alpha
        )
    solution = equations.solve(options.rtol)
    if solution.loses_digits:
        solution = plan.reduce(functools.partial(TallSkinnyQR, shape, **scales)).solve(options.rtol)
    return solution
