"""Optimisers with PyTorch's update formulas: :class:`SGD` and :class:`Adam`.

Both update ``Parameter.data`` in place from ``Parameter.grad``; call ``zero_grad()``
between steps since gradients accumulate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d._validation import check_real, fail
from corr2d.nn.layers import Parameter

__all__ = ["SGD", "Adam", "Optimizer"]


class Optimizer:
    """Holds the parameters; subclasses implement :meth:`step`."""

    def __init__(self, func: str, params: Iterable[Parameter]) -> None:
        if isinstance(params, Parameter) or not isinstance(params, Iterable):
            fail(
                func,
                "params",
                "an iterable of Parameter (e.g. model.parameters())",
                params,
                TypeError,
            )
        self.params = list(params)
        if not self.params:
            fail(func, "params", "non-empty", self.params)
        for index, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                fail(func, f"params[{index}]", "a Parameter", type(p).__name__, TypeError)

    def zero_grad(self) -> None:
        """Reset every parameter's ``.grad`` to zero."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:  # pragma: no cover - overridden
        """Update every parameter once from its ``.grad``."""
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and weight decay.

    With ``g = grad + weight_decay * p``: ``b = g`` on the first step and
    ``b = momentum * b + g`` after it (no momentum: ``b = g``), then ``p -= lr * b``;
    this is ``torch.optim.SGD`` with ``dampening=0, nesterov=False``.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float
        Learning rate, > 0.
    momentum : float, optional
        In [0, 1).  Default 0.
    weight_decay : float, optional
        L2 penalty coefficient, >= 0.  Default 0.

    Examples
    --------
    >>> p = Parameter([1.0])
    >>> p.grad[:] = 2.0
    >>> SGD([p], lr=0.1).step()
    >>> p.data  # 1 - 0.1 * 2
    array([0.8])
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        func = "SGD"
        super().__init__(func, params)
        self.lr = check_real(func, "lr", lr, 0, open_minimum=True)
        self.momentum = check_real(func, "momentum", momentum, 0, 1)
        if self.momentum == 1:
            fail(func, "momentum", "in [0, 1)", momentum)
        self.weight_decay = check_real(func, "weight_decay", weight_decay, 0)
        self._buffers: list[NDArray[Any] | None] = [None] * len(self.params)

    def step(self) -> None:
        """``p -= lr * (momentum buffer of grad + weight_decay * p)``."""
        for index, p in enumerate(self.params):
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                buffer = self._buffers[index]
                if buffer is None:
                    buffer = np.array(g, copy=True)
                else:
                    buffer *= self.momentum
                    buffer += g
                self._buffers[index] = buffer
                g = buffer
            p.data -= self.lr * g

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"


class Adam(Optimizer):
    """Adam (Kingma & Ba), with ``torch.optim.Adam``'s formulas.

    With ``g = grad + weight_decay * p`` and step count ``t``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    params : iterable of Parameter
    lr : float, optional
        Step size, > 0.  Default 1e-3.
    betas : (float, float), optional
        Decay rates of the moment averages, each in [0, 1).  Default (0.9, 0.999).
    eps : float, optional
        Added to the denominator, >= 0.  Default 1e-8.
    weight_decay : float, optional
        L2 penalty coefficient (added to the gradient), >= 0.  Default 0.

    Examples
    --------
    Adam's first step moves each parameter by about ``lr`` against the gradient sign.

    >>> p = Parameter([1.0])
    >>> p.grad[:] = 5.0
    >>> Adam([p], lr=0.1).step()
    >>> p.data.round(6)
    array([0.9])
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        func = "Adam"
        super().__init__(func, params)
        self.lr = check_real(func, "lr", lr, 0, open_minimum=True)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            fail(func, "betas", "a pair of floats in [0, 1)", betas, TypeError)
        beta1, beta2 = (check_real(func, "betas", b) for b in betas)
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            fail(func, "betas", "a pair of floats in [0, 1)", betas)
        self.betas = (beta1, beta2)
        self.eps = check_real(func, "eps", eps, 0)
        self.weight_decay = check_real(func, "weight_decay", weight_decay, 0)
        self._step = 0
        self._first = [np.zeros_like(p.data) for p in self.params]
        self._second = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        """One Adam update of every parameter."""
        self._step += 1
        beta1, beta2 = self.betas
        correction1 = 1 - beta1**self._step
        correction2_sqrt = math.sqrt(1 - beta2**self._step)
        for p, first, second in zip(self.params, self._first, self._second, strict=True):
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            first += (1 - beta1) * (g - first)  # torch's lerp form of beta1*m + (1-beta1)*g
            second *= beta2
            second += (1 - beta2) * g * g
            denominator = np.sqrt(second) / correction2_sqrt + self.eps
            p.data -= (self.lr / correction1) * (first / denominator)

    def __repr__(self) -> str:
        return (
            f"Adam(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
            f"weight_decay={self.weight_decay})"
        )
