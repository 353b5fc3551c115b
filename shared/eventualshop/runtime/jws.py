"""Checking an access token with cryptography's Ed25519 only: no PyJWT on a function's request path.

Every HTTP function checks tokens, and importing PyJWT loads every algorithm it knows (RSA, EC,
HMAC, X.509): 150-200 ms of CPU, paid by a cold function on its first request with a token. The
tokens Identity issues are one kind only, compact JWS signed with EdDSA (Ed25519), so this module
verifies that kind and refuses every other: 20-25 ms for importing Ed25519. The claims are held
to PyJWT's rules exactly as ``jwt.decode`` applies them with the options ``runtime.auth`` passed
it (required claims, ``exp``/``iat``/``nbf`` as integers, no leeway, ``iss`` equal, ``aud`` a
string or a list of strings naming ours, ``sub`` and ``jti`` strings);
``tests/unit/test_jws.py`` compares the two on good and bad tokens. Signing stays with PyJWT
(Identity only).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

ALGORITHM = "EdDSA"
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


class TokenRefused(Exception):
    """The token is not one to accept; ``expired`` tells an expired one from the rest."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


class UnknownKey(TokenRefused):
    """The token's ``kid`` names none of the keys it may be checked with."""


def _decoded(segment: str) -> bytes:
    if _SEGMENT.fullmatch(segment) is None:
        raise TokenRefused("a segment is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenRefused("a segment is not base64url") from None


def _object(segment: str, what: str) -> dict[str, Any]:
    try:
        found = json.loads(_decoded(segment))
    except (ValueError, RecursionError):  # nested past the parser's depth: a crafted token
        raise TokenRefused(f"the {what} is not JSON") from None
    if not isinstance(found, dict):
        raise TokenRefused(f"the {what} is not a JSON object")
    return found


def _ed25519_keys(parsed: object) -> Iterator[tuple[str, bytes]]:
    """``(kid, raw public key)`` of every key of a parsed JWKS that could verify a token Identity
    signs: an OKP Ed25519 key with a ``kid`` whose ``x`` is 32 bytes. Keys of other kinds can
    never verify an EdDSA token and are left out."""
    keys = parsed.get("keys") if isinstance(parsed, dict) else None
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if (
            jwk.get("kty") != "OKP"
            or jwk.get("crv") != "Ed25519"
            or not isinstance(jwk.get("x"), str)
        ):
            continue
        try:
            raw = _decoded(jwk["x"])
        except TokenRefused:
            continue
        if len(raw) == 32:
            yield jwk["kid"], raw


#: The members of a JWK that are private key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037
#: §2): a verification-keys document that holds one gives its reader the power to sign.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def private_material(document: str) -> list[str]:
    """The ``kid`` (or position) of every key of a JWKS document that holds private key
    material; none for a document that is not a JWKS."""
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError):
        return []
    keys = parsed.get("keys") if isinstance(parsed, dict) else None
    return [
        str(jwk.get("kid", f"#{index}"))
        for index, jwk in enumerate(keys if isinstance(keys, list) else [])
        if isinstance(jwk, dict) and PRIVATE_MEMBERS & jwk.keys()
    ]


def public_only(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every key's private members left out (what may be published)."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        return document
    public = [
        {m: v for m, v in jwk.items() if m not in PRIVATE_MEMBERS} if isinstance(jwk, dict) else jwk
        for jwk in keys
    ]
    return document | {"keys": public}


def jwks_keys(document: str) -> dict[str, Any]:
    """kid -> Ed25519 public key of a JWKS document (:func:`_ed25519_keys`)."""
    parsed = json.loads(document)  # not JSON: ValueError, as from a bad token
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return {kid: Ed25519PublicKey.from_public_bytes(raw) for kid, raw in _ed25519_keys(parsed)}


def jwks_holds(document: str, kid: str, raw: bytes) -> bool:
    """Whether ``document`` lists the public key ``raw`` under ``kid``: a verifier looks a key up
    by the token's ``kid`` and checks with that entry's ``x``, so a matching ``kid`` over another
    key would refuse every token all the same."""
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError):
        return False
    return (kid, raw) in set(_ed25519_keys(parsed))


def jwks_kids(document: str) -> frozenset[str]:
    """The ``kid`` of every key of ``document`` :func:`jwks_keys` would return; none for a
    document that is not JSON. Read without cryptography, so reading the settings imports none
    of it."""
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError):
        return frozenset()
    return frozenset(kid for kid, _ in _ed25519_keys(parsed))


def verify(
    token: str,
    keys: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    require: Sequence[str] = ("exp", "iat", "sub", "jti", "iss", "aud"),
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of a compact EdDSA JWS signed by one of ``keys`` (kid -> Ed25519 public key);
    :class:`TokenRefused` for anything else."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRefused("not a compact JWS")
    header_segment, payload_segment, signature_segment = parts
    header = _object(header_segment, "header")
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise UnknownKey("the token names no key of ours")
    # Only what Identity issues: EdDSA ("none" and symmetric algorithms never), no critical
    # extensions (an unencoded payload, RFC 7797, among them).
    if header.get("alg") != ALGORITHM or "crit" in header or header.get("b64", True) is not True:
        raise TokenRefused("not an EdDSA token")
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(
            _decoded(signature_segment), f"{header_segment}.{payload_segment}".encode("ascii")
        )
    except InvalidSignature:
        raise TokenRefused("the signature does not verify") from None
    claims = _object(payload_segment, "payload")
    _check_claims(claims, issuer=issuer, audience=audience, require=require, now=now)
    return claims


def _integer(claims: Mapping[str, Any], name: str) -> int:
    try:
        return int(claims[name])
    except (ValueError, TypeError, OverflowError):
        raise TokenRefused(f"{name} is not an integer") from None


def _check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    require: Sequence[str],
    now: float | None,
) -> None:
    # PyJWT's order and rules (api_jwt.PyJWT._validate_claims) with leeway 0.
    for name in require:
        if claims.get(name) is None:
            raise TokenRefused(f"the token has no {name}")
    moment = time.time() if now is None else now
    if "iat" in claims and _integer(claims, "iat") > moment:
        raise TokenRefused("issued in the future")
    if "nbf" in claims and _integer(claims, "nbf") > moment:
        raise TokenRefused("not valid yet")
    if "exp" in claims and _integer(claims, "exp") <= moment:
        raise TokenRefused("the token has expired", expired=True)
    if "iss" not in claims or claims["iss"] != issuer or not isinstance(claims["iss"], str):
        raise TokenRefused("another issuer")
    audiences = claims.get("aud")
    if not audiences:
        raise TokenRefused("the token has no aud")
    if isinstance(audiences, str):
        audiences = [audiences]
    if not isinstance(audiences, list) or any(not isinstance(a, str) for a in audiences):
        raise TokenRefused("aud is not a string or a list of strings")
    if audience not in audiences:
        raise TokenRefused("another audience")
    if "sub" in claims and not isinstance(claims["sub"], str):
        raise TokenRefused("sub is not a string")
    if "jti" in claims and not isinstance(claims["jti"], str):
        raise TokenRefused("jti is not a string")
