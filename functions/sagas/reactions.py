"""Reactions between Identity and Account (reference §6.1 R1, R7, and the activation the
original left out). Each is idempotent: the command's id is derived from the event's id, so a
redelivered event finds the first outcome in the inbox and writes nothing.

* R1 ``identity.UserRegistered`` -> Account ``CreateAccount`` with ``AccountId = UserId``;
* ``identity.EmailConfirmed`` -> Account ``ActivateAccount`` (Pending -> Active), retried until
  R1 has created the account;
* ``identity.PrimaryEmailDefined`` -> Account ``ChangeAccountEmail``: the account's email is the
  one its user signs in with (the original kept the sign-up email for good), likewise retried;
* R7 ``account.AccountDeleted`` -> Identity ``DeleteUser``, after which the user's refresh
  tokens are revoked and their password hashes dropped, so signing in fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from eventualshop.account.commands import ActivateAccount, ChangeAccountEmail, CreateAccount
from eventualshop.account.events import ACCOUNT_EVENTS, AccountDeleted
from eventualshop.identity.commands import DeleteUser
from eventualshop.identity.events import (
    USER_EVENTS,
    EmailConfirmed,
    PrimaryEmailDefined,
    UserRegistered,
)
from eventualshop.identity.user import User
from eventualshop.kernel.errors import AggregateNotFound, DeliverLater
from eventualshop.kernel.messages import Command, RecordedEvent
from eventualshop.kernel.registry import EventRegistry
from eventualshop.kernel.service import CommandContext
from eventualshop.runtime.auth import revoke_subject
from eventualshop.runtime.consumer import consumer
from functions.identity import credentials, emails, tokens
from functions.main import ROOT
from functions.registry import FUNCTIONS

log = logging.getLogger("eventualshop.sagas")


class NotCreatedYet(DeliverLater):
    """The aggregate a reaction acts on is created by an earlier event that has not been acted
    on yet (its own reaction is being retried, or slower): deliver this one again later. The
    Trigger retries with backoff; what never finds it ends as a dead letter, to be replayed."""


def _send(
    step: str, context: str, command: Command, cause: RecordedEvent, *, awaited: bool = False
) -> None:
    """``awaited``: the aggregate may not exist yet (another reaction creates it), so a missing
    one is retried rather than passed over."""
    caused = CommandContext.caused_by(cause.metadata, f"{step}:{cause.metadata.event_id}")
    try:
        outcome = ROOT.service(context).handle(command, caused)
    except AggregateNotFound as missing:
        if awaited:
            raise NotCreatedYet(f"{step}: {missing}; event {cause.metadata.event_id}") from None
        log.warning("%s: nothing to act on for event %s", step, cause.metadata.event_id)
        return
    if not outcome.accepted:
        # An outcome, not an exception: "already-exists" when an earlier delivery under another
        # message id created the aggregate, which leaves nothing to do.
        log.info("%s refused (%s) for event %s", step, outcome.rejection_code, cause.event_type)
        return
    if outcome.event_types and not outcome.duplicate:
        ROOT.relay_after_commit(context)()


def _create_account(recorded: RecordedEvent) -> None:
    event = recorded.event
    if isinstance(event, UserRegistered):
        command = CreateAccount(
            account_id=event.user_id,
            first_name=event.first_name,
            last_name=event.last_name,
            email=event.email,
        )
        _send("create-account", "account", command, recorded)


def _activate_account(recorded: RecordedEvent) -> None:
    event = recorded.event
    if isinstance(event, EmailConfirmed):
        # The account is UserRegistered's to create, by another reaction, which a broker may
        # deliver later (or retry): passed over, the confirmation was lost and the account stayed
        # Pending for good.
        command = ActivateAccount(account_id=event.user_id)
        _send("activate-account", "account", command, recorded, awaited=True)


def _follow_primary_email(recorded: RecordedEvent) -> None:
    event = recorded.event
    if isinstance(event, PrimaryEmailDefined):
        # A user's PrimaryEmailDefined events reach this reaction in no set order (each is
        # delivered, retried, on its own): the account takes the email the user signs in with
        # now, read from Identity's store, with the version it was read at, so neither a late
        # delivery of an older event nor a read overtaken by a later one brings an older
        # email back.
        user = ROOT.service("identity").repository.load(event.user_id)
        if not isinstance(user, User) or user.is_deleted:
            return  # deleted since: its account is closed, or about to be (R7)
        command = ChangeAccountEmail(
            account_id=event.user_id, email=user.sign_in_email, user_version=user.version
        )
        _send("change-account-email", "account", command, recorded, awaited=True)


def _delete_user(recorded: RecordedEvent) -> None:
    event = recorded.event
    if isinstance(event, AccountDeleted):
        _send("delete-user", "identity", DeleteUser(user_id=event.account_id), recorded)
        store = ROOT.read_model_store()
        revoke_subject(store, event.account_id)  # its access tokens too, at once
        tokens.revoke_user(store, event.account_id)
        credentials.forget_user(store, event.account_id)
        emails.release(store, event.account_id)


def _target(name: str, registry: EventRegistry, handle: Callable[[RecordedEvent], None]) -> Any:
    spec = next(f for f in FUNCTIONS if f.name == name)
    return consumer(spec, registry, handle, ROOT.dead_letter_store)


create_account_when_user_registered = _target(
    "account-create-account-when-user-registered", USER_EVENTS, _create_account
)
activate_account_when_email_confirmed = _target(
    "account-activate-account-when-email-confirmed", USER_EVENTS, _activate_account
)
change_email_when_primary_email_defined = _target(
    "account-change-email-when-primary-email-defined", USER_EVENTS, _follow_primary_email
)
delete_user_when_account_deleted = _target(
    "identity-delete-user-when-account-deleted", ACCOUNT_EVENTS, _delete_user
)
