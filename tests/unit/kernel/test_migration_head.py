"""The cold-start shortcut trusts HEAD_REVISION; it must be Alembic's real head."""

from alembic.script import ScriptDirectory

from eventualshop.adapters.database import (
    HEAD_REVISION,
    alembic_config,
    create_engine,
    is_current,
    migrate,
)


def test_head_revision_is_the_newest_migration() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def test_a_migrated_database_is_current_and_a_fresh_one_is_not(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    assert not is_current(engine)
    migrate(engine)
    assert is_current(engine)


def test_the_postgres_append_function_writes_every_column_of_its_tables() -> None:
    # json_to_recordset ignores keys it is not given columns for: a column added to a table but
    # not to the function would be dropped silently on PostgreSQL alone.
    from eventualshop.adapters.schema import TABLES

    script = ScriptDirectory.from_config(alembic_config()).get_revision("0006")
    assert script is not None
    module = script.module
    columns = {table.name: [c.name for c in table.columns] for table in TABLES}

    def listed(text: str) -> list[str]:
        return [name.strip() for name in text.split(",")]

    assert listed(module._EVENT_COLUMNS) == [c for c in columns["events"] if c != "position"]
    assert listed(module._SNAPSHOT_COLUMNS) == columns["snapshots"]
    assert listed(module._SCHEDULED_COLUMNS) == columns["scheduled_messages"]
    # The typed lists name the same columns, in the same order.
    for typed, names in (
        (module._EVENT_TYPES, module._EVENT_COLUMNS),
        (module._SNAPSHOT_TYPES, module._SNAPSHOT_COLUMNS),
        (module._SCHEDULED_TYPES, module._SCHEDULED_COLUMNS),
    ):
        assert [t.split()[0] for t in listed(typed)] == listed(names)
