"""The User aggregate (reference §5.4) with the intended behaviour of its seven commands.

A command whose result is already in place (an email confirmed twice, a primary email defined
again, a user deleted twice, the timer firing after the confirmation) raises no event and is not
an error: the reactions and timers that send them are delivered at least once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from eventualshop.identity import rejections
from eventualshop.identity.commands import (
    ChangeEmail,
    ChangePassword,
    ConfirmEmail,
    DefinePrimaryEmail,
    DeleteUser,
    ExpiryEmail,
    RegisterUser,
    UserCommand,
)
from eventualshop.identity.events import (
    USER_EVENTS,
    EmailChanged,
    EmailConfirmed,
    EmailExpired,
    EmailStatus,
    PrimaryEmailDefined,
    UserDeleted,
    UserEmail,
    UserPasswordChanged,
    UserRegistered,
)
from eventualshop.kernel.aggregate import AggregateKind, AggregateState
from eventualshop.kernel.errors import AggregateAlreadyExists, AggregateNotFound
from eventualshop.kernel.messages import Command, DomainEvent
from eventualshop.kernel.timers import Timer

NAME = "User"
#: How long a new email waits for its confirmation before it expires (reference §5.4).
EMAIL_CONFIRMATION_TIME = timedelta(minutes=15)


class User(AggregateState):
    first_name: str
    last_name: str
    credential_id: UUID
    roles: tuple[str, ...] = ("customer",)
    emails: tuple[UserEmail, ...] = ()
    primary_email: str | None = None

    def email(self, address: str) -> UserEmail | None:
        return next((e for e in self.emails if e.address == address), None)

    @property
    def sign_in_email(self) -> str:
        """The primary email once one is confirmed; until then the one registered with, which
        stays first (an email keeps its place in ``emails``)."""
        return self.primary_email or self.emails[0].address


def decide(state: User | None, command: Command) -> list[DomainEvent]:
    if isinstance(command, RegisterUser):
        if state is not None:
            raise AggregateAlreadyExists(NAME, command.user_id)
        return [
            UserRegistered(
                user_id=command.user_id,
                first_name=command.first_name,
                last_name=command.last_name,
                email=command.email,
                credential_id=command.credential_id,
                roles=command.roles,
            )
        ]
    if state is None:
        raise AggregateNotFound(NAME, target(command))
    if state.is_deleted:
        if isinstance(command, DeleteUser | ExpiryEmail):
            return []
        raise rejections.UserDeleted(f"user {state.id} is deleted")
    return _decide(state, command)


def _decide(user: User, command: Command) -> list[DomainEvent]:
    match command:
        case ChangeEmail(email=email):
            known = user.email(email)
            if email == user.primary_email or (
                known is not None and known.status is not EmailStatus.EXPIRED
            ):
                return []  # already the user's: nothing to confirm again
            return [EmailChanged(user_id=user.id, email=email)]
        case ConfirmEmail(email=email):
            known = _known(user, email)
            if known.status is EmailStatus.EXPIRED:
                raise rejections.EmailExpired(f"{email} expired before it was confirmed")
            if known.status is not EmailStatus.UNVERIFIED:
                # Confirmed before: nothing to do. The confirmation route takes no token (the
                # link in an email), so confirming an email again made it primary again, and
                # anyone who knew a user's id could switch the email they sign in with back to
                # an older one. Which verified email is primary is the user's to say
                # (DefinePrimaryEmail, on a route only they may call).
                return []
            events: list[DomainEvent] = [EmailConfirmed(user_id=user.id, email=email)]
            if user.primary_email != email:  # R6: a confirmed email becomes the primary one
                events.append(PrimaryEmailDefined(user_id=user.id, email=email))
            return events
        case ExpiryEmail(email=email):
            known = user.email(email)
            if known is None or known.status is not EmailStatus.UNVERIFIED:
                return []  # confirmed first, or changed away: the timer is harmless
            return [EmailExpired(user_id=user.id, email=email)]
        case DefinePrimaryEmail(email=email):
            if _known(user, email).status is not EmailStatus.VERIFIED:
                raise rejections.EmailNotVerified(f"confirm {email} before making it primary")
            if user.primary_email == email:
                return []
            return [PrimaryEmailDefined(user_id=user.id, email=email)]
        case ChangePassword(credential_id=credential_id):
            if credential_id == user.credential_id:
                return []
            return [UserPasswordChanged(user_id=user.id, credential_id=credential_id)]
        case DeleteUser():
            return [UserDeleted(user_id=user.id)]
    raise TypeError(f"{NAME} does not handle {type(command).__name__}")


def _known(user: User, email: str) -> UserEmail:
    known = user.email(email)
    if known is None:
        raise rejections.EmailNotFound(f"user {user.id} has no email {email}")
    return known


def evolve(state: User | None, event: DomainEvent) -> User:
    if isinstance(event, UserRegistered):
        return User(
            id=event.user_id,
            first_name=event.first_name,
            last_name=event.last_name,
            credential_id=event.credential_id,
            roles=event.roles,
            emails=(UserEmail(address=event.email),),
        )
    if state is None:
        raise ValueError(f"{event.event_type()} cannot come before UserRegistered")
    match event:
        case EmailChanged(email=email):
            if state.email(email) is not None:
                # Sent again after it expired: unverified again, in its place. Moved to the end,
                # it took the registered email's first place, which sign-in reads (sign_in_email).
                return _status(state, email, EmailStatus.UNVERIFIED)
            return state.model_copy(update={"emails": (*state.emails, UserEmail(address=email))})
        case EmailConfirmed(email=email):
            return _status(state, email, EmailStatus.VERIFIED)
        case EmailExpired(email=email):
            return _status(state, email, EmailStatus.EXPIRED)
        case PrimaryEmailDefined(email=email):
            return state.model_copy(update={"primary_email": email})
        case UserPasswordChanged(credential_id=credential_id):
            return state.model_copy(update={"credential_id": credential_id})
        case UserDeleted():
            return state.model_copy(update={"is_deleted": True})
    raise TypeError(f"{NAME} cannot apply {event.event_type()}")


def _status(user: User, address: str, status: EmailStatus) -> User:
    emails = tuple(
        e.model_copy(update={"status": status}) if e.address == address else e for e in user.emails
    )
    return user.model_copy(update={"emails": emails})


def invariants(user: User) -> Iterator[str]:
    if user.id.int == 0:
        yield "the user id is empty"
    if not 4 <= len(user.first_name) <= 30 or not 4 <= len(user.last_name) <= 30:
        yield "first and last name are 4-30 characters"
    if user.first_name == user.last_name:
        yield "the last name differs from the first name"
    if not user.emails:
        yield "a user has an email"
    if user.primary_email is not None and user.primary_email not in [
        e.address for e in user.emails
    ]:
        yield "the primary email is one of the user's emails"


def timers(event: DomainEvent, recorded_at: datetime) -> Sequence[Timer]:
    """An email registered or added expires unless confirmed in time: ``ExpiryEmail`` is then a
    no-op (see ``_decide``), so the timer is never cancelled."""
    if isinstance(event, UserRegistered | EmailChanged):
        expire = ExpiryEmail(user_id=event.user_id, email=event.email)
        return [Timer(recorded_at + EMAIL_CONFIRMATION_TIME, expire)]
    return ()


def target(command: Command) -> UUID:
    if not isinstance(command, UserCommand):
        raise TypeError(f"{type(command).__name__} is not an identity command")
    return command.user_id


USER: AggregateKind[User] = AggregateKind(
    name=NAME,
    context="identity",
    state_type=User,
    events=USER_EVENTS,
    decide=decide,
    evolve=evolve,
    target=target,
    creates=frozenset({RegisterUser}),
    invariants=invariants,
    # The routed commands. RegisterUser, ChangePassword and ChangeEmail come from Identity's
    # credential functions (they hash the password, or claim the email, first); ExpiryEmail and
    # DeleteUser from reactions.
    commands=frozenset({ConfirmEmail, DefinePrimaryEmail}),
    timers=timers,
    scheduled=frozenset({ExpiryEmail}),
)
