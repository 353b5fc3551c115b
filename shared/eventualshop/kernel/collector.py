"""Cyclic garbage collection paused around work that makes many objects and no cyclic garbage.

Two users: a projection rebuild (its scratch documents: every full collection walked all of them)
and a function's start (``runtime/start.py``: long-lived classes and validators, frozen afterwards).
They share one pause, so one thread's end cannot resume collection under another's work.
"""

from __future__ import annotations

import gc
import threading
from types import TracebackType


class PausedCollection:
    """``with PausedCollection():`` runs its block with the cyclic collector paused. Collection
    resumes afterwards only if it was on before: a caller that turned it off keeps it off.
    Nested and concurrent uses share one pause (a lock and a depth count): the last one out
    resumes it. ``freeze=True`` asks that what exists then be frozen (:func:`gc.freeze`) as the
    pause ends, so later collections leave it alone."""

    _lock = threading.Lock()
    _depth = 0
    _resume = False
    _freeze = False

    def __init__(self, *, freeze: bool = False) -> None:
        self._freezes = freeze

    def __enter__(self) -> None:
        with PausedCollection._lock:
            if PausedCollection._depth == 0:
                PausedCollection._resume = gc.isenabled()
                gc.disable()
            PausedCollection._depth += 1
            PausedCollection._freeze |= self._freezes

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with PausedCollection._lock:
            PausedCollection._depth -= 1
            if PausedCollection._depth == 0:
                if PausedCollection._freeze:
                    gc.freeze()
                    PausedCollection._freeze = False
                if PausedCollection._resume:
                    gc.enable()
