"""gunicorn's own refusals, answered as problems like every other answer.

gunicorn refuses some requests before the application sees them: a request line or headers over
its limits (414, 431), a malformed request line, method, header or chunk (400), a transfer coding
it does not know (501). It answered each with an HTML page, written by
``gunicorn.util.write_error``, which its workers call by that name. :func:`answer_as_problems`
puts a problem+json answer in that function's place, with the same status, reason and message:
a client of the shop gets JSON whatever it sends. Only ``gunicorn.util`` is imported here, not a
worker: about 4 ms against 22 ms for ``gthread`` (``python -X importtime``, after Flask).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from gunicorn import util

#: gunicorn's message may quote what it refused (a request line of up to 4 KB): a problem's
#: detail is kept short.
MAX_DETAIL = 200

#: Where gunicorn's message starts quoting the request (its ``%r`` of a request line, a header
#: line, a method, a version, a chunk size), with the colon before it.
_QUOTE = re.compile(r"""\s*:?\s*b?['"]""")


def unquoted(mesg: str) -> str:
    """gunicorn's message up to where it quotes the request: ``Invalid HTTP Header:
    'Authorization Bearer <token>'`` (a header line without its colon) is ``Invalid HTTP
    Header``. The answer quoted that line back, the token in it, although the log did not."""
    return " ".join(_QUOTE.split(mesg, maxsplit=1)[0].split())


def write_problem(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error``'s work, as ``application/problem+json``."""
    # Flask's side of the problems module, imported when gunicorn refuses a request: the worker
    # has loaded the application (and Flask) by then, and the arbiter should not import it first.
    from eventualshop.runtime.problems import PROBLEM_JSON, problem_body

    detail = unquoted(mesg) or reason
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 1] + "…"
    body = json.dumps(problem_body(status_int, reason, detail)).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class RefusalsUnquoted(logging.Filter):
    """gunicorn logs each refusal as ``Invalid request from ip=…: <its message>``, and the
    message quotes the request line or header line it refused: an ``Authorization`` header
    without its colon, a token or a password in a query string. The log keeps which refusal it
    was and from where; the answer says no more of the request (:func:`unquoted`)."""

    _PREFIX = "Invalid request from ip="

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(self._PREFIX):
            source, _, refusal = message.partition(": ")
            kind = re.split(r"[:'\"(]", refusal, maxsplit=1)[0].strip()
            record.msg = f"{source}: {kind} (what it quoted of the request is not logged)"
            record.args = ()
        return True


def answer_as_problems() -> None:
    """Make this process's gunicorn write its refusals as problems, and log them without the
    request's text (idempotent)."""
    util.write_error = write_problem
    errors = logging.getLogger("gunicorn.error")
    if not any(isinstance(f, RefusalsUnquoted) for f in errors.filters):
        errors.addFilter(RefusalsUnquoted())
