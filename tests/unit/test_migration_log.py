"""A migration says what it did in one line per database.

The finding: a first `make run` printed 35 lines of Alembic's own (two per database and one per
revision, for each of the five event stores) before the shop's address, and its own log said
nothing of which database had been migrated.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from eventualshop.adapters.database import alembic_config, create_engine, migrate
from eventualshop.adapters.sql_driver import HEAD_REVISION
from eventualshop.runtime.logs import quiet


@pytest.fixture(autouse=True)
def _libraries_held_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """As every process of the shop holds them (``configure_logging`` calls ``quiet``)."""
    monkeypatch.setattr(logging.getLogger("alembic.runtime.migration"), "level", logging.NOTSET)
    quiet()


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{record.name}: {record.getMessage()}" for record in caplog.records]


def test_a_first_migration_is_one_line_naming_the_database_and_what_ran(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    database = tmp_path / "eventstore-cart.sqlite3"

    migrate(f"sqlite:///{database}")

    assert _lines(caplog) == [
        f"eventualshop.migrations: migrated the sqlite database {database} to revision "
        f"{HEAD_REVISION} (applied 0001, 0002, 0003, 0004, 0006, {HEAD_REVISION})"
    ]


def test_a_database_already_current_says_nothing_and_one_behind_names_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    engine = create_engine(url)
    try:
        with engine.begin() as connection:  # a database an older release migrated
            config = alembic_config()
            config.attributes["connection"] = connection
            head = ScriptDirectory.from_config(config).get_revision(HEAD_REVISION)
            assert head is not None
            command.upgrade(config, str(head.down_revision))  # the revision before the head
    finally:
        engine.dispose()
    caplog.set_level(logging.INFO)

    migrate(url)
    migrate(url)

    (line,) = _lines(caplog)
    assert line.endswith(f"to revision {HEAD_REVISION} (applied {HEAD_REVISION})")
