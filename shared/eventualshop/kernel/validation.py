"""What a pydantic validation error says to a person: a client's field, an operator's setting,
the reason an event could not be read."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails


def field_error(
    model: str, field: str, value: object, kind: str, message: str, **context: object
) -> ValidationError:
    """The error of one field, raised from a check of the whole model (or of a field that is a
    model): pydantic places it under the model's own place in the input, so a client's 400 names
    ``unitPrice.amount`` or ``address.number``, as the field's own rules do."""
    from pydantic import ValidationError
    from pydantic_core import InitErrorDetails, PydanticCustomError

    error = PydanticCustomError(kind, message, context or None)
    details = InitErrorDetails(type=error, loc=(field,), input=value)
    return ValidationError.from_exception_data(model, [details])


def said(item: ErrorDetails) -> str:
    """The message of one error. A rule of ours (a ``ValueError`` in a validator) in its own
    words: pydantic's message puts "Value error, " before them."""
    error = item.get("ctx", {}).get("error") if item["type"] == "value_error" else None
    return str(error) if isinstance(error, ValueError) else item["msg"]


#: The kinds of error whose message is a rule's own words, which may quote the value it refused.
_RULES = frozenset({"value_error", "assertion_error"})


def without_input(error: ValidationError, *, at_most: int = 5) -> str:
    """A validation error in one line that repeats none of the input, for a log: pydantic's own
    message quotes each field's input, and a rule's words may quote the value it refused, while
    the data may be anyone's. Each error is its field and pydantic's message, a rule's as
    "breaks a rule"; the first ``at_most``, then how many more."""
    items = error.errors(include_input=False, include_url=False)
    told = [
        _field(item) + ("breaks a rule" if item["type"] in _RULES else item["msg"])
        for item in items[:at_most]
    ]
    more = f"; and {len(items) - at_most} more" if len(items) > at_most else ""
    return f"{error.title}: {'; '.join(told)}{more}"


def _field(item: ErrorDetails) -> str:
    return ".".join(str(part) for part in item["loc"]) + ": " if item["loc"] else ""
