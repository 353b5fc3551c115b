"""The bounds every PostgreSQL connection is opened with, SQLAlchemy's and the driver path's.

Without SQLAlchemy, nor anything of ours: the driver path (a function's command and revocation
look-up) imports it, and imports no SQLAlchemy.
A server that is down must fail a request in bounded time (then answered 503), not hang it.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

#: PostgreSQL: seconds to establish a connection (libpq ``connect_timeout``; 2 is its minimum).
POSTGRES_CONNECT_TIMEOUT_S = 3
#: PostgreSQL: the longest a statement may run, lock waits included, before the server cancels it.
POSTGRES_STATEMENT_TIMEOUT_MS = 15_000


def postgres_connect_defaults() -> dict[str, object]:
    """libpq parameters a URL does not set: connect timeout, TCP keepalives (a connection to a
    vanished host is noticed) and the statement timeout."""
    return {
        "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "options": f"-c statement_timeout={POSTGRES_STATEMENT_TIMEOUT_MS}",
    }


def bounded_libpq_uri(uri: str) -> str:
    """The libpq URI ``uri`` with each of :func:`postgres_connect_defaults` it does not set.

    The driver path connected with the URI as given: no connect timeout (a host that took the
    TCP connection and never answered hung the command for good), no statement timeout and no
    keepalives, where the README and SQLAlchemy's engines have all three."""
    query = urlsplit(uri).query
    given = {pair.partition("=")[0] for pair in query.split("&") if pair}
    added = [(k, str(v)) for k, v in postgres_connect_defaults().items() if k not in given]
    if not added:
        return uri
    # Appended to the text as written: urlunsplit would drop the empty host of
    # ``postgresql:///shop?host=/socket/folder``, which libpq then cannot read.
    return f"{uri}{'&' if query else '?'}{urlencode(added, quote_via=quote)}"
