"""Identity's read model (reference §5.4 "Projection"): the user's details, without the password.

Unlike the original, every email event is projected, so sign-in finds a user by the email that
is theirs today (``signInEmail``: the primary one once confirmed, else the one registered with).
A deleted user stays as a tombstone, so a late event cannot bring the user back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventualshop.identity.events import (
    EmailChanged,
    EmailConfirmed,
    EmailExpired,
    EmailStatus,
    PrimaryEmailDefined,
    UserDeleted,
    UserPasswordChanged,
    UserRegistered,
)
from eventualshop.kernel.messages import DomainEvent, RecordedEvent
from eventualshop.kernel.projection import Documents, Projection

AGGREGATE = "User"
USER_DETAILS = "IdentityUserDetails"


class UserDetails:
    name = "identity-user-details"
    aggregate_type = AGGREGATE
    handles: frozenset[type[DomainEvent]] = frozenset(
        {
            UserRegistered,
            EmailChanged,
            EmailConfirmed,
            EmailExpired,
            PrimaryEmailDefined,
            UserDeleted,
        }
    )
    # The credential lives in Identity's credential lookup, never in a read model.
    ignores: frozenset[type[DomainEvent]] = frozenset({UserPasswordChanged})
    collections = {USER_DETAILS: (("signInEmail", "isDeleted"),)}

    def apply(self, documents: Mapping[str, Documents], recorded: RecordedEvent) -> None:
        docs, event, version = documents[USER_DETAILS], recorded.event, recorded.version
        user = str(recorded.aggregate_id)
        if isinstance(event, UserRegistered):
            docs.put(
                {
                    "id": user,
                    "userId": user,
                    "firstName": event.first_name,
                    "lastName": event.last_name,
                    "email": event.email,
                    "signInEmail": event.email,
                    "primaryEmail": None,
                    "emails": [{"address": event.email, "status": EmailStatus.UNVERIFIED.value}],
                    "isDeleted": False,
                },
                version,
            )
            return
        current = docs.get(user)
        if current is None:
            return
        docs.patch(user, _changes(current, event), version)


def _changes(current: Mapping[str, Any], event: DomainEvent) -> dict[str, Any]:
    emails: list[dict[str, str]] = list(current["emails"])

    def status(address: str, value: EmailStatus) -> list[dict[str, str]]:
        return [e | {"status": value.value} if e["address"] == address else e for e in emails]

    match event:
        case EmailChanged(email=email):
            if any(e["address"] == email for e in emails):  # again: in its place, as the user's
                return {"emails": status(email, EmailStatus.UNVERIFIED)}
            return {"emails": [*emails, {"address": email, "status": EmailStatus.UNVERIFIED.value}]}
        case EmailConfirmed(email=email):
            return {"emails": status(email, EmailStatus.VERIFIED)}
        case EmailExpired(email=email):
            return {"emails": status(email, EmailStatus.EXPIRED)}
        case PrimaryEmailDefined(email=email):
            return {"primaryEmail": email, "email": email, "signInEmail": email}
        case UserDeleted():
            return {"isDeleted": True}
    return {}


PROJECTIONS: tuple[Projection, ...] = (UserDetails(),)
BY_NAME: dict[str, Projection] = {p.name: p for p in PROJECTIONS}
