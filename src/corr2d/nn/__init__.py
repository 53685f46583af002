"""Layers that learn: layers with hand-written backward passes, losses, optimisers, ``fit``.

* :mod:`corr2d.nn.layers` -- ``Module``, ``Parameter``, ``Conv2D``, ``Linear``, ``ReLU``,
  ``Sequential``;
* :mod:`corr2d.nn.losses` -- ``SquaredError``;
* :mod:`corr2d.nn.optim` -- ``SGD`` and ``Adam`` (PyTorch's formulas);
* :mod:`corr2d.nn.train` -- ``fit`` and its ``History``;
* :mod:`corr2d.nn.gradcheck` -- finite-difference checks of any backward pass.
"""

from corr2d.nn.gradcheck import GradcheckEntry, GradcheckReport, gradcheck
from corr2d.nn.layers import Conv2D, Linear, Module, Parameter, ReLU, Sequential
from corr2d.nn.losses import SquaredError
from corr2d.nn.optim import SGD, Adam, Optimizer
from corr2d.nn.train import History, fit

__all__ = [
    "SGD",
    "Adam",
    "Conv2D",
    "GradcheckEntry",
    "GradcheckReport",
    "History",
    "Linear",
    "Module",
    "Optimizer",
    "Parameter",
    "ReLU",
    "Sequential",
    "SquaredError",
    "fit",
    "gradcheck",
]
