"""Fixtures of the integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.main import ROOT


@pytest.fixture
def clean_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The composition root on the embedded default in ``tmp_path``, no developer's settings."""
    for name in [n for n in os.environ if n.startswith("EVENTUALSHOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EVENTUALSHOP_AUTH", "off")
    ROOT.reset()
    try:
        yield
    finally:
        ROOT.reset()
