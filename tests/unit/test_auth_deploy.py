"""The signing key reaches only the functions that sign, from a Secret of its own, never as a
literal (on Knative a variable from the Secret, on OpenFaaS a secret file); every other function
can verify but not mint a token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from eventualshop.runtime import auth, jws, server
from eventualshop.runtime.auth import current_settings, key_id, signing_key
from eventualshop.runtime.deploy import openfaas
from eventualshop.runtime.deploy.config import DeployConfig
from eventualshop.runtime.deploy.knative import service
from functions.main import cli
from functions.registry import FUNCTIONS

REPOSITORY = Path(__file__).resolve().parents[2]

KEY = "EVENTUALSHOP_AUTH_SIGNING_KEY"


def test_only_sign_in_and_refresh_mount_the_signing_key_and_from_its_own_secret() -> None:
    mounting = []
    for spec in FUNCTIONS:
        container = service(spec, DeployConfig())["spec"]["template"]["spec"]["containers"][0]
        for variable in container["env"]:
            if variable["name"] == KEY:
                assert "value" not in variable  # never a literal
                reference = variable["valueFrom"]["secretKeyRef"]
                assert reference == {"name": "eventualshop-auth-signing-key", "key": KEY}
                mounting.append(spec.name)
    assert sorted(mounting) == ["identity-refresh", "identity-sign-in"]


def test_on_openfaas_only_sign_in_and_refresh_get_the_signing_key_as_a_secret_file() -> None:
    stack = yaml.safe_load((REPOSITORY / "stack.yml").read_text())
    assert stack == openfaas.stack(FUNCTIONS, DeployConfig())  # the file is what is generated
    holding = []
    for name, function in stack["functions"].items():
        environment = function["environment"]
        assert KEY not in environment  # never the key itself, not even from the shell
        if "eventualshop-auth-signing-key" in function["secrets"]:
            path = "/var/openfaas/secrets/eventualshop-auth-signing-key"
            assert environment[f"{KEY}_FILE"] == path
            holding.append(name)
        else:
            assert f"{KEY}_FILE" not in environment
    assert sorted(holding) == ["identity-refresh", "identity-sign-in"]
    routed = {spec.name for spec in FUNCTIONS if spec.route is not None}
    verifying = {
        name
        for name, function in stack["functions"].items()
        if function["environment"].get("EVENTUALSHOP_AUTH_JWKS") == "${EVENTUALSHOP_AUTH_JWKS}"
    }
    assert verifying == routed


def test_the_signing_key_may_come_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    secret = tmp_path / "eventualshop-auth-signing-key"
    secret.write_bytes(pem)
    monkeypatch.delenv(KEY, raising=False)
    monkeypatch.setenv(f"{KEY}_FILE", str(secret))
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path / "data"))
    settings = current_settings()
    assert key_id(signing_key(settings).public_key()) == key_id(key.public_key())
    assert not (tmp_path / "data").exists()  # no key of its own was made


def test_users_jwks_prints_the_public_keys_a_deployment_gives_every_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "signing-key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.delenv("EVENTUALSHOP_AUTH_SIGNING_KEY", raising=False)
    monkeypatch.setenv("EVENTUALSHOP_AUTH_SIGNING_KEY_FILE", str(pem))
    monkeypatch.setenv("EVENTUALSHOP_AUTH_JWKS", '{"keys": []}')  # an old document is not reused

    assert cli(["users", "jwks"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert [k["kid"] for k in document["keys"]] == [key_id(key.public_key())]
    assert "d" not in document["keys"][0]  # the public half only
    assert set(auth.public_keys(auth.AuthSettings(auth_jwks=json.dumps(document)))) == {
        key_id(key.public_key())
    }


def test_users_jwks_without_a_signing_key_says_what_to_set_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVENTUALSHOP_AUTH_SIGNING_KEY", raising=False)
    monkeypatch.delenv("EVENTUALSHOP_AUTH_SIGNING_KEY_FILE", raising=False)

    assert cli(["users", "jwks"]) == 2

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "EVENTUALSHOP_AUTH_SIGNING_KEY_FILE" in error


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _jwks(*keys: Ed25519PrivateKey) -> str:
    documents = [
        auth.jwks(auth.AuthSettings(auth_signing_key=_pem(k), auth_jwks=None)) for k in keys
    ]
    return json.dumps({"keys": [document["keys"][0] for document in documents]})


def test_a_jwks_that_lacks_the_signing_key_is_refused_where_it_would_sign(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Was: accepted; every token that function signed was then refused by every function
    # ("the token names no key of ours"), a key rotated without its JWKS.
    new, old = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()

    with pytest.raises(ValidationError) as refused:
        auth.AuthSettings(auth_signing_key=_pem(new), auth_jwks=_jwks(old))

    line = auth.AuthSettings.problem(refused.value)
    assert line.startswith("EVENTUALSHOP_AUTH_JWKS: holds no key for the signing key"), line
    assert key_id(new.public_key()) in line
    assert "eventualshop users jwks" in line
    # While rotating, the document lists the old key and the new: that is what it is for.
    assert auth.AuthSettings(auth_signing_key=_pem(new), auth_jwks=_jwks(old, new))
    # A function that only verifies never holds the signing key: no check to make.
    assert auth.AuthSettings(auth_jwks=_jwks(old))


@pytest.mark.parametrize("member", sorted(jws.PRIVATE_MEMBERS))
def test_a_jwks_holding_private_key_material_is_refused_in_one_line(member: str) -> None:
    # Was: accepted and published at GET /.well-known/jwks.json, private half and all, so anyone
    # could sign an admin's token with it.
    key = Ed25519PrivateKey.generate()
    document = json.loads(_jwks(key))
    document["keys"][0][member] = "c2VjcmV0"

    with pytest.raises(ValidationError) as refused:
        auth.AuthSettings(auth_jwks=json.dumps(document))

    line = auth.AuthSettings.problem(refused.value)
    assert line.startswith("EVENTUALSHOP_AUTH_JWKS: key "), line
    assert "private key material" in line
    assert "\n" not in line
    assert "c2VjcmV0" not in line


def test_the_published_jwks_never_holds_private_members() -> None:
    key = Ed25519PrivateKey.generate()
    document = json.loads(_jwks(key))
    document["keys"][0]["d"] = "c2VjcmV0"
    # Settings built without their checks (as a test or a later code path might): still public.
    settings = auth.AuthSettings.model_construct(auth_jwks=json.dumps(document))

    published = auth.jwks(settings)

    assert [sorted(k) for k in published["keys"]] == [["alg", "crv", "kid", "kty", "use", "x"]]


@pytest.mark.parametrize("variable", ["EVENTUALSHOP_AUTH_AUDIENCE", "EVENTUALSHOP_AUTH_ISSUER"])
def test_an_empty_audience_or_issuer_is_refused_at_start(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: taken; sign-in answered 200 and every function refused every token it signed.
    monkeypatch.setenv(variable, "")

    with pytest.raises(ValidationError) as refused:
        auth.AuthSettings()

    assert auth.AuthSettings.problem(refused.value).startswith(f"{variable}: ")


def _never_serves(*_: object, **__: object) -> None:
    raise AssertionError("serve went on to listen")


def test_serve_refuses_a_jwks_without_the_key_it_signs_with_from_its_data_folder(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: served; sign-in answered 200 and every request with its token was then 401 ("the
    # token names no key of ours"): a deployment's JWKS left set in the shell of `make run`.
    kept = signing_key(current_settings())  # the shop's own, made in its data folder
    monkeypatch.setenv("EVENTUALSHOP_AUTH_JWKS", _jwks(Ed25519PrivateKey.generate()))
    monkeypatch.setattr(server, "ShopServer", _never_serves)

    assert cli(["serve", "--port", "1"]) == 2

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "EVENTUALSHOP_AUTH_JWKS: holds no key for the shop's signing key" in error
    assert key_id(kept.public_key()) in error
    # The JWKS of that key (or listing it beside another, while rotating) is what it is for.
    monkeypatch.setenv("EVENTUALSHOP_AUTH_JWKS", _jwks(Ed25519PrivateKey.generate(), kept))
    assert auth.own_key_problem() is None


def test_serve_refuses_a_jwks_where_it_would_make_a_new_signing_key(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_AUTH_JWKS", _jwks(Ed25519PrivateKey.generate()))
    monkeypatch.setattr(server, "ShopServer", _never_serves)

    assert cli(["serve", "--port", "1"]) == 2

    assert "holds no key for the signing key the shop would make" in capsys.readouterr().err
    assert not (shop_environment / auth.KEY_FILE).exists()  # a refused start makes no key


def test_a_jwks_naming_the_signing_keys_kid_over_another_key_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Was: accepted, the kid alone compared (found in review); a verifier checks a token with
    # the x listed under its kid, so every token the key signed would have been refused.
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    document = json.loads(_jwks(other))
    document["keys"][0]["kid"] = key_id(key.public_key())

    with pytest.raises(ValidationError) as refused:
        auth.AuthSettings(auth_signing_key=_pem(key), auth_jwks=json.dumps(document))

    line = auth.AuthSettings.problem(refused.value)
    assert line.startswith("EVENTUALSHOP_AUTH_JWKS: holds no key for the signing key"), line
