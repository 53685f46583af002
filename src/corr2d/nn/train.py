"""``fit``: full-batch training of a layer, the chapter's "learning a kernel" loop."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import (
    as_array,
    check_choice,
    check_int,
    check_memory,
    check_real,
    fail,
)
from corr2d.nn.layers import Conv2D, Linear, Module
from corr2d.nn.losses import SquaredError
from corr2d.nn.optim import SGD, Adam, Optimizer

__all__ = ["History", "fit", "format_loss"]

#: Runs with at least this many steps show a progress bar when stderr is a terminal.
PROGRESS_MIN_STEPS = 200
#: The optimisers ``fit`` makes by name.
OPTIMIZERS = ("sgd", "adam", "cg")


def format_loss(value: float) -> str:
    """A loss with its significant digits: three decimals down to 0.01, then two digits.

    The chapter's losses keep the chapter's format; small ones never print as 0.000.

    >>> [format_loss(v) for v in (4.94932, 0.13984, 0.0040245, 3.2e-07, 0.0)]
    ['4.949', '0.140', '0.004', '3.2e-07', '0']
    """
    if value == 0:
        return "0"
    if not math.isfinite(value) or abs(value) >= 1e6:
        return f"{value:.4g}"
    if abs(value) >= 0.01:
        return f"{value:.3f}"
    return f"{value:.2g}"


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
    gradient_norm : ndarray, shape (steps,)
        The 2-norm of the gradient of every parameter together, at each step.
    converged : bool
        Training stopped because the gradient norm fell to ``tol`` times its first value.
    interrupted : bool
        Training stopped early on Ctrl-C (``interruptible=True``); the parameters are
        those after the last completed step.
    diverged : bool
        Training stopped because the loss became inf or NaN (a warning said so); the
        parameters are those that gave it, so they are of no use.
    """

    loss: NDArray[Any]
    parameters: dict[str, NDArray[Any]]
    gradient_norm: NDArray[Any] = field(default_factory=lambda: np.zeros(0))
    converged: bool = False
    interrupted: bool = False
    diverged: bool = False

    @property
    def steps(self) -> int:
        """The number of steps taken."""
        return int(self.loss.size)

    def __str__(self) -> str:
        shapes = ", ".join(f"{name} {value.shape}" for name, value in self.parameters.items())
        if self.steps == 0:
            return f"History(0 steps; {shapes})"
        ending = next(
            (
                f"; {state}"
                for state in ("converged", "interrupted", "diverged")
                if getattr(self, state)
            ),
            "",
        )
        return (
            f"History({self.steps} steps, loss {format_loss(self.loss[0])} -> "
            f"{format_loss(self.loss[-1])}{ending}; {shapes})"
        )


def _make_optimizer(func: str, model: Module, optimizer: Any, lr: float) -> Optimizer | None:
    """The optimiser; None for 'cg', which :func:`fit` runs itself."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    check_choice(func, "optimizer", optimizer, OPTIMIZERS)
    if optimizer == "sgd":
        return SGD(model.parameters(), lr=lr)
    if optimizer == "adam":
        return Adam(model.parameters(), lr=lr)
    return None


def _divergence_hint(optimizer: Any, opt: Optimizer | None, lr: float) -> str:
    """What to lower when a run diverges: the learning rate actually in use."""
    if opt is None:
        return "the data may hold non-finite values or values too large for float64"
    if isinstance(optimizer, Optimizer):
        return f"lower the optimizer's learning rate, got {optimizer!r}"
    return f"lower `lr`, got {lr}"


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


def _check_tol(func: str, tol: Any) -> None:
    if tol is None:
        return
    if isinstance(tol, (bool, np.bool_)) or not isinstance(
        tol, (int, float, np.integer, np.floating)
    ):
        fail(func, "tol", "None or a real number", tol, TypeError)
    if not 0 <= tol <= 1:
        fail(func, "tol", "None or a number in [0, 1]", tol)


def check_steps(steps: Any, func: str = "fit") -> int:
    """``steps`` checked as :func:`fit` checks it: an int >= 0 whose history (two
    floats a step) fits in this machine's memory; for callers that check before work."""
    steps = check_int(func, "steps", steps, 0)
    check_memory(func, "steps", steps, 16 * steps, f"the history of {steps} steps")
    return steps


