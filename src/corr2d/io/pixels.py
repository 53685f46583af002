"""Pixel values: raw floats from images, and filter responses turned back into pixels."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["SCALES", "to_float", "to_image_dtype"]

#: The ``scale`` rules of :func:`to_image_dtype`.
SCALES = ("auto", "clip", "abs", "none")


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


def to_image_dtype(
    values: ArrayLike,
    dtype: DTypeLike,
    scale: Literal["auto", "clip", "abs", "none"] = "auto",
    *,
    signed: bool | None = None,
) -> NDArray[Any]:
    """Turn a filter response into pixel values of ``dtype`` by a ``scale`` rule.

    Parameters
    ----------
    values : array_like
        The response, any real numbers (NaN becomes 0 for integer outputs).
    dtype : {uint8, uint16, float32, float64}
        The output pixel type.  Its range is ``[0, 255]``, ``[0, 65535]``, or (floats)
        unbounded.
    scale : {'auto', 'clip', 'abs', 'none'}, optional
        For integer ``dtype``, with ``top`` the largest value:

        ``'auto'`` (default)
            an *unsigned* response is kept as it is when it fits in ``[0, top]``
            (a blur of an 8-bit image stays in 8-bit units) and otherwise scaled by
            ``top / max`` so its maximum becomes ``top``; a *signed* response is mapped
            symmetrically around mid-grey, ``(v / max|v| + 1) * top / 2``, so 0 becomes
            mid-grey (128 or 32768), ``+max|v|`` white and ``-max|v|`` black.
        ``'clip'``
            values are rounded and clipped to ``[0, top]``: negatives become 0.
        ``'abs'``
            the magnitude ``|v|``, then the unsigned rule of ``'auto'``.
        ``'none'``
            not allowed for integer types: raw values need a floating ``dtype``.

        For floating ``dtype``, ``'auto'`` and ``'none'`` keep the values, ``'clip'``
        clips them to ``[0, 1]`` and ``'abs'`` takes ``|v|``.
    signed : bool, optional
        Whether the response is signed (for ``'auto'``).  By default it is signed if any
        value is negative; pass True for a kernel with negative weights, so that a flat
        region is mid-grey whatever the image.

    Returns
    -------
    pixels : ndarray of ``dtype``

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.io import to_image_dtype
    >>> to_image_dtype([[0.0, 100.0, 200.0]], np.uint8)
    array([[  0, 100, 200]], dtype=uint8)
    >>> to_image_dtype([[0.0, 255.0, 510.0]], np.uint8)
    array([[  0, 128, 255]], dtype=uint8)
    >>> to_image_dtype([[-2.0, 0.0, 2.0]], np.uint8)
    array([[  0, 128, 255]], dtype=uint8)
    >>> to_image_dtype([[-2.0, 0.0, 300.0]], np.uint8, "clip")
    array([[  0,   0, 255]], dtype=uint8)
    """
    if scale not in SCALES:
        raise ValueError(
            f"to_image_dtype: `scale` must be one of {', '.join(map(repr, SCALES))}, got {scale!r}"
        )
    target = np.dtype(dtype)
    v = np.asarray(values, dtype=np.float64)
    if np.iscomplexobj(values):
        raise TypeError("to_image_dtype: `values` must be real, got complex values")
    if target.kind == "f":
        if scale == "clip":
            v = np.clip(v, 0.0, 1.0)
        elif scale == "abs":
            v = np.abs(v)
        return v.astype(target)
    if target not in (np.uint8, np.uint16):
        raise ValueError(
            f"to_image_dtype: `dtype` must be uint8, uint16, float32 or float64, got {target}"
        )
    if scale == "none":
        raise ValueError(
            "to_image_dtype: `scale` must not be 'none' for an integer dtype "
            f"({target}); raw values need float32 or float64"
        )
    top = float(np.iinfo(target).max)
    v = np.where(np.isnan(v), 0.0, v)
    if scale == "abs":
        v = np.abs(v)
    if scale == "auto":
        is_signed = bool((v < 0).any()) if signed is None else signed
        if is_signed:
            peak = float(np.max(np.abs(v))) if v.size else 0.0
            if peak > 0 and np.isfinite(peak):
                v = (v / peak + 1.0) * (top / 2.0)
            else:
                v = np.full_like(v, top / 2.0)
        else:
            v = np.maximum(v, 0.0)
            peak = float(v.max()) if v.size else 0.0
            if peak > top and np.isfinite(peak):
                v = v * (top / peak)
    elif scale == "abs":
        peak = float(v.max()) if v.size else 0.0
        if peak > top and np.isfinite(peak):
            v = v * (top / peak)
    return np.rint(np.clip(v, 0.0, top)).astype(target)
