"""Pixel values: raw floats from images, and filter responses turned back into pixels.

A pixel type has a *depth*, the value of white: 255 for ``uint8``, 65535 for ``uint16``
and 1.0 for floating point.  Filter responses are in the units of the image they came
from; :func:`to_image_dtype` moves them to the output's depth (so an 8-bit response
written as 16-bit spans 0 to 65535) and maps them into its range by a ``scale`` rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["SCALES", "auto_rule", "convert_depth", "pixel_depth", "to_float", "to_image_dtype"]

#: The ``scale`` rules of :func:`to_image_dtype`.
SCALES = ("auto", "clip", "signed", "abs", "none")

Scale = Literal["auto", "clip", "signed", "abs", "none"]

#: Weights summing to less than this fraction of their absolute sum count as summing to 0.
ZERO_SUM_TOLERANCE = 1e-9


def to_float(image: ArrayLike) -> NDArray[np.float64]:
    """Pixel values as float64, unchanged (no rescaling of integer images).

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.io import to_float
    >>> to_float(np.array([[0, 255]], dtype=np.uint8))
    array([[  0., 255.]])
    """
    return np.asarray(image, dtype=np.float64)


def pixel_depth(dtype: DTypeLike) -> float:
    """The value of white in a pixel type: 255, 65535, or 1.0 for floating point.

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.io.pixels import pixel_depth
    >>> pixel_depth(np.uint8), pixel_depth(np.uint16), pixel_depth(np.float32)
    (255.0, 65535.0, 1.0)
    """
    kind = np.dtype(dtype)
    if kind.kind == "f":
        return 1.0
    if kind in (np.uint8, np.uint16):
        return float(np.iinfo(kind).max)
    raise ValueError(f"pixel_depth: `dtype` must be uint8, uint16 or a floating type, got {kind}")


def convert_depth(values: ArrayLike, source: DTypeLike, target: DTypeLike) -> NDArray[np.float64]:
    """Values in ``source``'s units, in ``target``'s: times ``depth(target) / depth(source)``.

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.io.pixels import convert_depth
    >>> convert_depth([[0, 128, 255]], np.uint8, np.uint16)
    array([[    0., 32896., 65535.]])
    >>> convert_depth([[0, 255]], np.uint8, np.float32)
    array([[0., 1.]])
    """
    factor = pixel_depth(target) / pixel_depth(source)
    return np.asarray(values, dtype=np.float64) * factor


def auto_rule(kernel: ArrayLike) -> tuple[Literal["clip", "signed"], float]:
    """The rule ``scale='auto'`` applies to a kernel's response, and the divisor.

    Weights summing to ``s > 0`` keep brightness once divided by ``s`` (a blur, a
    sharpen, an unnormalised box): ``('clip', s)``.  Weights summing to 0 (derivatives,
    Laplacians) or less give responses around 0: ``('signed', 1.0)``.

    Examples
    --------
    >>> from corr2d import kernels
    >>> from corr2d.io.pixels import auto_rule
    >>> auto_rule(kernels.get("sharpen")), auto_rule(kernels.get("sobel-dx"))
    (('clip', 1.0), ('signed', 1.0))
    >>> auto_rule([[1, 1], [1, 1]])
    ('clip', 4.0)
    """
    weights = np.asarray(kernel, dtype=np.float64)
    total = float(weights.sum())
    if total > ZERO_SUM_TOLERANCE * float(np.abs(weights).sum()):
        return "clip", total
    return "signed", 1.0


def to_image_dtype(
    values: ArrayLike,
    dtype: DTypeLike,
    scale: Scale = "auto",
    *,
    kernel: ArrayLike | None = None,
    source: DTypeLike | None = None,
) -> NDArray[Any]:
    """Turn a filter response into pixel values of ``dtype`` by a ``scale`` rule.

    Parameters
    ----------
    values : array_like
        The response, any real numbers (NaN becomes 0 for integer outputs).
    dtype : {uint8, uint16, float32, float64}
        The output pixel type.  White is 255, 65535 or (floating point) 1.0.
    scale : {'auto', 'clip', 'signed', 'abs', 'none'}, optional
        With ``top`` the value of white, after the change of depth below:

        ``'auto'`` (default)
            keeps the look of the kernel's output.  For a kernel whose weights sum to
            ``s > 0`` (blur, sharpen: brightness-keeping once divided by ``s``) the
            response is divided by ``s`` and, for integer types, clipped to
            ``[0, top]``, as OpenCV's ``filter2D`` saturates.  For weights summing to 0
            (derivatives) or less, integer types get the ``'signed'`` map and floating
            types keep the values.  Without ``kernel``: ``'signed'`` if a value is
            negative, else ``'abs'``.
        ``'clip'``
            values clipped to ``[0, top]``.
        ``'signed'``
            ``(v / max|v| + 1) * top / 2``: 0 is mid-grey (128, 32768 or 0.5), the
            strongest response white or black.
        ``'abs'``
            the magnitude ``|v|``, for integer types kept where it fits in
            ``[0, top]`` and otherwise scaled by ``top / max`` so its maximum is white.
        ``'none'``
            the raw values, not even moved to another depth; needs a floating ``dtype``.

        Integer outputs are rounded to the nearest integer.
    kernel : array_like, optional
        The kernel that made the response, for ``'auto'``.
    source : dtype, optional
        The pixel type of the filtered image, whose units ``values`` are in.  Every
        rule but ``'none'`` first multiplies by ``depth(dtype) / depth(source)``
        (:func:`convert_depth`), so an 8-bit response written as 16-bit keeps its
        look.  Default: ``dtype`` (no change of depth).

    Returns
    -------
    pixels : ndarray of ``dtype``, the shape of ``values``

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.io import to_image_dtype
    >>> sharpen = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    >>> to_image_dtype([[-20.0, 100.0, 300.0]], np.uint8, kernel=sharpen)
    array([[  0, 100, 255]], dtype=uint8)
    >>> to_image_dtype([[-2.0, 0.0, 2.0]], np.uint8, kernel=[[-1, 0, 1]])
    array([[  0, 128, 255]], dtype=uint8)
    >>> to_image_dtype([[0.0, 100.0, 255.0]], np.uint16, source=np.uint8)
    array([[    0, 25700, 65535]], dtype=uint16)
    >>> to_image_dtype([[-2.0, 0.0, 300.0]], np.uint8, "clip")
    array([[  0,   0, 255]], dtype=uint8)
    """
    if scale not in SCALES:
        raise ValueError(
            f"to_image_dtype: `scale` must be one of {', '.join(map(repr, SCALES))}, got {scale!r}"
        )
    if np.iscomplexobj(values):
        raise TypeError("to_image_dtype: `values` must be real, got complex values")
    target = np.dtype(dtype)
    if target.kind != "f" and target not in (np.uint8, np.uint16):
        raise ValueError(
            f"to_image_dtype: `dtype` must be uint8, uint16, float32 or float64, got {target}"
        )
    if scale == "none":
        if target.kind != "f":
            raise ValueError(
                "to_image_dtype: `scale` must not be 'none' for an integer dtype "
                f"({target}); raw values need float32 or float64"
            )
        return _float_pixels(np.asarray(values, dtype=np.float64), target)
    if _already_pixels(values, target, scale, source):
        return np.array(values, dtype=target)
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        array = array.astype(np.float64)
    plan = _Conversion(
        target=target,
        top=pixel_depth(target),
        factor=pixel_depth(target) / pixel_depth(target if source is None else source),
    )
    rule, divisor = _rule(plan, scale, array, kernel)
    if rule == "clip":
        plan = plan._replace(divisor=divisor, clip=plan.integer or scale == "clip")
    elif rule == "signed" and (plan.integer or scale == "signed"):
        plan = plan._replace(signed=_finite_peak(plan, array))
    elif rule == "abs":
        peak = _peak(plan, array)
        scaled = plan.integer and peak > plan.top and np.isfinite(peak)
        plan = plan._replace(magnitude=True, abs_scale=plan.top / peak if scaled else None)
    out = np.empty(array.shape, dtype=target)
    flat_in, flat_out = array.reshape(-1), out.reshape(-1)
    for start in range(0, flat_in.size, _PIECE):
        piece = slice(start, start + _PIECE)
        flat_out[piece] = plan.pixels(flat_in[piece])
    return out


#: Values converted at a time: the working copies stay in cache, and a large image needs
#: no float64 copies of its own size.
_PIECE = 2**15


class _Conversion(NamedTuple):
    """How each value becomes a pixel: the elementwise steps of :func:`to_image_dtype`,
    with the extremes they need measured over all the values beforehand."""

    target: np.dtype[Any]
    top: float
    factor: float
    divisor: float | None = None  # 'clip': divide by it, then clip if ``clip``
    clip: bool = False
    signed: float | None = None  # 'signed': the largest finite magnitude
    magnitude: bool = False  # 'abs': |v|, times ``abs_scale`` where given
    abs_scale: float | None = None

    @property
    def integer(self) -> bool:
        return self.target.kind != "f"

    def depth(self, values: NDArray[Any]) -> NDArray[np.float64]:
        """Values in the output's units (:func:`convert_depth`), NaN as 0 for integers."""
        v = np.asarray(values, dtype=np.float64) * self.factor
        if self.integer:
            v[np.isnan(v)] = 0.0
        return v

    def pixels(self, values: NDArray[Any]) -> NDArray[Any]:
        v = self.depth(values)
        if self.divisor is not None:
            v /= self.divisor
            if self.clip:
                np.clip(v, 0.0, self.top, out=v)
        elif self.signed is not None:
            v = _signed(v, self.top, self.signed)
        elif self.magnitude:
            np.abs(v, out=v)
            if self.abs_scale is not None:
                v *= self.abs_scale
        if not self.integer:
            return _float_pixels(v, self.target)
        return np.rint(np.clip(v, 0.0, self.top, out=v), out=v).astype(self.target)


