"""Migrations on databases an earlier revision wrote to. Revision 0002: the pending outbox rows'
events are what the relay publishes afterwards, and every stored outcome is kept; 0004 and 0007
below."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import URL

from eventualshop.adapters.database import alembic_config, create_engine, migrate
from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.adapters.schema import UtcDateTime, events, processed_messages
from eventualshop.kernel import cloudevents
from eventualshop.kernel.errors import DuplicateMessage
from eventualshop.kernel.eventstore import AppendBatch, InboxRecord
from tests.fixtures.events import event, for_command, history, snapshot

CONTEXT = "shopping-cart"
CART_CONSUMER = "shopping-cart.ShoppingCart"
NOW = datetime(2025, 1, 20, 12, 0, tzinfo=UTC)

#: The outbox table of revision 0001, as far as these tests write it.
OLD_OUTBOX = sa.Table(
    "outbox",
    sa.MetaData(),
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("event_id", sa.Uuid(as_uuid=True)),
    sa.Column("event_type", sa.String(200)),
    sa.Column("payload", sa.UnicodeText()),
    sa.Column("created_at", UtcDateTime()),
    sa.Column("published_at", UtcDateTime(), nullable=True),
)
OLD_EVENT_COLUMNS = [
    "event_id",
    "aggregate_id",
    "aggregate_type",
    "version",
    "event_type",
    "schema_version",
    "payload",
    "occurred_at",
    "correlation_id",
    "causation_id",
    "traceparent",
]


def test_the_pending_outbox_rows_are_what_the_relay_publishes_after_the_upgrade(
    empty_database_url: URL,
) -> None:
    command.upgrade(alembic_config(empty_database_url), "0001")
    cart = uuid4()
    # Published, pending, published out of order, and one event that never had an outbox row.
    written = [*history(cart, [1, 2, 3]), event(cart, 4)]
    published = {written[0].event_id, written[2].event_id}
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        for stored in written:
            connection.execute(
                sa.insert(events),
                {
                    column: getattr(stored, "timestamp" if column == "occurred_at" else column)
                    for column in OLD_EVENT_COLUMNS
                },
            )
        for stored in written[:3]:
            connection.execute(
                sa.insert(OLD_OUTBOX),
                {
                    "event_id": stored.event_id,
                    "event_type": stored.event_type,
                    "payload": cloudevents.structured(CONTEXT, stored),
                    "created_at": NOW,
                    "published_at": NOW if stored.event_id in published else None,
                },
            )
        connection.execute(
            sa.insert(processed_messages),
            {"consumer": "cart", "message_id": "m-1", "outcome": "accepted", "processed_at": NOW},
        )

    migrate(engine)
    store = SqlEventStore(engine, owns_engine=True)

    (pending,) = store.pending_outbox()
    (stored_second,) = store.load_events(cart, after_version=1)[:1]
    assert pending.event_id == written[1].event_id
    assert pending.payload == cloudevents.structured(CONTEXT, stored_second)
    store.mark_published_through(pending.id or 0)
    later = [event(cart, 5)]
    store.append(AppendBatch(later, context=CONTEXT))
    assert [e.event_id for e in store.pending_outbox()] == [later[0].event_id]
    # The inbox rows of the first release still refuse their redelivery.
    assert store.outcome("cart", "m-1") == "accepted"
    assert store.record_outcome(InboxRecord("cart", "m-1", "rejected")) == "accepted"
    try:
        store.append(
            for_command(AppendBatch([event(cart, 6)], inbox=InboxRecord("cart", "m-1", "again")))
        )
    except DuplicateMessage:
        pass
    else:  # pragma: no cover - the assertion's message
        raise AssertionError("a message processed before 0002 was accepted again")
    store.close()


def test_an_empty_store_starts_its_relay_at_the_beginning(empty_database_url: URL) -> None:
    store = SqlEventStore.from_url(empty_database_url, migrate=True)
    written = history(uuid4(), [1, 2])

    store.append(AppendBatch(written, context=CONTEXT))

    assert [e.event_id for e in store.pending_outbox()] == [e.event_id for e in written]
    store.close()


def test_downgrading_gives_the_outcomes_back_to_the_inbox_table(empty_database_url: URL) -> None:
    store = SqlEventStore.from_url(empty_database_url, migrate=True)
    store.append(
        for_command(AppendBatch(history(uuid4(), [1]), inbox=InboxRecord("cart", "m-1", "ok")))
    )
    store.close()

    command.downgrade(alembic_config(empty_database_url), "0001")

    engine = create_engine(empty_database_url)
    with engine.connect() as connection:
        outcomes = connection.execute(
            sa.select(processed_messages.c.message_id, processed_messages.c.outcome)
        ).all()
        columns = {c["name"] for c in sa.inspect(connection).get_columns("events")}
    engine.dispose()
    assert [tuple(row) for row in outcomes] == [("m-1", "ok")]
    assert "command_id" not in columns


def test_0004_keys_streams_by_type_and_keeps_positions_snapshots_and_the_inbox(
    empty_database_url: URL,
) -> None:
    """Written at 0003, where (aggregate id, version) was unique; upgraded, an id may have a
    stream of another type, and nothing written before changed."""
    command.upgrade(alembic_config(empty_database_url), "0003")
    engine = create_engine(empty_database_url)
    old = SqlEventStore(engine)
    user = uuid4()
    before = list(history(user, [1, 2, 3], aggregate_type="User"))
    positions = old.append(
        for_command(
            AppendBatch(
                before,
                snapshots=[replace(snapshot(user, 2), aggregate_type="User")],
                inbox=InboxRecord("identity.User", "m-1", "ok"),
            )
        )
    )
    engine.dispose()

    migrate(create_engine(empty_database_url))
    store = SqlEventStore.from_url(empty_database_url)

    loaded = store.load(user, "User")
    assert loaded.snapshot is not None
    assert loaded.snapshot.version == 2
    assert [(e.version, e.position) for e in loaded.events] == [(3, positions[2])]
    # Account's stream shares the user's id (AccountId = UserId) and no longer meets it.
    account = store.append(AppendBatch(history(user, [1], aggregate_type="Account")))
    assert account[0] > positions[-1]
    assert [e.aggregate_type for e in store.load(user, "Account").events] == ["Account"]
    assert [e.version for e in store.load_events(user, aggregate_type="User")] == [1, 2, 3]
    try:
        store.append(
            for_command(
                AppendBatch(history(user, [4]), inbox=InboxRecord("identity.User", "m-1", "again"))
            )
        )
    except DuplicateMessage:
        pass
    else:  # pragma: no cover - the assertion's message
        raise AssertionError("a command stored before 0004 was accepted again")
    store.close()


def test_0007_drops_the_fingerprints_a_payment_secret_may_be_in_and_keeps_the_rest(
    empty_database_url: URL,
) -> None:
    """Written at 0006, when the cart's fingerprints hashed the request's secrets too: the
    outcomes of its card and PayPal commands and its kept rejections lose the fingerprint, and
    nothing else changes, in the outcome or elsewhere."""
    command.upgrade(alembic_config(empty_database_url), "0006")
    engine = create_engine(empty_database_url)
    old = SqlEventStore(engine)
    cart, user = uuid4(), uuid4()

    def outcome(message: str, fingerprint: str, **more: object) -> str:
        return json.dumps({"messageId": message, "version": 1, "fingerprint": fingerprint} | more)

    def first_event(event_type: str, version: int, consumer: str, message: str) -> None:
        stored = replace(event(cart, version, aggregate_type="ShoppingCart"), event_type=event_type)
        inbox = InboxRecord(consumer, message, outcome(message, "a" * 64))
        old.append(for_command(AppendBatch([stored], inbox=inbox)))

    first_event("CartCreated", 1, CART_CONSUMER, "create")
    for version, kind in enumerate(("CreditCardAdded", "DebitCardAdded", "PayPalAdded"), 2):
        first_event(kind, version, CART_CONSUMER, kind)
    old.append(
        for_command(
            AppendBatch(
                [replace(event(user, 1, aggregate_type="User"), event_type="PayPalAdded")],
                inbox=InboxRecord("identity.User", "signed-up", outcome("signed-up", "b" * 64)),
            )
        )
    )
    rejected = outcome("rejected", "c" * 64, rejection={"code": "amount-exceeds-due"})
    old.record_outcome(InboxRecord(CART_CONSUMER, "rejected", rejected))
    old.record_outcome(
        InboxRecord("identity.User", "refused", outcome("refused", "d" * 64, rejection={}))
    )
    before = _rows(engine)
    engine.dispose()

    migrate(create_engine(empty_database_url))
    store = SqlEventStore.from_url(empty_database_url)

    def kept(consumer: str, message: str) -> dict[str, object]:
        text = store.outcome(consumer, message)
        assert text is not None
        found: dict[str, object] = json.loads(text)
        return found

    for message in ("CreditCardAdded", "DebitCardAdded", "PayPalAdded", "rejected"):
        assert "fingerprint" not in kept(CART_CONSUMER, message), message
    assert kept(CART_CONSUMER, "rejected")["rejection"] == {"code": "amount-exceeds-due"}
    assert kept(CART_CONSUMER, "PayPalAdded") == {"messageId": "PayPalAdded", "version": 1}
    # Another command of the cart, and other contexts' outcomes, keep theirs.
    assert kept(CART_CONSUMER, "create")["fingerprint"] == "a" * 64
    assert kept("identity.User", "signed-up")["fingerprint"] == "b" * 64
    assert kept("identity.User", "refused")["fingerprint"] == "d" * 64
    store.close()
    after = _rows(create_engine(empty_database_url))
    assert _without_outcomes(after) == _without_outcomes(before)


def _rows(engine: sa.Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: sorted(
                (tuple(row) for row in connection.execute(sa.select(table))), key=repr
            )
            for table in (events, processed_messages)
        }


def _without_outcomes(rows: dict[str, list[tuple[object, ...]]]) -> dict[str, list[object]]:
    """Every column but the outcome, which the migration may rewrite."""
    columns = {"events": events.columns, "processed_messages": processed_messages.columns}
    return {
        name: [
            tuple(v for v, c in zip(row, columns[name], strict=True) if c.name != "outcome")
            for row in found
        ]
        for name, found in rows.items()
    }
