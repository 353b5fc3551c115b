"""What a pydantic validation error says to a person: a client's field, an operator's setting."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails


def said(item: ErrorDetails) -> str:
    """The message of one error. A rule of ours (a ``ValueError`` in a validator) in its own
    words: pydantic's message puts "Value error, " before them."""
    error = item.get("ctx", {}).get("error") if item["type"] == "value_error" else None
    return str(error) if isinstance(error, ValueError) else item["msg"]
