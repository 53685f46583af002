"""``fit``: full-batch training of a layer, the chapter's "learning a kernel" loop."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import as_array, check_choice, fail
from corr2d.nn.layers import Module
from corr2d.nn.losses import SquaredError
from corr2d.nn.optim import SGD, Adam, Optimizer

__all__ = ["History", "fit"]

#: Runs with at least this many steps show a progress bar when stderr is a terminal.
PROGRESS_MIN_STEPS = 200


@dataclass(frozen=True)
class History:
    """What :func:`fit` did.

    Attributes
    ----------
    loss : ndarray, shape (steps,)
        ``loss[i]`` is the loss of step ``i + 1``, computed before that step's update
        (as the chapter prints it).
    parameters : dict of str to ndarray
        The final parameter values (copies), by name (``'weight'``, ``'bias'``,
        ``'0.weight'`` in a :class:`~corr2d.nn.Sequential`).
    """

    loss: NDArray[Any]
    parameters: dict[str, NDArray[Any]]

    @property
    def steps(self) -> int:
        """The number of steps taken."""
        return int(self.loss.size)

    def __str__(self) -> str:
        shapes = ", ".join(f"{name} {value.shape}" for name, value in self.parameters.items())
        if self.steps == 0:
            return f"History(0 steps; {shapes})"
        return (
            f"History({self.steps} steps, loss {self.loss[0]:.4g} -> {self.loss[-1]:.4g}; {shapes})"
        )


def _make_optimizer(func: str, model: Module, optimizer: Any, lr: float) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        return optimizer
    check_choice(func, "optimizer", optimizer, ("sgd", "adam"))
    if optimizer == "sgd":
        return SGD(model.parameters(), lr=lr)
    return Adam(model.parameters(), lr=lr)


def _make_loss(func: str, loss: Any) -> SquaredError:
    if isinstance(loss, SquaredError):
        return loss
    check_choice(func, "loss", loss, ("squared", "mean_squared"))
    return SquaredError("sum" if loss == "squared" else "mean")


def _pairs(func: str, X: Any, Y: Any) -> list[tuple[NDArray[Any], NDArray[Any]]]:
    """The training samples: one (X, Y) pair, or a sequence of pairs."""
    if isinstance(X, (list, tuple)) != isinstance(Y, (list, tuple)):
        fail(
            func,
            "Y",
            "a sequence like X when X is a sequence of samples (and an array when X is an array)",
            type(Y).__name__,
            TypeError,
        )
    if isinstance(X, (list, tuple)):
        if len(X) != len(Y):
            fail(func, "Y", f"as long as X ({len(X)} samples)", f"{len(Y)} samples")
        if not X:
            fail(func, "X", "non-empty", X)
        return [
            (as_array(x, func, f"X[{i}]"), as_array(y, func, f"Y[{i}]"))
            for i, (x, y) in enumerate(zip(X, Y, strict=True))
        ]
    return [(as_array(X, func, "X"), as_array(Y, func, "Y"))]


def fit(
    model: Module,
    X: ArrayLike | Sequence[ArrayLike],
    Y: ArrayLike | Sequence[ArrayLike],
    *,
    steps: int = 10,
    lr: float = 3e-2,
    optimizer: Literal["sgd", "adam"] | Optimizer = "sgd",
    loss: Literal["squared", "mean_squared"] | SquaredError = "squared",
    log_every: int | None = None,
    progress: bool | None = None,
    print_fn: Callable[[str], None] | None = None,
) -> History:
    """Train ``model`` to map ``X`` to ``Y`` by full-batch gradient steps.

    Each step: zero the gradients, run forward, compute the loss, run backward, update.

    Parameters
    ----------
    model : Module
        A layer or a :class:`~corr2d.nn.Sequential`; trained in place.
    X, Y : array_like, or sequences of array_like of equal length
        One input and its target (a 2-D image pair for a single-channel
        :class:`~corr2d.nn.Conv2D`, or a batch ``(N, C, H, W)``), or a sequence of
        samples whose losses and gradients are summed in every step.  ``model(X)`` must
        have the shape of ``Y``.
    steps : int, optional
        Number of updates (default 10, as in the chapter).
    lr : float, optional
        Learning rate (default 3e-2, as in the chapter); ignored when ``optimizer`` is
        an instance.
    optimizer : {'sgd', 'adam'} or Optimizer, optional
        Plain SGD (default) or Adam with ``lr``, or a configured optimiser over
        ``model.parameters()``.
    loss : {'squared', 'mean_squared'} or SquaredError, optional
        'squared' (default) is the chapter's loss, the squared error summed over every
        pixel; 'mean_squared' averages it.
    log_every : int, optional
        Print ``batch <step>, loss <loss:.3f>`` every this many steps (the chapter's
        format).  Default: no output.
    progress : bool, optional
        Show a progress bar on stderr.  Default: only when stderr is a terminal and the
        run has at least 200 steps.
    print_fn : callable, optional
        Where log lines go (default ``print``).

    Returns
    -------
    History
        The loss of every step and the final parameters.

    Warns
    -----
    RuntimeWarning
        If the loss becomes NaN or infinite (the learning rate is too large); training
        stops at that step.

    Examples
    --------
    The chapter's run, from the initial kernel that reproduces its printed trace:

    >>> import numpy as np
    >>> from corr2d import Conv2D, corr2d, fit
    >>> X = np.ones((6, 8)); X[:, 2:6] = 0
    >>> Y = corr2d(X, [[1.0, -1.0]])
    >>> layer = Conv2D((1, 2), bias=False, init=[[0.00683409, 0.01299842]])
    >>> history = fit(layer, X, Y, steps=10, lr=3e-2, log_every=2)
    batch 2, loss 4.949
    batch 4, loss 0.831
    batch 6, loss 0.140
    batch 8, loss 0.024
    batch 10, loss 0.004
    >>> layer.weight.data.reshape(1, 2).round(4)
    array([[ 0.9895, -0.9874]])
    """
    func = "fit"
    if not isinstance(model, Module):
        fail(
            func,
            "model",
            "a corr2d.nn Module (Conv2D, Linear, Sequential...)",
            type(model).__name__,
            TypeError,
        )
    checks: list[tuple[str, Any, int]] = [("steps", steps, 0)]
    if log_every is not None:
        checks.append(("log_every", log_every, 1))
    for name, value, minimum in checks:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            fail(func, name, "an int", value, TypeError)
        if value < minimum:
            fail(func, name, f">= {minimum}", value)
    samples = _pairs(func, X, Y)
    criterion = _make_loss(func, loss)
    opt = _make_optimizer(func, model, optimizer, lr)
    emit = print if print_fn is None else print_fn
    show = (
        (sys.stderr.isatty() and steps >= PROGRESS_MIN_STEPS)
        if progress is None
        else bool(progress)
    )

    losses = np.zeros(steps)
    taken = steps
    bar: Any = None
    if show:
        from rich.progress import Progress

        bar = Progress(transient=True, console=None)
        bar.start()
        task = bar.add_task("fit", total=steps)
    try:
        for step in range(steps):
            opt.zero_grad()
            total = 0.0
            for index, (x, y) in enumerate(samples):
                # Overflow in a diverging run is reported once, by the warning below.
                with np.errstate(over="ignore", invalid="ignore"):
                    prediction = model(x)
                    if prediction.shape != y.shape:
                        where = "Y" if len(samples) == 1 else f"Y[{index}]"
                        fail(
                            func,
                            where,
                            f"of the model's output shape {prediction.shape}",
                            f"shape {y.shape}",
                        )
                    total += criterion(prediction, y)
                    model.backward(criterion.backward())
            losses[step] = total
            if not np.isfinite(total):
                warnings.warn(
                    f"fit: the loss became {total} at step {step + 1}; stopping "
                    f"(lower `lr`, got {lr})",
                    RuntimeWarning,
                    stacklevel=2,
                )
                taken = step + 1
                break
            opt.step()
            if log_every is not None and (step + 1) % log_every == 0:
                line = f"batch {step + 1}, loss {total:.3f}"
                if bar is not None:
                    bar.console.print(line)
                else:
                    emit(line)
            if bar is not None:
                bar.update(task, advance=1, description=f"fit  loss {total:.4g}")
    finally:
        if bar is not None:
            bar.stop()
    parameters = {name: p.data.copy() for name, p in model.named_parameters()}
    return History(loss=losses[:taken], parameters=parameters)
