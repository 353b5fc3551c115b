"""Identity events (reference §5.4). ``credentialId`` points at the password hash in Identity's
credential lookup; no event carries a password or a hash."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventualshop.kernel.messages import DomainEvent
from eventualshop.kernel.registry import EventRegistry
from eventualshop.kernel.values import ValueObject


class EmailStatus(StrEnum):
    UNVERIFIED = "Unverified"
    VERIFIED = "Verified"
    EXPIRED = "Expired"


class UserEmail(ValueObject):
    address: str
    status: EmailStatus = EmailStatus.UNVERIFIED


class UserEvent(DomainEvent):
    user_id: UUID


class UserRegistered(UserEvent):
    first_name: str
    last_name: str
    email: str
    credential_id: UUID
    roles: tuple[str, ...] = ("customer",)


class EmailChanged(UserEvent):
    email: str


class EmailConfirmed(UserEvent):
    email: str


class EmailExpired(UserEvent):
    email: str


class PrimaryEmailDefined(UserEvent):
    email: str


class UserPasswordChanged(UserEvent):
    credential_id: UUID


class UserDeleted(UserEvent):
    pass


USER_EVENTS = EventRegistry(
    [
        UserRegistered,
        EmailChanged,
        EmailConfirmed,
        EmailExpired,
        PrimaryEmailDefined,
        UserPasswordChanged,
        UserDeleted,
    ]
)
