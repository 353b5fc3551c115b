"""Which failures mean "a store or the broker cannot be reached now", or "this process is not
configured to do this", answered 503.

A database, MongoDB or RabbitMQ that is down, restarting or overloaded is not a fault of the
request nor of our code: the client should come back later (``Retry-After``), and the operator
needs one line per failed request saying which dependency failed, not a traceback per request
(pitfall 11). Everything else stays a 500 with its traceback.

The drivers are recognised by their exception classes' qualified names, walked over the MRO and
the ``__cause__`` chain, so that this module imports no driver: a function on SQLite never pays
for importing pymongo or pika here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from eventualshop.kernel.errors import DeliverLater
from eventualshop.kernel.readmodels import DEPENDENCY_ATTRIBUTE

if TYPE_CHECKING:
    from flask import Flask, Response

    from eventualshop.runtime.problems import ProblemError

#: How long a client is asked to wait before retrying (seconds): about one reconnect attempt.
RETRY_AFTER_SECONDS = 5

# Qualified class name -> the dependency it tells about. Base classes cover their subclasses:
# pymongo's ConnectionFailure covers ServerSelectionTimeoutError, AutoReconnect, NetworkTimeout;
# SQLAlchemy's OperationalError wraps the DB-API driver's (connection refused or lost, statement
# timeout, SQLite's "database is locked"); its TimeoutError is a pool that gave no connection.
_UNAVAILABLE: Mapping[str, str] = {
    "sqlalchemy.exc.OperationalError": "database",
    "sqlalchemy.exc.TimeoutError": "database",
    "psycopg.OperationalError": "database",
    "sqlite3.OperationalError": "database",
    "pymongo.errors.ConnectionFailure": "read-model store",
    "pymongo.errors.ExecutionTimeout": "read-model store",
    "pymongo.errors.WTimeoutError": "read-model store",
    "pika.exceptions.AMQPConnectionError": "broker",
    "pika.exceptions.ChannelClosed": "broker",
}

log = logging.getLogger("eventualshop.unavailable")


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what caused it or was being handled when it was raised, each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def unavailable_dependency(error: BaseException) -> str | None:
    """The dependency ``error`` says is unreachable (``"database"``, ``"broker"``, …), or None."""
    for current in causes(error):
        found = _outage_of(current)
        if found is not None:
            named = getattr(current, DEPENDENCY_ATTRIBUTE, None)  # a store that said it is its
            return named if isinstance(named, str) else found
    return None


def _outage_of(error: BaseException) -> str | None:
    """The dependency this one error's class says is unreachable, or None."""
    for kind in type(error).__mro__:
        found = _UNAVAILABLE.get(f"{kind.__module__}.{kind.__qualname__}")
        if found is not None:
            return found
    # SQLAlchemy flags a lost connection on any DBAPIError it wraps.
    return "database" if getattr(error, "connection_invalidated", False) else None


def misconfiguration(error: BaseException) -> str | None:
    """What is wrong with this process's settings when ``error`` comes from them (a setting it
    cannot use, or one it must have and has not), in one line naming the variable, never its
    value; ``None`` when it does not. Only the operator can fix it: no traceback, no 500."""
    from pydantic import ValidationError

    from eventualshop.kernel.declaration import ConfigurationMissing
    from eventualshop.kernel.environment import settings_problem

    for current in causes(error):
        if isinstance(current, ConfigurationMissing):
            return str(current)
        if isinstance(current, ValidationError):
            found = settings_problem(current)
            if found is not None:
                return found
    return None


def described(error: BaseException) -> str:
    """What ``error`` says, in its own words or, when it has none, in its cause's: pika's
    connection errors have no text of their own (``str()`` is empty) and carry their cause as
    an argument, with the socket's error inside that (``exception``)."""
    current = error
    for _ in range(8):  # a cause of a cause, a few deep at most
        cause = getattr(current, "exception", None)  # pika's connector error: the socket's
        if not isinstance(cause, BaseException):
            text = str(current).strip()
            cause = next((a for a in current.args if isinstance(a, BaseException)), None)
            if text or cause is None:
                return text
        current = cause
    return str(error).strip()


