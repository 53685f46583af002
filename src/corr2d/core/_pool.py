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

Where the CPU allows it (:func:`corr2d.core._spin.available`), the threads wait for one
another by watching memory for a bounded time instead of blocking: on a virtual machine
whose idle CPUs halt, a blocked thread takes about 50 us to run again.  After a job a
helper watches for ``SPIN`` seconds (1 ms) for the next one, and for the caller to
have entered its loop (the GIL is then free for the helper to start its own), then
blocks as before; the caller, after its share, watches until the helpers that joined
are back to watching (past their last use of the GIL) instead of blocking until they
return.  Measured on 2 cores, back to back (a 0.3 ms job on two threads): the helper
started 16 us after the caller, now 2 us; it returned to the caller 2-9 us after
the last task, as before.  A process that stops computing keeps one CPU busy for at
most about 1 ms after its last job (1.1-2.9 ms of CPU time over the following second,
against 0.1 ms before).

Where the system allows it (Linux), each helper is bound to a CPU other than the one
the calling thread runs on.  Linux wakes a thread on its waker's CPU when it judges
that the two share data; a helper woken there waits behind the caller, busy with its
own share, until the load balancer moves it a few milliseconds later.  Measured on 2
cores (2048x2048 float32, 9x9 kernel, about 3 ms on two threads): unbound, the helper
started 0.1-5 ms after the call began, on the caller's CPU in 25 of 40 calls, and the
median call took 5.8 ms; bound, it started after 0.1-0.3 ms and the median was 3.4 ms.

A long job (``work`` of at least ``INTERRUPTIBLE_WORK`` multiply-adds) called from the
main thread runs on helpers only, while the main thread waits in short steps: Python
runs signal handlers only between bytecodes, never inside a compiled call, so this is
what lets Ctrl-C through.  On ``KeyboardInterrupt`` the counter is moved past every
task, the helpers finish the task each holds (a band of rows: milliseconds), and the
interrupt is raised.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["run_tasks"]


#: Jobs of at least this many multiply-adds (about 10 ms) called from the main thread
#: run interruptibly (see the module notes); waking every helper costs them nothing.
INTERRUPTIBLE_WORK = 10**9
#: How often the waiting main thread lets Python look for signals, in seconds.
_POLL = 0.02
#: A counter value past any task index: loops that read it stop claiming.
_PAST_EVERY_TASK = 2**62
#: Seconds a helper watches for the next job after one (see the module notes), and
#: half of how long a caller watches for its helpers to finish before it blocks.
SPIN = 0.001
#: Ticks per second of a time-stamp counter worth trusting (100 MHz to 10 GHz).
_PLAUSIBLE_RATES = (1e8, 1e10)
#: Helper threads a pool starts at most.
_MOST_HELPERS = 64


class _Job:
    __slots__ = ("args", "closed", "done", "error", "finished", "func", "running")

    def __init__(self, func: Any, args: tuple[Any, ...]) -> None:
        self.func = func
        self.args = args
        self.closed = False
        self.running = 0
        self.finished = 0  # helpers that have returned from func (interruptible jobs)
        self.error: BaseException | None = None
        self.done = threading.Event()


