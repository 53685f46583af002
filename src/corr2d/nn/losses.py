"""The squared-error loss and its gradient, the loss the chapter learns its kernel with."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import as_array, check_choice, fail

__all__ = ["SquaredError"]


class SquaredError:
    """``sum((prediction - target)**2)``, or its mean, with the gradient.

    Parameters
    ----------
    reduction : {'sum', 'mean'}, optional
        'sum' (default) is the chapter's loss, ``l = (Y_hat - Y)**2`` summed over every
        pixel; 'mean' divides by the number of pixels (``torch.nn.MSELoss()``).

    Notes
    -----
    The gradient is ``2 * (prediction - target)``, divided by the number of elements
    for 'mean'.  There is no factor 1/2.

    Examples
    --------
    >>> loss = SquaredError()
    >>> loss([1.0, 2.0], [0.0, 0.0])  # 1 + 4
    5.0
    >>> loss.backward()
    array([2., 4.])
    """

    def __init__(self, reduction: Literal["sum", "mean"] = "sum") -> None:
        self.reduction = check_choice("SquaredError", "reduction", reduction, ("sum", "mean"))
        self._difference: NDArray[Any] | None = None

    def __call__(self, prediction: ArrayLike, target: ArrayLike) -> float:
        return self.forward(prediction, target)

    def forward(self, prediction: ArrayLike, target: ArrayLike) -> float:
        """The loss; caches ``prediction - target`` for :meth:`backward`."""
        func = "SquaredError"
        pred = as_array(prediction, func, "prediction")
        goal = as_array(target, func, "target")
        if pred.shape != goal.shape:
            fail(func, "target", f"of the prediction's shape {pred.shape}", f"shape {goal.shape}")
        difference = pred.astype(np.result_type(pred, goal, 0.0)) - goal
        self._difference = difference
        total = float(np.sum(difference * difference))
        return total / difference.size if self.reduction == "mean" else total

    def backward(self) -> NDArray[Any]:
        """dL/d(prediction) for the last call: ``2 (prediction - target)`` [/ size]."""
        if self._difference is None:
            fail(
                "SquaredError.backward",
                "forward",
                "called before backward",
                "no cached forward pass",
            )
        assert self._difference is not None
        grad = 2.0 * self._difference
        return grad / grad.size if self.reduction == "mean" else grad

    def __repr__(self) -> str:
        return f"SquaredError(reduction={self.reduction!r})"
