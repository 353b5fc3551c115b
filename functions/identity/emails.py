"""Which user an email signs in, claimed when the user registers, in Identity's own collection.

The user-details read model is eventually consistent: a sign-in a moment after the sign-up could
miss the new user there (and count as a failed attempt), and two sign-ups with one email could
both pass a check against it. Claiming the email is one conditional write, so the second sign-up
is refused at once and the first can sign in at once. The read model still finds emails that
became primary later (``PrimaryEmailDefined``).
"""

from __future__ import annotations

import uuid

from eventualshop.kernel.readmodels import ReadModelStore

EMAILS = "IdentityEmails"


def claim(store: ReadModelStore, email: str, user_id: uuid.UUID) -> bool:
    """Whether ``email`` is now ``user_id``'s (it may have been already: a retried sign-up)."""
    document = {"id": email, "userId": str(user_id), "version": 1}
    if store.upsert_if_newer(EMAILS, document):
        return True
    found = store.get(EMAILS, email)
    return found is not None and found["userId"] == str(user_id)


def owner(store: ReadModelStore, email: str) -> uuid.UUID | None:
    found = store.get(EMAILS, email)
    return uuid.UUID(str(found["userId"])) if found else None


def release(store: ReadModelStore, user_id: uuid.UUID) -> int:
    """A deleted user's emails may sign up again."""
    return store.delete_many(EMAILS, {"userId": str(user_id)})
