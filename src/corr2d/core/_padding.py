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


def _selection(size: int, pad: tuple[int, int], np_mode: str, dtype: np.dtype) -> NDArray[Any]:
    """The 0/1 matrix S, shape (size + pad, size), with padded = S @ original along an axis."""
    source = np.pad(np.arange(size), pad, mode=np_mode)  # type: ignore[call-overload]
    selection: NDArray[Any] = (source[:, None] == np.arange(size)[None, :]).astype(dtype)
    return selection


def pad2d_adjoint(
    grad: NDArray[Any], pads: Pads, np_mode: str, shape: tuple[int, int]
) -> NDArray[Any]:
    """The adjoint (transpose) of :func:`pad2d`, for backward passes.

    Padding is linear: along each axis the padded array is ``S @ x`` for a 0/1 selection
    matrix ``S`` whose rows say which original pixel a padded pixel copies.  The gradient
    with respect to ``x`` is therefore ``S_h.T @ grad @ S_w``: each padded pixel's gradient
    is added back onto the pixel it copied.  Constant padding copies nothing, so its
    adjoint is a crop.
    """
    (top, bottom), (left, right) = pads
    if np_mode == "constant":
        height, width = grad.shape[-2:]
        return grad[..., top : height - bottom, left : width - right]
    rows = _selection(shape[0], pads[0], np_mode, grad.dtype)
    cols = _selection(shape[1], pads[1], np_mode, grad.dtype)
    return rows.T @ grad @ cols
