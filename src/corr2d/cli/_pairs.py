"""Image pairs for ``estimate`` and ``learn``: read, related by a mode and a border rule,
checked before any work, and explained when they do not fit."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.cli._shared import (
    EXIT_INPUT,
    EXIT_USAGE,
    check_inputs,
    fail,
    shape_text,
)

__all__ = [
    "Relation",
    "check_job",
    "colour_planes",
    "explain_misfit",
    "explained",
    "infer_relation",
    "predict",
    "read_pair",
    "relation_from_options",
    "rounding_gap",
]


#: Jobs with at least this many multiply-adds say so before they start.
LONG_JOB_MULTIPLY_ADDS = 2e12


def read_pair(x_path: Path, y_path: Path, max_pixels: int) -> tuple[NDArray[Any], NDArray[Any]]:
    """Both images, with the same number of colour channels (an alpha channel ignored)."""
    from corr2d.io import read_image

    check_inputs([x_path, y_path])
    X = read_image(x_path, max_pixels=max_pixels)
    Y = read_image(y_path, max_pixels=max_pixels)
    x_channels, y_channels = _colour_count(X), _colour_count(Y)
    if x_channels != y_channels:
        fail(
            f"{x_path} has {x_channels} colour channel(s) but {y_path} has {y_channels}; "
            "give two grey or two colour images",
            EXIT_INPUT,
        )
    return X, Y


def _colour_count(image: NDArray[Any]) -> int:
    """Channels other than alpha (the last of 2 or 4)."""
    if image.ndim == 2:
        return 1
    channels = image.shape[2]
    return channels - 1 if channels in (2, 4) else channels


def colour_planes(image: NDArray[Any]) -> list[NDArray[np.float64]]:
    """The colour channels as float64 planes, values as stored; alpha dropped."""
    from corr2d.io import to_float

    if image.ndim == 2:
        return [to_float(image)]
    return [to_float(image[..., c]) for c in range(_colour_count(image))]


def infer_relation(
    x_shape: tuple[int, ...], y_shape: tuple[int, ...], size: tuple[int, int], mode: str
) -> str:
    """The mode relating X's and Y's sizes, checked (or inferred for 'auto')."""
    kh, kw = size
    h, w = x_shape[:2]
    _check_kernel_fits(size, (h, w))
    expected = {
        "valid": (h - kh + 1, w - kw + 1),
        "same": (h, w),
        "full": (h + kh - 1, w + kw - 1),
    }
    y = tuple(y_shape[:2])
    if mode == "auto":
        for candidate in ("same", "valid", "full"):
            if expected[candidate] == y:
                return candidate
        fail(
            f"the images do not fit together: X is {h}x{w} and Y is {y[0]}x{y[1]}, but with a "
            f"{kh}x{kw} kernel Y must be {h}x{w} (same), {shape_text(expected['valid'])} "
            f"(valid) or {shape_text(expected['full'])} (full)",
            EXIT_INPUT,
        )
    if expected[mode] != y:
        fail(
            f"the images do not fit together: X is {h}x{w} and Y is {y[0]}x{y[1]}, but "
            f"--mode {mode} with a {kh}x{kw} kernel needs Y of "
            f"{shape_text(expected[mode])}",
            EXIT_INPUT,
        )
    return mode


@dataclass(frozen=True)
class Relation:
    """How Y was made from X: the mode, the border rule (the library's name), the origin."""

    mode: str
    boundary: str
    fillvalue: float
    origin: tuple[int, int] | None
    convolution: bool

    def describe(self) -> str:
        parts = [self.mode]
        if self.mode != "valid":
            parts.append(f"boundary {self.boundary}")
            if self.boundary == "fill":
                parts.append(f"fill value {self.fillvalue:g}")
        if self.origin is not None:
            parts.append(f"origin {self.origin[0]},{self.origin[1]}")
        if self.convolution:
            parts.append("convolution")
        return ", ".join(parts)

    def keywords(self) -> dict[str, Any]:
        """The keywords of :func:`corr2d.estimate_kernel` for this relation."""
        return {
            "mode": self.mode,
            "boundary": self.boundary,
            "fillvalue": self.fillvalue,
            "origin": self.origin,
            "convolution": self.convolution,
        }

    def pads(self, size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """The border widths that make this relation a 'valid' correlation."""
        from corr2d.core.correlate import _pads, same_mode_anchor

        anchor = same_mode_anchor("--origin", size, self.mode, self.origin)
        return _pads(self.mode, size, self.convolution, anchor)

    def extend(self, x: NDArray[Any], size: tuple[int, int]) -> NDArray[np.float64]:
        """``x`` extended past its border as this relation extends it."""
        from corr2d.core._padding import BOUNDARY_MODES, pad2d

        return pad2d(
            np.asarray(x, dtype=np.float64),
            self.pads(size),
            BOUNDARY_MODES[self.boundary],
            self.fillvalue,
        )


def relation_from_options(
    x_shape: tuple[int, ...],
    y_shape: tuple[int, ...],
    size: tuple[int, int],
    mode: str,
    boundary: str,
    fillvalue: float,
    origin: tuple[int, int] | None,
    convolution: bool,
) -> Relation:
    """The relation the options describe, checked against the images' sizes."""
    from corr2d.cli._options import BOUNDARY_NAMES

    relation = Relation(
        infer_relation(x_shape, y_shape, size, mode),
        BOUNDARY_NAMES[boundary],
        fillvalue,
        origin,
        convolution,
    )
    if origin is not None:
        if relation.mode != "same":
            fail(f"--origin places the kernel in --mode same, and Y is {relation.mode}", EXIT_USAGE)
        try:
            relation.pads(size)
        except ValueError as exc:
            fail(str(exc).replace("--origin: `origin` must", "--origin must"), EXIT_USAGE)
    return relation


def _check_kernel_fits(size: tuple[int, int], image: tuple[int, ...]) -> None:
    (kh, kw), (height, width) = size, image
    if kh > height or kw > width:
        fail(
            f"--size {kh}x{kw}: the kernel is larger than the image ({height}x{width}); "
            "give a kernel no larger than X",
            EXIT_USAGE,
        )


def check_job(
    X: NDArray[Any],
    Y: NDArray[Any],
    size: tuple[int, int],
    bias: bool,
    method: str,
) -> None:
    """Refuse, before any work, what cannot be estimated or would not fit in memory."""
    from corr2d.estimate import available_memory, estimate_memory, memory_text

    kh, kw = size
    _check_kernel_fits(size, X.shape[:2])
    channels = _colour_count(X)
    unknowns = kh * kw + int(bias)
    equations = Y.shape[0] * Y.shape[1] * channels
    if unknowns > equations:
        fail(
            f"--size {kh}x{kw}: {unknowns} unknowns but the images give only {equations} "
            f"equations (output pixels x channels); give a smaller --size",
            EXIT_USAGE,
        )
    planes = 8 * (X.shape[0] * X.shape[1] + Y.shape[0] * Y.shape[1]) * channels
    need = (
        X.nbytes
        + Y.nbytes
        + 2 * planes
        + estimate_memory([X.shape[:2]] * channels, size, bias=bias, method=method)
    )
    free = available_memory()
    if free is not None and need > free:
        fail(
            f"--size {kh}x{kw}: this job needs about {memory_text(need)} and "
            f"{memory_text(free)} is available; give a smaller --size or smaller images",
            EXIT_INPUT,
        )
    work = float(equations) * unknowns * unknowns
    if work >= LONG_JOB_MULTIPLY_ADDS:
        sys.stderr.write(
            f"corr2d: note: {unknowns} unknowns from {equations} equations: about {work:.0e} "
            "multiply-adds for the normal equations alone, which can take minutes\n"
        )
        sys.stderr.flush()


def predict(x: NDArray[Any], kernel: NDArray[Any], bias: float, relation: Relation) -> NDArray[Any]:
    """``Y`` as the relation makes it from ``x`` with ``kernel`` (plus ``bias``)."""
    from corr2d import convolve2d, correlate2d

    operation = convolve2d if relation.convolution else correlate2d
    return (
        operation(
            x,
            kernel,
            relation.mode,  # type: ignore[arg-type]
            relation.boundary,  # type: ignore[arg-type]
            relation.fillvalue,
            origin=relation.origin,
        )
        + bias
    )


#: Integer Y within this many pixel levels of the fitted model, everywhere, is explained:
#: it is the model rounded to whole pixels (ties included), give or take the fit's error.
ROUNDING_LEVELS = 1.0


def rounding_gap(
    result: Any,
    xs: list[NDArray[Any]],
    ys: list[NDArray[Any]],
    relation: Relation,
    y_dtype: np.dtype,
    factor: float = 1.0,
) -> float | None:
    """For integer Y, the largest ``|Y - model|`` over every pixel, in pixel levels (the
    values divided by ``factor`` where they were); None for floating-point Y.

    >>> x = np.arange(16.0).reshape(4, 4)
    >>> y = np.round(x / 3)  # a 1x1 kernel of 1/3, written as whole pixels
    >>> fit = type("Fit", (), {"kernel": np.array([[1 / 3]]), "bias": None})
    >>> rounding_gap(fit, [x], [y], Relation("valid", "fill", 0.0, None, False),
    ...              np.dtype(np.uint8)) <= 0.5
    True
    """
    if y_dtype.kind not in "ui":
        return None
    offset = result.bias or 0.0
    gaps = [
        np.abs(y - predict(x, result.kernel, offset, relation)).max()
        for x, y in zip(xs, ys, strict=True)
    ]
    return float(max(gaps)) * factor


def explained(gap: float | None, result: Any) -> bool:
    """Whether the fitted kernel explains Y: a relative residual within ``FIT_RTOL``, or
    for integer pixels every pixel within :data:`ROUNDING_LEVELS` of the model (a blur
    written as 8-bit pixels is exactly that: the model, rounded)."""
    return bool(result.fits or (gap is not None and gap <= ROUNDING_LEVELS))


#: The border rules tried when the interior of a pair fits and its border does not.
_BORDER_RULES = ("symm", "fill", "wrap", "mirror", "nearest")


def explain_misfit(
    xs: list[NDArray[Any]],
    ys: list[NDArray[Any]],
    size: tuple[int, int],
    relation: Relation,
    bias: bool,
    y_dtype: np.dtype,
    relative_residual: float,
    method: str = "lstsq",
    factor: float = 1.0,
) -> str:
    """One line: the pair is not a correlation under these settings, the likely cause and
    the flag to try, found by estimating again under other assumptions (``factor``: the
    values were divided by it, as in :func:`rounding_gap`)."""
    from corr2d.estimate import FIT_RTOL

    head = (
        f"the pair is not explained by a correlation under these settings (relative "
        f"residual {relative_residual:.2g} > {FIT_RTOL:g}): "
    )
    if method != "lstsq":
        solved = _fit(xs, ys, size, relation, bias)
        if solved <= FIT_RTOL:
            return head + (
                f"--method {method} stopped short; the least-squares kernel fits (relative "
                f"residual {solved:.1e}): use --method lstsq"
                + (", or more --steps" if method == "gd" else "")
            )
    if relation.mode != "valid":
        interior = _interior_fit(xs, ys, size, relation, bias)
        if interior <= FIT_RTOL:
            for boundary in _BORDER_RULES:
                if boundary == relation.boundary:
                    continue
                fit = _fit(xs, ys, size, replace(relation, boundary=boundary), bias)
                if fit <= FIT_RTOL:
                    return (
                        head + f"likely the border rule; --boundary {boundary} fits (relative "
                        f"residual {fit:.1e})"
                    )
            return (
                head + f"likely the border rule: the interior fits (relative residual "
                f"{interior:.1e}) but no --boundary does; try --fillvalue or --origin"
            )
    larger = _larger_size(size, xs[0].shape, sum(x.size for x in xs), relation)
    if larger is not None:
        solved = _solve(xs, ys, larger, relation, bias)
        if explained(rounding_gap(solved, xs, ys, relation, y_dtype, factor), solved):
            return head + (
                f"likely the kernel size: a {shape_text(larger)} kernel fits (relative "
                f"residual {solved.relative_residual:.1e}); give a larger --size"
            )
    with_bias = _fit(xs, ys, size, relation, True) if not bias else relative_residual
    if y_dtype.kind in "ui":
        advice = (
            f"; --bias gets to {with_bias:.2g}"
            if not bias and with_bias < relative_residual
            else ""
        )
        return (
            head + f"likely output scaling: Y holds {y_dtype} pixels, rounded, clipped and "
            "perhaps shifted to mid-grey; filter with --scale none (float TIFF) and estimate "
            f"from that{advice}"
        )
    if not bias and with_bias <= FIT_RTOL:
        return head + f"Y has a constant offset; --bias fits (relative residual {with_bias:.1e})"
    return (
        head + "likely a nonlinear step (clipping, absolute value, a threshold) or noise; "
        "try --bias, or --method ridge for noise"
    )


def _fit(
    xs: list[NDArray[Any]],
    ys: list[NDArray[Any]],
    size: tuple[int, int],
    relation: Relation,
    bias: bool,
) -> float:
    """The relative residual of the least-squares kernel under ``relation``."""
    return float(_solve(xs, ys, size, relation, bias).relative_residual)


def _solve(
    xs: list[NDArray[Any]],
    ys: list[NDArray[Any]],
    size: tuple[int, int],
    relation: Relation,
    bias: bool,
) -> Any:
    """The least-squares kernel under ``relation``, its warnings silenced."""
    import warnings

    from corr2d import estimate_kernel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimate_kernel(xs, ys, size, bias=bias, **relation.keywords())


#: The most unknowns a larger kernel is tried with when a kernel does not fit (21x21),
#: and the most pixels times unknowns squared (the normal equations' work: about 5 s
#: here; a 600x512 colour photo with 19x19 is 1.2e11).
_LARGER_UNKNOWNS = 441
_LARGER_WORK = 1.5e11


def _larger_size(
    size: tuple[int, int], shape: tuple[int, ...], pixels: int, relation: Relation
) -> tuple[int, int] | None:
    """A centred kernel twice as wide and tall plus one, when Y is 'same' with odd sizes
    (so the larger kernel keeps the same centre and Y's size), it fits in the image
    (``shape``) and its system over ``pixels`` values stays small; None otherwise.

    >>> same = Relation("same", "symm", 0.0, None, False)
    >>> _larger_size((9, 9), (600, 512), 600 * 512, same)
    (19, 19)
    >>> _larger_size((4, 4), (600, 512), 600 * 512, same)  # even: no centre to keep
    """
    kh, kw = size
    larger = (2 * kh + 1, 2 * kw + 1)
    unknowns = larger[0] * larger[1]
    if (
        pixels * unknowns**2 > _LARGER_WORK
        or relation.mode != "same"
        or relation.origin is not None
        or kh % 2 == 0
        or kw % 2 == 0
        or unknowns > _LARGER_UNKNOWNS
        or larger[0] > shape[0]
        or larger[1] > shape[1]
    ):
        return None
    return larger


def _interior_fit(
    xs: list[NDArray[Any]],
    ys: list[NDArray[Any]],
    size: tuple[int, int],
    relation: Relation,
    bias: bool,
) -> float:
    """The fit of the outputs whose window lies inside X (no border rule involved)."""
    (top, _), (left, _) = relation.pads(size)
    kh, kw = size
    inner = []
    for x, y in zip(xs, ys, strict=True):
        rows, cols = x.shape[0] - kh + 1, x.shape[1] - kw + 1
        inner.append(y[top : top + rows, left : left + cols])
    valid = Relation("valid", relation.boundary, relation.fillvalue, None, relation.convolution)
    return _fit(xs, inner, size, valid, bias)
