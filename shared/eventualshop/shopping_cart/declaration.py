"""The Shopping Cart context as the platform sees it: the original's v1 routes (reference §7.4
rows 30-47), the one it also served under ``/api/v2`` (``API_V2``, row 34) and the cart's five
read models. Plain data: reading it imports no domain module."""

from eventualshop.kernel.declaration import BoundedContext, CommandRoute, QueryRoute

SHOPPING_CART = BoundedContext(
    name="shopping-cart",
    package="eventualshop.shopping_cart",
    aggregate="eventualshop.shopping_cart.cart:CART",
    aggregate_type="ShoppingCart",
    routes="/api/v1/shopping-carts",
    location="/{aggregateId}/details",
    commands=(
        CommandRoute("CreateCart", "POST", ""),
        CommandRoute("AddCartItem", "POST", "/{cartId}/items"),
        CommandRoute(
            "ChangeCartItemQuantity",
            "PUT",
            "/{cartId}/items/{itemId}/change-quantity",
            query={"quantity": "newQuantity"},
        ),
        CommandRoute("RemoveCartItem", "DELETE", "/{cartId}/items/{itemId}"),
        CommandRoute("AddCreditCard", "POST", "/{cartId}/payment-methods/credit-card"),
        CommandRoute("AddDebitCard", "POST", "/{cartId}/payment-methods/debit-card"),
        CommandRoute("AddPayPal", "POST", "/{cartId}/payment-methods/pay-pal"),
        CommandRoute("RemovePaymentMethod", "DELETE", "/{cartId}/payment-methods/{methodId}"),
        CommandRoute(
            "AddShippingAddress", "PUT", "/{cartId}/add-shipping-address", body_field="address"
        ),
        CommandRoute(
            "AddBillingAddress", "PUT", "/{cartId}/add-billing-address", body_field="address"
        ),
        CommandRoute("CheckOutCart", "PUT", "/{cartId}/check-out"),
        # The original has no route for DiscardCart; DELETE on the cart is the natural one.
        CommandRoute("DiscardCart", "DELETE", "/{cartId}"),
    ),
    queries=(
        QueryRoute("get_cart_details", "/{cartId}/details"),
        QueryRoute("list_cart_items", "/{cartId}/items/list-item"),
        QueryRoute("get_cart_item_details", "/{cartId}/items/{itemId}/details"),
        QueryRoute("list_payment_methods", "/{cartId}/payment-methods/list-items"),
        QueryRoute("get_payment_method_details", "/{cartId}/payment-methods/{methodId}/details"),
        QueryRoute("get_customer_cart_details", "/customers/{customerId}/cart-details"),
    ),
    projections=(
        "shopping-cart-details",
        "shopping-cart-item-list",
        "shopping-cart-item-details",
        "shopping-cart-payment-method-list",
        "shopping-cart-payment-method-details",
    ),
    configure="eventualshop.shopping_cart.settings:configure",
    secrets=("card_token_key",),
    # A cart is its customer's: CreateCart names them, every other route reads the stored cart.
    owner_field="customerId",
    owner="eventualshop.shopping_cart.cart:owner",
)

#: The query route the original also served under ``/api/v2`` with the same behaviour (row 34).
API_V2 = ("get_cart_details",)
