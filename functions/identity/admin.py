"""What ``eventualshop users`` does (:mod:`functions.identity.users`): the first admin, made
through Identity's own path, and the JWKS document of the signing key."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from pydantic import BaseModel, TypeAdapter, ValidationError, ValidationInfo, field_validator

from eventualshop.identity.commands import RegisterUser
from eventualshop.identity.queries import find_by_sign_in_email
from eventualshop.identity.rules import Password
from eventualshop.kernel.validation import said
from eventualshop.runtime.auth import AuthSettings, jwks
from eventualshop.runtime.cli import CliError
from functions.identity import credentials, emails
from functions.identity.forms import NewEmailAddress, NewName, same_name

if TYPE_CHECKING:
    from eventualshop.runtime.root import Root


class AdminRefused(CliError):
    """Why no admin was created, for the command line (``status`` is its exit code: 2, the
    user's mistake, unless said otherwise)."""


def create_admin(
    root: Root,
    email: str,
    password: str,
    *,
    first_name: str = "Shop",
    last_name: str = "Admin",
) -> uuid.UUID:
    """Register a user with the admin role through Identity's own path (the password hashed into
    the credential lookup, the email claimed) in the shop ``root`` composes, and project it at
    once so they can sign in.

    ``eventualshop users create-admin`` and ``eventualshop demo`` both come here, each with the
    root it runs on (this module imports none: the composition root imports the command)."""
    command = registration(email, first_name=first_name, last_name=last_name)
    try:
        secret = TypeAdapter(Password).validate_python(password)
    except ValidationError as error:
        raise AdminRefused(_what_is_wrong("password", error), 2) from None
    refuse_if_taken(root, command.email)
    store = root.read_model_store()
    claimed = emails.claim(
        store, command.email, command.user_id, emails.holders_in(root, command.email)
    )
    if claimed is not emails.Claim.OURS:  # taken meanwhile, or a sign-up's under way
        raise AdminRefused(f"{command.email} is taken")
    credential = credentials.keep(store, command.user_id, secret)
    outcome = root.service("identity").handle(
        command.model_copy(update={"credential_id": credential})
    )
    # Project at once from the event store, so the admin can sign in before any broker
    # delivered the event (a running shop's relay publishes it later; projectors skip repeats).
    root.catch_up()
    return outcome.aggregate_id


class _NewAdmin(BaseModel):
    """The admin's names and email, held to the rules a sign-up's are (``forms.SignUp``): the
    command's own types took a name of four zero-width spaces, an email that reads like another
    and names that differ only in case, which a sign-up refuses."""

    first_name: NewName
    last_name: NewName
    email: NewEmailAddress

    @field_validator("last_name")
    @classmethod
    def _differs(cls, last_name: str, info: ValidationInfo) -> str:
        first_name = info.data.get("first_name")
        if isinstance(first_name, str) and same_name(first_name, last_name):
            raise ValueError("must differ from --first-name (in any case)")
        return last_name


def registration(email: str, *, first_name: str, last_name: str) -> RegisterUser:
    """The admin's registration, its email and names checked (before anyone is asked for a
    password); its credential id is a placeholder until the email is known to be free."""
    try:
        admin = _NewAdmin(first_name=first_name, last_name=last_name, email=email)
        return RegisterUser(
            user_id=uuid.uuid4(),
            first_name=admin.first_name,
            last_name=admin.last_name,
            email=admin.email,
            credential_id=uuid.uuid4(),
            roles=("admin",),
        )
    except ValidationError as error:
        raise AdminRefused(_what_is_wrong(None, error), 2) from None


def refuse_if_taken(root: Root, email: str) -> None:
    """Refuse an email a live user signs in with already (``email`` as ``registration`` made
    it: lower case): the user's mistake to fix with another email, exit 2 as every mistake
    (it was 1, the status of a failure the user cannot fix)."""
    if find_by_sign_in_email(root.read_model_store(), email) is not None:
        raise AdminRefused(f"{email} is taken")


def _what_is_wrong(name: str | None, error: ValidationError) -> str:
    """The rules' own words, each after the option (or ``name``) it is about; never the value."""
    problems = []
    for item in error.errors(include_input=False):
        about = name or "--" + "-".join(map(str, item["loc"])).replace("_", "-")
        problems.append(f"{about}: {said(item)}")
    return "; ".join(problems)


def jwks_document() -> str:
    """The JWKS document of the signing key in ``EVENTUALSHOP_AUTH_SIGNING_KEY(_FILE)``."""
    settings = AuthSettings(auth_jwks=None)  # the document it makes, not the one it may replace
    if settings.auth_signing_key is None and settings.auth_signing_key_file is None:
        raise CliError(
            "set EVENTUALSHOP_AUTH_SIGNING_KEY_FILE to the signing key's PEM file "
            "(openssl genpkey -algorithm ed25519)"
        )
    try:
        return json.dumps(jwks(settings))
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read the signing key: {error}") from None
