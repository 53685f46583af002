"""Border extension of the last two axes, and its adjoint for backward passes.

Every border rule of both public faces is one of NumPy's ``np.pad`` modes:

==============  ==================  ==========================  ==========================
SciPy boundary  PyTorch pad mode    ``np.pad`` mode             picture (pad 2 around abcd)
==============  ==================  ==========================  ==========================
``'fill'``      ``'zeros'``         ``'constant'``              ``0 0 | a b c d | 0 0``
``'wrap'``      ``'circular'``      ``'wrap'``                  ``c d | a b c d | a b``
``'symm'``      (none)              ``'symmetric'``             ``b a | a b c d | d c``
``'mirror'``    ``'reflect'``       ``'reflect'``               ``c b | a b c d | c b``
``'nearest'``   ``'replicate'``     ``'edge'``                  ``a a | a b c d | d d``
==============  ==================  ==========================  ==========================

The SciPy face's ``'mirror'`` and ``'nearest'`` are scipy.ndimage's names for the two
rules ``scipy.signal.correlate2d`` lacks.

``np.pad`` repeats the rule when a pad is wider than the array, which is what SciPy's
``correlate2d`` does for kernels larger than the image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["BOUNDARY_MODES", "NO_PADS", "PADDING_MODES", "Pads", "pad2d", "pad2d_adjoint"]

#: ((top, bottom), (left, right))
Pads = tuple[tuple[int, int], tuple[int, int]]
#: No padding on any side.
NO_PADS: Pads = ((0, 0), (0, 0))

#: The SciPy face's ``boundary`` names and the ``np.pad`` modes they are.
BOUNDARY_MODES = {
    "fill": "constant",
    "wrap": "wrap",
    "symm": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
}
#: PyTorch's ``padding_mode`` names and the ``np.pad`` modes they are.
PADDING_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad2d(x: NDArray[Any], pads: Pads, np_mode: str, fillvalue: Any = 0) -> NDArray[Any]:
    """Extend the last two axes of ``x`` by ``pads`` with the ``np.pad`` mode ``np_mode``."""
    if pads == NO_PADS:
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [pads[0], pads[1]]
    if np_mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=fillvalue)
    return np.pad(x, widths, mode=np_mode)  # type: ignore[call-overload]


def _sources(size: int, pad: tuple[int, int], np_mode: str) -> NDArray[np.intp]:
    """For each index of an axis padded by ``pad``, the index of the pixel it copies."""
    return np.pad(np.arange(size), pad, mode=np_mode)  # type: ignore[call-overload]


def pad2d_adjoint(
    grad: NDArray[Any], pads: Pads, np_mode: str, shape: tuple[int, int]
) -> NDArray[Any]:
    """The adjoint (transpose) of :func:`pad2d`, for backward passes.

    Padding is linear: each padded pixel is a copy of one pixel of the original.  The
    gradient with respect to the original is therefore the padded gradient's interior
    with every border pixel's gradient added onto the pixel it copied.  Constant padding
    copies nothing, so its adjoint is a crop (a view).  Otherwise a new array of
    ``shape`` is returned, at the cost of one copy of the interior plus one addition per
    border pixel (a dense selection matrix would cost a matrix product).
    """
    (top, bottom), (left, right) = pads
    height, width = grad.shape[-2:]
    if np_mode == "constant":
        return grad[..., top : height - bottom, left : width - right]
    size_h, size_w = shape
    row_source = _sources(size_h, pads[0], np_mode)
    col_source = _sources(size_w, pads[1], np_mode)
    border_rows = [*range(top), *range(top + size_h, height)]
    border_cols = [*range(left), *range(left + size_w, width)]
    out = grad[..., top : top + size_h, left : left + size_w].copy()
    for c in border_cols:
        out[..., col_source[c]] += grad[..., top : top + size_h, c]
    if border_rows:
        # the border rows, each folded along its columns first (corners included)
        rows = grad[..., border_rows, :]
        folded = rows[..., left : left + size_w].copy()
        for c in border_cols:
            folded[..., col_source[c]] += rows[..., c]
        for i, r in enumerate(border_rows):
            out[..., row_source[r], :] += folded[..., i, :]
    return out
