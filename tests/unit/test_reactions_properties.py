"""The reactions between Identity and Account under any delivery: their events shuffled,
duplicated and delayed among the user's own commands end as when each reaction runs once, right
after its event (``functions/sagas/reactions.py``). The examples of ``test_reactions_order``
pin the cases found one by one; this is the property they are instances of."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventualshop.account.account import ACCOUNT
from eventualshop.account.commands import DeleteAccount
from eventualshop.identity.commands import (
    ChangeEmail,
    ConfirmEmail,
    DefinePrimaryEmail,
    ExpiryEmail,
    RegisterUser,
)
from eventualshop.identity.user import USER
from eventualshop.kernel.errors import AggregateNotFound, DeliverLater
from eventualshop.kernel.messages import Command, RecordedEvent
from eventualshop.kernel.repository import Repository
from functions.main import ROOT
from functions.sagas.reactions import (
    _activate_account,
    _create_account,
    _delete_user,
    _follow_primary_email,
)

EMAILS = ["ada@example.com", "b@example.org", "c@example.net"]

#: Each reaction by the event type its Trigger filters on.
REACTIONS = {
    "UserRegistered": _create_account,
    "EmailConfirmed": _activate_account,
    "PrimaryEmailDefined": _follow_primary_email,
    "AccountDeleted": _delete_user,
}

Step = tuple[str, int]
#: The user's commands (with an email's index), and pauses where the broker delivers some.
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["change", "confirm", "primary", "expire"]), st.integers(0, 2)),
        st.tuples(st.just("delete-account"), st.just(0)),
        st.tuples(st.just("deliver"), st.integers(0, 1000)),
    ),
    max_size=14,
)


@pytest.fixture(scope="module", autouse=True)
def _embedded_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # One shop for every example (each has a user of its own); no relay, so nothing is
    # delivered but what a test delivers.
    patch = pytest.MonkeyPatch()
    patch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path_factory.mktemp("shop")))
    ROOT.reset()
    patch.setattr(ROOT, "relay_after_commit", lambda context: lambda: None)
    yield
    patch.undo()
    ROOT.reset()


class User:
    """One user's commands, and the events of the user and the account not handed out yet."""

    def __init__(self) -> None:
        self.id = uuid.uuid4()
        self.seen: set[uuid.UUID] = set()

    def new_events(self) -> list[RecordedEvent]:
        found = []
        for context, kind in (("identity", USER), ("account", ACCOUNT)):
            store = ROOT.event_store(context)
            decode = Repository(store, kind).decode
            for stored in store.load_events(self.id, aggregate_type=kind.name):
                event = decode(stored)
                if event.metadata.event_id not in self.seen:
                    self.seen.add(event.metadata.event_id)
                    found.append(event)
        return found

    def run(self, step: Step) -> list[RecordedEvent]:
        kind, n = step
        email = EMAILS[n]
        command: Command
        match kind:
            case "register":
                command = RegisterUser(
                    user_id=self.id,
                    first_name="Augusta",
                    last_name="Lovelace",
                    email=EMAILS[0],
                    credential_id=uuid.uuid4(),
                )
            case "change":
                command = ChangeEmail(user_id=self.id, email=email)
            case "confirm":
                command = ConfirmEmail(user_id=self.id, email=email)
            case "primary":
                command = DefinePrimaryEmail(user_id=self.id, email=email)
            case "expire":
                command = ExpiryEmail(user_id=self.id, email=email)
            case _:
                command = DeleteAccount(account_id=self.id)
        service = ROOT.service("account" if kind == "delete-account" else "identity")
        # A refusal is an outcome; only a deleted user is not found: either changes nothing.
        with contextlib.suppress(AggregateNotFound):
            service.handle(command)
        return self.new_events()

    def state(self) -> tuple[Any, ...]:
        account = ROOT.service("account").repository.load(self.id)
        user = ROOT.service("identity").repository.load(self.id)
        return (
            None
            if account is None
            else (
                account.status,
                None if account.is_deleted else account.email,
                account.is_deleted,
            ),
            None
            if user is None
            else (user.is_deleted, None if user.is_deleted else user.sign_in_email),
        )


def react(event: RecordedEvent) -> None:
    reaction = REACTIONS.get(event.event_type)
    if reaction is not None:
        reaction(event)


def at_once(plan: list[Step]) -> tuple[Any, ...]:
    """Each reaction runs once, right after its event (and after the events reactions raise)."""
    user = User()
    for step in [("register", 0), *plan]:
        if step[0] == "deliver":
            continue
        for event in user.run(step):
            react(event)
        for event in user.new_events():
            react(event)
    return user.state()


def as_a_broker_may(plan: list[Step], seed: int) -> tuple[Any, ...]:
    """The reactions' events in a random order, some twice, some late; one that must wait
    (``DeliverLater``, a 503) is delivered again later, as a Trigger retries."""
    rng = random.Random(seed)
    user = User()
    pending: list[RecordedEvent] = []

    def deliver_one() -> None:
        event = pending.pop(rng.randrange(len(pending)))
        try:
            react(event)
        except DeliverLater:
            pending.append(event)
            return
        if rng.random() < 0.3:
            pending.append(event)  # and once more, later
        pending.extend(user.new_events())

    for step in [("register", 0), *plan]:
        if step[0] == "deliver":
            for _ in range(step[1] % 3):
                if pending:
                    deliver_one()
            continue
        if step[0] == "delete-account" and ROOT.service("account").repository.load(user.id) is None:
            # A customer deletes the account they see: R1 has run by then.
            registered = next(e for e in pending if e.event_type == "UserRegistered")
            pending.remove(registered)
            react(registered)
            pending.extend(user.new_events())
        pending.extend(user.run(step))
    for _ in range(10_000):
        if not pending:
            break
        deliver_one()
    assert not pending, "a reaction waited for good"
    return user.state()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=steps, seed=st.integers(0, 2**32 - 1))
def test_any_delivery_of_the_reactions_events_ends_as_reacting_at_once(
    plan: list[Step], seed: int
) -> None:
    assert as_a_broker_may(plan, seed) == at_once(plan)
