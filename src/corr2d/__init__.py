"""corr2d: 2-D cross-correlation and convolution, exact and fast.

The correlation core (:mod:`corr2d.core`) has two faces: a SciPy-compatible one for
single images (:func:`correlate2d`, :func:`convolve2d`) and a PyTorch-compatible one for
batches of multi-channel images (:func:`conv2d`, with :func:`conv2d_backward`).
"""

from corr2d.core import (
    Conv2dGrads,
    choose_method,
    conv2d,
    conv2d_backward,
    conv2d_output_shape,
    convolve2d,
    corr2d,
    correlate2d,
)

__version__ = "0.1.0"

__all__ = [
    "Conv2dGrads",
    "__version__",
    "choose_method",
    "conv2d",
    "conv2d_backward",
    "conv2d_output_shape",
    "convolve2d",
    "corr2d",
    "correlate2d",
]
