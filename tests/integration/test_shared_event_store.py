"""Contexts configured with one event store URL share one store (one connection pool per
database), and contexts on their own databases (the embedded default) keep their own."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from functions.main import ROOT
from functions.registry import CONTEXTS


@pytest.mark.usefixtures("clean_root")
def test_contexts_on_one_url_share_one_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    stores = {id(ROOT.event_store(context.name)) for context in CONTEXTS}
    assert len(stores) == 1


@pytest.mark.usefixtures("clean_root")
def test_contexts_on_their_own_databases_keep_their_own_stores() -> None:
    stores = {id(ROOT.event_store(context.name)) for context in CONTEXTS}
    assert len(stores) == len(CONTEXTS)


@pytest.mark.usefixtures("clean_root")
def test_a_context_may_have_a_database_of_its_own_beside_the_shared_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    monkeypatch.setenv(
        "EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL", f"sqlite:///{tmp_path / 'account.sqlite3'}"
    )
    account = ROOT.event_store("account")
    others = {id(ROOT.event_store(c.name)) for c in CONTEXTS if c.name != "account"}
    assert len(others) == 1
    assert id(account) not in others


def _account_made_for_a_new_user(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Sign up over HTTP (the embedded broker), then the Account's events under the user's id
    (R1: ``UserRegistered`` -> ``CreateAccount``, ``AccountId = UserId``)."""
    from eventualshop.runtime.local import LocalShop

    monkeypatch.setenv("EVENTUALSHOP_IDENTITY_PASSWORD_HASH", "cheapest")
    # A store URL is configured: the cart refuses to start without its card-token key.
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "shared-store-test-key-" * 2)

    shop = LocalShop(ROOT)
    body = {
        "firstName": "Alice",
        "lastName": "Tester",
        "email": "alice@example.com",
        "password": "Corr3ct-Horse!",
        "passwordConfirmation": "Corr3ct-Horse!",
    }
    try:
        answer = shop.app.test_client().post("/api/v1/identities/sign-up", json=body)
        assert answer.status_code == 202, answer.get_data(as_text=True)
        user = answer.json["userId"]  # type: ignore[index]
        shop.settle()
        store = ROOT.event_store("account")
        return [e.event_type for e in store.load_events(uuid.UUID(user), aggregate_type="Account")]
    finally:
        shop.stop()


@pytest.mark.usefixtures("clean_root")
def test_on_one_shared_store_the_account_of_a_new_user_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    assert _account_made_for_a_new_user(monkeypatch) == ["AccountCreated"]


@pytest.mark.usefixtures("clean_root")
def test_with_account_on_its_own_database_the_account_of_a_new_user_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    monkeypatch.setenv(
        "EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL", f"sqlite:///{tmp_path / 'account.sqlite3'}"
    )
    assert _account_made_for_a_new_user(monkeypatch) == ["AccountCreated"]
