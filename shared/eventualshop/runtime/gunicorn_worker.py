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
    and a body the app refused unread (413) closes the connection, saying so."""

    wsgi: WsgiApp

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = closing_after_unread_bodies(self.wsgi)


def closing_after_unread_bodies(app: WsgiApp) -> WsgiApp:
    """A 413 is answered without reading the body. After the answer gunicorn reads at most
    64 KiB of what is left, to find the next request, and closes the connection when more is
    left; but it had already told the client ``Connection: keep-alive``, and the client's next
    request on that connection got no answer. Told before the answer's headers go out (its
    ``start_response`` belongs to gunicorn's response), gunicorn says ``Connection: close``."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            close = getattr(getattr(start_response, "__self__", None), "force_close", None)
            if status.startswith("413") and callable(close):
                close()
            return start_response(status, headers, *exc_info)

        return app(environ, start)

    return wsgi
