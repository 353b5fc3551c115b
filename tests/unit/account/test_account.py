"""The Account aggregate, Given events / When command / Then events, per command (reference
§5.1, with the intended behaviour: AccountId = UserId, addresses restored, deleted, preferred)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from eventualshop.account import commands as c
from eventualshop.account import events as e
from eventualshop.account.account import ACCOUNT
from eventualshop.account.events import AccountStatus
from eventualshop.account.rejections import AccountClosed, AddressIdTaken, AddressNotFound
from eventualshop.kernel.testing import Scenario
from eventualshop.kernel.values import Address

ACCOUNT_ID = uuid.UUID("7a1c2b1e-0000-4000-8000-000000000001")
HOME = Address(
    street="Main Street", number=42, city="Springfield", state="IL", zip_code="62701", country="USA"
)
OFFICE = HOME.model_copy(update={"street": "Elm Street", "number": 7})
A1, A2 = uuid.UUID(int=0xA1), uuid.UUID(int=0xA2)
CREATED = e.AccountCreated(
    account_id=ACCOUNT_ID, first_name="Alice", last_name="Smith", email="a@b.co"
)


def given(*events: e.AccountEvent) -> Scenario:  # type: ignore[type-arg]
    return Scenario(ACCOUNT).given(*events)


def test_create_account_is_pending_under_the_users_id() -> None:
    command = c.CreateAccount(
        account_id=ACCOUNT_ID, first_name="Alice", last_name="Smith", email="a@b.co"
    )
    account = Scenario(ACCOUNT).when(command).then(CREATED)
    assert account.id == ACCOUNT_ID
    assert account.status is AccountStatus.PENDING


def test_activate_account_once() -> None:
    activated = e.AccountActivated(account_id=ACCOUNT_ID)
    account = given(CREATED).when(c.ActivateAccount(account_id=ACCOUNT_ID)).then(activated)
    assert account.status is AccountStatus.ACTIVE
    given(CREATED, activated).when(c.ActivateAccount(account_id=ACCOUNT_ID)).then()


def test_delete_account_closes_it_once_and_then_refuses_changes() -> None:
    deleted = e.AccountDeleted(account_id=ACCOUNT_ID)
    account = given(CREATED).when(c.DeleteAccount(account_id=ACCOUNT_ID)).then(deleted)
    assert account.is_deleted
    assert account.status is AccountStatus.CLOSED
    given(CREATED, deleted).when(c.DeleteAccount(account_id=ACCOUNT_ID)).then()
    given(CREATED, deleted).when(
        c.AddBillingAddress(account_id=ACCOUNT_ID, address=HOME)
    ).then_rejected(AccountClosed, code="account-closed")


def test_add_billing_address_then_the_same_again_changes_nothing() -> None:
    added = e.BillingAddressAdded(account_id=ACCOUNT_ID, address_id=A1, address=HOME)
    given(CREATED).when(
        c.AddBillingAddress(account_id=ACCOUNT_ID, address_id=A1, address=HOME)
    ).then(added)
    given(CREATED, added).when(
        c.AddBillingAddress(account_id=ACCOUNT_ID, address_id=A2, address=HOME)
    ).then()


def test_a_new_address_under_an_id_another_address_has_is_refused() -> None:
    # It was added beside the first: two addresses with one id in the account, and one document
    # in the address list (keyed by the id), so the read model and the account disagreed.
    added = e.ShippingAddressAdded(account_id=ACCOUNT_ID, address_id=A1, address=HOME)
    deleted = e.ShippingAddressDeleted(account_id=ACCOUNT_ID, address_id=A1)
    for history in [(CREATED, added), (CREATED, added, deleted)]:
        given(*history).when(
            c.AddShippingAddress(account_id=ACCOUNT_ID, address_id=A1, address=OFFICE)
        ).then_rejected(AddressIdTaken, code="address-id-taken")
    # Each book has its own ids: the billing book may use it.
    given(CREATED, added).when(
        c.AddBillingAddress(account_id=ACCOUNT_ID, address_id=A1, address=OFFICE)
    ).then(e.BillingAddressAdded(account_id=ACCOUNT_ID, address_id=A1, address=OFFICE))


def test_adding_a_deleted_address_again_restores_it() -> None:
    added = e.ShippingAddressAdded(account_id=ACCOUNT_ID, address_id=A1, address=HOME)
    deleted = e.ShippingAddressDeleted(account_id=ACCOUNT_ID, address_id=A1)
    account = (
        given(CREATED, added, deleted)
        .when(c.AddShippingAddress(account_id=ACCOUNT_ID, address_id=A2, address=HOME))
        .then(e.ShippingAddressRestored(account_id=ACCOUNT_ID, address_id=A1))
    )
    assert [a.is_deleted for a in account.shipping] == [False]


def test_billing_and_shipping_are_separate_books() -> None:
    billing = e.BillingAddressAdded(account_id=ACCOUNT_ID, address_id=A1, address=HOME)
    given(CREATED, billing).when(
        c.AddShippingAddress(account_id=ACCOUNT_ID, address_id=A2, address=HOME)
    ).then(e.ShippingAddressAdded(account_id=ACCOUNT_ID, address_id=A2, address=HOME))


def test_prefer_then_delete_the_primary_address_removes_it_as_primary() -> None:
    added = e.BillingAddressAdded(account_id=ACCOUNT_ID, address_id=A1, address=HOME)
    preferred = e.BillingAddressPreferred(account_id=ACCOUNT_ID, address_id=A1)
    account = (
        given(CREATED, added)
        .when(c.PreferBillingAddress(account_id=ACCOUNT_ID, address_id=A1))
        .then(preferred)
    )
    assert account.primary_billing == A1
    given(CREATED, added, preferred).when(
        c.PreferBillingAddress(account_id=ACCOUNT_ID, address_id=A1)
    ).then()
    account = (
        given(CREATED, added, preferred)
        .when(c.DeleteBillingAddress(account_id=ACCOUNT_ID, address_id=A1))
        .then(
            e.PrimaryBillingAddressRemoved(account_id=ACCOUNT_ID, address_id=A1),
            e.BillingAddressDeleted(account_id=ACCOUNT_ID, address_id=A1),
        )
    )
    assert account.primary_billing is None


def test_prefer_or_delete_an_unknown_or_deleted_address_is_refused() -> None:
    given(CREATED).when(
        c.PreferShippingAddress(account_id=ACCOUNT_ID, address_id=A1)
    ).then_rejected(AddressNotFound, code="address-not-found")
    given(CREATED).when(
        c.DeleteShippingAddress(account_id=ACCOUNT_ID, address_id=A1)
    ).then_rejected(AddressNotFound)
    added = e.ShippingAddressAdded(account_id=ACCOUNT_ID, address_id=A1, address=OFFICE)
    deleted = e.ShippingAddressDeleted(account_id=ACCOUNT_ID, address_id=A1)
    given(CREATED, added, deleted).when(
        c.PreferShippingAddress(account_id=ACCOUNT_ID, address_id=A1)
    ).then_rejected(AddressNotFound)
    given(CREATED, added, deleted).when(
        c.DeleteShippingAddress(account_id=ACCOUNT_ID, address_id=A1)
    ).then()


def test_the_account_takes_the_users_new_email_once_and_a_closed_one_takes_none() -> None:
    # Was: nothing changed the account's email; after the user made another email primary, the
    # account's details kept the sign-up email for good, where Identity's said the new one.
    change = c.ChangeAccountEmail(account_id=ACCOUNT_ID, email="new@b.co", user_version=4)
    changed = e.AccountEmailChanged(account_id=ACCOUNT_ID, email="new@b.co", user_version=4)
    account = given(CREATED).when(change).then(changed)
    assert account.email == "new@b.co"
    given(CREATED, changed).when(change).then()  # delivered again: nothing new
    deleted = e.AccountDeleted(account_id=ACCOUNT_ID)
    given(CREATED, deleted).when(change).then()


def test_an_email_read_from_an_older_version_of_the_user_changes_nothing() -> None:
    """Two reactions read the user at versions 4 and 6; the one that read version 4 lands last:
    the account keeps version 6's email."""
    later = e.AccountEmailChanged(account_id=ACCOUNT_ID, email="later@b.co", user_version=6)
    older = c.ChangeAccountEmail(account_id=ACCOUNT_ID, email="older@b.co", user_version=4)
    account = given(CREATED, later).when(older).then()
    assert account.email == "later@b.co"
    # A later read that finds the same email still moves the version on, so an older read
    # with another email after it is refused too.
    same = c.ChangeAccountEmail(account_id=ACCOUNT_ID, email="later@b.co", user_version=7)
    given(CREATED, later).when(same).then(
        e.AccountEmailChanged(account_id=ACCOUNT_ID, email="later@b.co", user_version=7)
    )