def fit(
    model: Module,
    X: ArrayLike | Sequence[ArrayLike],
    Y: ArrayLike | Sequence[ArrayLike],
    *,
    steps: int = 10,
    lr: float = 3e-2,
    optimizer: Literal["sgd", "adam", "cg"] | Optimizer = "sgd",
    loss: Literal["squared", "mean_squared"] | SquaredError = "squared",
    tol: float | None = None,
    log_every: int | None = None,
    progress: bool | None = None,
    print_fn: Callable[[str], None] | None = None,
    callback: Callable[[int, float], None] | None = None,
    interruptible: bool = False,
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
        Most updates (default 10, as in the chapter).
    lr : float, optional
        Learning rate (default 3e-2, as in the chapter); ignored by 'cg' and when
        ``optimizer`` is an instance.
    optimizer : {'sgd', 'adam', 'cg'} or Optimizer, optional
        Plain SGD (default) or Adam with ``lr``, a configured optimiser over
        ``model.parameters()``, or 'cg': conjugate gradients (Polak-Ribiere, restarted
        every ``n_parameters`` steps) with the exact step length of a quadratic loss.
        'cg' needs a model linear in its parameters (one :class:`~corr2d.nn.Conv2D` or
        :class:`~corr2d.nn.Linear`) and the squared error, where it reaches the
        least-squares solution in at most about as many steps as there are parameters,
        whatever the conditioning of the data.
    loss : {'squared', 'mean_squared'} or SquaredError, optional
        'squared' (default) is the chapter's loss, the squared error summed over every
        pixel; 'mean_squared' averages it.
    tol : float, optional
        Stop once the gradient's norm falls to ``tol`` times its norm at the first step
        (``History.converged``).  Default: run every step.
    log_every : int, optional
        Print ``batch <step>, loss <loss>`` every this many steps (the chapter's format,
        :func:`format_loss`).  Default: no output.
    progress : bool, optional
        Show a progress bar on stderr.  Default: only when stderr is a terminal and the
        run has at least 200 steps.
    print_fn : callable, optional
        Where log lines go (default ``print``).
    callback : callable, optional
        Called as ``callback(step, loss)`` after every step.
    interruptible : bool, optional
        Ctrl-C (SIGINT) ends training after the current step instead of raising
        ``KeyboardInterrupt`` (``History.interrupted``); a second Ctrl-C raises at once.
        Only in the main thread; default False.

    Returns
    -------
    History
        The loss and gradient norm of every step, the final parameters, and why it
        stopped.

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

    Conjugate gradients solve the same problem exactly: the first step lands on the
    answer, and the second step finds the gradient gone:

    >>> layer = Conv2D((1, 2), bias=False, init="zeros")
    >>> history = fit(layer, X, Y, steps=10, optimizer="cg", tol=1e-12)
    >>> history.converged, history.steps, layer.weight.data.reshape(1, 2).round(12) + 0.0
    (True, 2, array([[ 1., -1.]]))
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
    steps = check_steps(steps)
    if log_every is not None:
        log_every = check_int(func, "log_every", log_every, 1)
    if isinstance(optimizer, str):
        lr = check_real(func, "lr", lr, 0, open_minimum=True)
    _check_tol(func, tol)
    samples = _pairs(func, X, Y)
    criterion = _make_loss(func, loss)
    opt = _make_optimizer(func, model, optimizer, lr)
    conjugate = None
    if opt is None:
        if not isinstance(model, (Conv2D, Linear)):
            fail(
                func,
                "optimizer",
                "'sgd', 'adam' or an Optimizer for a model that is not one Conv2D or Linear "
                "('cg' needs a model linear in its parameters)",
                optimizer,
            )
        conjugate = _ConjugateGradients(model, samples, criterion)
    emit = print if print_fn is None else print_fn
    show = (
        (sys.stderr.isatty() and steps >= PROGRESS_MIN_STEPS)
        if progress is None
        else bool(progress)
    )
    run = _Run(steps)
    bar: Any = None
    if show:
        from rich.progress import Progress

        bar = Progress(transient=True, console=None)
        bar.start()
        task = bar.add_task("fit", total=steps)
    stop_request = _sigint_stops() if interruptible else contextlib.nullcontext(None)
    try:
        with stop_request as stop:
            for step in range(steps):
                total = _forward_backward(func, model, samples, criterion)
                norm = _gradient_norm(model)
                run.record(step, total, norm)
                if not np.isfinite(total):
                    warnings.warn(
                        f"fit: the loss became {total} at step {step + 1}; stopping "
                        f"({_divergence_hint(optimizer, opt, lr)})",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    run.diverged = True
                    break
                if tol is not None and norm <= tol * run.first_norm:
                    run.converged = True
                    break
                if conjugate is not None:
                    conjugate.step()
                else:
                    assert opt is not None
                    opt.step()
                if log_every is not None and (step + 1) % log_every == 0:
                    line = f"batch {step + 1}, loss {format_loss(total)}"
                    if bar is not None:
                        bar.console.print(line)
                    else:
                        emit(line)
                if bar is not None:
                    bar.update(task, advance=1, description=f"fit  loss {format_loss(total)}")
                if callback is not None:
                    callback(step + 1, total)
                if stop is not None and stop.is_set():
                    run.interrupted = True
                    break
    finally:
        if bar is not None:
            bar.stop()
    parameters = {name: p.data.copy() for name, p in model.named_parameters()}
    return run.history(parameters)


class _Run:
    """The per-step record of a :func:`fit` run."""

    def __init__(self, steps: int) -> None:
        self.losses = np.zeros(steps)
        self.norms = np.zeros(steps)
        self.taken = 0
        self.first_norm = 0.0
        self.converged = False
        self.interrupted = False
        self.diverged = False

    def record(self, step: int, loss: float, norm: float) -> None:
        self.losses[step] = loss
        self.norms[step] = norm
        self.taken = step + 1
        if step == 0:
            self.first_norm = norm

    def history(self, parameters: dict[str, NDArray[Any]]) -> History:
        return History(
            loss=self.losses[: self.taken],
            parameters=parameters,
            gradient_norm=self.norms[: self.taken],
            converged=self.converged,
            interrupted=self.interrupted,
            diverged=self.diverged,
        )


def _forward_backward(
    func: str,
    model: Module,
    samples: list[tuple[NDArray[Any], NDArray[Any]]],
    criterion: SquaredError,
) -> float:
    """Zero the gradients, then sum every sample's loss and gradient."""
    model.zero_grad()
    total = 0.0
    for index, (x, y) in enumerate(samples):
        # Overflow in a diverging run is reported once, by fit's warning.
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
    return total


def _gradient_norm(model: Module) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return math.sqrt(sum(float(np.vdot(p.grad, p.grad).real) for p in model.parameters()))


class _ConjugateGradients:
    """Conjugate-gradient updates with the exact step length of a quadratic loss.

    For a model linear in its parameters ``theta`` and the squared error,
    ``L(theta + a d) = L(theta) + a g.d + a^2 C(d)`` with ``C(d)`` the loss of the model
    whose parameters are ``d`` against zero targets, so the best step along ``d`` is
    ``a = -g.d / (2 C(d))``: one extra forward pass per step.  Directions follow
    Polak-Ribiere (negative coefficients restart from the gradient), and every
    ``n_parameters`` steps restart too, as rounding slowly spoils conjugacy.
    """

    def __init__(
        self,
        model: Module,
        samples: list[tuple[NDArray[Any], NDArray[Any]]],
        criterion: SquaredError,
    ) -> None:
        self.model = model
        self.samples = samples
        self.reduction = criterion.reduction
        self.params = model.parameters()
        self.size = sum(p.data.size for p in self.params)
        self.direction: list[NDArray[Any]] | None = None
        self.previous_gradient: list[NDArray[Any]] | None = None
        self.since_restart = 0

    def step(self) -> None:
        gradient = [p.grad.copy() for p in self.params]
        direction = [-g for g in gradient]
        if self.direction is not None and self.since_restart < self.size:
            assert self.previous_gradient is not None
            previous = _dot(self.previous_gradient, self.previous_gradient)
            beta = (
                max(0.0, (_dot(gradient, gradient) - _dot(gradient, self.previous_gradient)))
                / previous
                if previous > 0
                else 0.0
            )
            if beta > 0:
                direction = [
                    d + beta * old for d, old in zip(direction, self.direction, strict=True)
                ]
                self.since_restart += 1
            else:
                self.since_restart = 0
        else:
            self.since_restart = 0
        slope = _dot(gradient, direction)
        curvature = self._curvature(direction)
        if not curvature > 0 or not slope < 0:
            return  # no descent along any direction: the gradient is zero on the data
        length = -slope / (2 * curvature)
        for p, d in zip(self.params, direction, strict=True):
            p.data += length * d
        self.direction, self.previous_gradient = direction, gradient

    def _curvature(self, direction: list[NDArray[Any]]) -> float:
        """``C(d)``: the loss of the model with parameters ``d`` against zero targets."""
        saved = [p.data.copy() for p in self.params]
        try:
            for p, d in zip(self.params, direction, strict=True):
                p.data[...] = d
            total = 0.0
            for x, _ in self.samples:
                output = self.model(x)
                squares = float(np.vdot(output, output).real)
                total += squares / output.size if self.reduction == "mean" else squares
        finally:
            for p, value in zip(self.params, saved, strict=True):
                p.data[...] = value
        return total


def _dot(a: list[NDArray[Any]], b: list[NDArray[Any]]) -> float:
    return sum(float(np.vdot(x, y).real) for x, y in zip(a, b, strict=True))


class _StopRequest:
    """Set by the first Ctrl-C of an interruptible :func:`fit`."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


@contextlib.contextmanager
def _sigint_stops() -> Iterator[_StopRequest | None]:
    """While active, the first SIGINT asks training to stop; a second one interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    request = _StopRequest()
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # set from outside Python: restore Python's default
        previous = signal.default_int_handler

    def handler(signum: int, frame: Any) -> None:
        if request.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        request.set()

    signal.signal(signal.SIGINT, handler)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)
