"""The outbox relay tells of a broker outage in one line when it begins, at most one a minute
while it lasts, and one when it ends: not a warning per commit."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from eventualshop.kernel.eventstore import AppendBatch
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.outbox import InMemoryPublisher, OutboxRelay, PublishingOutage
from eventualshop.runtime.root import Root
from tests.unit.broker.samples import outbox_entry, stored_event


def _sqlite_down() -> Exception:
    try:
        raise sqlite3.OperationalError("connection refused")
    except sqlite3.OperationalError as error:
        return sa.exc.OperationalError("SELECT 1", {}, error)


def _store_with_events(count: int) -> InMemoryEventStore:
    store = InMemoryEventStore()
    for version in range(1, count + 1):
        event = stored_event("CartItemAdded", f'{{"n":{version}}}', version=version)
        store.append(AppendBatch(events=[event], outbox=[outbox_entry("shopping-cart", event)]))
    return store


@pytest.fixture
def relay_log(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[logging.LogRecord]]]:
    with caplog.at_level(logging.DEBUG):
        yield lambda: [r for r in caplog.records if r.name.startswith("eventualshop")]


def test_a_broker_outage_is_one_line_when_it_begins_and_one_when_it_ends(
    relay_log: Callable[[], list[logging.LogRecord]],
) -> None:
    store = _store_with_events(1)
    publisher = InMemoryPublisher()
    relay = OutboxRelay(store, publisher)
    publisher.available = False

    # Was: PublishError out of every pass, one warning per commit (runtime.after_commit).
    for version in range(2, 52):
        event = stored_event("CartItemAdded", f'{{"n":{version}}}', version=version)
        store.append(AppendBatch(events=[event], outbox=[outbox_entry("shopping-cart", event)]))
        assert relay.run_once() == 0

    records = relay_log()
    assert len(records) == 1, [r.getMessage() for r in records]
    (began,) = records
    assert began.levelno == logging.WARNING
    assert began.exc_info is None
    assert "publishing failed: broker unavailable" in began.getMessage()
    assert "\n" not in began.getMessage()
    assert len(store.pending_outbox(1000)) == 51  # nothing lost: all of it still to go

    publisher.available = True
    assert relay.drain() == 51
    assert store.pending_outbox(1000) == []
    ended = relay_log()[1:]
    assert len(ended) == 1, [r.getMessage() for r in ended]
    assert "publishing works again after 0 s (50 failed attempts)" in ended[0].getMessage()
    assert ended[0].levelno == logging.INFO  # the outage's end is news, not a warning
    relay.run_once()
    assert len(relay_log()) == 2  # quiet again


def test_a_long_outage_says_it_is_still_on_at_most_once_a_minute_with_the_attempts(
    relay_log: Callable[[], list[logging.LogRecord]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventualshop.kernel import outbox

    now = [1000.0]
    monkeypatch.setattr(outbox.time, "monotonic", lambda: now[0])
    store = _store_with_events(1)
    publisher = InMemoryPublisher()
    publisher.available = False
    relay = OutboxRelay(store, publisher)

    for _ in range(3):  # 0 s, 30 s, 60 s
        relay.run_once()
        now[0] += 30
    for _ in range(2):  # 90 s, 120 s
        relay.run_once()
        now[0] += 30

    said = [r.getMessage() for r in relay_log()]
    assert len(said) == 3, said
    assert "publishing still fails after 60 s (3 failed attempts)" in said[1], said
    assert "publishing still fails after 120 s (5 failed attempts)" in said[2], said


def test_relays_sharing_a_publisher_tell_of_its_outage_once(
    relay_log: Callable[[], list[logging.LogRecord]],
) -> None:
    publisher = InMemoryPublisher()
    publisher.available = False
    outage = PublishingOutage()  # the publisher's, as the composition root hands it over
    relays = [OutboxRelay(_store_with_events(1), publisher, outage=outage) for _ in range(3)]
    for relay in relays * 5:
        relay.run_once()
    assert len(relay_log()) == 1
    publisher.available = True
    assert sum(relay.drain() for relay in relays) == 3
    assert len(relay_log()) == 2


def test_an_error_that_is_not_the_publishers_still_escapes_the_pass() -> None:
    class Broken(InMemoryEventStore):
        def pending_outbox(self, limit: int = 100) -> Any:
            raise _sqlite_down()

    with pytest.raises(sa.exc.OperationalError):
        OutboxRelay(Broken(), InMemoryPublisher()).run_once()


def test_the_composition_roots_relays_share_their_publishers_outage(
    embedded_root: Root,
) -> None:
    relays = embedded_root.relays()
    assert len(relays) > 1  # the embedded contexts' stores are files of their own
    assert len({id(relay.outage) for relay in relays}) == 1
    shared = relays[0].outage
    embedded_root.use_publisher(InMemoryPublisher())  # another publisher, another outage
    assert embedded_root.relays()[0].outage is not shared
