"""Who may do what: the one authorization check every HTTP function runs.

A request carries ``Authorization: Bearer <access token>``, a short-lived JWT that only Identity
signs (EdDSA, Ed25519), with its key's id in ``kid``. Every other function holds public keys
only, so it can check a token but never mint one. Each route declares its ``access``
(``kernel.declaration.Access``); :class:`Guard` enforces it before the request is parsed into
a command or a query:

* no token, or a bad one (expired, wrong signature, ``alg: none``, wrong issuer or audience),
  or the token of a user revoked since it was signed (:func:`revoke_subject`, a deleted user):
  401 with ``WWW-Authenticate: Bearer``;
* a token whose user may not call the route, or a resource of someone else: 403;
* the ``admin`` role may call every route.

``EVENTUALSHOP_AUTH=off`` turns every check off: the original's anonymous API for old clients.

A token is checked by :mod:`eventualshop.runtime.jws` (cryptography's Ed25519 alone); PyJWT and
the rest of cryptography are imported on first use, by Identity's signing and the JWKS
document only: a command function's cold start pays for neither (``bench/coldstart.py``).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from flask import Request
from pydantic import Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError

from eventualshop.kernel.declaration import Access
from eventualshop.kernel.environment import (
    FILE_SUFFIX,
    EnvironmentConfig,
    EnvironmentSettings,
    kept_key,
)
from eventualshop.runtime import jws
from eventualshop.runtime.problems import ProblemError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from eventualshop.kernel.readmodels import ReadModelStore

ALGORITHM = "EdDSA"
ADMIN = "admin"
CUSTOMER = "customer"
KEY_FILE = "signing-key.pem"


class AuthSettings(EnvironmentSettings):
    model_config: ClassVar[EnvironmentConfig] = EnvironmentConfig(
        env_prefix="EVENTUALSHOP_", extra="ignore"
    )

    auth: Literal["on", "off"] = Field("on", description="off: the original's anonymous API")
    # Not empty: a token is checked against them, and an empty audience signed tokens that
    # every function then refused ("the token is not valid") while sign-in answered 200.
    auth_issuer: str = Field("eventual-shop", min_length=1)
    auth_audience: str = Field("eventual-shop", min_length=1)
    auth_jwks: str | None = Field(
        None,
        description="JWKS (JSON) of the public keys that verify access tokens; list the old and "
        "the new key while rotating. Unset: the public half of the signing key",
    )
    auth_signing_key: SecretStr | None = Field(
        None,
        description="PEM Ed25519 private key Identity signs tokens with (from the Secret); "
        "unset: one generated in data_dir, for the embedded shop only",
    )
    auth_signing_key_file: Path | None = Field(
        None,
        description="a file holding that key, where secrets are files, not variables (OpenFaaS: "
        "/var/openfaas/secrets/eventualshop-auth-signing-key)",
    )
    data_dir: Path = Path("var")

    @property
    def enabled(self) -> bool:
        return self.auth == "on"

    @model_validator(mode="after")
    def _usable_keys(self) -> AuthSettings:
        # Checked where the settings are read, so a key that cannot sign or verify stops `serve`
        # and makes a function unready in one line naming the variable: unchecked, a bad signing
        # key failed every sign-in and a bad JWKS refused every token as "not valid".
        kids = None if self.auth_jwks is None else jws.jwks_kids(self.auth_jwks)
        private = [] if self.auth_jwks is None else jws.private_material(self.auth_jwks)
        if private:
            # The document is published (GET /.well-known/jwks.json): a private key in it would
            # let anyone sign an admin's token.
            raise PydanticCustomError(
                "private_jwks",
                "EVENTUALSHOP_AUTH_JWKS: key {kids} holds private key material; it is published, "
                "so it must hold public keys only (`eventualshop users jwks` prints them)",
                {"kids": ", ".join(private)},
            )
        if kids is not None and not kids:
            raise PydanticCustomError(
                "unusable_jwks",
                "EVENTUALSHOP_AUTH_JWKS: must be a JWKS document holding an Ed25519 key "
                '({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": …, "x": …}]})',
            )
        key = self._signing_key()
        kid = None if key is None else key_id(key.public_key())
        if key is not None and kid is not None and kids is not None and not _held(self, key, kid):
            # Every token this function signed would be refused by every function: a key rotated
            # without its JWKS, or the JWKS of another shop.
            raise PydanticCustomError(
                "jwks_without_signing_key",
                "EVENTUALSHOP_AUTH_JWKS: holds no key for the signing key (kid {kid}), so every "
                "token signed with it would be refused; `eventualshop users jwks` prints the "
                "document to set",
                {"kid": kid},
            )
        return self

    def _signing_key(self) -> Ed25519PrivateKey | None:
        """The key ``auth_signing_key`` or its file holds, if either is set."""
        if self.auth_signing_key is not None:
            return _check_pem(
                "EVENTUALSHOP_AUTH_SIGNING_KEY", self.auth_signing_key.get_secret_value()
            )
        if self.auth_signing_key_file is None:
            return None
        try:
            pem = self.auth_signing_key_file.read_text()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not a text file"
            raise PydanticCustomError(
                "unreadable_signing_key",
                f"EVENTUALSHOP_AUTH_SIGNING_KEY_FILE: cannot read {{path}}: {reason}",
                {"path": str(self.auth_signing_key_file)},
            ) from None
        return _check_pem("EVENTUALSHOP_AUTH_SIGNING_KEY_FILE", pem)


def _kept_key_path(settings: AuthSettings) -> Path:
    """Where the embedded shop keeps its signing key."""
    return settings.data_dir.resolve() / KEY_FILE


def _held(settings: AuthSettings, key: Ed25519PrivateKey, kid: str) -> bool:
    """Whether the settings' JWKS lists ``key``'s public half under its ``kid``."""
    from cryptography.hazmat.primitives import serialization

    if settings.auth_jwks is None:
        return False
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return jws.jwks_holds(settings.auth_jwks, kid, raw)


def _check_pem(variable: str, pem: str) -> Ed25519PrivateKey:
    try:
        return _load_pem(pem)
    except (ValueError, TypeError):
        # Never the key itself, nor the parser's words about it.
        raise PydanticCustomError(
            "unusable_signing_key", f"{variable}: must hold an Ed25519 private key (PEM)"
        ) from None


def keys_problem() -> str | None:
    """What is wrong with the authorization settings (the keys, mostly), in one line naming the
    variable, never its value; ``None`` when they read."""
    from pydantic import ValidationError

    try:
        current_settings()
    except ValidationError as error:
        return AuthSettings.problem(error)
    return None


def own_key_problem() -> str | None:
    """With a JWKS set and no signing key, the shop signs with the key kept in its data folder
    (``signing_key``), which the JWKS must hold too. Unchecked, sign-in answered 200 with tokens
    that every request then refused ("the token names no key of ours"): a JWKS exported for a
    deployment and left set in the shell of ``make run``. Reads the kept key, never makes one."""
    settings = current_settings()
    if not settings.enabled or settings.auth_jwks is None:
        return None
    if settings.auth_signing_key is not None or settings.auth_signing_key_file is not None:
        return None  # that key is checked against the JWKS with the settings (_usable_keys)
    path = _kept_key_path(settings)
    if path.exists():
        key = signing_key(settings)
        kid = key_id(key.public_key())
        if _held(settings, key, kid):
            return None
        held = f"the shop's signing key ({path}, kid {kid})"
    else:
        held = f"the signing key the shop would make in {path}"
    return (
        f"EVENTUALSHOP_AUTH_JWKS: holds no key for {held}, so every token the shop signs would "
        "be refused; unset it, or set EVENTUALSHOP_AUTH_SIGNING_KEY_FILE to the key it was "
        "made from"
    )


_VARIABLES = tuple(
    AuthSettings.variable(name) + suffix
    for name in AuthSettings.model_fields
    for suffix in ("", FILE_SUFFIX)  # a setting may come from a file
)


def current_settings() -> AuthSettings:
    """The settings as the environment says now; read once per distinct environment (building
    pydantic settings takes a millisecond, too much for every request)."""
    return _settings_for(tuple(os.environ.get(name) for name in _VARIABLES))


@lru_cache(maxsize=8)
def _settings_for(environment: tuple[str | None, ...]) -> AuthSettings:
    del environment  # the cache key: AuthSettings reads the same variables itself
    return AuthSettings()


# ---- keys ---------------------------------------------------------------------------------------


def public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    """The key's JWK members, as PyJWT's ``OKPAlgorithm.to_jwk`` writes them."""
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": _base64url(raw)}


def key_id(public: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint of the key: stable, so a verifier finds the key a token names."""
    from hashlib import sha256

    # The JWK's members in lexicographic order, as RFC 7638 requires.
    canonical = json.dumps(public_jwk(public), sort_keys=True, separators=(",", ":"))
    return _base64url(sha256(canonical.encode()).digest())


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signing_key(settings: AuthSettings) -> Ed25519PrivateKey:
    secret = settings.auth_signing_key
    if secret is not None:
        return _load_pem(secret.get_secret_value())
    if settings.auth_signing_key_file is not None:
        # Read at every signing: a rotated secret file is picked up without a restart.
        return _load_pem(settings.auth_signing_key_file.read_text())
    return _local_key(str(_kept_key_path(settings)))


