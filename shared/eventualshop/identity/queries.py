"""Identity's queries over its read model."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventualshop.identity.read_models import USER_DETAILS
from eventualshop.kernel.readmodels import ReadModelStore

_SHOWN = ("userId", "firstName", "lastName", "email", "primaryEmail", "emails")


def get_user_details(store: ReadModelStore, user_id: UUID) -> dict[str, Any] | None:
    document = store.get(USER_DETAILS, str(user_id))
    if document is None or document.get("isDeleted"):
        return None
    return {key: document.get(key) for key in _SHOWN}


def find_by_sign_in_email(store: ReadModelStore, email: str) -> dict[str, Any] | None:
    """The live user who signs in with ``email`` (already lower case), if any."""
    found = store.find(USER_DETAILS, {"signInEmail": email, "isDeleted": False}, limit=1)
    return found[0] if found else None
