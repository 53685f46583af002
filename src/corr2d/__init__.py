"""corr2d: 2-D cross-correlation and convolution, exact and fast.

The correlation core (:mod:`corr2d.core`) has two faces: a SciPy-compatible one for
single images (:func:`correlate2d`, :func:`convolve2d`) and a PyTorch-compatible one for
batches of multi-channel images (:func:`conv2d`, with :func:`conv2d_backward`).
"""

from corr2d import kernels
from corr2d._receptive_field import (
    LayerSpec,
    ReceptiveField,
    empirical_receptive_field,
    parse_layer,
    receptive_field,
)
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
from corr2d.estimate import KernelEstimate, estimate_kernel
from corr2d.matrix import correlation_matrix, im2col
from corr2d.nn import (
    SGD,
    Adam,
    Conv2D,
    History,
    Linear,
    ReLU,
    Sequential,
    SquaredError,
    fit,
    gradcheck,
)

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "Adam",
    "Conv2D",
    "Conv2dGrads",
    "History",
    "KernelEstimate",
    "LayerSpec",
    "Linear",
    "ReLU",
    "ReceptiveField",
    "Sequential",
    "SquaredError",
    "__version__",
    "choose_method",
    "conv2d",
    "conv2d_backward",
    "conv2d_output_shape",
    "convolve2d",
    "corr2d",
    "correlate2d",
    "correlation_matrix",
    "empirical_receptive_field",
    "estimate_kernel",
    "fit",
    "gradcheck",
    "im2col",
    "kernels",
    "parse_layer",
    "receptive_field",
]
