"""The reactions between Identity and Account hold when the broker delivers their events out of
order: an email confirmed before R1 created the account still activates it.

The finding: each reaction is a function of its own with a Trigger of its own, so nothing orders
``EmailConfirmed``'s delivery after ``UserRegistered``'s reaction has run (R1's function may be
retrying, or cold). The activation found no account, logged "nothing to act on" and acknowledged
the event: the account stayed Pending for good, its user confirmed.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventualshop.account.events import AccountStatus
from eventualshop.identity.commands import ConfirmEmail, RegisterUser
from eventualshop.identity.events import EmailConfirmed, PrimaryEmailDefined, UserRegistered
from eventualshop.identity.user import USER
from eventualshop.kernel.cloudevents import structured
from eventualshop.kernel.messages import RecordedEvent
from eventualshop.runtime.entry import create_app
from eventualshop.runtime.logs import QUIET_LEVELS
from functions.main import ROOT
from functions.sagas.reactions import (
    NotCreatedYet,
    _activate_account,
    _create_account,
    _follow_primary_email,
)
from tests.unit.recorded import History

EMAIL = "ada@example.com"


@pytest.fixture(autouse=True)
def _embedded_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    ROOT.reset()
    yield
    ROOT.reset()


def _registered(user: uuid.UUID) -> RegisterUser:
    return RegisterUser(
        user_id=user,
        first_name="Augusta",
        last_name="Lovelace",
        email=EMAIL,
        credential_id=uuid.uuid4(),
    )


def _history() -> History:
    user = uuid.uuid4()
    history = History(USER)
    history.run(_registered(user), ConfirmEmail(user_id=user, email=EMAIL))
    return history


def _signed_up_and_confirmed() -> tuple[RecordedEvent, RecordedEvent]:
    history = _history()
    registered = next(e for e in history.events if isinstance(e.event, UserRegistered))
    confirmed = next(e for e in history.events if isinstance(e.event, EmailConfirmed))
    return registered, confirmed


def _status(account: uuid.UUID) -> AccountStatus:
    state = ROOT.service("account").repository.load(account)
    assert state is not None
    status: AccountStatus = state.status
    return status


def test_a_confirmation_before_the_account_exists_is_retried_and_then_activates_it() -> None:
    registered, confirmed = _signed_up_and_confirmed()

    with pytest.raises(NotCreatedYet, match="activate-account"):
        _activate_account(confirmed)  # the broker gets a failure and delivers it again later
    _create_account(registered)
    assert _status(registered.aggregate_id) is AccountStatus.PENDING
    _activate_account(confirmed)  # the redelivery

    assert _status(registered.aggregate_id) is AccountStatus.ACTIVE


def test_in_order_and_again_the_reactions_are_idempotent() -> None:
    registered, confirmed = _signed_up_and_confirmed()

    for event in (registered, confirmed, registered, confirmed):
        (_create_account if event is registered else _activate_account)(event)

    assert _status(registered.aggregate_id) is AccountStatus.ACTIVE


def test_the_deployed_reaction_answers_an_early_event_503_in_one_log_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As the image serves it: a 5xx, which the Trigger retries, and one line at INFO, not the
    traceback of an unhandled error at each of its retries."""
    root_logger = logging.getLogger()
    monkeypatch.setattr(root_logger, "handlers", [])
    for name in QUIET_LEVELS:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    spec = ROOT.by_name["account-activate-account-when-email-confirmed"]
    app = create_app(spec.target, spec.source, spec.signature_type)
    history = _history()
    (confirmed,) = [
        stored
        for stored in history.store.load_events(
            history.events[0].aggregate_id, aggregate_type="User"
        )
        if stored.event_type == "EmailConfirmed"
    ]
    capsys.readouterr()

    answer = app.test_client().post(
        "/",
        data=structured("identity", confirmed),
        content_type="application/cloudevents+json",
    )

    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.get_json()["code"] == "delivered-early"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    early = [line for line in lines if "came early" in str(line["message"])]
    assert len(early) == 1, lines
    assert early[0]["level"] == "INFO"
    assert "error" not in early[0]
    assert not [line for line in lines if line["level"] == "ERROR"], lines


def test_the_activation_is_retried_as_long_as_a_reaction_waiting_for_another() -> None:
    from functions.registry import DEFAULT_DELIVERY, REACTION_DELIVERY

    (subscription,) = ROOT.by_name["account-activate-account-when-email-confirmed"].subscriptions
    waits = [subscription.delivery.delay_seconds(n + 1) for n in range(subscription.delivery.retry)]
    default = [DEFAULT_DELIVERY.delay_seconds(n + 1) for n in range(DEFAULT_DELIVERY.retry)]

    assert subscription.delivery == REACTION_DELIVERY
    assert sum(waits) > 10 * sum(default)  # about 51 s, not 3.5 s, for R1 to create the account


def _user_with_two_primary_emails() -> tuple[RecordedEvent, list[RecordedEvent]]:
    """A user registered with ``EMAIL``, who confirmed it, then added another and confirmed it
    (each confirmation defines the primary email), in this shop's Identity store."""
    from eventualshop.identity.commands import ChangeEmail
    from eventualshop.kernel.repository import Repository

    user = uuid.uuid4()
    identity = ROOT.service("identity")
    for command in (
        _registered(user),
        ConfirmEmail(user_id=user, email=EMAIL),
        ChangeEmail(user_id=user, email=NEW_EMAIL),
        ConfirmEmail(user_id=user, email=NEW_EMAIL),
    ):
        assert identity.handle(command).accepted
    store = ROOT.event_store("identity")
    decode = Repository(store, USER).decode
    events = [decode(stored) for stored in store.load_events(user, aggregate_type="User")]
    registered = next(e for e in events if isinstance(e.event, UserRegistered))
    primaries = [e for e in events if isinstance(e.event, PrimaryEmailDefined)]
    assert [e.event.email for e in primaries] == [EMAIL, NEW_EMAIL]  # type: ignore[attr-defined]
    return registered, primaries


NEW_EMAIL = "augusta@example.org"


def _email(account: uuid.UUID) -> str:
    state = ROOT.service("account").repository.load(account)
    assert state is not None
    email: str = state.email
    return email


def test_the_account_takes_the_users_primary_email_whatever_order_they_come_in() -> None:
    """Was: nothing changed an account's email, so after a user made another email primary,
    the account's details named the sign-up email for good. The reaction reads the user's
    current primary email: a late delivery of the older one does not bring it back."""
    registered, (first, second) = _user_with_two_primary_emails()
    _create_account(registered)

    _follow_primary_email(second)
    assert _email(registered.aggregate_id) == NEW_EMAIL
    _follow_primary_email(first)  # delivered late
    _follow_primary_email(second)  # and again

    assert _email(registered.aggregate_id) == NEW_EMAIL


def test_a_primary_email_before_the_account_exists_is_retried() -> None:
    registered, (_, second) = _user_with_two_primary_emails()

    with pytest.raises(NotCreatedYet, match="change-account-email"):
        _follow_primary_email(second)
    _create_account(registered)
    _follow_primary_email(second)  # the redelivery

    assert _email(registered.aggregate_id) == NEW_EMAIL
