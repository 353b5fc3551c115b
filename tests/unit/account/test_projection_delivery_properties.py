"""Property: however the broker delivers the accounts' events (duplicated, shuffled, and every
event that arrives before its predecessor refused and redelivered later, as the cart's property
test delivers them), the account details and both address books end exactly as after in-order
delivery, and they agree with the accounts themselves.

Two accounts take a random mix of all ten commands; address ids come from a small pool, so
addresses are added, preferred, deleted and added again (restored); rejected commands raise
nothing. The address books are the projections with the most to get wrong under reordering:
preferring one address un-prefers the others of the account, and deleting the account deletes
every address it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventualshop.account import commands as c
from eventualshop.account.account import ACCOUNT, Account, AccountAddress
from eventualshop.account.read_models import (
    BILLING_LIST,
    DETAILS,
    PROJECTIONS,
    SHIPPING_LIST,
    address_key,
)
from eventualshop.kernel.messages import Command
from eventualshop.kernel.readmodels import Document
from eventualshop.kernel.values import Address
from tests.unit.delivery import SEEDS, delivered_contents, in_order_contents, session_history

ACCOUNTS = [UUID(f"acc0a100-0000-4000-8000-00000000a{n:03d}") for n in range(2)]
ADDRESSES = [UUID(f"acc0a100-0000-4000-8000-00000000d{n:03d}") for n in range(3)]
PLACES = [
    Address(
        street="Main Street",
        number=42,
        city="Springfield",
        state="IL",
        zip_code="62701",
        country="USA",
    ),
    Address(
        street="Elm Street",
        number=7,
        city="Shelbyville",
        state="IL",
        zip_code="62565",
        country="USA",
    ),
]
KINDS = ["add-billing", "add-shipping"] * 3 + ["delete-billing", "delete-shipping"] * 2
KINDS += ["prefer-billing", "prefer-shipping"] * 2 + ["activate", "delete", "email", "email"]
EMAILS = ["a@b.co", "alice@example.com", "al@example.org"]


@dataclass(frozen=True)
class Op:
    kind: str
    account: int
    address: int
    place: int
    version: int = 1  # the user's version a ChangeAccountEmail was read at

    def command(self) -> Command:
        account, address = ACCOUNTS[self.account], ADDRESSES[self.address]
        match self.kind:
            case "create":
                return c.CreateAccount(
                    account_id=account, first_name="Alice", last_name="Smith", email="a@b.co"
                )
            case "add-billing":
                return c.AddBillingAddress(
                    account_id=account, address_id=address, address=PLACES[self.place]
                )
            case "add-shipping":
                return c.AddShippingAddress(
                    account_id=account, address_id=address, address=PLACES[self.place]
                )
            case "delete-billing":
                return c.DeleteBillingAddress(account_id=account, address_id=address)
            case "delete-shipping":
                return c.DeleteShippingAddress(account_id=account, address_id=address)
            case "prefer-billing":
                return c.PreferBillingAddress(account_id=account, address_id=address)
            case "prefer-shipping":
                return c.PreferShippingAddress(account_id=account, address_id=address)
            case "activate":
                return c.ActivateAccount(account_id=account)
            case "email":  # the user's primary email: one of three, by the address index
                return c.ChangeAccountEmail(
                    account_id=account, email=EMAILS[self.address], user_version=self.version
                )
        return c.DeleteAccount(account_id=account)


ops = st.builds(
    Op,
    kind=st.sampled_from(KINDS),
    account=st.integers(0, len(ACCOUNTS) - 1),
    address=st.integers(0, len(ADDRESSES) - 1),
    place=st.integers(0, len(PLACES) - 1),
    version=st.integers(1, 6),
)
sessions = st.lists(ops, max_size=30).map(
    lambda plan: [Op("create", n, 0, 0) for n in range(len(ACCOUNTS))] + plan
)


def _book_agrees(
    shown: dict[str, Document],
    account: Account,
    addresses: tuple[AccountAddress, ...],
    primary: UUID | None,
) -> None:
    mine = {key: doc for key, doc in shown.items() if doc["accountId"] == str(account.id)}
    assert set(mine) == {address_key(account.id, kept.id) for kept in addresses}
    for kept in addresses:
        doc = mine[address_key(account.id, kept.id)]
        assert doc["isDeleted"] == (kept.is_deleted or account.is_deleted)
        assert doc["address"]["street"] == kept.address.street
        assert doc["isPrimary"] == (kept.id == primary), (doc, primary)


def assert_the_documents_agree_with_the_accounts(
    documents: dict[str, dict[str, Document]], states: dict[UUID, Account]
) -> None:
    for account_id, account in states.items():
        details = documents[DETAILS][str(account_id)]
        assert details["status"] == account.status.value
        assert details["email"] == account.email
        assert details["isDeleted"] == account.is_deleted
        _book_agrees(documents[BILLING_LIST], account, account.billing, account.primary_billing)
        _book_agrees(documents[SHIPPING_LIST], account, account.shipping, account.primary_shipping)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=sessions, seed=SEEDS)
def test_any_delivery_order_with_duplicates_gives_the_in_order_documents(
    session: list[Op], seed: int
) -> None:
    history = session_history(ACCOUNT, (op.command() for op in session))
    in_order = in_order_contents(history.events, PROJECTIONS)
    assert_the_documents_agree_with_the_accounts(in_order, history.states)

    assert delivered_contents(history.events, PROJECTIONS, seed) == in_order
