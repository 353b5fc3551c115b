"""The token check without PyJWT (``runtime.jws``) accepts exactly what ``jwt.decode`` accepted
with the options ``runtime.auth`` gave it, and returns the same claims; the key id and the JWKS
keys are PyJWT's too."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from hashlib import sha256
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from eventualshop.runtime import jws
from eventualshop.runtime.auth import AuthSettings, key_id, verify
from eventualshop.runtime.problems import ProblemError

ISSUER = "eventual-shop"
AUDIENCE = "eventual-shop"
REQUIRE = ["exp", "iat", "sub", "jti", "iss", "aud"]
KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key())
KEYS = {KID: KEY.public_key()}


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 600,
        "roles": ["customer"],
    }
    for name, value in changes.items():
        if value is _DROP:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


_DROP = object()


def _signed(
    claims: dict[str, Any], *, key: Any = KEY, headers: dict[str, Any] | None = None
) -> str:
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": KID} | (headers or {}))


def _segment(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _with_header(token: str, header: dict[str, Any]) -> str:
    """The token's payload and signature under another header (so the signature breaks)."""
    _, payload, signature = token.split(".")
    return f"{_segment(header)}.{payload}.{signature}"


def _signed_as_is(payload: Any) -> str:
    """Signed by our key whatever the payload is (PyJWT refuses to make some of these)."""
    signing_input = f"{_segment({'alg': 'EdDSA', 'kid': KID, 'typ': 'JWT'})}.{_segment(payload)}"
    signature = base64.urlsafe_b64encode(KEY.sign(signing_input.encode())).rstrip(b"=").decode()
    return f"{signing_input}.{signature}"


def _unsigned(claims: dict[str, Any]) -> str:
    return f"{_segment({'alg': 'none', 'kid': KID, 'typ': 'JWT'})}.{_segment(claims)}."


def _symmetric(claims: dict[str, Any]) -> str:
    # The classic confusion: HS256 keyed with the public key's bytes.
    secret = key_id(KEY.public_key()).encode() * 2
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": KID})


TOKENS: dict[str, Callable[[], str]] = {
    "good": lambda: _signed(_claims()),
    "good, aud a list naming ours": lambda: _signed(_claims(aud=["other", AUDIENCE])),
    "good, numeric strings for times": lambda: _signed(
        _claims(iat=str(int(time.time())), exp=str(int(time.time()) + 60))
    ),
    "good, float times": lambda: _signed(_claims(iat=time.time() - 1, exp=time.time() + 60)),
    "good, nbf in the past": lambda: _signed(_claims(nbf=int(time.time()) - 5)),
    "expired": lambda: _signed(_claims(exp=int(time.time()) - 1)),
    "expiring now": lambda: _signed(_claims(exp=int(time.time()))),
    "issued in the future": lambda: _signed(_claims(iat=int(time.time()) + 3600)),
    "nbf in the future": lambda: _signed(_claims(nbf=int(time.time()) + 3600)),
    "exp not a number": lambda: _signed(_claims(exp="tomorrow")),
    "iat not a number": lambda: _signed(_claims(iat=[1])),
    "nbf not a number": lambda: _signed(_claims(nbf="soon")),
    "another issuer": lambda: _signed(_claims(iss="someone")),
    "issuer not a string": lambda: _signed_as_is(_claims(iss=["eventual-shop"])),
    "another audience": lambda: _signed(_claims(aud="someone")),
    "audience list without ours": lambda: _signed(_claims(aud=["a", "b"])),
    "audience list with a number": lambda: _signed(_claims(aud=[AUDIENCE, 3])),
    "audience a number": lambda: _signed(_claims(aud=7)),
    "empty audience": lambda: _signed(_claims(aud="")),
    "sub not a string": lambda: _signed(_claims(sub=12)),
    "jti not a string": lambda: _signed(_claims(jti=12)),
    **{f"no {name}": (lambda n=name: _signed(_claims(**{n: _DROP}))) for name in REQUIRE},
    "a null exp": lambda: _signed(_claims(exp=None)),
    "signed by another key": lambda: _signed(_claims(), key=OTHER_KEY),
    "alg none": lambda: _unsigned(_claims()),
    "alg HS256": lambda: _symmetric(_claims()),
    "header alg changed to HS256": lambda: _with_header(
        _signed(_claims()), {"alg": "HS256", "kid": KID, "typ": "JWT"}
    ),
    "payload swapped": lambda: ".".join(
        [
            _signed(_claims()).split(".")[0],
            _signed(_claims(roles=["admin"])).split(".")[1],
            _signed(_claims()).split(".")[2],
        ]
    ),
    "critical header": lambda: _signed(_claims(), headers={"crit": ["exp"], "exp": 1}),
    "two segments": lambda: ".".join(_signed(_claims()).split(".")[:2]),
    "four segments": lambda: _signed(_claims()) + ".e30",
    "garbage": lambda: "not-a-token",
    "header not JSON": lambda: "bm90IGpzb24." + _signed(_claims()).split(".", 1)[1],
    "header a list": lambda: _segment([1]) + "." + _signed(_claims()).split(".", 1)[1],
    "payload a list": lambda: _signed_as_is([1]),
    "signature not base64url": lambda: _signed(_claims())[:-4] + "!!!!",
    "empty signature": lambda: _signed(_claims()).rsplit(".", 1)[0] + ".",
}


