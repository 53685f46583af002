"""The Learning panel: a :class:`corr2d.Conv2D` trained live by :func:`corr2d.fit`.

A run trains one layer in a thread of its own, a few steps at a time, at a pace the page
chooses, and keeps the loss of every step and the current kernel for the page to poll.
It stops (pauses), resumes for more steps, and is ended when asked or when the page has
not asked about it for a while (a closed tab).  Beside it sits the exact answer,
:func:`corr2d.estimate_kernel` on the same pair.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.cli.demo import CHAPTER_INITIAL_KERNEL
from corr2d.estimate import KernelEstimate, estimate_kernel
from corr2d.explore._requests import RequestError, encode_array
from corr2d.nn import SGD, Adam, Conv2D, SquaredError, fit

__all__ = ["INITS", "OPTIMIZERS", "TrainingRun", "TrainingRuns", "TrainingSettings"]

OPTIMIZERS = ("sgd", "adam")
INITS = ("chapter", "zeros", "uniform", "kaiming")
#: Seconds between two updates of a paced run.
TICK = 0.05
#: Most seconds a stop request waits for the step in progress to be recorded.
STOP_WAIT = 5.0


@dataclass(frozen=True)
class TrainingSettings:
    """How a run trains: the arguments of :func:`corr2d.fit` and the pace."""

    optimizer: str = "sgd"
    lr: float = 3e-2
    steps: int = 20
    loss: str = "squared"
    bias: bool = False
    init: str = "chapter"
    seed: int = 0
    rate: float = 40.0  # steps per second; 0 runs as fast as it can


def initial_kernel(settings: TrainingSettings, shape: tuple[int, int]) -> Any:
    """The ``init`` argument of :class:`corr2d.Conv2D` for ``settings.init``."""
    if settings.init == "chapter":
        if shape != (1, 2):
            raise RequestError(
                f"the chapter's start is a 1x2 kernel and this kernel is {shape[0]}x{shape[1]}; "
                "start from zeros or random values",
                field="init",
            )
        return np.array(CHAPTER_INITIAL_KERNEL)
    return {"zeros": "zeros", "uniform": "uniform", "kaiming": "kaiming_uniform"}[settings.init]


class TrainingRun:
    """One layer being trained on one (X, Y) pair.

    Parameters
    ----------
    run_id : str
    X, Y : ndarray
        The pair, ``Y`` of the shape of ``corr2d(X, kernel)``.
    kernel_shape : (int, int)
    settings : TrainingSettings
    exact : KernelEstimate
        :func:`corr2d.estimate_kernel` on the pair, the answer training should reach.
    clock : callable, optional
        Seconds, for the abandonment rule (``time.monotonic``).
    """

    def __init__(
        self,
        run_id: str,
        X: NDArray[np.float64],
        Y: NDArray[np.float64],
        kernel_shape: tuple[int, int],
        settings: TrainingSettings,
        exact: KernelEstimate,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = run_id
        self.X, self.Y = X, Y
        self.settings = settings
        self.exact = exact
        self._clock = clock
        self.layer = Conv2D(
            kernel_shape,
            bias=settings.bias,
            init=initial_kernel(settings, kernel_shape),
            rng=settings.seed,
        )
        optimizer = Adam if settings.optimizer == "adam" else SGD
        self._optimizer = optimizer(self.layer.parameters(), lr=settings.lr)
        self._criterion = SquaredError("sum" if settings.loss == "squared" else "mean")
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = "paused"
        self.message = ""
        self.target = 0
        self.losses: list[float] = []
        self.last_seen = clock()
        self._kernel, self._bias = self._parameters()

    # --- what the page sees ---------------------------------------------------------------

    def _parameters(self) -> tuple[NDArray[np.float64], float | None]:
        kernel = self.layer.weight.data.reshape(self.layer.weight.shape[-2:]).copy()
        bias = None if self.layer.bias is None else float(self.layer.bias.data[0])
        return kernel, bias

    def snapshot(self, since: int = 0) -> dict[str, Any]:
        """The run's state, the losses from step ``since`` on, the kernel and the distance."""
        with self._lock:
            self.last_seen = self._clock()
            kernel, bias = self._kernel, self._bias
            losses = self.losses[since:]
            state, message, step, target = self.state, self.message, len(self.losses), self.target
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged run's kernel
            difference = kernel - self.exact.kernel
            distance = float(np.sqrt(np.sum(difference * difference)))
        return {
            "id": self.id,
            "state": state,
            "message": message,
            "step": step,
            "target": target,
            "since": min(since, step),
            "losses": [_finite(v) for v in losses],
            "kernel": encode_array(kernel),
            "bias": _finite(bias),
            "distance": _finite(distance),
            "largest_difference": _finite(float(np.max(np.abs(difference)))),
        }

    def exact_answer(self) -> dict[str, Any]:
        """:func:`corr2d.estimate_kernel`'s answer, for the page."""
        e = self.exact
        return {
            "kernel": encode_array(e.kernel),
            "bias": _finite(e.bias),
            "residual": _finite(e.residual),
            "rank": e.rank,
            "unknowns": e.n_unknowns,
            "identifiable": e.identifiable,
            "condition_number": _finite(e.condition_number),
        }

    # --- control --------------------------------------------------------------------------

    def resume(self, steps: int) -> None:
        """Train ``steps`` more steps (from where it stopped)."""
        with self._lock:
            self.last_seen = self._clock()
            if self.state in ("ended", "diverged", "failed"):
                raise RequestError(
                    f"this run has {self.state}; reset to start a new one", status=409
                )
            if self.state == "running":
                return
            self.target = len(self.losses) + steps
            self.state = "running"
            self.message = ""
            self._wake.clear()
            self._thread = threading.Thread(target=self._train, name=f"train-{self.id}")
            self._thread.daemon = True
            self._thread.start()

    def stop(self) -> None:
        """Pause after the step in progress, and return once it is recorded.

        The snapshot taken after ``stop`` is then the run's last word until it resumes:
        no step lands after the page has shown "stopped".
        """
        with self._lock:
            self.last_seen = self._clock()
            if self.state == "running":
                self.state = "paused"
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=STOP_WAIT)

    def end(self, reason: str = "ended") -> None:
        """End the run for good; its thread finishes the step in progress and exits."""
        with self._lock:
            if self.state != "ended":
                self.state = "ended"
                self.message = reason
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def idle_for(self) -> float:
        """Seconds since the page last asked about this run."""
        with self._lock:
            return self._clock() - self.last_seen

    def _train(self) -> None:
        rate = self.settings.rate
        while True:
            with self._lock:
                if self.state != "running":
                    return
                remaining = self.target - len(self.losses)
                if remaining <= 0:
                    self.state = "done"
                    return
            chunk = min(remaining, 200 if rate <= 0 else max(1, round(rate * TICK)))
            started = time.perf_counter()
            # A diverging run warns (RuntimeWarning) and stops early; the page is told
            # through the run's state and message.
            try:
                history = fit(
                    self.layer,
                    self.X,
                    self.Y,
                    steps=chunk,
                    optimizer=self._optimizer,
                    loss=self._criterion,
                    progress=False,
                )
            except (ValueError, TypeError, ArithmeticError, MemoryError) as exc:
                with self._lock:
                    self.state, self.message = "failed", f"training failed: {exc}"
                return
            kernel, bias = self._parameters()
            with self._lock:
                self.losses.extend(float(v) for v in history.loss)
                self._kernel, self._bias = kernel, bias
                if history.steps < chunk or not np.isfinite(history.loss).all():
                    self.state = "diverged"
                    self.message = (
                        f"the loss became {history.loss[-1]:g} at step {len(self.losses)}: "
                        f"lower the learning rate (now {self.settings.lr:g})"
                    )
                    return
            if rate > 0:
                self._wake.wait(max(0.0, chunk / rate - (time.perf_counter() - started)))
            else:
                time.sleep(0)


