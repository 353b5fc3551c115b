"""Cross-origin requests (the Fetch standard's CORS): a browser front end on another origin may
call the API, as the original's gateway allowed (any origin, header and method, reference §7.1).

Every HTTP function answers for itself, because every deployment reaches it directly: `serve`,
functions-framework's command, the image and the OpenFaaS gateway pass an ``OPTIONS`` through to
the target, and the generated HTTPRoutes send each path's ``OPTIONS`` to one function of that
path. So an ``OPTIONS`` (a browser's preflight, or a client asking what a path allows) is
answered here with the methods of the path, whichever of the path's functions receives it; any
other request goes to the function, and its answer, success or problem, carries the headers a
browser needs to read it (an error the page cannot read is an error its user never sees).

No credentials are allowed: the API authenticates by a bearer token, never by a cookie, so a
page on another origin can use only a token it was given, and ``*`` opens nothing a cookie
would have.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the settings read Origins without Flask; the wrapper runs where Flask serves
    from flask import Request, Response

#: Response headers a page may read beyond the safelisted ones: the read model to poll after a
#: command, the ids that tie a request to its logs, and what a refusal says to do next.
EXPOSED = "Location, CorrelationId, traceparent, Retry-After, WWW-Authenticate, Allow"
#: How long a browser may keep a preflight's answer (Chromium keeps at most 2 h).
MAX_AGE_S = 600
#: Field names (RFC 9110 §5.1): what a preflight may ask for in Access-Control-Request-Headers.
#: The patterns are compiled on first use (``re``'s cache), not by every function's start.
_FIELD_NAMES = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*"
#: An origin as a browser sends it: scheme, host and port, no path (RFC 6454 §6.2).
ORIGIN = r"https?://[^/\s?#@]+"


class Origins:
    """Who may call from a page: any origin (``*``), these origins, or none (CORS off).

    A plain class: a frozen dataclass cost about 1 ms of every function's cold start to make."""

    __slots__ = ("any_origin", "listed")

    def __init__(self, *, any_origin: bool = False, listed: frozenset[str] = frozenset()) -> None:
        self.any_origin = any_origin
        self.listed = listed

    @classmethod
    def parse(cls, text: str) -> Origins:
        """``*``, ``""`` (none) or origins separated by commas; ValueError saying which one is
        not an origin."""
        items = [item.strip() for item in text.split(",") if item.strip()]
        if items == ["*"]:
            return cls(any_origin=True)
        for number, item in enumerate(items, 1):
            if not re.fullmatch(ORIGIN, item):
                # Which one by its place, not its text: a setting's value is never repeated.
                raise ValueError(
                    f"origin {number} of {len(items)} is not an origin: write "
                    "scheme://host[:port] without a path, or * alone for any origin"
                )
        return cls(listed=frozenset(item.lower() for item in items))

    def allow_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin answer to a request from ``origin``; ``None``: none."""
        if origin is None:
            return None
        if self.any_origin:
            return "*"
        return origin if origin.lower() in self.listed else None


def answering(
    target: Callable[[Request], Response],
    methods: Iterable[str],
    origins: Callable[[], Origins | None],
) -> Callable[[Request], Response]:
    """``target`` with CORS: ``methods`` are those of every function at its path, ``origins``
    the policy, read on each request (``None`` while the settings cannot be read: no CORS
    header then; the function itself says what is wrong)."""
    if answers_cors(target):
        return target  # wrapped where it was defined (``Root.http_function``)
    served = set(methods)
    allow = ", ".join(sorted({*served, *(("HEAD",) if "GET" in served else ()), "OPTIONS"}))

    @functools.wraps(target)
    def cors(request: Request) -> Response:
        policy = origins()
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS":
            return _options(request, allow, policy, origin)
        response = target(request)
        if policy is not None:
            _vary(response, policy)
            if (value := policy.allow_origin(origin)) is not None:
                response.headers["Access-Control-Expose-Headers"] = EXPOSED
                response.headers["Access-Control-Allow-Origin"] = value
        return response

    cors.answers_cors = True  # type: ignore[attr-defined]
    return cors


def answers_cors(target: Callable[..., object]) -> bool:
    """Whether ``target`` is already :func:`answering`'s (so it is not wrapped twice)."""
    return getattr(target, "answers_cors", False) is True


def _options(request: Request, allow: str, policy: Origins | None, origin: str | None) -> Response:
    from eventualshop.runtime.problems import bodiless

    response = bodiless(204, {"Allow": allow})
    if policy is None:
        return response
    _vary(response, policy)
    value = policy.allow_origin(origin)
    if value is None or "Access-Control-Request-Method" not in request.headers:
        return response  # not a preflight, or from an origin not allowed: the browser stops
    response.headers["Access-Control-Allow-Origin"] = value
    response.headers["Access-Control-Allow-Methods"] = allow
    asked = request.headers.get("Access-Control-Request-Headers", "").strip()
    if asked and re.fullmatch(_FIELD_NAMES, asked):
        # Any header, as the original allowed: the function ignores what it does not read.
        response.headers["Access-Control-Allow-Headers"] = asked
    response.headers["Access-Control-Max-Age"] = str(MAX_AGE_S)
    return response


def _vary(response: Response, policy: Origins) -> None:
    if policy.listed:
        # The answer depends on the Origin: a shared cache must not give one origin's answer (or
        # an answer without one) to another.
        response.vary.add("Origin")