def _pieces(plan: _Conversion, array: NDArray[Any]) -> Iterator[NDArray[np.float64]]:
    flat = array.reshape(-1)
    for start in range(0, flat.size, _PIECE):
        yield plan.depth(flat[start : start + _PIECE])


def _peak(plan: _Conversion, array: NDArray[Any]) -> float:
    """The largest magnitude (NaN if any value is NaN, for float outputs); 0 if empty."""
    return max((float(np.abs(v).max()) for v in _pieces(plan, array)), default=0.0)


def _finite_peak(plan: _Conversion, array: NDArray[Any]) -> float:
    """The largest finite magnitude; 0 if there is none."""
    peaks = (np.abs(v[np.isfinite(v)]) for v in _pieces(plan, array))
    return max((float(p.max()) for p in peaks if p.size), default=0.0)


def _rule(
    plan: _Conversion, scale: str, array: NDArray[Any], kernel: ArrayLike | None
) -> tuple[str, float]:
    if scale != "auto":
        return scale, 1.0
    if kernel is not None:
        return auto_rule(kernel)
    negative = any(bool((v < 0).any()) for v in _pieces(plan, array))
    return ("signed" if negative else "abs"), 1.0


def _float_pixels(v: NDArray[np.float64], target: np.dtype[Any]) -> NDArray[Any]:
    """``v`` as ``target``; an OverflowError where a finite value lies beyond its range."""
    with np.errstate(over="ignore"):
        pixels = v.astype(target)
    beyond = np.isinf(pixels) & np.isfinite(v)
    if beyond.any():
        largest = float(np.abs(v[beyond]).max())
        raise OverflowError(
            f"to_image_dtype: `values` must lie within {target}'s range "
            f"(+-{float(np.finfo(target).max):.3g}), got {largest:.3g}; use float64"
        )
    return pixels


def _already_pixels(values: ArrayLike, target: np.dtype[Any], scale: str, source: Any) -> bool:
    """Whether ``values`` are pixels of ``target`` that clipping leaves as they are."""
    return (
        scale == "clip"
        and target.kind == "u"
        and isinstance(values, np.ndarray)
        and values.dtype == target
        and (source is None or np.dtype(source) == target)
    )


def _signed(v: NDArray[np.float64], top: float, peak: float) -> NDArray[np.float64]:
    """``(v / peak + 1) * top / 2`` clipped to ``[0, top]``; mid-grey where ``peak`` is 0."""
    if peak == 0.0:
        return np.full_like(v, top / 2.0)
    v /= peak
    np.clip(v, -1.0, 1.0, out=v)
    v += 1.0
    v *= top / 2.0
    return v
