"""The Account aggregate (reference §5.1), with the intended behaviour.

Billing and shipping addresses follow one set of rules, written once (:class:`_Book`): adding an
address equal to an active one changes nothing (a repeated PUT or POST is not an error), adding
one equal to a deleted one restores it, deleting the primary one also removes it as primary.
A new address's id is its own: one that another address of the book has is refused.
Creating, activating, deleting and changing the email are idempotent: they come from reactions,
delivered at least once; a closed account takes no new email, and tells no one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from eventualshop.account import commands as c
from eventualshop.account import events as e
from eventualshop.account.events import AccountStatus
from eventualshop.account.rejections import AccountClosed, AddressIdTaken, AddressNotFound
from eventualshop.kernel.aggregate import AggregateKind, AggregateState
from eventualshop.kernel.errors import AggregateAlreadyExists, AggregateNotFound
from eventualshop.kernel.messages import Command, DomainEvent
from eventualshop.kernel.values import Address, ValueObject

NAME = "Account"


class AccountAddress(ValueObject):
    id: UUID
    address: Address
    is_deleted: bool = False


class Account(AggregateState):
    first_name: str
    last_name: str
    email: str
    status: AccountStatus
    billing: tuple[AccountAddress, ...] = ()
    shipping: tuple[AccountAddress, ...] = ()
    primary_billing: UUID | None = None
    primary_shipping: UUID | None = None
    #: The user's version the email was read at (0: the sign-up's, from AccountCreated).
    email_version: int = 0


@dataclass(frozen=True)
class _Book:
    """One kind of address: where the account keeps it and the events it raises."""

    field: str
    primary: str
    added: type[e.AddressEvent]
    restored: type[e.AddressEvent]
    deleted: type[e.AddressEvent]
    preferred: type[e.AddressEvent]
    primary_removed: type[e.AddressEvent]

    def entries(self, account: Account) -> tuple[AccountAddress, ...]:
        entries: tuple[AccountAddress, ...] = getattr(account, self.field)
        return entries

    def live(self, account: Account, address_id: UUID) -> AccountAddress:
        found = next((a for a in self.entries(account) if a.id == address_id), None)
        if found is None or found.is_deleted:
            raise AddressNotFound(f"account {account.id} has no address {address_id}")
        return found

    def add(self, account: Account, address_id: UUID, address: Address) -> list[DomainEvent]:
        equal = next((a for a in self.entries(account) if a.address == address), None)
        if equal is None:
            if any(a.id == address_id for a in self.entries(account)):
                raise AddressIdTaken(
                    f"account {account.id} has another {self.field} address {address_id}"
                )
            added = self.added.model_validate(
                {"account_id": account.id, "address_id": address_id, "address": address}
            )
            return [added]
        if equal.is_deleted:
            return [self.restored(account_id=account.id, address_id=equal.id)]
        return []

    def delete(self, account: Account, address_id: UUID) -> list[DomainEvent]:
        found = next((a for a in self.entries(account) if a.id == address_id), None)
        if found is None:
            raise AddressNotFound(f"account {account.id} has no address {address_id}")
        if found.is_deleted:
            return []
        events: list[DomainEvent] = []
        # The primary first: the primary address is always a live one (an invariant).
        if getattr(account, self.primary) == address_id:
            events.append(self.primary_removed(account_id=account.id, address_id=address_id))
        events.append(self.deleted(account_id=account.id, address_id=address_id))
        return events

    def prefer(self, account: Account, address_id: UUID) -> list[DomainEvent]:
        self.live(account, address_id)
        if getattr(account, self.primary) == address_id:
            return []
        return [self.preferred(account_id=account.id, address_id=address_id)]

    def evolve(self, account: Account, event: DomainEvent) -> Account | None:
        entries = self.entries(account)

        def mark(deleted: bool) -> tuple[AccountAddress, ...]:
            assert isinstance(event, e.AddressEvent)
            return tuple(
                a.model_copy(update={"is_deleted": deleted}) if a.id == event.address_id else a
                for a in entries
            )

        if isinstance(event, self.added):
            address = getattr(event, "address")  # noqa: B009 (both added events carry one)
            entry = AccountAddress(id=event.address_id, address=address)
            return account.model_copy(update={self.field: (*entries, entry)})
        if isinstance(event, self.restored):
            return account.model_copy(update={self.field: mark(False)})
        if isinstance(event, self.deleted):
            return account.model_copy(update={self.field: mark(True)})
        if isinstance(event, self.preferred):
            return account.model_copy(update={self.primary: event.address_id})
        if isinstance(event, self.primary_removed):
            return account.model_copy(update={self.primary: None})
        return None


BILLING = _Book(
    "billing",
    "primary_billing",
    e.BillingAddressAdded,
    e.BillingAddressRestored,
    e.BillingAddressDeleted,
    e.BillingAddressPreferred,
    e.PrimaryBillingAddressRemoved,
)
SHIPPING = _Book(
    "shipping",
    "primary_shipping",
    e.ShippingAddressAdded,
    e.ShippingAddressRestored,
    e.ShippingAddressDeleted,
    e.ShippingAddressPreferred,
    e.PrimaryShippingAddressRemoved,
)


def decide(state: Account | None, command: Command) -> list[DomainEvent]:
    if isinstance(command, c.CreateAccount):
        if state is not None:
            raise AggregateAlreadyExists(NAME, command.account_id)
        return [
            e.AccountCreated(
                account_id=command.account_id,
                first_name=command.first_name,
                last_name=command.last_name,
                email=command.email,
            )
        ]
    if state is None:
        raise AggregateNotFound(NAME, target(command))
    if state.is_deleted:
        if isinstance(command, c.DeleteAccount | c.ActivateAccount | c.ChangeAccountEmail):
            return []
        raise AccountClosed(f"account {state.id} is closed")
    match command:
        case c.ActivateAccount():
            if state.status is AccountStatus.ACTIVE:
                return []
            return [e.AccountActivated(account_id=state.id)]
        case c.DeleteAccount():
            return [e.AccountDeleted(account_id=state.id)]
        case c.ChangeAccountEmail():
            # Reactions to a user's emails may run in any order, each reading the user as it is
            # then: a read of an older version that lands later changes nothing.
            if command.user_version <= state.email_version:
                return []
            changed = e.AccountEmailChanged(
                account_id=state.id, email=command.email, user_version=command.user_version
            )
            return [changed]
        case c.AddBillingAddress():
            return BILLING.add(state, command.address_id, command.address)
        case c.AddShippingAddress():
            return SHIPPING.add(state, command.address_id, command.address)
        case c.DeleteBillingAddress():
            return BILLING.delete(state, command.address_id)
        case c.DeleteShippingAddress():
            return SHIPPING.delete(state, command.address_id)
        case c.PreferBillingAddress():
            return BILLING.prefer(state, command.address_id)
        case c.PreferShippingAddress():
            return SHIPPING.prefer(state, command.address_id)
    raise TypeError(f"{NAME} does not handle {type(command).__name__}")


def evolve(state: Account | None, event: DomainEvent) -> Account:
    if isinstance(event, e.AccountCreated):
        return Account(
            id=event.account_id,
            first_name=event.first_name,
            last_name=event.last_name,
            email=event.email,
            status=event.status,
        )
    if state is None:
        raise ValueError(f"{event.event_type()} cannot come before AccountCreated")
    if isinstance(event, e.AccountActivated):
        return state.model_copy(update={"status": AccountStatus.ACTIVE})
    if isinstance(event, e.AccountEmailChanged):
        return state.model_copy(update={"email": event.email, "email_version": event.user_version})
    if isinstance(event, e.AccountDeleted):
        return state.model_copy(update={"status": AccountStatus.CLOSED, "is_deleted": True})
    for book in (BILLING, SHIPPING):
        changed = book.evolve(state, event)
        if changed is not None:
            return changed
    raise TypeError(f"{NAME} cannot apply {event.event_type()}")


def invariants(account: Account) -> Iterator[str]:
    if account.id.int == 0:
        yield "the account id is empty"
    for book in (BILLING, SHIPPING):
        ids = [a.id for a in book.entries(account)]
        if len(set(ids)) != len(ids):
            yield f"each {book.field} address has an id of its own"
        primary = getattr(account, book.primary)
        live = [a.id for a in book.entries(account) if not a.is_deleted]
        if primary is not None and primary not in live:
            yield f"the primary {book.field} address is one of its live addresses"


def target(command: Command) -> UUID:
    if not isinstance(command, c.AccountCommand):
        raise TypeError(f"{type(command).__name__} is not an account command")
    return command.account_id


ACCOUNT: AggregateKind[Account] = AggregateKind(
    name=NAME,
    context="account",
    state_type=Account,
    events=e.ACCOUNT_EVENTS,
    decide=decide,
    evolve=evolve,
    target=target,
    creates=frozenset({c.CreateAccount}),
    invariants=invariants,
    # The routed commands; CreateAccount and ActivateAccount come from Identity's events.
    commands=frozenset(
        {
            c.DeleteAccount,
            c.AddBillingAddress,
            c.AddShippingAddress,
            c.DeleteBillingAddress,
            c.DeleteShippingAddress,
            c.PreferBillingAddress,
            c.PreferShippingAddress,
        }
    ),
)
