"""Identity commands (reference §5.4). None carries a password: the sign-up and change-password
functions hash it into Identity's credential lookup first and send the credential's id."""

from __future__ import annotations

from eventualshop.identity.rules import Email, Name
from eventualshop.kernel.identifiers import Id, NewId
from eventualshop.kernel.messages import Command


class UserCommand(Command):
    user_id: Id


class RegisterUser(UserCommand):
    user_id: NewId
    first_name: Name
    last_name: Name
    email: Email
    credential_id: Id
    # Set by whoever registers the user (sign-up: customer; ``users create-admin``: admin);
    # never read from a client's body.
    roles: tuple[str, ...] = ("customer",)


class ChangePassword(UserCommand):
    credential_id: Id


class ChangeEmail(UserCommand):
    email: Email


class ConfirmEmail(UserCommand):
    email: Email


class ExpiryEmail(UserCommand):
    """Fired by the confirmation timer, 15 minutes after the email was added."""

    email: Email


class DefinePrimaryEmail(UserCommand):
    email: Email


class DeleteUser(UserCommand):
    """Sent when the user's account is deleted (R7); Account id = User id."""
