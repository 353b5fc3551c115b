"""The outbox relay after a commit, run so that a request never blocks on a dead broker.

A command's events are safe once committed: the outbox holds them, and the scheduled sweep
publishes whatever the relay after commit could not. So the request waits only a moment for the
relay (``wait`` seconds: with a healthy broker the event is on its way when the 202 leaves,
which keeps read-your-writes latency low), then answers regardless. Passes are coalesced: one
runs at a time per function, and a pass that starts after a commit covers it, so a broker outage
ties up one background thread, not one per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from eventualshop.runtime.unavailable import summary

log = logging.getLogger("eventualshop.relay")

#: How long a request waits for the relay pass that covers its commit.
RELAY_WAIT_SECONDS = 1.0


class RelayAfterCommit:
    def __init__(self, relay: Callable[[], None], *, wait: float = RELAY_WAIT_SECONDS) -> None:
        self.relay = relay
        self.wait = wait
        self._changed = threading.Condition()
        self._requested = 0  # commits asked for so far
        self._covered = 0  # commits a finished pass covered
        self._running = False

    def __call__(self) -> bool:
        """Request a pass; True if one covering this commit finished within ``wait``."""
        with self._changed:
            self._requested += 1
            ticket = self._requested
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="eventualshop-relay", daemon=True).start()
            return self._changed.wait_for(lambda: self._covered >= ticket, timeout=self.wait)

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._covered >= self._requested:
                    self._running = False
                    return
                covers = self._requested
            try:
                self.relay()
            except Exception as error:  # the sweep publishes what this pass could not
                log.warning(
                    "outbox relay after commit failed, the sweep retries: %s", summary(error)
                )
            with self._changed:
                self._covered = covers
                self._changed.notify_all()
