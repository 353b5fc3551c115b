"""Every DeadLetterStore adapter keeps, lists and claims dead letters alike."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from eventualshop.runtime.broker.deadletters import (
    DeadLetter,
    DeadLetterStore,
    InMemoryDeadLetterStore,
    SqlDeadLetterStore,
    dead_letters,
)

WHEN = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.postgres)


def letter(trigger: str = "cart-projector", n: int = 1, **changes: object) -> DeadLetter:
    base = DeadLetter(
        trigger=trigger,
        event_id=f"event-{n}",
        event_type="eventualshop.shopping-cart.CartCreated.v1",
        attributes={"specversion": "1.0", "id": f"event-{n}", "source": "/s", "type": "t"},
        data=b'{"n":1}',
        reason="status 503: unavailable",
        attempts=4,
        dead_at=WHEN,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite", POSTGRESQL])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeadLetterStore]:
    if request.param == "memory":
        yield InMemoryDeadLetterStore()
        return
    if request.param == "sqlite":
        sql = SqlDeadLetterStore(f"sqlite:///{tmp_path / 'dead.sqlite3'}")
        sql.create_table()
        yield sql
        sql.engine.dispose()
        return
    engine: Engine = request.getfixturevalue("postgres_engine")
    sql = SqlDeadLetterStore(engine)
    sql.create_table()
    with engine.begin() as connection:
        connection.execute(dead_letters.delete())
    yield sql


def test_a_letter_comes_back_as_it_was_kept(store: DeadLetterStore) -> None:
    kept = letter(data=bytes(range(256)), attributes={"id": "é", "type": "t"})

    letter_id = store.add(kept)

    assert store.get(letter_id) == replace(kept, id=letter_id)


def test_timestamps_come_back_in_utc(store: DeadLetterStore) -> None:
    letter_id = store.add(letter(dead_at=WHEN.astimezone(timezone(timedelta(hours=2)))))

    got = store.get(letter_id)

    assert got is not None
    assert got.dead_at == WHEN
    assert got.dead_at.utcoffset() == timedelta(0)


def test_listing_filters_by_trigger_pages_by_id_and_hides_replayed_ones(
    store: DeadLetterStore,
) -> None:
    ids = [store.add(letter(trigger, n)) for n, trigger in enumerate("abab", start=1)]
    assert store.mark_replayed(ids[2], WHEN)

    assert [x.id for x in store.list()] == [ids[0], ids[1], ids[3]]
    assert [x.id for x in store.list(trigger="a")] == [ids[0]]
    assert [x.id for x in store.list(trigger="a", include_replayed=True)] == [ids[0], ids[2]]
    assert [x.id for x in store.list(after_id=ids[0], limit=1)] == [ids[1]]
    assert store.list(trigger="nobody") == []


def test_only_one_claim_on_a_letter_wins_and_it_can_be_undone(store: DeadLetterStore) -> None:
    letter_id = store.add(letter())

    assert store.mark_replayed(letter_id, WHEN) is True
    assert store.mark_replayed(letter_id, WHEN) is False
    replayed = store.get(letter_id)
    assert replayed is not None
    assert replayed.replayed_at == WHEN
    store.clear_replayed(letter_id)
    assert store.mark_replayed(letter_id, WHEN) is True


def test_an_unknown_letter_is_none_and_cannot_be_claimed(store: DeadLetterStore) -> None:
    assert store.get(12345) is None
    assert store.mark_replayed(12345, WHEN) is False


def test_the_table_has_the_columns_an_operator_queries(tmp_path: Path) -> None:
    sql = SqlDeadLetterStore(f"sqlite:///{tmp_path / 'dead.sqlite3'}")
    sql.create_table()

    columns = {c["name"] for c in sa.inspect(sql.engine).get_columns("dead_letters")}

    assert columns == {
        "id",
        "trigger",
        "event_id",
        "event_type",
        "attributes",
        "data",
        "reason",
        "attempts",
        "dead_at",
        "replayed_at",
    }


def test_an_id_and_a_type_longer_than_their_columns_are_kept_cut_and_whole_in_the_attributes(
    store: DeadLetterStore,
) -> None:
    """Any sender may name an event so: a malformed event is kept because it is malformed. On
    PostgreSQL the insert failed (value too long for varchar(255)): the function answered 500,
    the dead-letter sink refused it after the retries, and the event was kept nowhere."""
    long_id, long_type = "i" * 300, "t" * 400
    attributes = {"specversion": "1.0", "id": long_id, "source": "/s", "type": long_type}

    kept_id = store.add(letter(event_id=long_id, event_type=long_type, attributes=attributes))

    found = store.get(kept_id)
    assert found is not None
    assert found.event_id == long_id[:255]
    assert found.event_type == long_type[:255]
    assert found.attributes == attributes  # what a replay sends: the event as it came
