"""One code for "the read models are down", whatever holds them: MongoDB, PostgreSQL, SQLite."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from eventualshop.adapters.read_models_driver import open_document_lookup
from eventualshop.adapters.read_models_mongo import MongoReadModelStore
from eventualshop.adapters.read_models_sql import SqlReadModelStore
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.runtime.http import query_function
from eventualshop.runtime.registry import Route
from eventualshop.runtime.unavailable import unavailable_dependency
from tests.ports import closed_port

APP = Flask("test")
ROUTE = Route("GET", "/api/v1/shopping-carts/{cartId}/details")


def _postgresql() -> ReadModelStore:
    return SqlReadModelStore.from_url(f"postgresql://nobody@127.0.0.1:{closed_port()}/none")


def _mongodb() -> ReadModelStore:
    port = closed_port()
    return MongoReadModelStore.from_url(
        f"mongodb://127.0.0.1:{port}/none?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
    )


@pytest.mark.parametrize("store", [_postgresql, _mongodb], ids=["postgresql", "mongodb"])
def test_a_query_on_read_models_that_are_down_answers_one_code_whatever_holds_them(
    store: Callable[[], ReadModelStore], caplog: pytest.LogCaptureFixture
) -> None:
    # Was: database-unavailable on PostgreSQL, read-model-store-unavailable on MongoDB.
    opened = store()
    try:
        target = query_function(ROUTE, lambda *_: opened.get("carts", "x"))
        with (
            caplog.at_level(logging.WARNING, logger="eventualshop.unavailable"),
            APP.test_request_context(f"/api/v1/shopping-carts/{uuid.uuid4()}/details") as context,
        ):
            found = target(context.request)
    finally:
        opened.close()

    assert found.status_code == 503
    assert found.get_json()["code"] == "read-model-store-unavailable"
    (line,) = [r.getMessage() for r in caplog.records if r.name == "eventualshop.unavailable"]
    assert "read-model store unavailable" in line, line


def _sqlite_down() -> Exception:
    try:
        raise sqlite3.OperationalError("connection refused")
    except sqlite3.OperationalError as error:
        return sa.exc.OperationalError("SELECT 1", {}, error)


def test_what_fails_inside_a_read_model_transaction_but_is_not_the_store_keeps_its_name(
    tmp_path: Path,
) -> None:
    """A projector's event store failing inside the read models' transaction (``pinned``) is
    the database's outage, not the read-model store's."""
    store = SqlReadModelStore.from_url(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    try:
        with pytest.raises(sa.exc.OperationalError) as caught, store.pinned():
            raise _sqlite_down()
    finally:
        store.close()
    assert unavailable_dependency(caught.value) == "database"
    assert unavailable_dependency(_sqlite_down()) == "database"  # the event store's, as it was


def test_the_revocation_look_up_on_the_driver_answers_the_read_models_code_too() -> None:
    # Was: with a token, a function first asks on the driver whether its user was revoked, and
    # that look-up's failure answered database-unavailable, the event store's code.
    lookup = open_document_lookup(f"postgresql://nobody@127.0.0.1:{closed_port()}/none")
    assert lookup is not None
    try:
        target = query_function(ROUTE, lambda *_: lookup.exists("AuthRevokedSubjects", "x"))
        with APP.test_request_context(f"/api/v1/shopping-carts/{uuid.uuid4()}/details") as asked:
            found = target(asked.request)
    finally:
        lookup.close()

    assert found.status_code == 503
    assert found.get_json()["code"] == "read-model-store-unavailable"
