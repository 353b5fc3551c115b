"""Identity's credential lookup: argon2id hashes kept by credential id, in Identity's own
collection of the read-model store. No event and no other read model holds a hash: the events
carry the credential id only.

A credential is written before the command that names it; if that command never commits, the
credential is an orphan no user points at, which is harmless.
"""

from __future__ import annotations

import uuid
from functools import lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import SecretStr

from eventualshop.identity.settings import IdentitySettings
from eventualshop.kernel.readmodels import ReadModelStore

CREDENTIALS = "IdentityCredentials"
_PROFILES = {"rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY, "cheapest": profiles.CHEAPEST}


@lru_cache(maxsize=2)
def hasher(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(_PROFILES[profile])


@lru_cache(maxsize=2)
def _decoy(profile: str) -> str:
    """A hash nobody's password matches: checked for an unknown email, so that answer takes
    as long as a wrong password for a known one."""
    return hasher(profile).hash(uuid.uuid4().hex)


def keep(store: ReadModelStore, user_id: uuid.UUID, password: SecretStr) -> uuid.UUID:
    profile = IdentitySettings().password_hash
    credential = uuid.uuid4()
    hashed = hasher(profile).hash(password.get_secret_value())
    store.upsert_if_newer(
        CREDENTIALS, {"id": str(credential), "userId": str(user_id), "hash": hashed, "version": 1}
    )
    return credential


def matches(store: ReadModelStore, credential: uuid.UUID | None, password: SecretStr) -> bool:
    profile = IdentitySettings().password_hash
    found = store.get(CREDENTIALS, str(credential)) if credential is not None else None
    hashed = str(found["hash"]) if found else _decoy(profile)
    try:
        verified = hasher(profile).verify(hashed, password.get_secret_value())
    except (VerificationError, InvalidHashError):
        return False
    return verified and found is not None


def forget_user(store: ReadModelStore, user_id: uuid.UUID) -> int:
    """A deleted user's hashes are of no use to anyone: drop them."""
    return store.delete_many(CREDENTIALS, {"userId": str(user_id)})