@lru_cache(maxsize=8)
def _load_pem(pem: str) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("EVENTUALSHOP_AUTH_SIGNING_KEY must be an Ed25519 private key (PEM)")
    return key


@lru_cache(maxsize=8)
def _local_key(path: str) -> Ed25519PrivateKey:
    """The embedded shop's key: made once, readable by its owner only; never for production."""
    return _load_pem(kept_key(Path(path), _new_pem).decode())


def _new_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_keys(settings: AuthSettings) -> dict[str, Any]:
    """kid -> public key of every key that may have signed a live token."""
    if settings.auth_jwks:
        return _jwks_keys(settings.auth_jwks)
    public = signing_key(settings).public_key()
    return {key_id(public): public}


@lru_cache(maxsize=8)
def _jwks_keys(document: str) -> dict[str, Any]:
    return jws.jwks_keys(document)


def jwks(settings: AuthSettings) -> dict[str, Any]:
    """The JWKS document: ``GET /.well-known/jwks.json``."""
    if settings.auth_jwks:
        published: dict[str, Any] = json.loads(settings.auth_jwks)
        return jws.public_only(published)  # refused at start anyway (``_usable_keys``)
    public = signing_key(settings).public_key()
    return {"keys": [public_jwk(public) | {"kid": key_id(public), "use": "sig", "alg": ALGORITHM}]}


