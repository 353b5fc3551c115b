"""One set of driver connections per database: a function whose read models live in its event
store's database holds one connection to it, not one for the store and one for the revocation
look-up; stores on other databases keep their own."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from functions.main import ROOT
from tests.conftest import new_postgres_database

#: A collection the revocation check could ask; nothing has written it, so it has no table.
COLLECTION = "revoked_users"


def _other_backends(url: URL) -> int:
    """Server processes connected to the database at ``url``, this check's own left out."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            found = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar_one()
    finally:
        engine.dispose()
    return int(found)


@pytest.mark.postgres
@pytest.mark.usefixtures("clean_root")
def test_read_models_in_the_event_store_database_share_its_one_connection(
    monkeypatch: pytest.MonkeyPatch, postgres_admin_url: URL
) -> None:
    with new_postgres_database(postgres_admin_url) as url:
        rendered = url.render_as_string(hide_password=False)
        monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", rendered)
        monkeypatch.setenv("EVENTUALSHOP_READ_MODEL_URL", rendered)
        try:
            # What a command function's request does: the token's revocation check, then the
            # command's load (the store migrates the empty database first).
            assert not ROOT.document_exists(COLLECTION, str(uuid.uuid4()))
            store = ROOT.event_store("shopping-cart")
            assert not store.load(uuid.uuid4(), "ShoppingCart").exists
            assert not ROOT.document_exists(COLLECTION, str(uuid.uuid4()))
            assert _other_backends(url) == 1
        finally:
            ROOT.reset()
        assert _other_backends(url) == 0  # the reset closed the shared connection


@pytest.mark.usefixtures("clean_root")
def test_a_database_gets_one_set_of_connections_and_another_its_own(tmp_path: Path) -> None:
    shared = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    first = ROOT.driver_connections(shared)
    assert first is not None
    assert ROOT.driver_connections(f"sqlite+pysqlite:///{tmp_path / 'shop.sqlite3'}") is first
    assert ROOT.driver_connections(f"sqlite:///{tmp_path / 'other.sqlite3'}") is not first
    # No driver path (SQLAlchemy's own pool serves these).
    assert ROOT.driver_connections("sqlite://") is None
    assert ROOT.driver_connections("mssql+pyodbc://shop") is None


@pytest.mark.usefixtures("clean_root")
def test_the_embedded_stores_keep_their_own_connections() -> None:
    """The embedded default keeps the read models in a file of their own: nothing to share."""
    store = ROOT.event_store("shopping-cart")
    read_models = ROOT.settings().resolved_read_model_url()
    store_url = ROOT.settings().resolved_event_store_url("shopping-cart")
    assert store_url != read_models
    assert ROOT.driver_connections(store_url) is not ROOT.driver_connections(read_models)
    assert not store.load(uuid.uuid4(), "ShoppingCart").exists