def _address_sent(**changes: object) -> dict[str, object]:
    return HOME.model_dump(mode="json", by_alias=True) | changes


@pytest.mark.parametrize(
    ("number", "says"),
    [
        (2**31, "less than or equal to 2147483647"),  # a 32-bit int, as the original's
        (10**30, "less than or equal to 2147483647"),  # MongoDB keeps no int past 8 bytes
        (True, "whole number"),  # JSON's true is no house number (lax mode read it as 1)
    ],
)
def test_a_house_number_a_store_cannot_keep_is_refused_as_input(number: object, says: str) -> None:
    # Was: taken (202); on MongoDB every projection of the account's addresses then failed.
    for command in (c.AddBillingAddress, c.AddShippingAddress):
        with pytest.raises(ValidationError) as refused:
            command.model_validate(
                {
                    "accountId": uuid.uuid4(),
                    "addressId": uuid.uuid4(),
                    "address": _address_sent(number=number),
                }
            )
        (error,) = refused.value.errors()
        assert error["loc"] == ("address", "number"), error
        assert says in error["msg"], error


def test_an_address_stored_with_any_house_number_still_loads() -> None:
    # The bound is on what a client sends: an event already stored is read as it is.
    stored = e.BillingAddressAdded.model_validate(
        {
            "accountId": uuid.uuid4(),
            "addressId": uuid.uuid4(),
            "address": _address_sent(number=10**30),
        }
    )
    assert stored.address.number == 10**30
