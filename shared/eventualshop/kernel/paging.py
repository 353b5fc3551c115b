"""Paging of list queries: ``limit`` (1-100, default 10) and ``offset`` (rows to skip).

The original used ``offset`` as a page index and never set ``hasNext`` (reference §4.3 ⚠);
here ``offset`` counts rows and one extra row is fetched to know whether another page exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


class PagingError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def parse(cls, limit: str | None, offset: str | None) -> Paging:
        return cls(
            limit=_integer("limit", limit, DEFAULT_LIMIT, 1, MAX_LIMIT),
            offset=_integer("offset", offset, 0, 0, 10_000_000),
        )


#: What the API document's ``integer`` is in a query: ASCII digits, a minus sign at most.
#: ``int()`` also took spaces around them, a plus sign, underscores between digits and the
#: digits of every script (U+FF11 fullwidth 1, U+0663 Arabic-Indic 3), which no other reader
#: of the document would.
_WHOLE = re.compile(r"-?[0-9]+", re.ASCII)


def _integer(field: str, text: str | None, default: int, low: int, high: int) -> int:
    if text is None:  # absent: the default
        return default
    # Empty is sent, and no integer: ``limit=`` was taken as the default.
    if _WHOLE.fullmatch(text) is None:
        raise PagingError(field, "must be a whole number in the digits 0-9")
    if len(text.lstrip("-0")) > len(str(high)):  # int() refuses over 4300 digits
        raise PagingError(field, f"must be between {low} and {high}")
    value = int(text)
    if not low <= value <= high:
        raise PagingError(field, f"must be between {low} and {high}")
    return value


@dataclass(frozen=True, slots=True)
class Page:
    items: Sequence[Mapping[str, Any]]
    paging: Paging
    has_next: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "items": list(self.items),
            "page": {
                "current": self.paging.offset // self.paging.limit + 1,
                "size": len(self.items),
                "hasPrevious": self.paging.offset > 0,
                "hasNext": self.has_next,
            },
        }


def page(
    fetch: Callable[[int, int], Sequence[Mapping[str, Any]]],
    paging: Paging,
    shape: Callable[[Mapping[str, Any]], Mapping[str, Any]],
) -> Page:
    """``fetch(limit, offset)`` is asked for one row more than the page holds."""
    rows = fetch(paging.limit + 1, paging.offset)
    return Page([shape(r) for r in rows[: paging.limit]], paging, len(rows) > paging.limit)
