"""Running compiled task loops on every core without waiting for sleeping threads.

A task loop is a compiled function (numba, ``nogil``) whose last argument is a
one-element int64 counter: it claims tasks with
:func:`~corr2d.core._microkernels.next_task` until none are left.  Several threads
calling it with the same arguments share the tasks, whoever is fastest doing most.

:func:`run_tasks` calls the loop on the calling thread at once and wakes helper threads
to join it.  A helper that wakes after the work is done finds the job closed and goes
back to sleep: the caller never waits for a thread that has not started, only for tasks
a helper has already claimed.  So an isolated call after a long idle costs at most the
calling thread's own speed, however slowly the operating system wakes the others, where
a parallel region (numba's ``prange``, OpenMP) waits at its end for every thread it
woke.  Back to back, the helpers are awake and take their share.

One job runs at a time; helper threads are daemons, started on first use, and a forked
child starts its own.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

__all__ = ["run_tasks"]


class _Job:
    __slots__ = ("args", "closed", "done", "error", "func", "running")

    def __init__(self, func: Any, args: tuple[Any, ...]) -> None:
        self.func = func
        self.args = args
        self.closed = False
        self.running = 0
        self.error: BaseException | None = None
        self.done = threading.Event()


class _Helper:
    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.wake = threading.Event()
        self.job: _Job | None = None
        self.thread = threading.Thread(target=self._serve, name="corr2d-helper", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        pool = self.pool
        while True:
            self.wake.wait()
            self.wake.clear()
            job = self.job
            if job is None:
                continue
            with pool.state:
                if job.closed:
                    continue
                job.running += 1
            try:
                job.func(*job.args)
            except BaseException as exc:  # pragma: no cover - compiled loops do not raise
                job.error = exc
            with pool.state:
                job.running -= 1
                if job.closed and job.running == 0:
                    job.done.set()


class _Pool:
    def __init__(self) -> None:
        self.state = threading.Lock()  # guards job.closed and job.running
        self.one_job = threading.Lock()  # one job at a time
        self.helpers: list[_Helper] = []

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def run(self, func: Any, args: tuple[Any, ...], threads: int) -> None:
        with self.one_job:
            while len(self.helpers) < threads - 1:
                self.helpers.append(_Helper(self))
            job = _Job(func, args)
            helpers = self.helpers[: threads - 1]
            for helper in helpers:
                helper.job = job
                helper.wake.set()
            func(*args)
            with self.state:
                job.closed = True
                waiting = job.running > 0
            if waiting:
                job.done.wait()
            for helper in helpers:
                helper.job = None
            if job.error is not None:  # pragma: no cover
                raise job.error


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.reset)


def run_tasks(func: Any, *args: Any, threads: int) -> None:
    """Call the task loop ``func(*args, counter)`` on ``threads`` threads (see module notes).

    With ``threads == 1`` it runs on the calling thread alone.
    """
    counter = np.zeros(1, dtype=np.int64)
    if threads <= 1:
        func(*args, counter)
        return
    _pool.run(func, (*args, counter), threads)
