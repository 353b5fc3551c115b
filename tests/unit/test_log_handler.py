"""The shop's log handler writes to the stderr of the moment a record comes, so a process that
swaps its stderr (a test's capture, a daemon's redirect) keeps its log lines."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from eventualshop.runtime.logs import configure_logging


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_line_logged_after_stderr_was_swapped_goes_to_the_new_one(
    root_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: the handler kept the stream it was installed on; once that was closed, every line
    # was "--- Logging error --- ValueError: I/O operation on closed file" instead.
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging(force=True)
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)

    logging.getLogger("eventualshop.test").warning("after the swap")

    (line,) = second.getvalue().splitlines()
    assert json.loads(line)["message"] == "after the swap"
