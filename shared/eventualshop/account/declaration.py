"""The Account context as the platform sees it (reference §7.4 rows 1-6), plus the delete and
prefer routes the original lacked and the billing twin of the shipping address list."""

from eventualshop.kernel.declaration import BoundedContext, CommandRoute, QueryRoute

ACCOUNT = BoundedContext(
    name="account",
    package="eventualshop.account",
    aggregate="eventualshop.account.account:ACCOUNT",
    aggregate_type="Account",
    routes="/api/v1/accounts",
    location="/{aggregateId}/account-details",
    commands=(
        CommandRoute("DeleteAccount", "DELETE", "/{accountId}"),
        CommandRoute(
            "AddBillingAddress", "POST", "/{accountId}/billing-addresses", body_field="address"
        ),
        CommandRoute(
            "AddShippingAddress", "POST", "/{accountId}/shipping-addresses", body_field="address"
        ),
        CommandRoute(
            "DeleteBillingAddress", "DELETE", "/{accountId}/billing-addresses/{addressId}"
        ),
        CommandRoute(
            "DeleteShippingAddress", "DELETE", "/{accountId}/shipping-addresses/{addressId}"
        ),
        CommandRoute(
            "PreferBillingAddress", "PUT", "/{accountId}/billing-addresses/{addressId}/prefer"
        ),
        CommandRoute(
            "PreferShippingAddress", "PUT", "/{accountId}/shipping-addresses/{addressId}/prefer"
        ),
    ),
    queries=(
        QueryRoute("list_accounts_details", "/accounts-details", access="admin"),
        QueryRoute("get_account_details", "/{accountId}/account-details"),
        QueryRoute("list_shipping_addresses", "/{accountId}/shipping-addresses/list-items"),
        QueryRoute("list_billing_addresses", "/{accountId}/billing-addresses/list-items"),
    ),
    projections=(
        "account-details",
        "account-billing-address-list",
        "account-shipping-address-list",
    ),
)

#: The query routes the original also served under ``/api/v2`` with the same behaviour (row 1).
API_V2 = ("list_accounts_details",)
