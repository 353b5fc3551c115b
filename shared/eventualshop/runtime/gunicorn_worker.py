"""gunicorn's threaded worker, whose own refusals are problems (``runtime.gunicorn_errors``).

``serve`` and the image's command name this class; loading it is what puts the problem answer
in place of gunicorn's HTML page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from eventualshop.runtime.gunicorn_errors import answer_as_problems

answer_as_problems()

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ProblemWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's ``gthread`` worker; its module makes gunicorn's own error answers problems,
    and a refusal of a large body closes the connection, saying so."""

    wsgi: WsgiApp

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = closing_after_unread_bodies(self.wsgi)


#: What gunicorn reads of a body the app left unread before it serves the connection's next
#: request (``gunicorn.http.parser._DRAIN_MAX_BYTES``); with more left, it closes the connection.
DRAINED = 64 * 1024


def closing_after_unread_bodies(app: WsgiApp) -> WsgiApp:
    """A refusal may leave the body unread: a 413 always, a 405, a 401 or a 400 on a header
    before the body is looked at. After the answer gunicorn reads at most 64 KiB of what is left
    and closes the connection when more is left; but it had already told the client
    ``Connection: keep-alive``, and the client's next request on that connection got no answer.
    So an answer other than a success to a request whose body may hold more than that closes
    the connection and says so: told before the headers go out (``start_response`` belongs to
    gunicorn's response), gunicorn says ``Connection: close``. A success read its body."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            close = getattr(getattr(start_response, "__self__", None), "force_close", None)
            if not status.startswith("2") and _large_body(environ) and callable(close):
                close()
            return start_response(status, headers, *exc_info)

        return app(environ, start)

    return wsgi


def _large_body(environ: dict[str, Any]) -> bool:
    if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
        return True
    length = str(environ.get("CONTENT_LENGTH") or "0")
    return length.isdigit() and int(length) > DRAINED
