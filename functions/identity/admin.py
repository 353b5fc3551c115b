"""``eventualshop users create-admin``: the first admin, who can then do what admins do;
``eventualshop users jwks``: the public keys a deployment gives every function to verify tokens.

The password comes from ``EVENTUALSHOP_ADMIN_PASSWORD`` or a prompt, never from the command line
(where ``ps`` and the shell's history would show it); the signing key likewise from the
environment (``EVENTUALSHOP_AUTH_SIGNING_KEY`` or ``…_FILE``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import uuid
from collections.abc import Sequence

from pydantic import TypeAdapter, ValidationError

from eventualshop.identity.commands import RegisterUser
from eventualshop.identity.queries import find_by_sign_in_email
from eventualshop.identity.rules import Password
from eventualshop.runtime.auth import AuthSettings, jwks
from functions.identity import credentials, emails
from functions.main import ROOT


class AdminRefused(Exception):
    """Why no admin was created, for the command line (``status`` is its exit code)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def create_admin(
    email: str, password: str, *, first_name: str = "Shop", last_name: str = "Admin"
) -> uuid.UUID:
    """Register a user with the admin role through Identity's own path (the password hashed into
    the credential lookup, the email claimed), and project it at once so they can sign in.

    ``eventualshop users create-admin`` and ``eventualshop demo`` both come here."""
    try:
        secret = TypeAdapter(Password).validate_python(password)
        command = RegisterUser(
            user_id=uuid.uuid4(),
            first_name=first_name,
            last_name=last_name,
            email=email,
            credential_id=uuid.uuid4(),  # replaced below, once the email is known to be free
            roles=("admin",),
        )
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) or "password" for e in error.errors())
        raise AdminRefused(f"invalid {fields}", 2) from None
    store = ROOT.read_model_store()
    taken = find_by_sign_in_email(store, command.email) is not None
    if taken or not emails.claim(store, command.email, command.user_id):
        raise AdminRefused(f"{command.email} is taken", 1)
    credential = credentials.keep(store, command.user_id, secret)
    outcome = ROOT.service("identity").handle(
        command.model_copy(update={"credential_id": credential})
    )
    # Project at once from the event store, so the admin can sign in before any broker
    # delivered the event (a running shop's relay publishes it later; projectors skip repeats).
    ROOT.catch_up()
    return outcome.aggregate_id


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="eventualshop users")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-admin", help="register a user with the admin role")
    create.add_argument("--email", required=True)
    create.add_argument("--first-name", default="Shop")
    create.add_argument("--last-name", default="Admin")
    commands.add_parser(
        "jwks",
        help="print the JWKS document of the signing key in EVENTUALSHOP_AUTH_SIGNING_KEY(_FILE), "
        "for EVENTUALSHOP_AUTH_JWKS",
    )
    args = parser.parse_args(argv)
    if args.command == "jwks":
        return _print_jwks()
    password = os.environ.get("EVENTUALSHOP_ADMIN_PASSWORD") or getpass.getpass("password: ")
    try:
        user = create_admin(
            args.email, password, first_name=args.first_name, last_name=args.last_name
        )
    except AdminRefused as refused:
        print(f"eventualshop users: {refused}", file=sys.stderr)
        return refused.status
    print(f"admin {args.email} created: user {user}")
    return 0


def _print_jwks() -> int:
    settings = AuthSettings().model_copy(update={"auth_jwks": None})
    if settings.auth_signing_key is None and settings.auth_signing_key_file is None:
        print(
            "eventualshop users: set EVENTUALSHOP_AUTH_SIGNING_KEY_FILE to the signing key's PEM "
            "file (openssl genpkey -algorithm ed25519)",
            file=sys.stderr,
        )
        return 2
    try:
        document = jwks(settings)
    except (OSError, ValueError) as error:
        print(f"eventualshop users: cannot read the signing key: {error}", file=sys.stderr)
        return 2
    print(json.dumps(document))
    return 0
