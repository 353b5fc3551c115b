"""Fixtures shared by the unit tests that drive the composition root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventualshop.runtime.root import Root
from functions.registry import CONTEXTS, FUNCTIONS


@pytest.fixture
def embedded_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Root]:
    """A root on embedded stores in a folder of the test's own, configured by nothing of the
    developer's environment; commands go in without any broker."""
    for name in [n for n in os.environ if n.startswith("EVENTUALSHOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    made = Root(CONTEXTS, FUNCTIONS)
    try:
        yield made
    finally:
        made.reset()
