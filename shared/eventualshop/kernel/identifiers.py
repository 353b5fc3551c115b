"""Identifiers as clients send them: UUIDs, never the nil one; a new thing's id defaults to a
fresh UUID in the command, so ``decide`` stays pure and a retried command keeps its id."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

from pydantic import AfterValidator, Field


def _not_nil(value: UUID) -> UUID:
    if value.int == 0:
        raise ValueError("id must not be the empty (nil) UUID")
    return value


Id = Annotated[UUID, AfterValidator(_not_nil)]
NewId = Annotated[UUID, AfterValidator(_not_nil), Field(default_factory=uuid4)]
