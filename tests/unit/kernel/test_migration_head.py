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
