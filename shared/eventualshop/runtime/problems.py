"""RFC 9457 ``application/problem+json``: the one shape of every answer that is not a success,
and the exception that carries a client's error to the edge that answers it. Below the HTTP edge
and the failure classifier (``unavailable``) alike, so neither imports the other for it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flask import Response

PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    """A client error, answered as problem+json."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: Mapping[str, list[str]] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})  # e.g. WWW-Authenticate on a 401


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://eventualshop.dev/problems/{code or _slug(title)}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = dict(errors)
    if code:
        body["code"] = code
    return Response(
        json.dumps(body), status=status, mimetype=PROBLEM_JSON, headers=dict(headers or {})
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