def _cpu_finder() -> Callable[[], int] | None:
    """The C library's ``sched_getcpu`` (the CPU the calling thread runs on), or None
    where threads cannot be bound to CPUs or the library lacks it."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        getcpu = ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (AttributeError, OSError):  # pragma: no cover - not glibc or musl
        return None
    getcpu.restype = ctypes.c_int
    getcpu.argtypes = []
    return getcpu


class _Helper:
    def __init__(self, pool: _Pool, index: int) -> None:
        self.pool = pool
        self.index = index  # its element of ``pool.busy``
        self.wake = threading.Event()
        self.job: _Job | None = None
        self.cpu: int | None = None  # the CPU it is bound to, if any
        self.thread = threading.Thread(target=self._serve, name="corr2d-helper", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        pool = self.pool
        seen = int(pool.posted[0])
        while True:
            if not self._park(seen):
                self.wake.wait()
            self.wake.clear()
            seen = int(pool.posted[0])
            job = self.job
            if job is None:
                continue
            with pool.state:
                if job.closed:
                    continue
                job.running += 1
                pool.busy[self.index] = 1  # cleared by _park, once the GIL is released
            try:
                job.func(*job.args)
            except BaseException as exc:  # pragma: no cover - compiled loops do not raise
                job.error = exc
            with pool.state:
                job.running -= 1
                job.finished += 1
                if job.closed and job.running == 0:
                    job.done.set()
            pool.progress.set()
            if pool.spinning and not pool.ticks:  # after a first job: prepare to spin
                from corr2d.core import _spin

                rate = _spin.ticks_per_second()
                if _PLAUSIBLE_RATES[0] <= rate <= _PLAUSIBLE_RATES[1]:
                    pool.ticks = int(rate * SPIN)
                else:  # pragma: no cover - a counter that does not count time: never spin
                    pool.spinning = False

    def _park(self, seen: int) -> bool:
        """Mark this helper idle, then watch for the next job for up to ``SPIN`` seconds
        (see the module notes); False if none came, or if this pool does not spin."""
        pool = self.pool
        if not pool.ticks:
            pool.busy[self.index] = 0
            return False
        from corr2d.core import _spin

        return bool(_spin.park(pool.posted, seen, pool.counter, pool.busy, self.index, pool.ticks))


class _Pool:
    def __init__(self) -> None:
        self.state = threading.Lock()  # guards job.closed and job.running
        self.one_job = threading.Lock()  # one job at a time
        self.helpers: list[_Helper] = []
        self.progress = threading.Event()  # a helper returned (for interruptible jobs)
        self.getcpu = _cpu_finder()  # None: helpers are not bound
        # Spinning (see the module notes): the task counter of the pool's jobs; posted[0]
        # counts the jobs posted, posted[1] is 1 while the caller computes the job too;
        # busy[i] is 1 while helper i runs a job or has yet to release the GIL after it.
        self.spinning: bool | None = None  # unknown until the first helper starts
        self.ticks = 0  # SPIN in ticks of the time-stamp counter; 0: do not spin
        self.counter = np.zeros(1, dtype=np.int64)
        self.posted = np.zeros(2, dtype=np.int64)
        self.busy = np.zeros(_MOST_HELPERS, dtype=np.int64)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def place(self, helpers: Sequence[_Helper], beside_caller: bool) -> None:
        """Bind each helper to one CPU the calling thread may use, spread over them and,
        with ``beside_caller`` (the caller computes too), never the caller's own CPU.
        A system that refuses (CPUs taken away, no permission) leaves them unbound."""
        if self.getcpu is None:
            return
        try:
            allowed = sorted(os.sched_getaffinity(0))
            if beside_caller:
                caller = self.getcpu()
                allowed = [cpu for cpu in allowed if cpu != caller]
            if not allowed:  # the caller keeps one CPU: helpers share it, none bound elsewhere
                self.unbind()
                return
            for index, helper in enumerate(helpers):
                cpu = allowed[index % len(allowed)]
                if helper.cpu != cpu and helper.thread.native_id is not None:
                    os.sched_setaffinity(helper.thread.native_id, {cpu})
                    helper.cpu = cpu
        except OSError:  # pragma: no cover - a CPU taken away: stop binding
            self.getcpu = None
            self.unbind()

    def unbind(self) -> None:
        """Let every helper run on any CPU again (best effort)."""
        for helper in self.helpers:
            if helper.cpu is not None and helper.thread.native_id is not None:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(helper.thread.native_id, os.sched_getaffinity(0))
                helper.cpu = None

    def add_helpers(self, count: int) -> None:
        """Start helpers until there are ``count``."""
        if self.spinning is None:
            from corr2d.core import _spin

            self.spinning = _spin.available()
        while len(self.helpers) < min(count, _MOST_HELPERS):
            self.helpers.append(_Helper(self, len(self.helpers)))

    def post(self, job: _Job, helpers: Sequence[_Helper], caller_computes: bool) -> None:
        """Hand ``job`` to ``helpers``: parked ones see ``posted`` change, sleeping ones
        are woken."""
        for helper in helpers:
            helper.job = job
            helper.wake.set()  # before the post, so that a parked helper finds it set
        self.posted[1] = caller_computes
        self.posted[0] += 1

    def run(self, func: Any, args: tuple[Any, ...], threads: int) -> None:
        """``func(*args, counter)`` on the calling thread and ``threads - 1`` helpers."""
        with self.one_job:
            self.add_helpers(threads - 1)
            counter = self.counter
            counter[0] = 0
            job = _Job(func, (*args, counter))
            helpers = self.helpers[: threads - 1]
            self.place(helpers, beside_caller=True)
            self.post(job, helpers, caller_computes=True)
            try:
                func(*args, counter)
            except BaseException:
                counter[0] = _PAST_EVERY_TASK  # the helpers stop claiming
                raise
            finally:
                with self.state:
                    job.closed = True
                    waiting = job.running > 0
                if waiting:
                    self._wait_for_helpers(job, len(helpers))
                for helper in helpers:
                    helper.job = None
            if job.error is not None:  # pragma: no cover
                raise job.error

    def _wait_for_helpers(self, job: _Job, count: int) -> None:
        """Until the helpers that joined ``job`` have returned (and, where they spin,
        have released the GIL, so that this thread takes it without sleeping)."""
        if self.ticks:
            from corr2d.core import _spin

            if _spin.wait_idle(self.busy, count, 2 * self.ticks):
                return
        job.done.wait()

    def run_interruptibly(
        self, func: Any, args: tuple[Any, ...], threads: int, counter: NDArray[np.int64]
    ) -> None:
        """The job on ``threads`` helpers while the calling (main) thread waits in steps
        of ``_POLL`` seconds; see the module notes for ``KeyboardInterrupt``."""
        with self.one_job:
            self.add_helpers(threads)
            job = _Job(func, args)
            self.progress.clear()
            helpers = self.helpers[:threads]
            self.place(helpers, beside_caller=False)
            self.post(job, helpers, caller_computes=False)
            try:
                self._wait(job)
            except KeyboardInterrupt:
                counter[0] = _PAST_EVERY_TASK
                self._wait(job, interrupted=True)
                raise
            finally:
                for helper in helpers:
                    helper.job = None
            if job.error is not None:  # pragma: no cover
                raise job.error

    def _wait(self, job: _Job, interrupted: bool = False) -> None:
        """Until a helper has returned (every task claimed) and none is still running;
        then close the job, so that a helper waking late does nothing."""
        while True:
            try:
                self.progress.wait(_POLL)
            except KeyboardInterrupt:
                if not interrupted:
                    raise
                continue  # already stopping: the helpers finish their tasks first
            with self.state:
                self.progress.clear()
                if job.finished > 0 and job.running == 0:
                    job.closed = True
                    return


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.reset)


def run_tasks(func: Any, *args: Any, threads: int, work: float = 0.0) -> None:
    """Call the task loop ``func(*args, counter)`` on ``threads`` threads (see module notes).

    With ``threads == 1`` it runs on the calling thread alone, unless ``work`` (in
    multiply-adds) makes it long enough to run interruptibly from the main thread.
    """
    if work >= INTERRUPTIBLE_WORK and threading.current_thread() is threading.main_thread():
        counter = np.zeros(1, dtype=np.int64)
        _pool.run_interruptibly(func, (*args, counter), max(1, threads), counter)
        return
    if threads <= 1:
        func(*args, np.zeros(1, dtype=np.int64))
        return
    _pool.run(func, args, threads)
