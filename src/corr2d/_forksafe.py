"""Locks that a forked child does not inherit held.

``os.fork`` copies the calling thread only.  A lock that another thread held at that
moment stays held in the child forever, and the child's first computation deadlocks.
Module-level locks are therefore made with :func:`fork_safe_lock`, which registers a
handler that gives the child a fresh lock (POSIX; elsewhere there is no fork).
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["fork_safe_lock"]


def fork_safe_lock(namespace: dict[str, Any], name: str) -> threading.Lock:
    """A new lock, stored as ``namespace[name]`` and replaced there in a forked child.

    Code must look the lock up by that name each time (``with _lock:`` on a module
    global does), never keep a reference of its own.
    """
    lock = threading.Lock()
    namespace[name] = lock
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lambda: namespace.__setitem__(name, threading.Lock()))
    return lock