# ---- verification -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    subject: uuid.UUID
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


def unauthenticated(detail: str) -> ProblemError:
    challenge = f'Bearer realm="eventualshop", error="invalid_token", error_description="{detail}"'
    return ProblemError(401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "Forbidden", detail)


def verify(token: str, settings: AuthSettings) -> Principal:
    """The token's user and roles; a 401 :class:`ProblemError` for anything but a good token."""
    try:
        claims = jws.verify(  # EdDSA only: never "none", never a symmetric algorithm
            token,
            public_keys(settings),
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            require=("exp", "iat", "sub", "jti", "iss", "aud"),
        )
        roles = claims.get("roles", [])
        return Principal(uuid.UUID(str(claims["sub"])), frozenset(str(r) for r in roles))
    except jws.UnknownKey:
        raise unauthenticated("the token names no key of ours") from None
    except jws.TokenRefused as refused:
        if refused.expired:
            raise unauthenticated("the token has expired") from None
        raise unauthenticated("the token is not valid") from None
    except (ValueError, TypeError):
        raise unauthenticated("the token is not valid") from None


def bearer(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(
            401,
            "Unauthorized",
            "send an access token: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="eventualshop"'},
        )
    return token.strip()


#: aggregate id -> the user id it belongs to (``None``: no such aggregate).
OwnerOf = Callable[[uuid.UUID], uuid.UUID | None]
#: user id -> whether every token of theirs is refused (:func:`revoked_subject`).
Revoked = Callable[[uuid.UUID], bool]

#: Token subjects whose every token is refused from now on: someone deleted, whose access token
#: would otherwise still be good for up to its lifetime. Whoever deletes them writes here (the
#: reaction to a deletion); one read-model lookup per request with a token reads it.
REVOKED_SUBJECTS = "AuthRevokedSubjects"


def revoke_subject(store: ReadModelStore, subject: uuid.UUID) -> None:
    """Refuse every token of ``subject`` from now on (idempotent: a redelivery writes nothing)."""
    store.upsert_if_newer(REVOKED_SUBJECTS, {"id": str(subject), "version": 1})


def revoked_subject(exists: Callable[[str, str], bool], subject: uuid.UUID) -> bool:
    """``exists``: (collection, id) -> whether the read-model store holds that document (a
    function's ``Root.document_exists``, which asks on the driver where it can)."""
    return exists(REVOKED_SUBJECTS, str(subject))


#: The second half of a route's access check: the request's data, once read, against its owner.
Permit = Callable[[Mapping[str, Any]], None]


def _anyone(data: Mapping[str, Any]) -> None:
    """Whatever the data: the caller may call the route on anything."""


@dataclass(frozen=True)
class Guard:
    """The access rule of one route, checked by its HTTP function before anything else."""

    access: Access
    #: Read per request, so a warm instance follows ``EVENTUALSHOP_AUTH`` as it is now.
    settings: Callable[[], AuthSettings] = current_settings
    owner_field: str | None = None
    aggregate_parameter: str | None = None
    owner_of: OwnerOf | None = None
    revoked: Revoked | None = None

    def __call__(self, request: Request) -> Permit:
        """Check the request's token (401) before anything else of the request is read; what it
        returns checks the request's data (path parameters and body) against the route's owner
        (403) once they are read. A body was read and checked first, so a caller with no token
        learnt from a 400 which fields a route takes and how they are checked."""
        settings = self.settings()
        if not settings.enabled or self.access == "anonymous":
            return _anyone
        principal = verify(bearer(request), settings)
        # A deleted user's refresh tokens are revoked; an access token still in its lifetime is
        # refused here, so the deletion takes effect at once, not when the token expires.
        if self.revoked is not None and self.revoked(principal.subject):
            raise unauthenticated("the token's user no longer exists")
        if principal.is_admin or self.access == CUSTOMER:
            return _anyone
        if self.access == ADMIN:
            raise forbidden("only an admin may do this")
        return partial(self._owner, principal)

    def _owner(self, principal: Principal, data: Mapping[str, Any]) -> None:
        if self.owner_field and self.owner_field in data:
            named = _uuid(data[self.owner_field])
            if named is not None and named != principal.subject:
                raise forbidden(f"{self.owner_field} must be your own user id")
            return  # a malformed id is the validation's 400
        if self.aggregate_parameter and self.aggregate_parameter in data and self.owner_of:
            aggregate = _uuid(data[self.aggregate_parameter])
            owner = self.owner_of(aggregate) if aggregate is not None else None
            if owner is not None and owner != principal.subject:
                raise forbidden("this belongs to another user")


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
