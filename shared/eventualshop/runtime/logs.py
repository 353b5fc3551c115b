"""Structured logs: one JSON object per line on stderr, with the correlation id of the request
or event being handled, configured once per process (every function and the local server).

A log collector (Knative's fluent-bit, ``docker logs``) then needs no parsing rules, and a
request can be followed across functions by its ``correlationId``. The standard library's
``logging`` does the work; this module adds a formatter (a dozen lines, not worth a dependency
that every function would import at cold start) and a context variable for the correlation id.

``EVENTUALSHOP_LOG_LEVEL`` sets the level (default ``INFO``). Nothing here logs a request body:
secrets stay out of the logs because no one passes them to a logger.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from eventualshop.runtime.unavailable import misconfiguration, summary, unavailable_dependency

#: The correlation id of what this thread is handling now (an HTTP request, a CloudEvent).
correlation_id: ContextVar[str | None] = ContextVar("eventualshop_correlation_id", default=None)

_HANDLER_NAME = "eventualshop-json"


@contextmanager
def correlated(value: str | None) -> Iterator[None]:
    """Every log line inside carries ``value`` as its ``correlationId``."""
    token = correlation_id.set(value)
    try:
        yield
    finally:
        correlation_id.reset(token)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "correlationId"?, "error"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        found = correlation_id.get()
        if found:
            entry["correlationId"] = found
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            # A server that cannot be reached, or a setting the operator must fix, is not a
            # bug: a line says all, whereas a traceback per failed request would bury the log
            # (pitfall 11). Other errors keep theirs, as one JSON value, so one failure is still
            # one line.
            if unavailable_dependency(error) is not None:
                entry["error"] = summary(error)
            else:
                entry["error"] = misconfiguration(error) or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(*, force: bool = False, level: str | None = None) -> None:
    """Install the JSON handler on the root logger, once (``force``: again, e.g. after a server
    replaced the handlers), at ``level`` (default: ``EVENTUALSHOP_LOG_LEVEL``; a command that
    has read the settings passes theirs, which may come from a ``_FILE``). werkzeug's access
    lines are turned off: the request's own log lines say what matters, and a line per request
    floods the log under load."""
    root = logging.getLogger()
    if force or not any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
            root.removeHandler(handler)
        handler = _CurrentStderr()
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    elif level is None:
        return
    root.setLevel(log_level(level))
    quiet(root.level)


def log_level(level: str | None = None) -> str:
    """``level``, else ``EVENTUALSHOP_LOG_LEVEL``, as a level name logging knows (``INFO``)."""
    name = (level or os.environ.get("EVENTUALSHOP_LOG_LEVEL", "INFO")).upper()
    # A level logging does not know is the settings' to refuse, in one line naming it; here it
    # must not stop the handler from being installed to say so.
    return name if name in logging.getLevelNamesMapping() else "INFO"


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a record comes, like the standard library's last
    resort, not to the stream it first saw: a process that swaps its stderr (a test's capture,
    a daemon's redirect) otherwise gets "I/O operation on closed file" for every later line."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _stream: TextIO) -> None:
        pass  # always the current one


#: Libraries held to a level whatever EVENTUALSHOP_LOG_LEVEL says: werkzeug and alembic repeat
#: what our own lines say; pika logs every connection attempt (seven ERROR lines per refused
#: connection). pymongo's DEBUG command log and SQLAlchemy's INFO statement log print the
#: documents and rows they write, a credential hash or a token digest among them.
QUIET_LEVELS = {
    "werkzeug": logging.WARNING,
    "alembic.runtime.plugins": logging.WARNING,
    "alembic.runtime.migration": logging.WARNING,  # adapters.database says it in one line
    "pika": logging.CRITICAL,
    "pymongo": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
}


def quiet_levels(level: int = logging.NOTSET) -> dict[str, int]:
    """``QUIET_LEVELS``, each raised to ``level`` where that is higher: a library's own level
    decides for its records, the root's does not, so holding pika to WARNING let its warnings
    through a log set to ERROR."""
    return {name: max(held, level) for name, held in QUIET_LEVELS.items()}


def quiet(level: int = logging.NOTSET) -> None:
    """Hold the libraries of ``QUIET_LEVELS`` to their level, or to the log's ``level`` where
    that is higher. What matters reaches us as their exceptions, which our callers log once."""
    for name, held in quiet_levels(level).items():
        logging.getLogger(name).setLevel(held)
