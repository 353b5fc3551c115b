"""Paging of list queries: ``limit`` (1-100, default 10) and ``offset`` (rows to skip).

The original used ``offset`` as a page index and never set ``hasNext`` (reference §4.3 ⚠);
here ``offset`` counts rows and one extra row is fetched to know whether another page exists.
"""

from __future__ import annotations

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


def _integer(field: str, text: str | None, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise PagingError(field, "must be a whole number") from None
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
