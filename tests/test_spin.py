"""Bounded waits without the GIL (corr2d.core._spin) and the task pool's use of them."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from corr2d.core import _pool, _spin
from corr2d.core._microkernels import next_task

spinning = pytest.mark.skipif(not _spin.available(), reason="spinning needs x86-64 and the JIT")

SHORT = 0.002  # seconds: a bound that passes


def _flags(posted: int, caller_computes: int, counter: int, busy: int) -> tuple[np.ndarray, ...]:
    return (
        np.array([posted, caller_computes], dtype=np.int64),
        np.array([counter], dtype=np.int64),
        np.array([busy, 1], dtype=np.int64),
    )


def _both_parks(seen: int, state: tuple[int, int, int, int]) -> list[tuple[bool, list[int]]]:
    """park and its twin on the same flags: (result, busy afterwards) each."""
    ticks = int(_spin.ticks_per_second() * SHORT)
    found = []
    for twin in (False, True):
        posted, counter, busy = _flags(*state)
        if twin:
            result = _spin.park_reference(posted, seen, counter, busy, 0, SHORT)
        else:
            result = _spin.park(posted, seen, counter, busy, 0, ticks)
        found.append((bool(result), busy.tolist()))
    return found


@spinning
@pytest.mark.parametrize(
    ("seen", "state", "expected"),
    [
        (3, (4, 0, 0, 1), True),  # a job posted since: found at once, this helper idle
        (4, (4, 0, 0, 1), False),  # nothing new: the bound passes
        (3, (4, 1, 0, 1), True),  # posted, the caller not started: found after the bound
        (3, (4, 1, 7, 1), True),  # posted and started
    ],
)
def test_park_agrees_with_its_twin(
    seen: int, state: tuple[int, int, int, int], expected: bool
) -> None:
    compiled, twin = _both_parks(seen, state)
    assert compiled == twin == (expected, [0, 1])  # only its own element cleared


@spinning
def test_park_sees_a_post_made_while_it_watches() -> None:
    posted, counter, busy = _flags(0, 1, 0, 1)
    ticks = int(_spin.ticks_per_second() * 5.0)  # far longer than the test waits

    def post() -> None:
        time.sleep(0.01)
        counter[0] = 1
        posted[0] = 1

    poster = threading.Thread(target=post)
    start = time.perf_counter()
    poster.start()
    assert _spin.park(posted, 0, counter, busy, 0, ticks)
    assert time.perf_counter() - start < 2.0
    poster.join()


@spinning
@pytest.mark.parametrize("busy", [[0, 0, 1], [0, 1, 0], [0, 0, 0]])
def test_wait_idle_agrees_with_its_twin(busy: list[int]) -> None:
    ticks = int(_spin.ticks_per_second() * SHORT)
    flags = np.array(busy, dtype=np.int64)
    expected = not any(busy[:2])
    assert _spin.wait_idle(flags, 2, ticks) == expected
    assert _spin.wait_idle_reference(flags, 2, SHORT) == expected
    assert flags.tolist() == busy


def test_the_counter_is_measured_once_and_plausibly() -> None:
    if not _spin.available():
        pytest.skip("no time-stamp counter to measure")
    first = _spin.ticks_per_second()
    assert first == _spin.ticks_per_second()
    assert 1e8 < first < 1e11  # 100 MHz .. 100 GHz


# ------------------------------------------------------------------ the pool


def _compiled_claims() -> object:
    from numba import njit

    @njit(nogil=True)
    def claims(tasks, owner, me_counter, counter):  # type: ignore[no-untyped-def]
        me = next_task(me_counter)
        while True:
            task = next_task(counter)
            if task >= tasks:
                return
            owner[task] = me
            acc = 0.0
            for i in range(20000):
                acc += i * 1e-9
            owner[task] += int(acc * 0)

    return claims


def test_jobs_back_to_back_share_their_tasks_and_each_runs_once() -> None:
    claims = _compiled_claims()
    tasks = 64
    for _ in range(30):
        owner = np.full(tasks, -1, dtype=np.int64)
        _pool.run_tasks(claims, tasks, owner, np.zeros(1, dtype=np.int64), threads=2)
        assert (owner >= 0).all() and (owner <= 1).all()


def _raising_loop(seen: list[int], counter: np.ndarray) -> None:
    """A task loop in Python that fails on the calling thread after a few tasks."""
    while (task := int(counter[0])) < 1000:
        counter[0] += 1
        seen.append(task)
        if threading.current_thread() is threading.main_thread() and task >= 5:
            raise RuntimeError("failed on the calling thread")
        time.sleep(0.001)


def test_a_failing_loop_stops_the_helpers_and_leaves_the_pool_usable() -> None:
    seen: list[int] = []
    with pytest.raises(RuntimeError, match="calling thread"):
        _pool.run_tasks(_raising_loop, seen, threads=2)
    assert len(seen) < 1000  # the helpers stopped claiming
    assert all(h.job is None for h in _pool._pool.helpers)
    owner = np.full(16, -1, dtype=np.int64)
    claims = _compiled_claims()
    _pool.run_tasks(claims, 16, owner, np.zeros(1, dtype=np.int64), threads=2)
    assert (owner >= 0).all()


@spinning
@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc")
def test_helpers_stop_spinning_soon_after_the_last_job() -> None:
    claims = _compiled_claims()
    for _ in range(3):  # the first job prepares the spinning
        owner = np.full(16, -1, dtype=np.int64)
        _pool.run_tasks(claims, 16, owner, np.zeros(1, dtype=np.int64), threads=2)
        time.sleep(0.01)
    assert _pool._pool.ticks > 0
    time.sleep(50 * _pool.SPIN)
    for helper in _pool._pool.helpers:
        with open(f"/proc/self/task/{helper.thread.native_id}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
        assert state == "S"  # asleep, not running
