"""Access and refresh tokens.

Access token: a JWT signed with Identity's Ed25519 key (``kid`` in the header), claims as the
original's (issuer, audience, ``sub``, ``given_name``, ``family_name``, ``email``, ``jti``) plus
``roles``, valid ``access_token_seconds``.

Refresh token: 32 random bytes, kept as their SHA-256 only (a stolen store gives no usable
token). Each sign-in starts a family; a refresh spends its token and hands out the next one of
the family. A token spent twice means it was copied: the whole family is revoked, so the thief
and the user both have to sign in again. Sign-out revokes the family.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from eventualshop.identity.settings import IdentitySettings
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.runtime.auth import ALGORITHM, current_settings, key_id, signing_key
from functions.identity.forms import Tokens

REFRESH_TOKENS = "IdentityRefreshTokens"
FAMILIES = "IdentityTokenFamilies"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who a token is for: read from the User aggregate, not from a read model."""

    user_id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    roles: tuple[str, ...]


class RefreshRefused(Exception):
    """The refresh token is unknown, expired, revoked or spent (then its family is revoked)."""


def access_token(holder: Holder, *, now: float | None = None) -> tuple[str, int]:
    auth, identity = current_settings(), IdentitySettings()
    key = signing_key(auth)
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": auth.auth_issuer,
        "aud": auth.auth_audience,
        "sub": str(holder.user_id),
        "given_name": holder.first_name,
        "family_name": holder.last_name,
        "email": holder.email,
        "roles": list(holder.roles),
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + identity.access_token_seconds,
    }
    token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": key_id(key.public_key())})
    return token, identity.access_token_seconds


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_family(store: ReadModelStore, user_id: uuid.UUID) -> str:
    family = str(uuid.uuid4())
    store.upsert_if_newer(
        FAMILIES, {"id": family, "userId": str(user_id), "revoked": False, "version": 1}
    )
    return _next_token(store, user_id, family)


def _next_token(store: ReadModelStore, user_id: uuid.UUID, family: str) -> str:
    token = secrets.token_urlsafe(32)
    lifetime = IdentitySettings().refresh_token_seconds
    store.upsert_if_newer(
        REFRESH_TOKENS,
        {
            "id": _digest(token),
            "userId": str(user_id),
            "family": family,
            "expiresAt": time.time() + lifetime,
            "spent": False,
            "version": 1,
        },
    )
    return token


def spend(store: ReadModelStore, token: str) -> tuple[uuid.UUID, str]:
    """The user and family of a live refresh token, which is spent by this call."""
    found = store.get(REFRESH_TOKENS, _digest(token))
    if found is None or float(found["expiresAt"]) < time.time():
        raise RefreshRefused("the refresh token is unknown or expired")
    family = store.get(FAMILIES, str(found["family"]))
    if family is None or family["revoked"]:
        raise RefreshRefused("the refresh token was revoked")
    # Spending is a compare-and-set on the version: of two refreshes racing with one token,
    # one wins and the other counts as a reuse.
    if found["spent"] or not store.update_if_version(
        REFRESH_TOKENS, str(found["id"]), 1, {"spent": True}, 2
    ):
        revoke_family(store, str(found["family"]))
        raise RefreshRefused("the refresh token was used before: every token of it is revoked")
    return uuid.UUID(str(found["userId"])), str(found["family"])


def rotate(store: ReadModelStore, user_id: uuid.UUID, family: str) -> str:
    return _next_token(store, user_id, family)


def revoke_family(store: ReadModelStore, family: str) -> None:
    found = store.get(FAMILIES, family)
    if found is not None and not found["revoked"]:
        store.update_if_older(FAMILIES, family, {"revoked": True}, int(found["version"]) + 1)


def revoke(store: ReadModelStore, token: str) -> None:
    """Sign-out: the token's family, whatever state it is in."""
    found = store.get(REFRESH_TOKENS, _digest(token))
    if found is not None:
        revoke_family(store, str(found["family"]))


def revoke_user(store: ReadModelStore, user_id: uuid.UUID) -> None:
    """Every family of a user (a deleted user, a changed password)."""
    for family in store.find(FAMILIES, {"userId": str(user_id), "revoked": False}):
        revoke_family(store, str(family["id"]))


def token_answer(holder: Holder, refresh: str) -> dict[str, Any]:
    access, lifetime = access_token(holder)
    return Tokens(
        user_id=holder.user_id,
        first_name=holder.first_name,
        last_name=holder.last_name,
        email=holder.email,
        access_token=access,
        refresh_token=refresh,
        expires_in=lifetime,
    ).model_dump(mode="json", by_alias=True)
