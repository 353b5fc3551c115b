"""The ShoppingCart aggregate (reference §5.7): state, ``decide``, ``evolve`` and invariants.

State machine::

    (new) --CreateCart--> Active --CheckOutCart--> CheckedOut
                          Active --DiscardCart---> Abandoned (is_deleted)

Only an Active cart changes. A checked-out cart is the source of its order, so it can be neither
changed nor discarded; an abandoned cart is gone for good.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from uuid import UUID

from eventualshop.kernel.aggregate import AggregateKind, AggregateState
from eventualshop.kernel.errors import AggregateAlreadyExists, AggregateNotFound, CurrencyMismatch
from eventualshop.kernel.messages import Command, DomainEvent
from eventualshop.kernel.money import Currency, Money
from eventualshop.kernel.values import Address, Product
from eventualshop.shopping_cart.commands import (
    CART_COMMANDS,
    MAX_QUANTITY,
    AddBillingAddress,
    AddCartItem,
    AddCreditCard,
    AddDebitCard,
    AddPayPal,
    AddShippingAddress,
    CartCommand,
    ChangeCartItemQuantity,
    CheckOutCart,
    CreateCart,
    DiscardCart,
    RemoveCartItem,
    RemovePaymentMethod,
)
from eventualshop.shopping_cart.events import (
    CART_EVENTS,
    BillingAddressAdded,
    CartCheckedOut,
    CartCreated,
    CartDiscarded,
    CartItem,
    CartItemAdded,
    CartItemDecreased,
    CartItemIncreased,
    CartItemRemoved,
    CartStatus,
    CreditCardAdded,
    DebitCardAdded,
    PaymentMethodRemoved,
    PayPalAdded,
    ShippingAddressAdded,
)
from eventualshop.shopping_cart.payment_methods import (
    PaymentMethod,
    credit_card_option,
    debit_card_option,
    pay_pal_option,
)
from eventualshop.shopping_cart.rejections import (
    AmountDueNotSettled,
    AmountExceedsDue,
    CartAlreadyDiscarded,
    CartEmpty,
    CartNotActive,
    ItemIdTaken,
    ItemNotFound,
    PaymentMethodIdTaken,
    PaymentMethodNotFound,
    QuantityLimitExceeded,
    QuantityUnchanged,
)

NAME = "ShoppingCart"


class Cart(AggregateState):
    customer_id: UUID
    status: CartStatus
    total: Money
    items: tuple[CartItem, ...] = ()
    payment_methods: tuple[PaymentMethod, ...] = ()
    billing_address: Address | None = None
    shipping_address: Address | None = None
    # True until the shipping address is chosen apart from the billing one.
    same_billing_shipping: bool = True

    # Derived values are properties, not computed fields: a snapshot must hold fields only.
    @property
    def currency(self) -> Currency:
        return self.total.currency

    @property
    def total_payment(self) -> Money:
        return sum((m.amount for m in self.payment_methods), Money.zero(self.currency))

    @property
    def amount_due(self) -> Money:
        return self.total - self.total_payment

    def item(self, item_id: UUID) -> CartItem | None:
        return next((i for i in self.items if i.id == item_id), None)

    def item_of(self, product: Product) -> CartItem | None:
        return next((i for i in self.items if i.product == product), None)

    def payment_method(self, method_id: UUID) -> PaymentMethod | None:
        return next((m for m in self.payment_methods if m.id == method_id), None)


# ---- decide -----------------------------------------------------------------------------------


def decide(state: Cart | None, command: Command) -> list[DomainEvent]:
    if isinstance(command, CreateCart):
        if state is not None:
            raise AggregateAlreadyExists(NAME, command.cart_id)
        total = Money.zero(command.currency)
        return [CartCreated(cart_id=command.cart_id, customer_id=command.customer_id, total=total)]
    if state is None:
        raise AggregateNotFound(NAME, target(command))
    if _in_place(state, command):
        # A PUT of the address the cart already has changes nothing, and is no error: the
        # original ignored it and its clients got 202 (issue 12 item 6).
        return []
    return [_decide(state, command)]


def _in_place(cart: Cart, command: Command) -> bool:
    if cart.status is not CartStatus.ACTIVE:
        return False  # a closed cart still says why it refuses
    match command:
        case AddShippingAddress():
            return command.address == cart.shipping_address
        case AddBillingAddress():
            return command.address == cart.billing_address
    return False


def _decide(cart: Cart, command: Command) -> DomainEvent:
    """Every command on an existing cart raises exactly one event, or is rejected."""
    if isinstance(command, DiscardCart):
        if cart.status is CartStatus.ABANDONED:
            raise CartAlreadyDiscarded(f"cart {cart.id} is already discarded")
        _require_active(cart)
        return CartDiscarded(cart_id=cart.id)
    _require_active(cart)
    match command:
        case AddCartItem():
            return _add_item(cart, command)
        case ChangeCartItemQuantity():
            return _change_quantity(cart, command)
        case RemoveCartItem():
            return _remove_item(cart, command)
        case AddCreditCard():
            return CreditCardAdded(
                cart_id=cart.id,
                method_id=command.method_id,
                amount=_payment(cart, command.method_id, command.amount),
                credit_card=credit_card_option(command.credit_card),
            )
        case AddDebitCard():
            return DebitCardAdded(
                cart_id=cart.id,
                method_id=command.method_id,
                amount=_payment(cart, command.method_id, command.amount),
                debit_card=debit_card_option(command.debit_card),
            )
        case AddPayPal():
            return PayPalAdded(
                cart_id=cart.id,
                method_id=command.method_id,
                amount=_payment(cart, command.method_id, command.amount),
                pay_pal=pay_pal_option(command.pay_pal),
            )
        case RemovePaymentMethod():
            method = cart.payment_method(command.method_id)
            if method is None:
                raise PaymentMethodNotFound(f"cart {cart.id} has no method {command.method_id}")
            return PaymentMethodRemoved(cart_id=cart.id, method_id=method.id, amount=method.amount)
        case AddShippingAddress():
            return ShippingAddressAdded(cart_id=cart.id, address=command.address)
        case AddBillingAddress():
            return BillingAddressAdded(cart_id=cart.id, address=command.address)
        case CheckOutCart():
            if not cart.items:
                raise CartEmpty(f"cart {cart.id} has no items")
            _require_settled(cart)
            return CartCheckedOut(cart_id=cart.id)
    raise TypeError(f"{NAME} does not handle {type(command).__name__}")


def _require_settled(cart: Cart) -> None:
    """The payment methods cover the total exactly. More than that happens when items are
    removed or decreased after paying: the customer is told to take a payment method back."""
    due = cart.amount_due
    if due.is_zero:
        return
    if due.is_positive:
        raise AmountDueNotSettled(f"{due} of the total {cart.total} is still due")
    raise AmountDueNotSettled(
        f"the payment methods cover {cart.total_payment - cart.total} more than the total "
        f"{cart.total}; remove one and add what is due"
    )


def _require_active(cart: Cart) -> None:
    if cart.status is not CartStatus.ACTIVE:
        raise CartNotActive(f"cart {cart.id} is {cart.status.value}: it can no longer change")


def _in_cart_currency(cart: Cart, money: Money) -> Money:
    if money.currency is not cart.currency:
        raise CurrencyMismatch(
            f"the cart is in {cart.currency.value}, the amount in {money.currency.value}"
        )
    return Money(amount=money.amount, currency=money.currency)  # plain Money, whatever came in


def _item(cart: Cart, item_id: UUID) -> CartItem:
    item = cart.item(item_id)
    if item is None:
        raise ItemNotFound(f"cart {cart.id} has no item {item_id}")
    return item


def _add_item(cart: Cart, command: AddCartItem) -> DomainEvent:
    price = _in_cart_currency(cart, command.unit_price)
    existing = cart.item_of(command.product)
    if existing is None:
        if cart.item(command.item_id) is not None:
            raise ItemIdTaken(f"cart {cart.id} already has an item {command.item_id}")
        return CartItemAdded(
            cart_id=cart.id,
            item_id=command.item_id,
            catalog_id=command.catalog_id,
            inventory_id=command.inventory_id,
            product=command.product,
            quantity=command.quantity,
            unit_price=price,
            new_cart_total=cart.total + price * command.quantity,
        )
    # The same product again adds to its item, at the price the item already has.
    quantity = existing.quantity + command.quantity
    if quantity > MAX_QUANTITY:
        raise QuantityLimitExceeded(f"an item holds at most {MAX_QUANTITY}, not {quantity}")
    return CartItemIncreased(
        cart_id=cart.id,
        item_id=existing.id,
        new_quantity=quantity,
        unit_price=existing.unit_price,
        new_cart_total=cart.total + existing.unit_price * command.quantity,
    )


def _change_quantity(cart: Cart, command: ChangeCartItemQuantity) -> DomainEvent:
    item = _item(cart, command.item_id)
    difference = command.new_quantity - item.quantity
    if difference == 0:
        raise QuantityUnchanged(f"item {item.id} already has quantity {item.quantity}")
    # The total changes by the difference (the original used the new quantity).
    event_type = CartItemIncreased if difference > 0 else CartItemDecreased
    return event_type(
        cart_id=cart.id,
        item_id=item.id,
        new_quantity=command.new_quantity,
        unit_price=item.unit_price,
        new_cart_total=cart.total + item.unit_price * difference,
    )


def _remove_item(cart: Cart, command: RemoveCartItem) -> DomainEvent:
    item = _item(cart, command.item_id)
    return CartItemRemoved(
        cart_id=cart.id,
        item_id=item.id,
        unit_price=item.unit_price,
        quantity=item.quantity,
        new_cart_total=cart.total - item.unit_price * item.quantity,
    )


def _payment(cart: Cart, method_id: UUID, amount: Money) -> Money:
    if cart.payment_method(method_id) is not None:
        raise PaymentMethodIdTaken(f"cart {cart.id} already has a payment method {method_id}")
    amount = _in_cart_currency(cart, amount)
    if amount > cart.amount_due:
        raise AmountExceedsDue(f"{amount} is more than the {cart.amount_due} still due")
    return amount


# ---- evolve -----------------------------------------------------------------------------------


def evolve(state: Cart | None, event: DomainEvent) -> Cart:
    if isinstance(event, CartCreated):
        return Cart(
            id=event.cart_id,
            customer_id=event.customer_id,
            status=CartStatus.ACTIVE,
            total=event.total,
        )
    if state is None:
        raise ValueError(f"{event.event_type()} cannot come before CartCreated")
    match event:
        case CartItemAdded():
            item = CartItem(
                id=event.item_id,
                catalog_id=event.catalog_id,
                inventory_id=event.inventory_id,
                product=event.product,
                quantity=event.quantity,
                unit_price=event.unit_price,
            )
            return _update(state, items=(*state.items, item), total=event.new_cart_total)
        case CartItemIncreased() | CartItemDecreased():
            items = tuple(
                i.model_copy(update={"quantity": event.new_quantity})
                if i.id == event.item_id
                else i
                for i in state.items
            )
            return _update(state, items=items, total=event.new_cart_total)
        case CartItemRemoved():
            items = tuple(i for i in state.items if i.id != event.item_id)
            return _update(state, items=items, total=event.new_cart_total)
        case (
            CreditCardAdded(credit_card=option)
            | DebitCardAdded(debit_card=option)
            | PayPalAdded(pay_pal=option)
        ):
            method = PaymentMethod(id=event.method_id, amount=event.amount, option=option)
            return _update(state, payment_methods=(*state.payment_methods, method))
        case PaymentMethodRemoved():
            methods = tuple(m for m in state.payment_methods if m.id != event.method_id)
            return _update(state, payment_methods=methods)
        case ShippingAddressAdded():
            same = event.address == state.billing_address
            return _update(state, shipping_address=event.address, same_billing_shipping=same)
        case BillingAddressAdded():
            # Until the customer picks a separate shipping address, shipping follows billing.
            shipping = event.address if state.same_billing_shipping else state.shipping_address
            return _update(state, billing_address=event.address, shipping_address=shipping)
        case CartCheckedOut():
            return _update(state, status=CartStatus.CHECKED_OUT)
        case CartDiscarded():
            return _update(state, status=CartStatus.ABANDONED, is_deleted=True)
    raise TypeError(f"{NAME} cannot apply {event.event_type()}")


def _update(cart: Cart, **changes: object) -> Cart:
    return cart.model_copy(update=changes)


# ---- invariants -------------------------------------------------------------------------------


def invariants(cart: Cart) -> Iterator[str]:
    if cart.id.int == 0:
        yield "the cart id is empty"
    if cart.total.amount < 0:
        yield f"the total {cart.total} is negative"
    for item in cart.items:
        if not 0 < item.quantity <= MAX_QUANTITY:
            yield f"item {item.id} has quantity {item.quantity}"
    if cart.items and not cart.total.is_positive:
        yield "a cart with items has a total above zero"
    prices = [i.unit_price for i in cart.items] + [m.amount for m in cart.payment_methods]
    if any(money.currency is not cart.currency for money in prices):
        yield f"every amount in the cart is in {cart.currency.value}"
    # One currency throughout (checked above), so the amounts add up as plain decimals: this
    # runs after every event a command raises.
    elif cart.total.amount != sum(i.unit_price.amount * i.quantity for i in cart.items):
        yield f"the total {cart.total} is not the sum of the items"
    if _repeats(i.product for i in cart.items):
        yield "a product appears in two items"
    if _repeats(i.id for i in cart.items) or _repeats(m.id for m in cart.payment_methods):
        yield "two items or two payment methods share an id"


def _repeats(values: Iterable[object]) -> bool:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            return True
        seen.add(value)
    return False


def target(command: Command) -> UUID:
    if not isinstance(command, CartCommand):
        raise TypeError(f"{type(command).__name__} is not a shopping cart command")
    return command.cart_id


CART: AggregateKind[Cart] = AggregateKind(
    name=NAME,
    context="shopping-cart",
    state_type=Cart,
    events=CART_EVENTS,
    decide=decide,
    evolve=evolve,
    target=target,
    creates=frozenset({CreateCart}),
    invariants=invariants,
    snapshot_interval=3,
    commands=CART_COMMANDS,
)


def owner(cart: Cart) -> UUID:
    """Whose cart it is: a customer may change and read only their own carts."""
    return cart.customer_id
