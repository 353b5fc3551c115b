"""Durable timers end to end on the application service: an event asks for a command later, the
sweep sends it when due, at least once and idempotently (``kernel.timers``, ``timer_sweep``).

Identity's email expiry is the example: 15 minutes after registration ``ExpiryEmail`` fires, and
whichever comes first, the confirmation or the timer, decides the email's fate.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from eventualshop.identity.commands import ConfirmEmail, RegisterUser
from eventualshop.identity.events import EmailStatus
from eventualshop.identity.user import EMAIL_CONFIRMATION_TIME, USER, User
from eventualshop.kernel.eventstore import AppendBatch
from eventualshop.kernel.memory import InMemoryEventStore
from eventualshop.kernel.service import ApplicationService
from eventualshop.kernel.timer_sweep import Fired, fire_all_due, fire_due

USER_ID = UUID("7a1e0000-0000-4000-8000-000000000001")
EMAIL = "alice@example.com"
REGISTERED_AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
DUE = REGISTERED_AT + EMAIL_CONFIRMATION_TIME


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


@pytest.fixture
def service(store: InMemoryEventStore) -> ApplicationService[User]:
    service = ApplicationService(store, USER, clock=lambda: REGISTERED_AT)
    register = RegisterUser(
        user_id=USER_ID,
        first_name="Alice",
        last_name="Smith",
        email=EMAIL,
        credential_id=UUID("7a1e0000-0000-4000-8000-0000000000c1"),
    )
    assert service.handle(register).accepted
    return service


def status(service: ApplicationService[User]) -> EmailStatus:
    user = service.repository.load(USER_ID)
    assert user is not None
    found = user.email(EMAIL)
    assert found is not None
    return found.status


def test_registering_schedules_the_expiry_in_the_same_append(
    store: InMemoryEventStore, service: ApplicationService[User]
) -> None:
    [message] = store.due_messages(DUE)

    assert message.due_at == DUE
    assert message.command_type == "ExpiryEmail"
    assert message.message_id.startswith("timer:")
    assert store.due_messages(DUE - timedelta(seconds=1)) == []


def test_nothing_fires_before_it_is_due(
    store: InMemoryEventStore, service: ApplicationService[User]
) -> None:
    assert fire_due(store, service, DUE - timedelta(seconds=1)) == Fired(0, 0)
    assert status(service) is EmailStatus.UNVERIFIED


def test_the_timer_fired_first_expires_the_email_and_is_forgotten(
    store: InMemoryEventStore, service: ApplicationService[User]
) -> None:
    assert fire_due(store, service, DUE) == Fired(1, 0)

    assert status(service) is EmailStatus.EXPIRED
    assert store.due_messages(DUE + timedelta(days=1)) == []
    confirm = service.handle(ConfirmEmail(user_id=USER_ID, email=EMAIL))
    assert confirm.rejection_code == "email-expired"


def test_the_confirmation_first_makes_the_timer_a_no_op(
    store: InMemoryEventStore, service: ApplicationService[User]
) -> None:
    assert service.handle(ConfirmEmail(user_id=USER_ID, email=EMAIL)).accepted
    version = len(store.load_events(USER_ID))

    assert fire_due(store, service, DUE) == Fired(1, 0)

    assert status(service) is EmailStatus.VERIFIED
    assert len(store.load_events(USER_ID)) == version
    assert store.due_messages(DUE) == []


def test_a_timer_fired_again_after_a_crash_before_it_was_forgotten_writes_nothing_new(
    store: InMemoryEventStore, service: ApplicationService[User]
) -> None:
    [message] = store.due_messages(DUE)
    fire_due(store, service, DUE)
    events = len(store.load_events(USER_ID))
    # The crash: the command's outcome was stored, the row was not deleted.
    store.append(AppendBatch([], scheduled=[message]))

    assert fire_due(store, service, DUE) == Fired(1, 0)

    assert len(store.load_events(USER_ID)) == events
    assert store.due_messages(DUE) == []


def test_a_timer_of_a_command_this_context_does_not_know_stays_and_a_gone_aggregate_is_forgotten(
    store: InMemoryEventStore, service: ApplicationService[User], caplog: pytest.LogCaptureFixture
) -> None:
    [message] = store.due_messages(DUE)
    # Another context's timer in the shared table (or one a newer version wrote).
    theirs = replace(message, message_id="timer:theirs", command_type="ExpireInventoryReservation")
    gone = replace(
        message,
        message_id="timer:gone",
        payload=message.payload.replace(str(USER_ID), "7a1e0000-0000-4000-8000-00000000dead"),
    )
    store.append(AppendBatch([], scheduled=[theirs, gone]))

    result = fire_due(store, service, DUE)

    assert result == Fired(fired=2, left=0)
    assert [m.message_id for m in store.due_messages(DUE)] == ["timer:theirs"]
    # Not this context's to judge: no error about it in every sweep.
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def registered_users(store: InMemoryEventStore, count: int) -> ApplicationService[User]:
    """``count`` users registered at once (each with an expiry timer), and their service."""
    users = ApplicationService(store, USER, clock=lambda: REGISTERED_AT)
    for n in range(2, 2 + count):
        register = RegisterUser(
            user_id=UUID(int=n),
            first_name="Alice",
            last_name="Smith",
            email=f"user{n}@example.com",
            credential_id=UUID(int=1000 + n),
        )
        assert users.handle(register).accepted
    return users


def test_one_sweep_fires_every_due_timer_a_batch_at_a_time(store: InMemoryEventStore) -> None:
    """Many timers due at once (a busy hour's reservations) are not left for later sweeps."""
    users = registered_users(store, 25)

    assert fire_all_due(store, users, DUE, batch=10) == Fired(25, 0)
    assert store.due_messages(DUE) == []


def test_a_sweep_stops_at_its_budget_and_at_a_batch_that_fires_nothing(
    store: InMemoryEventStore,
) -> None:
    users = registered_users(store, 25)
    ticks = iter(range(100))

    # The clock passes the budget after the first batch: the rest waits for the next sweep.
    first = fire_all_due(store, users, DUE, batch=10, budget_seconds=1, clock=lambda: next(ticks))

    assert first == Fired(10, 0)
    assert len(store.due_messages(DUE)) == 15
    assert fire_all_due(store, users, DUE - timedelta(seconds=1), batch=10) == Fired(0, 0)


def test_a_full_batch_that_fires_nothing_ends_the_sweep_instead_of_spinning_to_its_budget(
    store: InMemoryEventStore, service: ApplicationService[User]
) -> None:
    """Ten due timers whose payloads no longer validate stay (kept as evidence): the sweep
    stops after the one batch instead of reading them again until its budget is spent."""
    [message] = store.due_messages(DUE)
    invalid = [replace(message, message_id=f"timer:invalid-{n}", payload="{}") for n in range(10)]
    store.append(AppendBatch([], scheduled=invalid))
    store.forget_message(message.message_id)

    reads: list[float] = []

    def clock() -> float:  # a second per read: a sweep that spun would read it 20 times
        reads.append(float(len(reads)))
        return reads[-1]

    assert fire_all_due(store, service, DUE, batch=10, clock=clock) == Fired(0, 10)
    assert len(reads) <= 2
