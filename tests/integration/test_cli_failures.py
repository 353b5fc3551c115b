"""The command line's failures a user can cause or meet end in one line on stderr saying what is
wrong, never a traceback, a driver's class name or a link to SQLAlchemy's documentation: a store
URL of no store the shop has, a database or a read-model store that does not answer (real drivers
against a closed port on 127.0.0.1), and no URL's password in what is printed."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.main import ROOT, cli


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("EVENTUALSHOP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "a key for these tests only")
    ROOT.reset()
    # ``serve`` installs its log handler on the stderr it finds, capsys's here: taken off again,
    # so that no later test logs into a closed capture.
    root_logger = logging.getLogger()
    handlers, level = list(root_logger.handlers), root_logger.level
    yield
    ROOT.reset()
    for handler in [h for h in root_logger.handlers if h not in handlers]:
        root_logger.removeHandler(handler)
    root_logger.setLevel(level)


def _closed_port() -> int:
    with socket.socket() as probe:  # bound, never listening: a connection is refused at once
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("eventualshop: ")]
    assert len(lines) == 1, err
    line = lines[0]
    assert "Traceback" not in err, err
    assert "sqlalche.me" not in line, line
    assert len(line) < 400, line
    return line


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("EVENTUALSHOP_EVENT_STORE_URL", "bogus://user:s3cret@db.example/shop"),
        ("EVENTUALSHOP_ACCOUNT_EVENT_STORE_URL", "mongodb://user:s3cret@127.0.0.1/shop"),
        ("EVENTUALSHOP_READ_MODEL_URL", "redis://user:s3cret@127.0.0.1/0"),
    ],
)
def test_a_store_url_of_no_store_names_the_variable_and_what_it_takes(
    variable: str, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: ``eventualshop: NoSuchModuleError: Can't load plugin: sqlalchemy.dialects:bogus``,
    # after migrating the contexts whose stores came first.
    monkeypatch.setenv(variable, url)

    code = cli(["lag"] if "READ_MODEL" in variable else ["migrate"])

    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert "up to date" not in captured.out, captured.out  # refused before any store was touched
    assert code == 2, line
    assert line.startswith(f"eventualshop: {variable}: "), line
    assert "postgresql://" in line, line  # what it takes
    assert "s3cret" not in line, line


def test_serve_refuses_a_store_url_of_no_store_before_it_listens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: "Listening at …", then a worker's traceback and "Worker failed to boot".
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", "bogus://x")

    code = cli(["serve", "--port", str(_closed_port())])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith("eventualshop: EVENTUALSHOP_EVENT_STORE_URL: "), line


def test_a_database_that_does_not_answer_is_named_with_the_drivers_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was three lines: SQLAlchemy's class name, psycopg's message and a link to SQLAlchemy's docs.
    port = _closed_port()
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", f"postgresql://u:s3cret@127.0.0.1:{port}/x")

    code = cli(["migrate"])

    line = _one_line(capsys.readouterr().err)
    assert code == 69, line  # EX_UNAVAILABLE: try again later
    assert line.startswith("eventualshop: the database cannot be reached: "), line
    assert str(port) in line, line  # the driver's own words say where
    assert "OperationalError" not in line, line
    assert "s3cret" not in line, line


def test_a_read_model_store_that_does_not_answer_is_one_short_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was one line of 700 characters: pymongo's whole topology description.
    port = _closed_port()
    monkeypatch.setenv("EVENTUALSHOP_READ_MODEL_URL", f"mongodb://127.0.0.1:{port}/x")

    code = cli(["lag"])

    line = _one_line(capsys.readouterr().err)
    assert code == 69, line
    assert line.startswith("eventualshop: the read-model store cannot be reached: "), line
    assert str(port) in line, line
    assert "Topology" not in line, line
