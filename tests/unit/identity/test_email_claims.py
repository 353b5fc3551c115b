"""Claiming an email for a sign-up (``functions/identity/emails``): one user per email, and a
claim whose user was never registered lapses instead of holding the email for good."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from functions.identity import credentials
from functions.identity.emails import CLAIM_HOLDS, EMAILS, Claim, Holder, claim, let_go, owner

EMAIL = "ada@example.com"
T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
FIRST, SECOND, THIRD = (uuid.UUID(int=n) for n in (1, 2, 3))


def nobody(_: uuid.UUID) -> Holder:
    return Holder.NONE


def kept_by(user: uuid.UUID) -> Callable[[uuid.UUID], Holder]:
    return lambda holder: Holder.KEEPS if holder == user else Holder.NONE


def test_the_first_claim_wins_and_a_retry_of_it_keeps_it() -> None:
    store = InMemoryReadModelStore()
    assert claim(store, EMAIL, FIRST, nobody, T0) is Claim.OURS
    assert claim(store, EMAIL, FIRST, nobody, T0 + timedelta(hours=1)) is Claim.OURS
    assert owner(store, EMAIL) == FIRST


def test_a_registered_users_email_is_taken_however_old_its_claim() -> None:
    store = InMemoryReadModelStore()
    claim(store, EMAIL, FIRST, nobody, T0)
    for later in (timedelta(0), CLAIM_HOLDS * 10):
        assert claim(store, EMAIL, SECOND, kept_by(FIRST), T0 + later) is Claim.TAKEN
    assert owner(store, EMAIL) == FIRST


def test_an_unregistered_claim_holds_a_while_then_lapses_to_the_next_sign_up() -> None:
    store = InMemoryReadModelStore()
    claim(store, EMAIL, FIRST, nobody, T0)
    credentials.keep(store, FIRST, SecretStr("Analytic-Engine-1843"))  # before it failed

    assert claim(store, EMAIL, SECOND, nobody, T0 + CLAIM_HOLDS / 2) is Claim.PENDING
    assert claim(store, EMAIL, SECOND, nobody, T0 + CLAIM_HOLDS) is Claim.OURS
    assert owner(store, EMAIL) == SECOND
    assert store.find(credentials.CREDENTIALS, {"userId": str(FIRST)}) == []
    # And the taker's claim holds as any new one does.
    assert claim(store, EMAIL, THIRD, nobody, T0 + CLAIM_HOLDS * 1.5) is Claim.PENDING


def test_of_two_sign_ups_taking_over_one_lapsed_claim_one_wins() -> None:
    store = InMemoryReadModelStore()
    claim(store, EMAIL, FIRST, nobody, T0)
    lapsed = store.get(EMAILS, EMAIL)
    assert lapsed is not None

    # Both read the lapsed claim before either writes: the second's write is not newer.
    original_get = store.get
    store.get = lambda collection, id: lapsed  # type: ignore[method-assign]
    try:
        first = claim(store, EMAIL, SECOND, nobody, T0 + CLAIM_HOLDS)
        store.get = lambda collection, id: lapsed  # type: ignore[method-assign]
        second = claim(store, EMAIL, THIRD, nobody, T0 + CLAIM_HOLDS)
    finally:
        store.get = original_get  # type: ignore[method-assign]

    assert (first, second) == (Claim.OURS, Claim.PENDING)
    assert owner(store, EMAIL) == SECOND


def test_a_claim_from_before_claims_were_dated_lapses_once_its_user_is_not_registered() -> None:
    store = InMemoryReadModelStore()
    store.upsert_if_newer(EMAILS, {"id": EMAIL, "userId": str(FIRST), "version": 1})
    assert claim(store, EMAIL, SECOND, nobody, T0) is Claim.OURS


def test_an_email_a_registered_user_added_and_let_expire_lapses_and_keeps_their_password() -> None:
    """Was: an email a user added was claimed for good (the claim's holder was registered), so
    adding an address nobody had yet kept its owner from ever signing up with it."""
    store = InMemoryReadModelStore()
    claim(store, EMAIL, FIRST, nobody, T0)
    credentials.keep(store, FIRST, SecretStr("Analytic-Engine-1843"))

    def left(_: uuid.UUID) -> Holder:
        return Holder.LEFT

    assert claim(store, EMAIL, SECOND, left, T0 + CLAIM_HOLDS / 2) is Claim.PENDING
    assert claim(store, EMAIL, SECOND, left, T0 + CLAIM_HOLDS) is Claim.OURS
    assert owner(store, EMAIL) == SECOND
    # The holder is a user: their password stays (it is forgotten for a user that never was).
    assert store.find(credentials.CREDENTIALS, {"userId": str(FIRST)}) != []


def test_a_claim_let_go_lapses_and_the_next_claimant_asks_who_holds_the_email() -> None:
    # A refused request lets its claim lapse rather than deleting it: had a concurrent request
    # of the same user taken the email meanwhile, the next claimant finds it taken.
    store = InMemoryReadModelStore()
    assert claim(store, EMAIL, FIRST, nobody, now=datetime.now(UTC)) is Claim.OURS

    let_go(store, EMAIL, FIRST)

    assert claim(store, EMAIL, SECOND, kept_by(FIRST)) is Claim.TAKEN
    assert claim(store, EMAIL, SECOND, nobody) is Claim.OURS  # at once, not a minute later
    let_go(store, EMAIL, FIRST)  # another user's claim now: left alone
    assert owner(store, EMAIL) == SECOND
