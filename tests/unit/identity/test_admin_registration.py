"""The first admin (``eventualshop users create-admin``) is a new user like any other: its names
and email hold the rules a sign-up's hold (README, "Who may do what"), checked before the
password is asked, and said as the command line says a mistake (the option, then the rule)."""

from __future__ import annotations

import pytest

from functions.identity.admin import AdminRefused, registration

ADMIN = {"email": "admin@example.com", "first_name": "Shop", "last_name": "Admin"}


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        ({"first_name": "\u200b\u200b\u200b\u200b"}, "--first-name"),  # four zero-width spaces
        ({"last_name": "Admin\u202e"}, "--last-name"),  # a right-to-left override
        ({"first_name": "\u3164\u3164\u3164\u3164"}, "--first-name"),  # Hangul fillers
        ({"email": "ad\u200bmin@example.com"}, "--email"),  # reads as admin@example.com
        ({"first_name": "Admin", "last_name": "admin"}, "--last-name"),  # the same name
    ],
)
def test_the_admins_names_and_email_hold_a_sign_ups_rules(
    changes: dict[str, str], option: str
) -> None:
    # Was: each taken, while a sign-up refuses it (400): the command line registered an admin
    # named by four invisible characters, or whose email reads like another's.
    given = ADMIN | changes

    with pytest.raises(AdminRefused) as refused:
        registration(given["email"], first_name=given["first_name"], last_name=given["last_name"])

    assert str(refused.value).startswith(f"{option}: "), str(refused.value)
    assert refused.value.status == 2


def test_an_admins_name_whose_script_needs_a_joiner_is_taken() -> None:
    # As at sign-up: Persian and Indic names hold the zero-width non-joiner.
    command = registration(
        "admin@example.com", first_name="\u0645\u0647\u200c\u0633\u0627", last_name="Admin"
    )

    assert command.first_name == "\u0645\u0647\u200c\u0633\u0627"
    assert command.roles == ("admin",)
