"""gunicorn's threaded worker, whose own refusals are problems like every other answer.

gunicorn refuses some requests before the application sees them: a request line or headers over
its limits (414, 431), a malformed request line, method, header or chunk (400), a transfer coding
it does not know (501). It answered each with an HTML page, written by
``gunicorn.util.write_error``, which its workers call by that name. Loading this worker class
(``serve`` and the image's command name it) puts a problem+json answer in that function's place,
with the same status, reason and message: a client of the shop gets JSON whatever it sends.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

#: gunicorn's message may quote what it refused (a request line of up to 4 KB): a problem's
#: detail is kept short.
MAX_DETAIL = 200


def write_problem(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error``'s work, as ``application/problem+json``."""
    # Flask's side of the problems module, imported when gunicorn refuses a request: the worker
    # has loaded the application (and Flask) by then, and the arbiter that loads this class
    # should not import it first.
    from eventualshop.runtime.problems import PROBLEM_JSON, problem_body

    detail = " ".join(mesg.split()) or reason
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


util.write_error = write_problem


class ProblemWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's ``gthread`` worker; its module makes gunicorn's own error answers problems."""
