"""Shared fixtures: a seeded generator and hypothesis settings for the whole suite."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Compiled loops are built on first use, so the first example of a test can be slow:
# no per-example deadline.  Example counts stay modest to keep the suite fast.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("default")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(20261121)
