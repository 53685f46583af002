"""corr2d: 2-D cross-correlation and convolution, exact and fast.

The correlation core (:mod:`corr2d.core`) has two faces: a SciPy-compatible one for
single images (:func:`correlate2d`, :func:`convolve2d`) and a PyTorch-compatible one for
batches of multi-channel images (:func:`conv2d`, with :func:`conv2d_backward`).

Every name below is imported on first use, so ``import corr2d`` (and the command line,
which imports only what its command needs) does not load SciPy, numba or the layers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        Separable,
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

#: Where each public name lives.
_HOMES = {
    "kernels": "corr2d.kernels",
    **dict.fromkeys(
        (
            "LayerSpec",
            "ReceptiveField",
            "empirical_receptive_field",
            "parse_layer",
            "receptive_field",
        ),
        "corr2d._receptive_field",
    ),
    **dict.fromkeys(
        (
            "Conv2dGrads",
            "Separable",
            "choose_method",
            "conv2d",
            "conv2d_backward",
            "conv2d_output_shape",
            "convolve2d",
            "corr2d",
            "correlate2d",
        ),
        "corr2d.core",
    ),
    **dict.fromkeys(("KernelEstimate", "estimate_kernel"), "corr2d.estimate"),
    **dict.fromkeys(("correlation_matrix", "im2col"), "corr2d.matrix"),
    **dict.fromkeys(
        (
            "SGD",
            "Adam",
            "Conv2D",
            "History",
            "Linear",
            "ReLU",
            "Sequential",
            "SquaredError",
            "fit",
            "gradcheck",
        ),
        "corr2d.nn",
    ),
}

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
    "Separable",
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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'corr2d' has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if home == f"corr2d.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
