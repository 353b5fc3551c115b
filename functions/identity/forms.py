"""What Identity's credential functions read and answer, as pydantic models: the functions
validate their JSON bodies with them, and the OpenAPI document describes the routes by them
(``FunctionSpec.answers``), as it describes a derived command by its command."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from eventualshop.identity.rules import Email, Name, Password, Secret

#: Control characters, invisible ones (zero-width spaces, a right-to-left override) and line
#: breaks by Unicode category: a name or an email that shows otherwise than it is.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
#: Invisible joiners that scripts need inside words (Persian and Indic names hold ZWNJ).
_JOINERS = frozenset({"\u200c", "\u200d"})
#: Letters that show as blank space (Hangul fillers, the blank Braille pattern).
_BLANK_LETTERS = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"})


def _shown_as_it_is(text: str) -> str:
    if any(
        c in _BLANK_LETTERS or (unicodedata.category(c) in _HIDDEN and c not in _JOINERS)
        for c in text
    ):
        raise ValueError("must not hold control characters or invisible ones")
    return text


# A new user's name and email only: stored users, their events and their sign-in read what they
# hold, and refusing it there would lock them out (four zero-width spaces made a name).
NewName = Annotated[Name, AfterValidator(_shown_as_it_is)]
NewEmailAddress = Annotated[Email, AfterValidator(_shown_as_it_is)]


def same_name(first_name: str, last_name: str) -> bool:
    """A new user's last name must differ from the first in any case: "Lovelace" is "lovelace"."""
    return first_name.casefold() == last_name.casefold()


class _Body(BaseModel):
    # Validation errors never echo what was sent: it may be a password.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", hide_input_in_errors=True
    )


class SignUp(_Body):
    first_name: NewName
    last_name: NewName
    email: NewEmailAddress
    password: Password
    password_confirmation: Secret


#: A sign-in checks any password a user may hold, up to a bound on the work of hashing it.
MAX_SIGN_IN_PASSWORD = 1024


def _checkable(value: SecretStr) -> SecretStr:
    # Said as the password rules say it: pydantic's own length check on a SecretStr counts
    # "items" ("Value should have at most 1024 items after validation, not 60000").
    if not 1 <= len(value.get_secret_value()) <= MAX_SIGN_IN_PASSWORD:
        raise ValueError(f"must be 1-{MAX_SIGN_IN_PASSWORD} characters")
    return value


SignInPassword = Annotated[
    Secret,
    AfterValidator(_checkable),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_SIGN_IN_PASSWORD}),
]


class SignIn(_Body):
    email: Email
    password: SignInPassword


class NewPassword(_Body):
    password: Password
    password_confirmation: Secret


class NewEmail(_Body):
    """The email a user adds (``change-email``'s query parameter)."""

    email: NewEmailAddress


class RefreshToken(_Body):
    refresh_token: str = Field(min_length=1, max_length=200)


class Tokens(BaseModel):
    """What a sign-in and a refresh answer: who signed in, and the tokens."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    user_id: UUID
    first_name: str
    last_name: str
    email: str
    token_type: Literal["Bearer"] = "Bearer"
    access_token: str
    refresh_token: str
    expires_in: int = Field(description="seconds the access token is valid")


class Jwks(BaseModel):
    """The JSON Web Key Set of the public keys tokens are checked with (RFC 7517)."""

    keys: list[dict[str, str]]
