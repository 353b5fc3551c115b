"""Contexts configured with one event store URL share one store (one connection pool per
database), and contexts on their own databases (the embedded default) keep their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.main import ROOT
from functions.registry import CONTEXTS


@pytest.fixture
def clean_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in [n for n in os.environ if n.startswith("EVENTUALSHOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    ROOT.reset()
    try:
        yield
    finally:
        ROOT.reset()


@pytest.mark.usefixtures("clean_root")
def test_contexts_on_one_url_share_one_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    stores = {id(ROOT.event_store(context.name)) for context in CONTEXTS}
    assert len(stores) == 1


@pytest.mark.usefixtures("clean_root")
def test_contexts_on_their_own_databases_keep_their_own_stores() -> None:
    stores = {id(ROOT.event_store(context.name)) for context in CONTEXTS}
    assert len(stores) == len(CONTEXTS)
