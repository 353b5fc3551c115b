"""Identity's credential functions (sign-up, sign-in, …) fail as cleanly as every other function:
a store that does not answer is a 503 naming it, a setting out of range or a key that cannot sign
or verify is a 503 ``misconfigured`` whose log line names the variable, and ``serve`` refuses such
a setting before it listens. No SQL error message, wherever it is logged, quotes the statement's
values."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from pydantic import ValidationError

from eventualshop.adapters.database import create_engine
from eventualshop.runtime.local import build_app
from functions.main import ROOT
from tests.ports import closed_port

IDENTITIES = "/api/v1/identities"
PASSWORD = "Analytic-Engine-1843"
SIGN_UP = {
    "firstName": "Augusta",
    "lastName": "Lovelace",
    "email": "ada@example.com",
    "password": PASSWORD,
    "passwordConfirmation": PASSWORD,
}


def _client() -> FlaskClient:
    return build_app(ROOT).test_client()


def test_a_sign_up_whose_database_does_not_answer_is_a_503_naming_it(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Was: 500 "Internal error", logged as "identity function sign_up failed: OperationalError".
    monkeypatch.setenv(
        "EVENTUALSHOP_IDENTITY_EVENT_STORE_URL", f"postgresql://u@127.0.0.1:{closed_port()}/x"
    )
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "a key for these tests only")
    ROOT.reset()

    with caplog.at_level(logging.WARNING):
        answer = _client().post(f"{IDENTITIES}/sign-up", json=SIGN_UP)

    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.json is not None
    assert answer.json["code"] == "database-unavailable"
    assert answer.headers["Retry-After"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "database unavailable" in logged, logged
    assert PASSWORD not in logged


def test_an_identity_setting_out_of_range_is_a_503_and_a_line_naming_the_variable(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Was: every sign-up and sign-in answered 500, logged as "… failed: ValidationError".
    monkeypatch.setenv("EVENTUALSHOP_IDENTITY_ACCESS_TOKEN_SECONDS", "-5")
    ROOT.reset()

    with caplog.at_level(logging.WARNING):
        answers = [
            _client().post(f"{IDENTITIES}/sign-up", json=SIGN_UP),
            _client().post(
                f"{IDENTITIES}/sign-in", json={"email": SIGN_UP["email"], "password": PASSWORD}
            ),
        ]

    assert [a.status_code for a in answers] == [503, 503], [a.get_data() for a in answers]
    assert all(a.json is not None and a.json["code"] == "misconfigured" for a in answers)
    assert all("ACCESS_TOKEN" not in a.get_data(as_text=True) for a in answers)  # the operator's
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "EVENTUALSHOP_IDENTITY_ACCESS_TOKEN_SECONDS: " in logged, logged
    assert "-5" not in logged, logged


def test_the_shop_refuses_an_identity_setting_out_of_range_before_it_starts(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: ``serve`` listened, and the setting showed up as a 500 on the first sign-in.
    monkeypatch.setenv("EVENTUALSHOP_IDENTITY_SIGN_IN_ATTEMPTS", "0")
    ROOT.reset()

    with pytest.raises(ValidationError) as refused:
        ROOT.configure_contexts()  # what serve runs before it listens

    assert refused.value.title == "IdentitySettings"


def test_a_sql_error_never_quotes_the_statements_values(tmp_path: Path) -> None:
    # Was: "[parameters: ('$argon2id$…',)]" in the message of any SQLAlchemy error: what a log
    # line or the command line's one line shows of it.
    engine = create_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    secret = "$argon2id$v=19$m=65536,t=3,p=4$not-a-real-hash"
    try:
        with engine.begin() as connection, pytest.raises(sa.exc.DBAPIError) as failed:
            connection.execute(
                sa.text("INSERT INTO no_such_table VALUES (:hash)"), {"hash": secret}
            )
    finally:
        engine.dispose()

    assert "no_such_table" in str(failed.value)  # the statement, still: the operator's clue
    assert secret not in str(failed.value)


def test_a_signing_key_that_is_no_key_is_a_503_naming_the_variable_never_its_value(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Was: 500 "Internal error" on every sign-in, logged as "… sign_in failed: ValueError".
    assert _client().post(f"{IDENTITIES}/sign-up", json=SIGN_UP).status_code == 202
    monkeypatch.setenv("EVENTUALSHOP_AUTH_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----\nnope")

    with caplog.at_level(logging.WARNING):
        answer = _client().post(
            f"{IDENTITIES}/sign-in", json={"email": SIGN_UP["email"], "password": PASSWORD}
        )

    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.json is not None
    assert answer.json["code"] == "misconfigured"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "EVENTUALSHOP_AUTH_SIGNING_KEY: must hold an Ed25519 private key (PEM)" in logged
    assert "nope" not in logged


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EVENTUALSHOP_AUTH_SIGNING_KEY", "not a key"),
        ("EVENTUALSHOP_AUTH_SIGNING_KEY_FILE", "/no/such/signing-key.pem"),
        ("EVENTUALSHOP_AUTH_JWKS", "not JSON"),
        ("EVENTUALSHOP_IDENTITY_LOCKOUT_SECONDS", "0"),
    ],
)
def test_serve_refuses_a_key_or_an_identity_setting_it_cannot_use_before_it_listens(
    variable: str, value: str, tmp_path: Path
) -> None:
    # Was: it listened; every sign-in failed, or every token was refused as "not valid".
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTUALSHOP_")}
    env |= {"EVENTUALSHOP_DATA_DIR": str(tmp_path), "EVENTUALSHOP_PORT": str(closed_port())}
    env[variable] = value
    done = subprocess.run(
        [str(Path(sys.executable).with_name("eventualshop")), "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # the old code listened and never returned: a failure, not a hang
    )

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"eventualshop: {variable}: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Listening" not in done.stderr


def test_an_email_whose_sign_up_failed_can_sign_up_again(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finding: a sign-up claims its email (in the read-model store) before it registers the
    user (in the event store). When the event store did not answer, the claim stayed, for a user
    that never existed: every later sign-up with that email was 409 "email taken", for good (a
    browser sends no Idempotency-Key, so each try is another user)."""
    from functions.identity import emails

    monkeypatch.setenv(
        "EVENTUALSHOP_IDENTITY_EVENT_STORE_URL", f"postgresql://u@127.0.0.1:{closed_port()}/x"
    )
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "a key for these tests only")
    ROOT.reset()
    assert _client().post(f"{IDENTITIES}/sign-up", json=SIGN_UP).status_code == 503
    monkeypatch.delenv("EVENTUALSHOP_IDENTITY_EVENT_STORE_URL")  # the database is back
    ROOT.reset()

    at_once = _client().post(f"{IDENTITIES}/sign-up", json=SIGN_UP)
    # The claim holds a while: a sign-up still under way (a double click) must not be overtaken.
    monkeypatch.setattr(emails, "CLAIM_HOLDS", emails.CLAIM_HOLDS * 0)
    later = _client().post(f"{IDENTITIES}/sign-up", json=SIGN_UP)
    again = _client().post(f"{IDENTITIES}/sign-up", json=SIGN_UP)
    signed_in = _client().post(
        f"{IDENTITIES}/sign-in", json={"email": SIGN_UP["email"], "password": PASSWORD}
    )

    assert later.status_code == 202, later.get_data(as_text=True)
    assert later.json is not None
    assert at_once.status_code == 409
    assert at_once.json is not None
    assert at_once.json["code"] == "email-claim-pending"
    assert "try again in a minute" in at_once.json["detail"]
    assert again.status_code == 409  # now a registered user's
    assert again.json is not None
    assert again.json["code"] == "email-taken"
    assert signed_in.status_code == 200, signed_in.get_data(as_text=True)
    assert signed_in.json is not None
    assert signed_in.json["userId"] == later.json["userId"]
