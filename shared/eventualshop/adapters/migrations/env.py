"""Alembic environment of the event store (``eventualshop.adapters.database.migrate`` runs it).

Online, ``migrate`` hands over a connection inside its own locked transaction; offline
(``migration_script``) only a URL is needed, to render the SQL for that dialect.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy.engine import Connection

from eventualshop.adapters.database import comparison_options, create_engine
from eventualshop.adapters.schema import metadata

config = context.config


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    applied: list[str] = config.attributes.setdefault("applied", [])

    def record(
        ctx: MigrationContext,  # noqa: ARG001 - Alembic passes all four, by name
        step: MigrationInfo,
        heads: Collection[Any],  # noqa: ARG001
        run_args: Mapping[str, Any],  # noqa: ARG001
    ) -> None:
        # What ran, for ``migrate``'s one line (a process that waited for another's migration
        # under the lock finds nothing to run, and says nothing).
        if step.up_revision_id is not None:
            applied.append(step.up_revision_id)

    context.configure(
        connection=connection,
        target_metadata=metadata,
        on_version_apply=record,
        **comparison_options(connection.dialect),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (given := config.attributes.get("connection")) is not None:
    run_online(given)
else:
    # The plain `alembic -x ... upgrade head` path, with sqlalchemy.url set in the config.
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            run_online(connection)
    finally:
        engine.dispose()
