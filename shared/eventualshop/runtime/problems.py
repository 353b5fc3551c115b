"""RFC 9457 ``application/problem+json``: the one shape of every answer that is not a success,
and the exception that carries a client's error to the edge that answers it. Below the HTTP edge
and the failure classifier (``unavailable``) alike, so neither imports the other for it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flask import Response
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"


def bodiless(status: int, headers: Mapping[str, str] | None = None) -> Response:
    """An answer with no content, and so no Content-Type: Flask gives every Response text/html
    unless told otherwise, so a 204 (or an event function's 200, 500 or 503) said it was an
    HTML page of nothing."""
    response = Response(status=status, headers=dict(headers or {}))
    del response.headers["Content-Type"]
    return response


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

    def response(self) -> Response:
        """The problem+json answer that says it."""
        return problem(
            self.status, self.title, self.detail, errors=self.errors, headers=self.headers
        )


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        json.dumps(problem_body(status, title, detail, errors=errors, code=code)),
        status=status,
        mimetype=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def problem_body(
    status: int,
    title: str,
    detail: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The problem document itself (for an answer written without Flask, as gunicorn's own)."""
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
    return body


#: Headers of an HTTP error that tell the client what to do next.
_KEPT_HEADERS = frozenset({"Allow", "Retry-After"})


def http_error(error: HTTPException) -> Response:
    """An HTTP error Flask, werkzeug or functions-framework raised, as a problem. werkzeug's own
    words for its class are kept; a description written for the one request is not repeated
    (functions-framework's 400 for a POST that is no CloudEvent quotes its headers, a bearer
    token among them, and its body)."""
    status = error.code or 500
    generic = error.description == type(error).description
    detail = (error.description if generic else None) or error.name
    kept = {name: value for name, value in error.get_headers() if name in _KEPT_HEADERS}
    return problem(status, error.name, detail, headers=kept)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