class TrainingRuns:
    """The live runs of one server, at most ``max_runs`` at once.

    A run nobody has asked about for ``abandon_after`` seconds (the page polls while it
    is open) is ended by a reaper thread, so a closed tab does not keep a core busy.
    """

    def __init__(self, max_runs: int = 4, abandon_after: float = 30.0) -> None:
        self.max_runs = max_runs
        self.abandon_after = abandon_after
        self._runs: dict[str, TrainingRun] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None

    def create(
        self,
        X: NDArray[np.float64],
        Y: NDArray[np.float64],
        kernel_shape: tuple[int, int],
        settings: TrainingSettings,
    ) -> TrainingRun:
        """Start tracking a new (paused) run on ``(X, Y)``; the exact answer is solved now.

        Raises
        ------
        RequestError
            429 when ``max_runs`` runs are live; 400 when the library refuses the pair.
        """
        self.reap()
        with self._lock:
            if len(self._runs) >= self.max_runs:
                raise RequestError(
                    f"{self.max_runs} training runs are live already; reset one, or close a "
                    f"tab (a run the page stops asking about ends after "
                    f"{self.abandon_after:g} s)",
                    status=429,
                )
        try:
            exact = estimate_kernel(X, Y, kernel_shape, bias=settings.bias)
            run = TrainingRun(secrets.token_hex(8), X, Y, kernel_shape, settings, exact)
        except (ValueError, TypeError) as exc:
            raise RequestError(str(exc)) from None
        with self._lock:
            self._runs[run.id] = run
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap_loop, name="train-reaper")
                self._reaper.daemon = True
                self._reaper.start()
        return run

    def get(self, run_id: str) -> TrainingRun:
        """The live run with this id."""
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise RequestError(
                "no such training run: it was reset, or ended after the page stopped "
                f"asking about it for {self.abandon_after:g} s; start again",
                status=404,
            )
        return run

    def end(self, run_id: str) -> None:
        """End and forget a run."""
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is not None:
            run.end()

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)

    def reap(self) -> list[str]:
        """End the runs nobody asked about for ``abandon_after`` seconds; their ids."""
        with self._lock:
            stale = [r for r in self._runs.values() if r.idle_for() > self.abandon_after]
            for run in stale:
                del self._runs[run.id]
        for run in stale:
            run.end("abandoned")
        return [run.id for run in stale]

    def close(self) -> None:
        """End every run (the server is stopping)."""
        self._closed.set()
        with self._lock:
            runs = list(self._runs.values())
            self._runs.clear()
        for run in runs:
            run.end("the server stopped")

    def _reap_loop(self) -> None:
        period = min(1.0, max(0.05, self.abandon_after / 4))
        while not self._closed.wait(period):
            self.reap()


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)
