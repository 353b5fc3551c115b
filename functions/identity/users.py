"""``eventualshop users``: Identity's own command on the shop's command line.

``create-admin`` registers the first admin, who can then do what admins do; ``jwks`` prints the
public keys a deployment gives every function to verify tokens. The password comes from
``EVENTUALSHOP_ADMIN_PASSWORD``, a prompt or a pipe, never from the command line (where ``ps``
and the shell's history would show it); the signing key likewise from the environment
(``EVENTUALSHOP_AUTH_SIGNING_KEY`` or ``…_FILE``).

This module is only the command's surface, cheap to import (every ``eventualshop`` invocation
builds its parser); the work is in :mod:`functions.identity.admin`, imported when it runs.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from eventualshop.runtime.cli import (
    CliError,
    SystemCommand,
    existing_shop,
    given_variable,
    migrated_stores,
    store_options,
)

if TYPE_CHECKING:
    from eventualshop.runtime.root import Root


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create-admin", help="register a user with the admin role")
    create.add_argument("--email", required=True)
    create.add_argument("--first-name", default="Shop")
    create.add_argument("--last-name", default="Admin")
    store_options(create)  # the shop's stores, as ``serve`` takes them
    backfill = actions.add_parser(
        "claim-emails",
        help="claim every email a user has that no one claims (once, after upgrading to the "
        "release whose change-email claims them)",
    )
    store_options(backfill)
    actions.add_parser(
        "jwks",
        help="print the JWKS document of the signing key in EVENTUALSHOP_AUTH_SIGNING_KEY(_FILE), "
        "for EVENTUALSHOP_AUTH_JWKS",
    )


def _run(args: argparse.Namespace, root: Root) -> None:
    from functions.identity import admin

    if args.action == "jwks":
        print(admin.jwks_document())
        return
    if args.action == "claim-emails":
        from functions.identity import emails

        existing_shop(root)  # a mistyped --data-dir is one line, not an empty shop
        print(f"claimed {emails.backfill(root.read_model_store(), root)} emails")
        return
    # An unusable store URL, or one not migrated that must be, is one line, before the password
    # is asked.
    migrated_stores(root)
    # The email and names are checked, and the email's being free, before the password is
    # asked, not after it was typed.
    command = admin.registration(args.email, first_name=args.first_name, last_name=args.last_name)
    admin.refuse_if_taken(root, command.email)
    user = admin.create_admin(
        root, args.email, _password(), first_name=args.first_name, last_name=args.last_name
    )
    print(f"admin {args.email} created: user {user}")


def _password() -> str:
    """``EVENTUALSHOP_ADMIN_PASSWORD``, else a prompt at a terminal, else the first line of
    standard input (``printf '%s\\n' "$PW" | eventualshop users create-admin …``): a pipe is read
    as a pipe, not as a terminal that cannot hide what is typed, which is what getpass takes it
    for (with two warnings)."""
    password = given_variable("EVENTUALSHOP_ADMIN_PASSWORD")
    if password:
        return password
    try:
        if sys.stdin.isatty():
            password = getpass.getpass("password: ")
        else:
            password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    except EOFError:  # Ctrl-D at the prompt
        password = ""
    if not password:
        raise CliError(
            "no password: type it at the prompt, pipe it on standard input, "
            "or set EVENTUALSHOP_ADMIN_PASSWORD (or EVENTUALSHOP_ADMIN_PASSWORD_FILE)"
        )
    return password


USERS = SystemCommand(
    "users", "create the first admin; print the public keys of the signing key", _arguments, _run
)
