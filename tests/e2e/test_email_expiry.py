"""An email not confirmed within 15 minutes expires, through the durable timer its
``UserRegistered`` scheduled, on both set-ups (the embedded shop; PostgreSQL + RabbitMQ + the
MongoDB wire-protocol server). The shop's own sweep runs on real time; the tests fire the
timers as the sweep would 16 minutes later (``Root.fire_timers(now=…)``), in both orders with
the confirmation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from eventualshop.kernel.messages import utc_now
from functions.main import ROOT

from .support import ServedShop
from .test_catalog_warehouse_http import served  # noqa: F401

IDENTITIES = "/api/v1/identities"
PASSWORD = "Corr3ct-Horse!"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTUALSHOP_IDENTITY_PASSWORD_HASH", "cheapest")


def sign_up(served: ServedShop) -> tuple[str, str]:  # noqa: F811
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    body = {
        "firstName": "Augusta",
        "lastName": "Lovelace",
        "email": email,
        "password": PASSWORD,
        "passwordConfirmation": PASSWORD,
    }
    return served.http.command("POST", f"{IDENTITIES}/sign-up", body)["userId"], email


def confirm(served: ServedShop, user: str, email: str) -> tuple[int, dict[str, object]]:  # noqa: F811
    answer = served.http.request(
        "POST", f"{IDENTITIES}/{user}/confirm-email", query={"email": email}
    )
    return answer.status, answer.json


def user_events(user: str) -> list[str]:
    store = ROOT.event_store("identity")
    return [e.event_type for e in store.load_events(uuid.UUID(user), aggregate_type="User")]


def fire_timers_in(minutes: int) -> None:
    ROOT.fire_timers(now=utc_now() + timedelta(minutes=minutes))


def test_an_email_not_confirmed_in_time_expires_and_cannot_be_confirmed_afterwards(
    served: ServedShop,  # noqa: F811
) -> None:
    user, email = sign_up(served)
    fire_timers_in(14)
    assert user_events(user) == ["UserRegistered"]

    fire_timers_in(16)

    assert user_events(user) == ["UserRegistered", "EmailExpired"]
    status, problem = confirm(served, user, email)
    assert (status, problem["code"]) == (409, "email-expired")


def test_an_email_confirmed_first_makes_the_timer_a_no_op(
    served: ServedShop,  # noqa: F811
) -> None:
    user, email = sign_up(served)
    assert confirm(served, user, email)[0] == 202

    fire_timers_in(16)
    fire_timers_in(17)  # a second sweep finds nothing left (the first deleted the timer)

    assert user_events(user) == ["UserRegistered", "EmailConfirmed", "PrimaryEmailDefined"]


def test_a_user_whose_first_email_expired_and_was_sent_again_still_signs_in_with_it(
    served: ServedShop,  # noqa: F811
) -> None:
    """The finding (a property test of Identity's read model): an email sent again after it
    expired moved to the end of the user's emails, and the aggregate took the first one as the
    email to sign in with. After another email had been added, that was the other, unconfirmed
    one: sign-in with the email registered was refused (401), and the read model still named the
    registered one, so sign-in with the other found nobody either. The user was locked out."""
    user, email = sign_up(served)
    fire_timers_in(16)  # not confirmed in time: the registered email expires
    other = f"other-{uuid.uuid4().hex[:8]}@example.com"
    for address in (other, email):  # another email, then the registered one sent again
        served.http.command("PUT", f"{IDENTITIES}/{user}/change-email", email=address)

    signed_in = served.http.request(
        "POST", f"{IDENTITIES}/sign-in", {"email": email, "password": PASSWORD}
    )

    assert user_events(user)[-3:] == ["EmailExpired", "EmailChanged", "EmailChanged"]
    assert signed_in.status == 200, signed_in.json
    assert signed_in.json["userId"] == user
