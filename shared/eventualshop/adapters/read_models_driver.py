"""Whether a document exists in the SQL read-model store, asked straight on the DB-API driver
(sqlite3, psycopg 3), without importing SQLAlchemy.

Every HTTP function that receives a token asks it once per request (is the token's user among
the revoked ones?), command functions included. Through :class:`SqlReadModelStore` that first
question imported SQLAlchemy: some 130 ms of a cold command function's first request, which the
event store's driver path (:mod:`eventualshop.adapters.sql_driver`) exists to avoid. The table
layout is :mod:`eventualshop.adapters.read_models_sql`'s: ``<prefix><collection>`` lower-cased,
keyed by ``id``; a collection nobody has written yet has no table, so nothing exists in it.
"""

from __future__ import annotations

from pathlib import Path

from eventualshop.adapters.sql_driver import DirectConnections, DriverUrl, own_or_shared
from eventualshop.kernel.readmodel_checks import check_collection
from eventualshop.kernel.readmodels import said_of_read_models

#: The read-model tables' prefix (``SqlReadModelStore``'s default).
TABLE_PREFIX = "rm_"
#: SQLSTATE ``undefined_table``: on PostgreSQL, a collection that was never written.
_UNDEFINED_TABLE = "42P01"


def missing_table(error: BaseException) -> bool:
    """Whether a driver error says the table does not exist (a collection never written):
    PostgreSQL's ``undefined_table``; SQLite says so in words."""
    return getattr(error, "sqlstate", None) == _UNDEFINED_TABLE or "no such table" in str(error)


def table_name(prefix: str, collection: str) -> str:
    """The table of a collection: the prefix and the checked collection name, lower-cased."""
    return prefix + check_collection(collection).lower()


class DriverDocumentLookup:
    def __init__(
        self,
        url: DriverUrl,
        *,
        prefix: str = TABLE_PREFIX,
        keep: int | None = None,
        connections: DirectConnections | None = None,
    ) -> None:
        """``connections``: the driver's connections to this database, owned by the caller (the
        composition root shares them with an event store on the same database); by default the
        lookup opens and closes its own (keeping ``keep`` idle)."""
        self._dialect = url.dialect
        # The path as the writers open it (SQLAlchemy and sqlite3 take it literally).
        self._file = Path(url.target) if url.dialect == "sqlite" else None
        self._prefix = prefix
        self._connections, self._owns_connections = own_or_shared(url, connections, keep=keep)

    def exists(self, collection: str, id: str) -> bool:
        table = table_name(self._prefix, collection)
        if self._file is not None:
            if not self._file.exists():
                # No read model was ever written. Opening the file would create it (and switch
                # it to WAL, four fsyncs on a cold function's first request) to find no table.
                return False
            self._file = None  # there now: no need to look again on every request
        marker = "?" if self._dialect == "sqlite" else "%s"
        # The name is a checked identifier (letters, digits, underscores), so it may be spliced.
        statement = f'SELECT 1 FROM "{table}" WHERE id = {marker}'
        try:
            with self._connections.connection() as connection:
                try:
                    return connection.execute(statement, (id,)).fetchone() is not None
                except Exception as error:
                    if missing_table(error):  # the driver's own error, before the lease wraps it
                        return False
                    raise
        except Exception as error:
            said_of_read_models(error)  # not the event store's, though the driver is the same
            raise

    def close(self) -> None:
        if self._owns_connections:
            self._connections.close()


def open_document_lookup(
    url: str, connections: DirectConnections | None = None
) -> DriverDocumentLookup | None:
    """A lookup on the driver for a SQLite file or PostgreSQL URL; ``None`` for anything else
    (MongoDB, an in-memory database), where the read-model store itself answers.
    ``connections``: shared ones to that database (see :class:`DriverDocumentLookup`)."""
    parsed = DriverUrl.parse(url)
    return None if parsed is None else DriverDocumentLookup(parsed, connections=connections)
