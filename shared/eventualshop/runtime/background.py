"""The outbox relay on a thread of its own: a command wakes it and returns at once.

Used where publishing means delivering (the in-process broker hands each event to every
subscriber before the relay may mark it published): doing that on the request's thread would
make a command wait for the read models. A wake-up names the context whose outbox has news; the
thread drains it. What a failed pass leaves behind, the next wake-up or the sweep publishes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from eventualshop.kernel.outbox import OutboxRelay

log = logging.getLogger(__name__)


class BackgroundRelay:
    def __init__(self, relay: Callable[[str], OutboxRelay]) -> None:
        self.relay = relay
        self._wanted: set[str] = set()
        self._busy = False
        self._stopping = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def wake(self, context: str) -> None:
        with self._changed:
            self._wanted.add(context)
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._run, name="eventualshop-relay", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until every wake-up so far was worked off; whether it was."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._wanted and not self._busy, timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """Finish what was asked for (a graceful stop drains), then end the thread."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._wanted or self._stopping)
                if not self._wanted:
                    return
                contexts, self._wanted = self._wanted, set()
                self._busy = True
            try:
                for context in sorted(contexts):
                    try:
                        self.relay(context).drain()
                    except Exception as error:  # the sweep tries again; one line, no traceback
                        log.warning("relay of %s failed, the sweep retries: %s", context, error)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