def summary(error: BaseException) -> str:
    """The error in one line, short: a driver message can span lines and carry the SQL."""
    text = " ".join(described(error).split())
    return f"{type(error).__name__}: {text[:200]}"


def service_unavailable(
    what: str, dependency: str, error: BaseException, headers: Mapping[str, str] | None = None
) -> Response:
    """The 503 answer, logged as one line (no traceback: the cause is outside this process)."""
    from eventualshop.runtime.problems import problem  # Flask's, on an HTTP function's path only

    log.warning("%s: %s unavailable: %s", what, dependency, summary(error))
    return problem(
        503,
        "Service unavailable",
        f"the {dependency} cannot be reached; retry in {RETRY_AFTER_SECONDS} s",
        code=f"{dependency.replace(' ', '-')}-unavailable",
        headers={**(headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def out_of_service(
    what: str, error: BaseException, headers: Mapping[str, str] | None = None
) -> Response | None:
    """The 503 answer for a failure that is neither the request's nor our code's: a dependency
    that cannot be reached, or a setting this process cannot work without. ``None`` for any
    other failure, which stays a 500 with its traceback."""
    dependency = unavailable_dependency(error)
    if dependency is not None:
        return service_unavailable(what, dependency, error, headers)
    wrong = misconfiguration(error)
    if wrong is None:
        return None
    from eventualshop.runtime.problems import problem

    # The variable is the operator's business: the log names it, the client is told no more.
    log.error("%s: misconfigured: %s", what, wrong)
    return problem(
        503,
        "Service unavailable",
        "this function is not configured to answer this; its operator is told what to set",
        code="misconfigured",
        headers=headers,
    )


def unreadable_request(error: BaseException) -> bool:
    """Whether ``error`` is the server's refusal of the request as its headers describe it
    (gunicorn's ``InvalidChunkSize`` for a body said to be chunked that is not, a chunk's bad
    terminator, a body that ends early): the client's fault, and its message quotes what was
    read of the body, so it is no traceback to log. Known by the class's module, as the drivers
    are above: no gunicorn import."""
    return any(type(current).__module__ == "gunicorn.http.errors" for current in causes(error))


def unreadable_body() -> ProblemError:
    """The 400 for a request the server could not read (:func:`unreadable_request`): it quotes
    nothing of what was read."""
    from eventualshop.runtime.problems import ProblemError

    return ProblemError(
        400,
        "Malformed body",
        "the body could not be read as its headers describe it "
        "(Content-Length, Transfer-Encoding: chunked)",
        {"body": ["could not be read as its headers describe it"]},
    )


def answer_unexpected(error: Exception) -> Response:
    """A function's answer to an error that escaped its target (a Flask error handler's): a 503
    for an event that came early (``DeliverLater``: the broker delivers it again), a 400 for a
    request the server could not read (:func:`unreadable_request`), the 503 of
    :func:`out_of_service` when that is what it is, else a 500 problem that says nothing of the
    error, whose traceback is logged once (one JSON line)."""
    from flask import request

    from eventualshop.runtime.problems import problem

    if isinstance(error, DeliverLater):  # an event that came early: the broker retries a 5xx
        log.info("%s: event came early, to be delivered again: %s", request.path, error)
        return problem(
            503,
            "Delivered early",
            "the event depends on one not acted on yet; deliver it again later",
            code="delivered-early",
        )
    if unreadable_request(error):
        return unreadable_body().response()
    unavailable = out_of_service(f"{request.method} {request.path}", error)
    if unavailable is not None:
        return unavailable
    logging.getLogger("eventualshop.unhandled").error("unhandled error", exc_info=error)
    return problem(500, "Internal error", "the request could not be processed")


def answer_errors(app: Flask) -> None:
    """Answer whatever escapes the app's targets as a problem, as ``serve`` and every deployed
    function do: an HTTP error of Flask, werkzeug or functions-framework in werkzeug's words
    (``problems.http_error``), anything else by :func:`answer_unexpected`."""
    from werkzeug.exceptions import HTTPException

    from eventualshop.runtime.problems import http_error

    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, answer_unexpected)
