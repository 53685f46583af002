"""The task pool (corr2d.core._pool): helpers bound to CPUs other than the caller's."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from corr2d.core import _pool

bindable = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and at least two CPUs to bind threads to",
)


_LOCK = threading.Lock()


def _claim_tasks(seen: list[int], tasks: int, counter: np.ndarray) -> None:
    """A task loop in Python: each task records which thread ran it."""
    while True:
        with _LOCK:
            task = int(counter[0])
            counter[0] += 1
        if task >= tasks:
            return
        seen.append(threading.get_native_id())
        time.sleep(0.002)


@bindable
def test_helpers_run_tasks_bound_to_a_cpu_the_caller_may_use_but_is_not_on() -> None:
    seen: list[int] = []
    _pool.run_tasks(_claim_tasks, seen, 40, threads=2)
    assert len(seen) == 40
    helper = _pool._pool.helpers[0]
    assert helper.thread.native_id in seen  # the helper took a share
    assert helper.cpu in os.sched_getaffinity(0)
    assert os.sched_getaffinity(helper.thread.native_id) == {helper.cpu}
    # the caller's CPU is left to the caller (it may move later; at hand-over it was not
    # the helper's)
    _pool._pool.place([helper], beside_caller=True)
    assert helper.cpu != _pool._pool.getcpu()  # type: ignore[misc]


@bindable
def test_helpers_of_an_interruptible_job_are_spread_over_every_cpu() -> None:
    pool = _pool._Pool()
    helpers = [_pool._Helper(pool, i) for i in range(2)]
    pool.helpers = helpers
    pool.place(helpers, beside_caller=False)
    cpus = sorted(os.sched_getaffinity(0))
    assert [h.cpu for h in helpers] == cpus[:2]
    pool.unbind()
    assert all(h.cpu is None for h in helpers)
    assert os.sched_getaffinity(helpers[0].thread.native_id) == set(cpus)


@bindable
def test_a_caller_restricted_to_one_cpu_leaves_no_helper_bound_outside_it() -> None:
    """A thread that narrows its own affinity after helpers were bound elsewhere: the
    next job's helpers may only run where the caller may."""
    pool = _pool._Pool()
    helper = _pool._Helper(pool, 0)
    pool.helpers = [helper]
    cpus = sorted(os.sched_getaffinity(0))
    mine = cpus[-1]
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpus[0]})
    try:
        pool.place([helper], beside_caller=False)
        assert helper.cpu == cpus[0]
        os.sched_setaffinity(0, {mine})
        pool.place([helper], beside_caller=True)  # no CPU but the caller's is allowed
        assert helper.cpu is None
        assert os.sched_getaffinity(helper.thread.native_id) == {mine}
    finally:
        os.sched_setaffinity(0, previous)
