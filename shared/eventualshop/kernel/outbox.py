"""The outbox relay: publishes the events after the store's relay position, in order.

The position moves past an event only once the publisher confirmed it. It is a high-water mark,
safe because appends are serialised per database: positions commit in order, so an event that a
slow transaction commits later always lands after the position. A crash between publish and mark
publishes the batch again: delivery is at least once, consumers are idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from eventualshop.kernel.eventstore import EventStore, OutboxEntry

log = logging.getLogger(__name__)

#: While publishing keeps failing, a line at most this often (seconds) says it still does.
OUTAGE_LINE_SECONDS = 60.0


class PublishError(Exception):
    """The broker did not confirm; the relay's position stays before the event, which the next
    pass (or sweep) publishes again."""


class Publisher(Protocol):
    def publish(self, entries: Sequence[OutboxEntry]) -> None:
        """Publish in order; raise ``PublishError`` unless every entry was confirmed."""
        ...


class InMemoryPublisher:
    """Collects what was published; can be switched off to play a stopped broker."""

    def __init__(self) -> None:
        self.published: list[OutboxEntry] = []
        self.available = True
        self._lock = threading.Lock()

    def publish(self, entries: Sequence[OutboxEntry]) -> None:
        with self._lock:
            if not self.available:
                raise PublishError("broker unavailable")
            self.published.extend(entries)


class PublishingOutage:
    """Whether publishing fails now, told in one line when it starts failing, in at most one a
    minute (``every``) while it keeps failing, with the attempts that failed, and in one when
    it works again. The relay used to let every failed pass's ``PublishError`` out, and the
    relay after each commit logged it: a warning per commit while the broker was down.
    Thread-safe; relays sharing a publisher share one (the composition root hands it to them),
    so they say it once."""

    def __init__(self, *, every: float = OUTAGE_LINE_SECONDS) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._since: float | None = None  # when it started failing (monotonic), if it is
        self._told: float = 0.0  # when the last line was
        self._failed = 0  # attempts failed since it started failing

    @property
    def failing(self) -> bool:
        return self._since is not None

    def failed(self, error: PublishError) -> None:
        now = time.monotonic()
        with self._lock:
            self._failed += 1
            if self._since is None:
                self._since = self._told = now
                began = True
            elif now - self._told >= self.every:
                self._told = now
                began = False
            else:
                return
            failed, lasted = self._failed, now - self._since
        if began:
            log.warning(
                "publishing failed: %s; the events stay in the outbox and go out when it works",
                _one_line(error),
            )
        else:
            log.warning(
                "publishing still fails after %.0f s (%d failed attempts): %s",
                lasted,
                failed,
                _one_line(error),
            )

    def worked(self) -> None:
        if self._since is None:  # the usual case: no lock taken
            return
        with self._lock:
            if self._since is None:
                return
            failed, lasted = self._failed, time.monotonic() - self._since
            self._since, self._failed = None, 0
        log.info(  # news, not a warning: as a projector's "running again"
            "publishing works again after %.0f s (%d failed attempts); the outbox goes out",
            lasted,
            failed,
        )


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__


class OutboxRelay:
    """Publishes the events after the store's relay position, in order, a batch per pass.

    One pass at a time per relay (two would publish the same events twice). A caller of
    :meth:`run_once` never waits for another caller's pass: right after a commit, when a pass is
    already running in this process, it asks for one more pass and returns at once, and that
    follow-up runs in a background thread after the running pass. So a command's latency never
    includes other commands' publishing, and no event is left behind: the follow-up starts after
    the caller's commit, so it sees the caller's events. :meth:`drain` (the sweep) waits its turn.

    A publisher that fails (``PublishError``) leaves the events after the position, for the
    next pass or sweep, and is told of by the publisher's :class:`PublishingOutage`: a line
    when publishing starts failing and one when it works again, not one per pass.
    """

    def __init__(
        self,
        store: EventStore,
        publisher: Publisher,
        *,
        batch_size: int = 100,
        outage: PublishingOutage | None = None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.batch_size = batch_size
        self._pass = threading.Lock()
        # Guards the two flags below; never held while publishing.
        self._flags = threading.Lock()
        self._requested = False
        self._follow_up: threading.Thread | None = None
        self._idle = threading.Condition(self._flags)
        #: The position of the last event this relay published (``drain``'s bound).
        self._through = 0
        #: The publisher's, shared with the other relays publishing through it (one per store).
        self.outage = outage if outage is not None else PublishingOutage()

    def _publish_batch(self) -> int:
        """One batch; the caller holds ``_pass``."""
        pending = self.store.pending_outbox(self.batch_size)
        if not pending:
            return 0
        try:
            self.publisher.publish(pending)
        except PublishError as error:
            self.outage.failed(error)
            raise
        self.outage.worked()
        last = pending[-1].id
        assert last is not None, "pending entries carry their position"
        self.store.mark_published_through(last)
        self._through = last
        return len(pending)

    def run_once(self) -> int:
        """Publish one batch now, or, if a pass is running, have one more run after it in the
        background; return how many events this call published (0 when it handed over, or when
        the publisher failed: the outage is told of, the events stay for the next pass)."""
        if not self._pass.acquire(blocking=False):
            with self._flags:
                self._requested = True
            self._start_follow_up()
            return 0
        try:
            return self._publish_batch()
        except PublishError:
            return 0
        finally:
            self._pass.release()
            self._start_follow_up()

    def _start_follow_up(self) -> None:
        with self._flags:
            if not self._requested or self._follow_up is not None:
                return  # nothing asked for, or the running follow-up will see the request
            self._follow_up = threading.Thread(
                target=self._run_follow_ups, name="outbox-relay", daemon=True
            )
            self._follow_up.start()

    def _run_follow_ups(self) -> None:
        failed = False
        try:
            while True:
                with self._flags:
                    if not self._requested:
                        return
                    self._requested = False
                with self._pass:
                    # Until nothing is pending: the requests it answers may span several batches.
                    while self._publish_batch() == self.batch_size:
                        pass
        except PublishError:
            # The broker failed (told of by the outage): the events stay after the position,
            # for the next pass or sweep.
            failed = True
        except Exception:
            failed = True
            log.warning("outbox relay follow-up failed; the sweep will publish", exc_info=True)
        finally:
            with self._flags:
                self._follow_up = None
                if failed:  # no tight loop against a dead broker: the next commit or sweep
                    self._requested = False
                self._idle.notify_all()
            # A request that came in after the last check must not wait for the next commit.
            self._start_follow_up()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no follow-up pass is running or asked for; whether that happened in time."""
        with self._flags:
            return self._idle.wait_for(
                lambda: self._follow_up is None and not self._requested, timeout
            )

    def drain(self, *, wait: float = 2.0, budget: float | None = None) -> int:
        """Publish what was written when the drain began; stop at the first broker failure
        (raising nothing: the outage tells of it, as for a pass), when another pass holds the
        relay for longer than ``wait`` seconds (0: a pass of this process is publishing
        already; what it leaves, the next sweep takes), or
        after the batch that used up ``budget`` seconds. A scheduled job must never hang on a
        pass that hangs, nor spend its turn on one long backlog: the next sweep goes on.

        Bounded by the position written at the start: under steady load something is always
        pending, and a drain chasing it would never return. The commits' own passes publish
        what comes later."""
        until = self.store.last_position()
        deadline = None if budget is None else time.monotonic() + budget
        total = 0
        while True:
            if not self._pass.acquire(timeout=wait):
                if wait > 0:
                    log.warning("outbox relay busy for %.0f s; the next sweep drains", wait)
                return total
            try:
                published = self._publish_batch()
            except PublishError:
                return total
            finally:
                self._pass.release()
            total += published
            if published == 0 or self._through >= until:
                return total
            if deadline is not None and time.monotonic() >= deadline:
                log.info("outbox drain stopped after %d events; the next sweep goes on", total)
                return total
