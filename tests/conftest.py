"""Shared fixtures: a seeded generator and hypothesis settings for the whole suite, and
Ctrl-C reaching the children the tests start."""

from __future__ import annotations

import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# A suite started in the background (``cmd &`` in a script) inherits SIGINT ignored, and
# so would every child it starts: the tests that send Ctrl-C to a child need Python's
# ordinary handler there, which a child gets only if SIGINT is not ignored here.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Compiled loops are built on first use, so the first example of a test can be slow:
# no per-example deadline.  Example counts stay modest to keep the suite fast.  The
# examples are derived from each test's name, so every run of the suite tries the same
# ones and a failure reproduces; `pytest --hypothesis-profile explore` draws fresh, more
# numerous examples to look for new failures.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile(
    "explore", settings.get_profile("default"), derandomize=False, max_examples=300
)
settings.load_profile("default")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(20261121)