def _pyjwt(token: str) -> dict[str, Any] | str:
    """What ``runtime.auth`` did with PyJWT: the claims, or why the token was refused."""
    try:
        header = jwt.get_unverified_header(token)
        key = KEYS.get(str(header.get("kid")))
        if key is None:
            return "unknown key"
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": REQUIRE},
        )
        return claims
    except jwt.ExpiredSignatureError:
        return "expired"
    except (jwt.PyJWTError, ValueError, TypeError):
        return "refused"


def _ours(token: str) -> dict[str, Any] | str:
    try:
        return jws.verify(token, KEYS, issuer=ISSUER, audience=AUDIENCE, require=REQUIRE)
    except jws.UnknownKey:
        return "unknown key"
    except jws.TokenRefused as refused:
        return "expired" if refused.expired else "refused"


@pytest.mark.parametrize("case", sorted(TOKENS))
def test_the_check_decides_every_token_as_pyjwt_did(case: str) -> None:
    token = TOKENS[case]()
    expected = _pyjwt(token)
    assert _ours(token) == expected
    if case.startswith("good"):
        assert isinstance(expected, dict), expected


def test_a_token_naming_another_key_is_refused_as_unknown() -> None:
    token = jwt.encode(_claims(), KEY, algorithm="EdDSA", headers={"kid": "elsewhere"})
    assert _ours(token) == _pyjwt(token) == "unknown key"


def test_the_key_id_and_the_jwks_keys_are_pyjwts() -> None:
    for _ in range(5):
        public = Ed25519PrivateKey.generate().public_key()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public))
        canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"))
        thumbprint = jwt.utils.base64url_encode(sha256(canonical.encode()).digest()).decode()
        assert key_id(public) == thumbprint
        document = json.dumps(
            {"keys": [jwk | {"kid": thumbprint}, {"kty": "RSA", "kid": "r", "n": "x", "e": "AQAB"}]}
        )
        keys = jws.jwks_keys(document)
        assert list(keys) == [thumbprint]
        assert keys[thumbprint].public_bytes_raw() == public.public_bytes_raw()


def test_verify_answers_401_for_a_bad_token_and_the_principal_for_a_good_one() -> None:
    public = KEY.public_key()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public)) | {"kid": KID}
    settings = AuthSettings(auth_jwks=json.dumps({"keys": [jwk]}))
    subject = uuid.uuid4()
    principal = verify(_signed(_claims(sub=str(subject), roles=["admin"])), settings)
    assert principal.subject == subject
    assert principal.is_admin
    with pytest.raises(ProblemError) as refused:
        verify(_signed(_claims(exp=int(time.time()) - 10)), settings)
    assert refused.value.status == 401
    assert "expired" in refused.value.detail


@pytest.mark.parametrize("where", ["header", "payload"])
def test_a_token_nested_deeper_than_the_parser_goes_is_refused_with_401(where: str) -> None:
    """A client's crafted token: ``json.loads`` raises RecursionError, not ValueError, on a few
    thousand nested brackets (a header's worth), which reached the user as a 500."""
    public = KEY.public_key()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public)) | {"kid": KID}
    settings = AuthSettings(auth_jwks=json.dumps({"keys": [jwk]}))
    deep = _segment_raw(b"[" * 3000 + b"]" * 3000)
    good = _signed(_claims()).split(".")
    if where == "header":
        parts = [deep, good[1], good[2]]
    else:  # signed, so the payload is parsed (a bad signature would be refused before)
        parts = [good[0], deep, _segment_raw(KEY.sign(f"{good[0]}.{deep}".encode()))]

    with pytest.raises(jws.TokenRefused):
        jws.verify(".".join(parts), KEYS, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ProblemError) as refused:
        verify(".".join(parts), settings)
    assert refused.value.status == 401


def _segment_raw(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_checking_a_token_imports_no_pyjwt() -> None:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(KEY.public_key())) | {"kid": KID}
    code = (
        "import json, sys\n"
        "from eventualshop.runtime.auth import AuthSettings, verify\n"
        f"token, jwks = {_signed(_claims())!r}, {json.dumps({'keys': [jwk]})!r}\n"
        "verify(token, AuthSettings(auth_jwks=jwks))\n"
        "print(json.dumps(sorted(m for m in ('jwt', 'cryptography.x509') if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


@pytest.mark.parametrize("document", ["[]", '{"keys": {}}', '{"keys": [1, {"kty": "OKP"}]}', "{"])
def test_a_jwks_without_a_usable_key_is_a_setting_to_fix_not_a_401_for_every_token(
    document: str,
) -> None:
    # Was: accepted, and every token refused as "not valid" (401) by every function.
    with pytest.raises(ValidationError) as refused:
        AuthSettings(auth_jwks=document)
    assert AuthSettings.problem(refused.value).startswith("EVENTUALSHOP_AUTH_JWKS: must be a JWKS")
    assert jws.jwks_kids(document) == frozenset()
