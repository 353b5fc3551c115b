"""Identifiers as clients send them: UUIDs, never the nil one; a new thing's id defaults to a
fresh UUID in the command, so ``decide`` stays pure and a retried command keeps its id."""

from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import AfterValidator, BeforeValidator, Field

from eventualshop.kernel.declaration import UUID_PATTERN

# The one way the API takes a UUID written out, in a path or a body: ``uuid.UUID`` alone also
# reads braces, a ``urn:uuid:`` prefix and digits without hyphens.
_UUID_TEXT = re.compile(UUID_PATTERN)
#: What a path or a body is told when an id is written otherwise.
NOT_A_UUID = "must be a UUID: 8-4-4-4-12 hexadecimal digits"


def written_as_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID in the API's one form (either case)."""
    return _UUID_TEXT.fullmatch(text) is not None


def _one_form(value: object) -> object:
    # A body's id was taken in every form pydantic reads, while a path refused all but one.
    if isinstance(value, str) and not written_as_uuid(value):
        raise ValueError(NOT_A_UUID)
    return value


def _not_nil(value: UUID) -> UUID:
    if value.int == 0:
        raise ValueError("id must not be the empty (nil) UUID")
    return value


Id = Annotated[UUID, AfterValidator(_not_nil), BeforeValidator(_one_form)]
NewId = Annotated[
    UUID, AfterValidator(_not_nil), BeforeValidator(_one_form), Field(default_factory=uuid4)
]
