"""The Identity context as the platform sees it (reference §7.4 rows 20-24).

Sign-up, sign-in, refresh, sign-out, change-password and change-email are Identity's credential
functions (``functions/identity``): they hash or check a password, mint tokens, or claim an email
before or instead of a command, so they are declared in ``functions/registry.py`` rather than
derived here.
"""

from eventualshop.kernel.declaration import BoundedContext, CommandRoute, QueryRoute

IDENTITY = BoundedContext(
    name="identity",
    package="eventualshop.identity",
    aggregate="eventualshop.identity.user:USER",
    aggregate_type="User",
    routes="/api/v1/identities",
    location="/{aggregateId}/details",
    commands=(
        # The link in the confirmation email: whoever holds it may confirm (no token needed).
        CommandRoute(
            "ConfirmEmail",
            "POST",
            "/{userId}/confirm-email",
            query={"email": "email"},
            access="anonymous",
        ),
        CommandRoute(
            "DefinePrimaryEmail", "PUT", "/{userId}/primary-email", query={"email": "email"}
        ),
    ),
    queries=(QueryRoute("get_user_details", "/{userId}/details"),),
    projections=("identity-user-details",),
    configure="eventualshop.identity.settings:configure",
)
