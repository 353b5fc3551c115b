"""The original's validation rules (reference §5.4 "HTTP validation"), as pydantic types.

Passwords: 8 or more characters (the original allowed at most 16; a pass phrase of 64 or more
is allowed here, up to 128, which still bounds the work of hashing it), with an upper-case and a
lower-case letter, a digit and a character that is neither.

A secret is text: JSON's ``"\\ud800"`` decodes to a lone surrogate, which pydantic's ``SecretStr``
takes unchecked (its ``str`` is not the constrained one that refuses it), and argon2 then failed
to encode it, a 500 after the sign-up had claimed its email.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, StringConstraints

from eventualshop.kernel.values import EmailAddress

MIN_PASSWORD, MAX_PASSWORD = 8, 128


def _text(value: SecretStr) -> SecretStr:
    try:
        value.get_secret_value().encode()
    except UnicodeEncodeError:
        # Never the value, nor where in it: it is a secret.
        raise ValueError("must be Unicode text (a lone UTF-16 surrogate is no character)") from None
    return value


def _password(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if not MIN_PASSWORD <= len(text) <= MAX_PASSWORD:
        raise ValueError(f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    missing = [
        what
        for what, test in (
            ("an upper-case letter", str.isupper),
            ("a lower-case letter", str.islower),
            ("a digit", str.isdigit),
            ("a character that is neither a letter nor a digit", lambda c: not c.isalnum()),
        )
        if not any(test(c) for c in text)
    ]
    if missing:
        raise ValueError("must contain " + ", ".join(missing))
    return value


# One mailbox, one spelling: sign-in and uniqueness compare lower case.
Email = Annotated[EmailAddress, AfterValidator(str.lower)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=30)]
#: Any secret a client sends (a password to check, a confirmation): text, at least.
Secret = Annotated[SecretStr, AfterValidator(_text)]
# The bounds are in the API document too, in JSON Schema's words (the rule above enforces them).
Password = Annotated[
    Secret,
    AfterValidator(_password),
    Field(json_schema_extra={"minLength": MIN_PASSWORD, "maxLength": MAX_PASSWORD}),
]
