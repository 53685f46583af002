"""Filtering images: every colour channel correlated with one kernel, and edge maps.

These functions take images as :mod:`corr2d.io` reads them, ``(H, W)`` or
``(H, W, C)``, and return filter responses (floating point, not yet pixels: see
:func:`corr2d.io.to_image_dtype`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d.core.correlate import Boundary

__all__ = ["EDGE_OPERATORS", "filter_image", "gradient_image"]


def filter_image(
    image: ArrayLike,
    kernel: ArrayLike,
    mode: Literal["full", "valid", "same"] = "same",
    boundary: Boundary = "fill",
    fillvalue: float = 0.0,
    *,
    convolve: bool = False,
    origin: int | tuple[int, int] | None = None,
    method: Literal["auto", "direct", "fft"] = "auto",
) -> NDArray[Any]:
    """Correlate (or convolve) every colour channel of an image with one kernel.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        A grey or colour image.  An alpha channel (the last of 2 or 4) is neither
        filtered nor returned; a caller that writes pixels keeps it (the command line
        passes it through).
    kernel : array_like, shape (kH, kW)
    mode, boundary, fillvalue, origin, method
        As for :func:`corr2d.correlate2d`; ``mode`` defaults to ``'same'`` here, so the
        output has the input's size.
    convolve : bool, optional
        Convolve (flip the kernel) instead of correlating.

    Returns
    -------
    response : ndarray, shape (H', W') or (H', W', C')
        Floating point (float32 for float32 images, float64 otherwise), ``C'`` the
        number of colour channels (1 or 3; a single channel is returned 2-D).

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.filtering import filter_image
    >>> rgb = np.zeros((3, 3, 3)); rgb[1, 1] = [1, 2, 3]
    >>> filter_image(rgb, [[1.0]])[1, 1]
    array([1., 2., 3.])
    """
    from corr2d.core.correlate import convolve2d, correlate2d

    array = np.asarray(image)
    operation = convolve2d if convolve else correlate2d
    if array.ndim == 2:
        return operation(array, kernel, mode, boundary, fillvalue, origin=origin, method=method)
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(
            "filter_image: `image` must have shape (H, W) or (H, W, C) with C of 1 to 4, "
            f"got shape {array.shape}"
        )
    colour = array[..., :3] if array.shape[2] >= 3 else array[..., :1]
    channels = [
        operation(colour[..., c], kernel, mode, boundary, fillvalue, origin=origin, method=method)
        for c in range(colour.shape[2])
    ]
    if len(channels) == 1:
        return channels[0]
    return np.stack(channels, axis=-1)


#: Edge operators of :func:`gradient_image` and the registry kernels they use.
EDGE_OPERATORS = {
    "sobel": ("sobel-dx", "sobel-dy"),
    "scharr": ("scharr-dx", "scharr-dy"),
    "prewitt": ("prewitt-dx", "prewitt-dy"),
    "finite": ("central-dx", "central-dy"),
}


def gradient_image(
    image: ArrayLike,
    operator: Literal["sobel", "scharr", "prewitt", "finite"] = "sobel",
    axis: Literal["x", "y"] | None = None,
    boundary: Boundary = "symm",
    *,
    method: Literal["auto", "direct", "fft"] = "auto",
) -> NDArray[Any]:
    """The gradient magnitude of an image, or its derivative along one axis.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        Colour channels are treated one by one (alpha dropped), as in
        :func:`filter_image`.
    operator : {'sobel', 'scharr', 'prewitt', 'finite'}, optional
        The derivative kernels: ``kernels.get(f'{operator}-dx')`` and ``-dy``; 'finite'
        uses the central differences ``central-dx``/``central-dy`` (``[-1/2, 0, 1/2]``).
    axis : {'x', 'y'}, optional
        Return the signed derivative along ``x`` (columns: responds to edges running
        up-down) or ``y`` (rows).  Default: the magnitude ``sqrt(dx**2 + dy**2)``.
    boundary : {'fill', 'wrap', 'symm', 'mirror', 'nearest'}, optional
        Border rule (default 'symm', so a flat image has no edge at its border).
    method : {'auto', 'direct', 'fft'}, optional
        As for :func:`corr2d.correlate2d`.

    Returns
    -------
    ndarray, the image's height and width
        Non-negative for the magnitude, signed for one axis.

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d.filtering import gradient_image
    >>> step = np.zeros((3, 4)); step[:, 2:] = 1
    >>> gradient_image(step, "finite", axis="x")
    array([[0. , 0.5, 0.5, 0. ],
           [0. , 0.5, 0.5, 0. ],
           [0. , 0.5, 0.5, 0. ]])
    """
    from corr2d import kernels

    if operator not in EDGE_OPERATORS:
        raise ValueError(
            "gradient_image: `operator` must be one of "
            f"{', '.join(map(repr, EDGE_OPERATORS))}, got {operator!r}"
        )
    if axis not in (None, "x", "y"):
        raise ValueError(f"gradient_image: `axis` must be 'x', 'y' or None, got {axis!r}")
    names = EDGE_OPERATORS[operator]
    responses = {}
    for name, which in zip(names, ("x", "y"), strict=True):
        if axis is None or axis == which:
            responses[which] = filter_image(
                image, kernels.get(name), "same", boundary, method=method
            )
    if axis is not None:
        return responses[axis]
    return np.hypot(responses["x"], responses["y"])
