"""A warm request does not wait for the composition root's lock: another thread may hold it for
as long as a part takes to build (a store that is slow to open, a connection timing out)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from eventualshop.runtime.root import Root
from functions.registry import CONTEXTS, FUNCTIONS


def test_a_request_is_answered_while_another_thread_builds_a_part(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Was: every HTTP function's CORS read the settings under the root's lock, so every request
    # of every thread waited for a part being built elsewhere; under 450 users of the listing
    # the lock's hand-overs took 43 % of the server's samples (py-spy).
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    root = Root(CONTEXTS, FUNCTIONS)
    target = root.target("catalog-list-catalogs")
    root.settings()  # warm: read once, as by the request before
    building, release = threading.Event(), threading.Event()

    def slow_part() -> object:
        building.set()
        release.wait(10)
        return object()

    builder = threading.Thread(target=root._part, args=("test", "slow", slow_part))
    builder.start()
    try:
        assert building.wait(5)
        answered: list[int] = []
        request = Request(EnvironBuilder("/api/v1/catalogs", method="OPTIONS").get_environ())
        caller = threading.Thread(target=lambda: answered.append(target(request).status_code))
        caller.start()
        caller.join(2)
        assert answered, "the request waited for the part being built"
        assert answered[0] < 300
    finally:
        release.set()
        builder.join(10)
