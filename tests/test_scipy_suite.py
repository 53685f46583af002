"""SciPy's own tests of correlate2d and convolve2d, run unmodified against corr2d.

The test classes ``TestConvolve2d`` and ``TestCorrelate2d`` (scipy/signal/tests/
test_signaltools.py) and ``Testfirwin_2d`` (test_fir_filter_design.py) of the installed
SciPy (the test extra pins its minor version) are imported with ``scipy.signal``'s
``convolve2d`` and ``correlate2d`` replaced by corr2d's, so every name they call, their
parametrisations included, is corr2d's; ``scipy.signal.correlate2d``, which some tests
look up at call time, is replaced for the duration of each test.  Their ``xp`` fixture
is NumPy's namespace, the one backend corr2d implements, and corr2d's functions take
SciPy's entries in its table of backends (which its decorators read).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pytest
import scipy.signal

import corr2d


def _import_with_corr2d(name: str) -> ModuleType:
    import importlib

    from scipy._lib._array_api import xp_capabilities_table as capabilities

    saved = scipy.signal.convolve2d, scipy.signal.correlate2d
    # the classes' decorators look the functions up in SciPy's table of array backends
    capabilities[corr2d.convolve2d] = capabilities[scipy.signal.convolve2d]
    capabilities[corr2d.correlate2d] = capabilities[scipy.signal.correlate2d]
    scipy.signal.convolve2d, scipy.signal.correlate2d = corr2d.convolve2d, corr2d.correlate2d
    # their marks (slow, skip_xp_backends, ...) are registered by SciPy's own conftest,
    # which this suite does not load: take them as they are while importing
    marks = pytest.mark
    config = marks._config
    marks._config = None
    try:
        module = importlib.import_module(name)
    finally:
        scipy.signal.convolve2d, scipy.signal.correlate2d = saved
        marks._config = config
    assert module.convolve2d is corr2d.convolve2d, f"{name} was imported before, with SciPy's"
    return module


signaltools = _import_with_corr2d("scipy.signal.tests.test_signaltools")
fir_design = _import_with_corr2d("scipy.signal.tests.test_fir_filter_design")


@pytest.fixture
def xp() -> ModuleType:
    """SciPy's array-namespace fixture, with NumPy only."""
    return np


@pytest.fixture(autouse=True)
def _corr2d_faces(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(scipy.signal, "convolve2d", corr2d.convolve2d)
    monkeypatch.setattr(scipy.signal, "correlate2d", corr2d.correlate2d)
    yield


class TestConvolve2d(signaltools.TestConvolve2d):
    """scipy.signal's TestConvolve2d on corr2d.convolve2d (and correlate2d)."""


class TestCorrelate2d(signaltools.TestCorrelate2d):
    """scipy.signal's TestCorrelate2d on corr2d.correlate2d."""


class Testfirwin_2d(fir_design.Testfirwin_2d):
    """scipy.signal's Testfirwin_2d: its impulse response goes through corr2d.convolve2d."""


def test_the_classes_call_corr2d() -> None:
    assert signaltools.convolve2d is corr2d.convolve2d
    assert signaltools.correlate2d is corr2d.correlate2d
    assert fir_design.convolve2d is corr2d.convolve2d
