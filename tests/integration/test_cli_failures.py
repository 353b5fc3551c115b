"""The command line's failures a user can cause or meet end in one line on stderr saying what is
wrong, never a traceback, a driver's class name or a link to SQLAlchemy's documentation: a store
URL of no store the shop has, a database or a read-model store that does not answer (real drivers
against a closed port on 127.0.0.1), and no URL's password in what is printed."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import sqlite3
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest

from eventualshop.runtime.broker import amqp
from eventualshop.runtime.cli import parser
from eventualshop.runtime.local import build_app
from eventualshop.runtime.logs import QUIET_LEVELS
from eventualshop.runtime.server import ShopServer
from eventualshop.shopping_cart.commands import CreateCart
from eventualshop.shopping_cart.queries import get_cart_details
from functions.identity.users import USERS
from functions.main import ROOT, cli
from tests.e2e.support import eventually
from tests.integration.broker.conftest import rabbitmq_url  # noqa: F401 (a fixture, re-used)
from tests.ports import closed_port


@pytest.fixture(autouse=True)
def clean(shop_environment: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "a key for these tests only")
    # ``dispatch`` reads the delivery key and never makes one: these tests are about other
    # failures, so the key is configured, as a deployment's is.
    monkeypatch.setenv("EVENTUALSHOP_DELIVERY_KEY", "a-delivery-key-for-these-tests-only")
    # ``serve`` installs its log handler on the stderr it finds, capsys's here: taken off again,
    # so that no later test logs into a closed capture.
    root_logger = logging.getLogger()
    handlers, level = list(root_logger.handlers), root_logger.level
    yield
    for handler in [h for h in root_logger.handlers if h not in handlers]:
        root_logger.removeHandler(handler)
    root_logger.setLevel(level)


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

    code = cli(["serve", "--port", str(closed_port())])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith("eventualshop: EVENTUALSHOP_EVENT_STORE_URL: "), line


@pytest.mark.parametrize(
    ("option", "value", "variable", "says"),
    [
        ("--port", "99999", "EVENTUALSHOP_PORT", "less than or equal to 65535"),
        ("--event-store-url", "bogus:", "EVENTUALSHOP_EVENT_STORE_URL", "is no store"),
        ("--read-model-url", "redis://x/0", "EVENTUALSHOP_READ_MODEL_URL", "is no store"),
    ],
)
def test_a_value_an_option_gave_is_refused_naming_the_option(
    option: str,
    value: str,
    variable: str,
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was "EVENTUALSHOP_PORT: Input should be …" for ``serve --port 99999``: the variable the
    # option sets, which the user never typed. From the environment, the variable it stays.
    monkeypatch.setattr(ShopServer, "run", _never_listens)

    code = cli(["serve", option, value])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith(f"eventualshop: {option}: "), line
    assert says in line, line
    monkeypatch.setenv(variable, value)  # now the environment's, as the option had set it
    ROOT.reset()

    assert cli(["serve"]) == 2

    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"eventualshop: {variable}: "), line


def test_serve_refuses_knative_without_its_sink_before_it_listens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: "Listening at …", a warning naming EVENTUALSHOP_BROKER, and no event ever published.
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "knative")
    monkeypatch.delenv("K_SINK", raising=False)
    monkeypatch.setattr("eventualshop.runtime.server.ShopServer.run", _never_listens)

    code = cli(["serve", "--port", str(closed_port())])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert "K_SINK" in line, line


def _never_listens(_server: object) -> None:
    raise AssertionError("serve listened")


#: (variable, URL with ``{port}``, command, dependency, what the old line carried): a database
#: was three lines (SQLAlchemy's class name, psycopg's message, a link to SQLAlchemy's docs), a
#: read-model store one line of 700 characters (pymongo's whole topology description).
NOT_ANSWERING = {
    "database": (
        "EVENTUALSHOP_EVENT_STORE_URL",
        "postgresql://u:s3cret@127.0.0.1:{port}/x",
        "migrate",
        "database",
        "OperationalError",
    ),
    "read-model store": (
        "EVENTUALSHOP_READ_MODEL_URL",
        "mongodb://u:s3cret@127.0.0.1:{port}/x",
        "lag",
        "read-model store",
        "Topology",
    ),
    # The sweep drains the outbox first, then says what kept its catch-up from the read models.
    "read-model store, sweep": (
        "EVENTUALSHOP_READ_MODEL_URL",
        "mongodb://u:s3cret@127.0.0.1:{port}/x",
        "sweep",
        "read-model store",
        "Topology",
    ),
}


@pytest.mark.parametrize(
    ("variable", "url", "command", "dependency", "noise"),
    NOT_ANSWERING.values(),
    ids=NOT_ANSWERING.keys(),
)
def test_a_store_that_does_not_answer_is_named_in_one_line_in_the_drivers_words(
    variable: str,
    url: str,
    command: str,
    dependency: str,
    noise: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = closed_port()
    monkeypatch.setenv(variable, url.format(port=port))

    code = cli([command])

    line = _one_line(capsys.readouterr().err)
    assert code == 69, line  # EX_UNAVAILABLE: try again later
    assert line.startswith(f"eventualshop: the {dependency} cannot be reached: "), line
    assert str(port) in line, line  # the driver's own words say where
    assert noise not in line, line
    assert "s3cret" not in line, line


# ---- Identity's own command, ``eventualshop users``: the same command line, the same lines ----

ADMIN_PASSWORD = "Back-Office-2024!"


def test_the_users_command_is_listed_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    # Was: ``eventualshop --help`` listed every command but ``users``, which the README's first
    # admin needs; it was dispatched before the command line's parser saw it.
    with pytest.raises(SystemExit) as exit_:
        cli(["--help"])

    assert exit_.value.code == 0
    assert "users" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("variable", "url", "status", "start"),
    [
        ("EVENTUALSHOP_EVENT_STORE_URL", "bogus://u:s3cret@db.example/x", 2, "{variable}: "),
        ("EVENTUALSHOP_EVENT_STORE_URL", "postgresql://u:s3cret@127.0.0.1:{port}/x", 69, "the"),
        ("EVENTUALSHOP_READ_MODEL_URL", "mongodb://u:s3cret@127.0.0.1:{port}/x", 69, "the"),
    ],
    ids=["no such store", "database does not answer", "read-model store does not answer"],
)
def test_creating_an_admin_in_a_store_it_cannot_use_says_so_in_one_line(
    variable: str,
    url: str,
    status: int,
    start: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: a traceback ending in pydantic's ValidationError, or SQLAlchemy's OperationalError
    # with a link to its documentation, or pymongo's ServerSelectionTimeoutError.
    port = closed_port()
    monkeypatch.setenv(variable, url.format(port=port))
    monkeypatch.setenv("EVENTUALSHOP_ADMIN_PASSWORD", ADMIN_PASSWORD)

    code = cli(["users", "create-admin", "--email", "admin@example.com"])

    line = _one_line(capsys.readouterr().err)
    assert code == status, line
    assert line.startswith("eventualshop: " + start.format(variable=variable)), line
    assert "s3cret" not in line, line


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short", "8-128 characters"),
        ("no-upper-case-1", "an upper-case letter"),
        ("NoDigitsHere!", "a digit"),
        # A byte that is not UTF-8 in the environment reads as a lone surrogate: it was hashed,
        # and argon2's UnicodeEncodeError was the answer.
        ("Corr3ct-Horse!\udcff", "Unicode text"),
    ],
)
def test_a_weak_admin_password_is_refused_with_what_it_lacks(
    password: str, says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: ``invalid password``, with nothing on what a password needs.
    monkeypatch.setenv("EVENTUALSHOP_ADMIN_PASSWORD", password)

    code = cli(["users", "create-admin", "--email", "admin@example.com"])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith("eventualshop: password: must "), line
    assert says in line, line
    assert password not in line, line


def test_without_a_password_anywhere_create_admin_says_where_to_give_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: getpass's two warnings (GetPassWarning "Can not control echo on the terminal",
    # "Warning: Password input may be echoed.") and then ``eventualshop: EOFError: ``.
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal, nothing piped: /dev/null

    code = cli(["users", "create-admin", "--email", "admin@example.com"])

    err = capsys.readouterr().err
    line = _one_line(err)
    assert code == 2, err
    assert "EVENTUALSHOP_ADMIN_PASSWORD" in line, line
    assert "standard input" in line, line
    assert "EOFError" not in line, line
    assert "Warning" not in err, err


def test_the_admins_password_may_come_from_the_file_its_file_variable_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Was: EVENTUALSHOP_ADMIN_PASSWORD_FILE ignored ("no password: …"), though the README says
    # every variable may come from the file its _FILE variable names.
    monkeypatch.delenv("EVENTUALSHOP_ADMIN_PASSWORD", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    secret = tmp_path / "admin-password"
    secret.write_text(ADMIN_PASSWORD + "\n")
    monkeypatch.setenv("EVENTUALSHOP_ADMIN_PASSWORD_FILE", str(secret))

    code = cli(["users", "create-admin", "--email", "admin@example.com"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    _signs_in("admin@example.com", ADMIN_PASSWORD)


def _signs_in(email: str, password: str) -> None:
    answer = (
        build_app(ROOT)
        .test_client()
        .post("/api/v1/identities/sign-in", json={"email": email, "password": password})
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_an_admin_password_file_that_cannot_be_read_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("EVENTUALSHOP_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("EVENTUALSHOP_ADMIN_PASSWORD_FILE", str(tmp_path / "missing"))

    code = cli(["users", "create-admin", "--email", "admin@example.com"])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith("eventualshop: EVENTUALSHOP_ADMIN_PASSWORD_FILE: cannot read "), line


def test_a_password_piped_on_standard_input_makes_an_admin_who_signs_in_with_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: the same warnings before it was read (getpass reads a pipe as a terminal that echoes).
    monkeypatch.setattr(sys, "stdin", io.StringIO(ADMIN_PASSWORD + "\n"))

    code = cli(["users", "create-admin", "--email", "admin@example.com"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("admin admin@example.com created: user "), captured.out
    assert "Warning" not in captured.err, captured.err
    assert ADMIN_PASSWORD not in captured.out + captured.err
    # The password kept is the line without its newline: the admin signs in with it.
    _signs_in("admin@example.com", ADMIN_PASSWORD)


def test_an_email_that_is_no_email_is_refused_before_the_password_is_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: the password was asked first, and the email refused only after it was typed.
    typed = io.StringIO(ADMIN_PASSWORD + "\n")
    monkeypatch.setattr(sys, "stdin", typed)

    code = cli(["users", "create-admin", "--email", "not-an-email"])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line == "eventualshop: --email: must be a valid email address", line
    assert typed.tell() == 0, "the password was read before the email was checked"


def test_a_taken_email_is_refused_before_the_password_is_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: the password was asked (and hashed) first, then the email refused as taken.
    monkeypatch.setattr(sys, "stdin", io.StringIO(ADMIN_PASSWORD + "\n"))
    assert cli(["users", "create-admin", "--email", "admin@example.com"]) == 0
    typed = io.StringIO(ADMIN_PASSWORD + "\n")
    monkeypatch.setattr(sys, "stdin", typed)
    capsys.readouterr()

    code = cli(["users", "create-admin", "--email", "Admin@Example.com"])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line  # a mistake, as the README has every mistake (it was 1)
    assert line == "eventualshop: admin@example.com is taken", line
    assert typed.tell() == 0, "the password was read before the email was checked"


def test_an_admin_is_created_in_the_data_dir_the_option_names_and_found_there_by_the_rest(
    shop_environment: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: ``--data-dir`` was refused ("unrecognized arguments") by every command but serve; so
    # the shop ``serve --data-dir X`` ran was reachable by ``users``, ``lag``, ``rebuild``,
    # ``migrate``, ``sweep`` and ``dead-letters`` only through EVENTUALSHOP_DATA_DIR.
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    there = ["--data-dir", str(elsewhere)]
    monkeypatch.setenv("EVENTUALSHOP_ADMIN_PASSWORD", ADMIN_PASSWORD)

    code = cli(["users", "create-admin", "--email", "admin@example.com", *there])
    taken = cli(["users", "create-admin", "--email", "admin@example.com", *there])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("admin admin@example.com created: user "), captured.out
    assert list(elsewhere.glob("eventstore-identity*")), "the admin went somewhere else"
    assert not list(shop_environment.glob("eventstore-identity*"))
    assert taken == 2
    assert _one_line(captured.err) == "eventualshop: admin@example.com is taken"

    codes = [
        cli([*command, *there])
        for command in (["migrate"], ["lag"], ["rebuild", "identity-user-details"], ["sweep"])
    ]
    codes.append(cli(["dead-letters", "list", *there]))

    captured = capsys.readouterr()
    assert codes == [0] * 5, captured.err
    migrated = [line for line in captured.out.splitlines() if "was up to date" in line]
    assert migrated, captured.out
    assert all(str(elsewhere) in line for line in migrated), migrated
    # The admin's identity events are the ones lag and rebuild found, in that directory.
    written = next(line for line in captured.out.splitlines() if "identity-user-details" in line)
    assert int(written.split("store's last")[1].split()[0]) >= 1, written
    assert "identity-user-details: 0 events" not in captured.out, captured.out
    assert "no dead letters" in captured.err, captured.err
    assert not list(shop_environment.glob("*.sqlite3")), "a command used the default directory"


def test_lag_says_the_store_s_last_position_is_every_stream_s_where_contexts_share_one(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was "identity-user-details  applied 3  written 18  behind 0 events in 0 aggregates" on the
    # README's one shared database: "written" was the whole store's last position, other
    # contexts' events included, and read as the projection's own beside "behind 0".
    shared = f"sqlite:///{shop_environment / 'shared.sqlite3'}"
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", shared)
    monkeypatch.setenv("EVENTUALSHOP_ADMIN_PASSWORD", ADMIN_PASSWORD)
    assert cli(["users", "create-admin", "--email", "admin@example.com"]) == 0
    cart = CreateCart(cart_id=uuid.uuid4(), customer_id=uuid.uuid4(), currency="USD")
    assert ROOT.service("shopping-cart").handle(cart).accepted  # a later position, not Identity's
    ROOT.reset()
    assert cli(["sweep"]) == 0  # every projection caught up
    capsys.readouterr()

    assert cli(["lag"]) == 0

    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("identity-user-details "))
    assert "written" not in line, line
    applied = int(line.split("applied")[1].split()[0])
    last = int(line.split("store's last")[1].split()[0])
    assert 1 <= applied < last, line
    assert line.endswith(" behind 0 events in 0 aggregates"), line


#: Every command that opens the shop's stores, with what it needs besides the options.
STORE_COMMANDS = [
    ["migrate"],
    ["sweep"],
    ["lag"],
    ["project"],
    ["rebuild"],
    ["dead-letters", "list"],
    ["dispatch"],
    ["users", "create-admin", "--email", "admin@example.com"],
    ["serve"],
]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda command: command[0])
def test_every_command_that_opens_the_stores_takes_the_options_that_name_them(
    command: list[str],
) -> None:
    # Was: only serve and users took them; ``lag --data-dir X`` was "unrecognized arguments".
    args = parser((USERS,)).parse_args([*command, "--data-dir", "d", "--event-store-url", "e"])

    assert (args.data_dir, args.event_store_url) == ("d", "e")


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["dead-letters", "replay", "99999"], "no dead letter 99999"),
        (["dead-letters", "list", "--trigger", "no-such-trigger"], "no trigger no-such-trigger"),
        (["dead-letters", "replay", "--trigger", "no-such-trigger"], "no trigger no-such-trigger"),
    ],
)
def test_dead_letters_of_nothing_there_is_one_line_saying_what_is_there(
    arguments: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: ``eventualshop: DeadLetterNotFound: no dead letter 99999`` with exit status 1, and an
    # unknown trigger's dead letters were "no dead letters" (a typo looked like a clean queue).
    code = cli(arguments)

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith(f"eventualshop: {says}"), line
    assert "DeadLetterNotFound" not in line, line
    # What is there instead: the list, or real triggers' names.
    triggers = {s.name for f in ROOT.functions for s in f.subscriptions}
    assert "dead-letters list" in line or any(f" {t}" in line for t in triggers), line


def test_replaying_a_letter_no_broker_can_send_is_one_line_with_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: "eventualshop: ReplayError: dead letter 1 is malformed …" with exit status 1.
    from datetime import UTC, datetime

    from eventualshop.runtime.broker.deadletters import DeadLetter

    no_id = DeadLetter(
        trigger="shopping-cart-details",
        event_id="",
        event_type="",
        attributes={"specversion": "1.0"},
        data=b"{}",
        reason="malformed: no id",
        attempts=1,
        dead_at=datetime.now(UTC),
    )
    letter = ROOT.dead_letter_store().add(no_id)
    ROOT.reset()

    code = cli(["dead-letters", "replay", str(letter)])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith(f"eventualshop: dead letter {letter} is malformed"), line
    assert "ReplayError" not in line, line


def test_dead_letters_list_refuses_ids_which_are_replays(
    shop_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: ``dead-letters list 5`` listed every dead letter, the 5 ignored without a word.
    code = cli(["dead-letters", "list", "5"])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith("eventualshop: dead-letters list takes no ids"), line
    assert "dead-letters replay 5" in line, line
    assert list(shop_environment.iterdir()) == []  # refused before any store was opened


#: (variable, URL with ``{port}``, dependency): what ``serve`` needs before it may listen.
SERVE_NEEDS = {
    "database": (
        "EVENTUALSHOP_EVENT_STORE_URL",
        "postgresql://u:s3cret@127.0.0.1:{port}/x",
        "database",
    ),
    "read-model store": (
        "EVENTUALSHOP_READ_MODEL_URL",
        "mongodb://u:s3cret@127.0.0.1:{port}/x",
        "read-model store",
    ),
    "broker": ("EVENTUALSHOP_RABBITMQ_URL", "amqp://u:s3cret@127.0.0.1:{port}/", "broker"),
}


@pytest.mark.parametrize(
    ("variable", "url", "dependency"), SERVE_NEEDS.values(), ids=SERVE_NEEDS.keys()
)
def test_serve_with_a_dependency_that_does_not_answer_says_so_before_it_listens(
    variable: str,
    url: str,
    dependency: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: "EventualShop on http://…", gunicorn listening, the worker's traceback (a database),
    # or 15 s of reconnect warnings then a traceback (RabbitMQ), "Worker failed to boot", exit 3.
    monkeypatch.setenv(variable, url.format(port=closed_port()))
    if "RABBITMQ" in variable:
        monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")

    code = cli(["serve", "--port", str(closed_port())])

    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert code == 69, line
    assert line.startswith(f"eventualshop: the {dependency} cannot be reached: "), line
    assert "EventualShop on" not in captured.out, captured.out  # it never listened
    assert "s3cret" not in line, line


@pytest.mark.parametrize("command", [["lag"], ["migrate"], ["serve"]])
def test_a_data_dir_that_is_no_folder_is_one_line_saying_what_it_must_be(
    command: list[str],
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: ``eventualshop: FileExistsError: [Errno 17] File exists: '…'``, exit status 1.
    a_file = tmp_path_factory.mktemp("data") / "shop"
    a_file.write_text("not a folder")

    if command == ["serve"]:
        command = [*command, "--port", str(closed_port())]  # refused before it listens

    code = cli([*command, "--data-dir", str(a_file)])

    line = _one_line(capsys.readouterr().err)
    assert code == 73, line
    assert line.startswith(f"eventualshop: cannot use {a_file}"), line
    assert "--data-dir" in line, line
    assert "Errno" not in line, line


#: Every command that writes the embedded stores of a shop that is there.
WRITING_A_SHOP = [
    ["migrate"],
    ["lag"],
    ["sweep"],
    ["rebuild"],
    ["dead-letters", "list"],
    ["users", "claim-emails"],
]


@pytest.mark.parametrize("command", WRITING_A_SHOP, ids=" ".join)
def test_a_data_dir_where_sqlite_cannot_open_its_files_is_named_with_the_option(
    command: list[str], shop_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: "the database cannot be reached: unable to open database file", exit 69 (try again
    # later), in a folder this user may not write (mode 555 or 000). Tests run as root, whom no
    # mode stops: a folder in each database file's place makes SQLite say the same.
    config = ROOT.settings()
    files = [config.resolved_event_store_url(context) for context in ROOT.contexts]
    files.append(config.resolved_read_model_url())
    for url in files:
        Path(url.removeprefix("sqlite:///")).mkdir()
    (shop_environment / "dead-letters.sqlite3").mkdir()

    code = cli(command)

    line = _one_line(capsys.readouterr().err)
    assert code == 73, line  # EX_CANTCREAT
    assert line.startswith(
        f"eventualshop: cannot use {shop_environment.absolute()}: unable to open database file; "
    ), line
    assert "--data-dir" in line, line


@pytest.mark.parametrize("command", [["serve"], ["lag"]])
def test_a_shop_sqlite_may_only_read_is_named_with_the_option(
    command: list[str],
    shop_environment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: "the database cannot be reached: attempt to write a readonly database", exit 69, on a
    # shop made read-only (its folder and files). Root writes anyway: a database SQLite opened
    # read-only answers a write as such a file does.
    assert cli(["migrate"]) == 0
    read_only = shop_environment / "readmodels.sqlite3"
    sqlite3.connect(read_only).close()

    def opened_read_only(*_args: object, **_options: object) -> None:
        with contextlib.closing(sqlite3.connect(f"file:{read_only}?mode=ro", uri=True)) as db:
            db.execute("CREATE TABLE written (id INTEGER)")

    monkeypatch.setattr(
        "eventualshop.adapters.event_store_driver.open_event_store", opened_read_only
    )
    if command == ["serve"]:
        command = [*command, "--port", str(closed_port())]  # refused before it listens

    code = cli(command)

    line = _one_line(capsys.readouterr().err)
    assert code == 73, line
    assert line.startswith(
        f"eventualshop: cannot use {shop_environment.absolute()}: "
        "attempt to write a readonly database; "
    ), line
    assert "--data-dir" in line, line


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        # Was: "eventualshop: IndexError: list index out of range" (pika's parser), exit 1.
        ("EVENTUALSHOP_RABBITMQ_URL", "not-a-url", "must be amqp://"),
        # Was: "eventualshop: ValueError: Unknown level: 'LOUD'", exit 1.
        ("EVENTUALSHOP_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
    ],
)
def test_serve_names_a_setting_it_cannot_use_in_one_line(
    variable: str,
    value: str,
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv(variable, value)

    code = cli(["serve", "--port", str(closed_port())])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith(f"eventualshop: {variable}: "), line
    assert says in line, line
    assert value not in line.removeprefix(f"eventualshop: {variable}: ").replace(says, ""), line


def test_a_host_it_cannot_listen_on_points_at_the_host_not_the_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: "…: Name or service not known; choose another with --port".
    code = cli(["serve", "--host", "no-such-host.invalid", "--port", str(closed_port())])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith("eventualshop: cannot listen on no-such-host.invalid:"), line
    assert line.endswith("choose another with --host"), line


@pytest.mark.parametrize("base", ["notaurl", "127.0.0.1:8080/functions", "ftp://host/functions"])
def test_dispatch_refuses_a_subscriber_base_that_is_no_url_before_it_consumes(
    base: str, tmp_path: Path
) -> None:
    # Was: "dispatching 28 triggers … to notaurl/…": every delivery failed and, after its
    # retries, every event became a dead letter. A process of its own, with a RabbitMQ that does
    # not answer: the old code consumed (or retried) for ever, which fails here, not hangs.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTUALSHOP_")}
    env |= {
        "EVENTUALSHOP_DATA_DIR": str(tmp_path),
        "EVENTUALSHOP_RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{closed_port()}/",
    }
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("eventualshop")),
            "dispatch",
            "--subscriber-base",
            base,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    line = _one_line(done.stderr)
    assert done.returncode == 2, line
    assert line.startswith("eventualshop: --subscriber-base takes the functions' URL prefix"), line


def test_dispatch_refuses_a_prefetch_of_no_limit(capsys: pytest.CaptureFixture[str]) -> None:
    # Was: accepted; 0 is RabbitMQ's "no limit", every queued event in flight at once. (The
    # parser alone: the old code went on to consume, which a test must not wait for.)
    with pytest.raises(SystemExit) as refused:
        parser((USERS,)).parse_args(["dispatch", "--prefetch", "0"])

    assert refused.value.code == 2
    assert "--prefetch: '0' is not a whole number of 1 or more" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "runs"),
    [
        (["dispatch"], "eventualshop.runtime.broker.rabbitmq.RabbitMqDispatcher.run"),
        (["project"], "eventualshop.runtime.projecting.run"),
    ],
)
def test_what_a_command_run_as_a_service_logs_is_one_json_object_per_line(
    command: list[str],
    runs: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: only ``serve`` installed the JSON handler, so ``dispatch`` (the OpenFaaS dispatcher's
    # Deployment) and ``project`` logged their retries, dead letters and lost connections in
    # Python's plain format, a traceback over many lines.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])

    def running(*_args: object) -> None:
        logging.getLogger("eventualshop.probe").warning("a first line\nand a second")

    monkeypatch.setattr(runs, running)

    assert cli(command) == 0

    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert json.loads(lines[0])["message"] == "a first line\nand a second"


#: Loggers of each kind a service's log carries: the shop's, gunicorn's, a library held quiet.
LOGGERS = ("eventualshop.probe", "gunicorn.error", "pymongo")


@pytest.fixture
def logging_put_back(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The loggers ``serve``'s gunicorn configures, as they were: its configuration replaces
    their handlers and levels for the process."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    loggers = [logging.getLogger(name) for name in (*LOGGERS, "gunicorn.access", *QUIET_LEVELS)]
    before = [(lg, lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    yield
    for logger, level, handlers, propagate in before:
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.setLevel(level)


def _log_at_every_level() -> None:
    for name in LOGGERS:
        for level in (logging.INFO, logging.WARNING, logging.ERROR):
            logging.getLogger(name).log(level, "%s at %s", name, logging.getLevelName(level))


def _serving_as_gunicorn_logs(server: ShopServer) -> None:
    from gunicorn.glogging import Logger

    Logger(server.cfg)  # the logging gunicorn's arbiter sets up from the server's options
    _log_at_every_level()


@pytest.mark.parametrize(
    ("command", "runs"),
    [
        (["serve", "--port", "0"], "eventualshop.runtime.server.ShopServer.run"),
        (["dispatch"], "eventualshop.runtime.broker.rabbitmq.RabbitMqDispatcher.run"),
        (["project"], "eventualshop.runtime.projecting.run"),
    ],
    ids=["serve", "dispatch", "project"],
)
@pytest.mark.usefixtures("logging_put_back")
def test_a_command_run_as_a_service_logs_at_the_level_the_settings_say(
    command: list[str],
    runs: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: ``serve`` with EVENTUALSHOP_LOG_LEVEL=ERROR logged the shop's WARNING and INFO lines
    # and gunicorn's INFO lines (its logging configuration fixed the level at INFO), and every
    # command a library's WARNING lines (held at WARNING, whatever the level).
    monkeypatch.setenv("EVENTUALSHOP_LOG_LEVEL", "error")
    if command[0] == "serve":
        command = ["serve", "--port", str(closed_port())]
        monkeypatch.setattr(runs, _serving_as_gunicorn_logs)
    else:
        monkeypatch.setattr(runs, lambda *_: _log_at_every_level())

    assert cli(command) == 0

    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert [(entry["logger"], entry["level"]) for entry in logged] == [
        (name, "ERROR") for name in LOGGERS
    ], logged


def test_a_command_that_prints_what_it_did_prints_no_log_lines(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # ``migrate`` says per context what it did; Alembic's own INFO lines stay out of it.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])

    assert cli(["migrate"]) == 0
    first = capsys.readouterr()
    assert cli(["migrate"]) == 0
    again = capsys.readouterr()

    # It said "is up to date" of a store it had just created, the same as of one it left alone.
    assert "migrated (applied 0001, 0002, 0003, 0004, 0006, 0007)" in first.out, first.out
    assert "was up to date" not in first.out, first.out
    assert "migrated" not in again.out, again.out
    assert "was up to date" in again.out, again.out
    assert "Running upgrade" not in first.out + first.err
    assert "migrated the" not in first.out + first.err  # the log line, not printed here


@pytest.mark.parametrize("command", [["check"], ["migrate"], ["lag"]], ids=" ".join)
def test_a_reader_that_stops_reading_ends_the_command_quietly(
    command: list[str], tmp_path: Path
) -> None:
    # Was: ``eventualshop migrate | head -1`` said "eventualshop: BrokenPipeError: [Errno 32]
    # Broken pipe". A process of its own, its standard output a pipe whose reader is gone
    # before it writes.
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTUALSHOP_")}
    env["EVENTUALSHOP_DATA_DIR"] = str(tmp_path)
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("eventualshop")), *command],
            env=env,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)

    assert done.stderr == ""
    assert done.returncode == 1  # as Python's "Note on SIGPIPE" ends


@pytest.mark.parametrize("options", [[], ["--check"]])
def test_deploy_outside_a_checkout_says_where_to_run_it_and_writes_nothing(
    options: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: it wrote the whole tree there (578 files: knative/, stack.yml, a
    # Dockerfile, ...) or, with --check, called every one of them out of date.
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    code = cli(["deploy", *options])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert "pyproject.toml" in line, line
    assert list(elsewhere.iterdir()) == []


def test_a_broker_that_refuses_the_connection_is_one_line_saying_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: "eventualshop: the broker cannot be reached: " and nothing after it: pika's
    # AMQPConnectionError has no words of its own, its cause is an argument.
    # Through the environment, which monkeypatch restores (the command line's options are
    # written into os.environ, where later tests' subprocesses would find them).
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv(
        "EVENTUALSHOP_RABBITMQ_URL", f"amqp://guest:s3cret@127.0.0.1:{closed_port()}/%2F"
    )
    monkeypatch.setenv("EVENTUALSHOP_PORT", str(closed_port()))

    code = cli(["serve"])

    line = _one_line(capsys.readouterr().err)
    assert code == 69, line
    assert line == "eventualshop: the broker cannot be reached: [Errno 111] Connection refused", (
        line
    )


def test_a_sweep_that_could_not_publish_says_why_and_what_is_left(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Was: "published 0 pending events", exit 0, with an event pending and the broker down.
    url = f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F"
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv("EVENTUALSHOP_RABBITMQ_URL", url)
    ROOT.reconfigure()
    cart = CreateCart(cart_id=uuid.uuid4(), customer_id=uuid.uuid4(), currency="USD")
    assert ROOT.service("shopping-cart").handle(cart).accepted  # committed, not published
    ROOT.reset()
    capsys.readouterr()

    code = cli(["sweep"])

    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert code == 69, line
    assert line == "eventualshop: the broker cannot be reached: [Errno 111] Connection refused"
    assert "published" not in captured.out, captured.out
    # The broker's line is the command's one line: the relay's outage line ("publishing failed:
    # … go out when it works", on stderr through logging's last resort) said it again before it.
    ours = [r for r in caplog.records if r.name.startswith("eventualshop")]
    warned = [r.getMessage() for r in ours if r.levelno >= logging.WARNING]
    assert warned == [], warned


def test_a_sweep_says_what_it_published(
    rabbitmq_url: str,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exchange = f"cli-sweep-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv("EVENTUALSHOP_RABBITMQ_URL", rabbitmq_url)
    monkeypatch.setenv("EVENTUALSHOP_BROKER_EXCHANGE", exchange)
    ROOT.reconfigure()
    cart = CreateCart(cart_id=uuid.uuid4(), customer_id=uuid.uuid4(), currency="USD")
    assert ROOT.service("shopping-cart").handle(cart).accepted
    ROOT.reset()
    try:
        assert cli(["sweep"]) == 0
    finally:
        with amqp.channel(rabbitmq_url) as channel:
            channel.exchange_delete(exchange)

    assert capsys.readouterr().out.strip() == "published 1 pending events"


def test_an_embedded_sweep_says_that_serve_delivers_what_it_could_not(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Was: "published 0 pending events" with an event pending, as if nothing were.
    cart = CreateCart(cart_id=uuid.uuid4(), customer_id=uuid.uuid4(), currency="USD")
    assert ROOT.service("shopping-cart").handle(cart).accepted
    ROOT.reset()

    assert cli(["sweep"]) == 0

    said = capsys.readouterr().out.strip()
    assert said.startswith("published 0 events; 1 wait for `eventualshop serve`"), said
    # Not an outage: this process has no broker. It also said "publishing failed: no broker
    # configured for this process; the events stay in the outbox and go out when it works".
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert get_cart_details(ROOT.read_model_store(), cart.cart_id) is not None  # projected


@pytest.mark.parametrize(
    "command",
    [["lag"], ["rebuild"], ["sweep"], ["dead-letters", "list"], ["users", "claim-emails"]],
    ids=" ".join,
)
def test_a_command_that_reads_a_shop_refuses_a_data_dir_that_does_not_exist(
    shop_environment: Path,
    tmp_path: Path,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: a mistyped --data-dir made the folder and empty stores in it, and ``lag`` reported
    # every projection 0 events behind, exit 0: a healthy shop, which it was not.
    typo = tmp_path / "no-such-shop"

    code = cli([*command, "--data-dir", str(typo)])

    line = _one_line(capsys.readouterr().err)
    assert code == 66, line
    assert str(typo) in line
    assert "--data-dir" in line
    assert not typo.exists()


def test_serve_without_auto_migration_refuses_a_store_that_was_never_migrated(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: the shop started, and every request answered 503 "the database cannot be reached",
    # its log alone saying "no such table".
    monkeypatch.setenv("EVENTUALSHOP_AUTO_MIGRATE", "false")
    from eventualshop.runtime.server import ShopServer

    def serving(_: object) -> None:  # got this far: it would have served
        raise AssertionError("serve started on a store that was never migrated")

    monkeypatch.setattr(ShopServer, "run", serving)

    code = cli(["serve", "--port", str(closed_port())])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert "is not migrated" in line
    assert "eventualshop migrate" in line
    assert cli(["migrate"]) == 0
    from eventualshop.runtime.cli import _require_migrated

    _require_migrated(ROOT, ROOT.settings())  # migrated: nothing to say


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("EVENTUALSHOP_AUTO_MIGRATE", "false", "is not migrated"),
        # A context's own setting, read after the cart's hook had made its key.
        ("EVENTUALSHOP_IDENTITY_ACCESS_TOKEN_SECONDS", "5", "ACCESS_TOKEN_SECONDS"),
        ("EVENTUALSHOP_WAREHOUSE_RESERVATION_TIME", "soon", "RESERVATION_TIME"),
    ],
)
def test_a_refused_start_makes_nothing_in_the_data_folder(
    variable: str,
    value: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: exit 2 with the right line, after making the folder and shopping-cart-card-token.key
    # in it (the contexts' hooks ran before the later checks, the cart's first).
    monkeypatch.delenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY")  # the embedded shop makes it
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(ShopServer, "run", _never_listens)
    folder = tmp_path / "shop"

    code = cli(["serve", "--data-dir", str(folder), "--port", str(closed_port())])

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert says in line, line
    assert not folder.exists()


def test_a_start_that_is_not_refused_keeps_the_card_token_key_in_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The contexts' settings are checked with a throw-away folder first; the real start still
    # keeps the key where the shop's data is, and uses it.
    from eventualshop.shopping_cart.payment_methods import current_card_token_key

    monkeypatch.delenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY")
    used: list[bytes] = []
    monkeypatch.setattr(ShopServer, "run", lambda _: used.append(current_card_token_key()))
    folder = tmp_path / "shop"

    code = cli(["serve", "--data-dir", str(folder), "--port", str(closed_port())])

    assert code == 0, capsys.readouterr().err
    assert used == [(folder / "shopping-cart-card-token.key").read_bytes()]


#: Every command that opens the shop's stores but ``serve`` (above) and ``migrate``.
OPENING_THE_STORES = [
    ["lag"],
    ["sweep"],
    ["rebuild"],
    ["project"],
    ["dispatch"],
    ["dead-letters", "list"],
    ["users", "claim-emails"],
    ["users", "create-admin", "--email", "admin@example.com"],
]


@pytest.mark.parametrize("command", OPENING_THE_STORES, ids=" ".join)
def test_without_auto_migration_every_command_refuses_a_store_never_migrated(
    command: list[str],
    shop_environment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: exit 1 with ``ProgrammingError: relation "events" does not exist`` (lag, sweep,
    # rebuild, project), or "no dead letters" and "claimed 0 emails", exit 0, after making the
    # tables of dead letters and read models the setting had left to ``migrate``.
    monkeypatch.setenv("EVENTUALSHOP_AUTO_MIGRATE", "false")
    monkeypatch.setenv("EVENTUALSHOP_ADMIN_PASSWORD", ADMIN_PASSWORD)
    ran: list[str] = []  # the services' loops: a test must not wait for them
    monkeypatch.setattr("eventualshop.runtime.projecting.run", lambda *_: ran.append("project"))
    monkeypatch.setattr(
        "eventualshop.runtime.broker.rabbitmq.RabbitMqDispatcher.run",
        lambda *_: ran.append("dispatch"),
    )

    code = cli(command)

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert "is not migrated, and EVENTUALSHOP_AUTO_MIGRATE is false" in line, line
    assert line.endswith("run `eventualshop migrate` first"), line
    assert ran == []
    assert list(shop_environment.iterdir()) == []  # no store made, no table created
    # migrate still migrates, and then the command runs.
    assert cli(["migrate"]) == 0
    capsys.readouterr()
    assert cli(command) == 0, capsys.readouterr().err


def test_a_store_that_does_not_answer_is_not_called_unmigrated(
    shop_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check of migrations lets the driver's error through, which ``main`` words as "the
    database cannot be reached" (exit 69): it said "run eventualshop migrate" to an operator
    whose database was down."""
    from eventualshop.runtime.cli import _require_migrated

    down = f"postgresql://postgres@127.0.0.1:{closed_port()}/eventualshop"
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", down)
    ROOT.reset()
    import sqlalchemy as sa

    with pytest.raises(sa.exc.OperationalError, match=r"(?i)refused|connect"):
        _require_migrated(ROOT, ROOT.settings())  # main words it "cannot be reached", exit 69


@pytest.mark.parametrize("command", [["migrate"], ["lag"], ["serve"]], ids=" ".join)
def test_a_database_the_server_does_not_have_is_a_url_to_correct_not_a_wait(
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    postgres_admin_url: Any,
) -> None:
    # Was: "the database cannot be reached: … FATAL: database "x" does not exist", exit 69
    # (EX_UNAVAILABLE: try again later), which no wait fixes.
    name = f"eventualshop_no_such_{uuid.uuid4().hex[:8]}"
    url = postgres_admin_url.set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", url)
    monkeypatch.setattr(ShopServer, "run", _never_listens)
    if command == ["serve"]:
        command = [*command, "--port", str(closed_port())]

    code = cli(command)

    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith("eventualshop: the PostgreSQL server at 127.0.0.1:"), line
    assert f'has no database "{name}": create it' in line, line
    assert "--event-store-url" in line, line


def test_a_password_in_the_store_urls_query_is_not_printed(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    postgres_url: Any,
) -> None:
    # Was: "event store at postgresql://postgres@…/x?password=QuerySecret99 was up to date"
    # (libpq takes the password from the query too; only the user part's was hidden).
    url = postgres_url.render_as_string(hide_password=False) + "?password=QuerySecret99"
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", url)

    assert cli(["migrate"]) == 0

    captured = capsys.readouterr()
    assert "event store at postgresql" in captured.out, captured.out
    assert "password=***" in captured.out
    assert "QuerySecret99" not in captured.out + captured.err


def test_the_banner_names_the_stores_the_shop_runs_on(
    monkeypatch: pytest.MonkeyPatch, postgres_url: Any
) -> None:
    from eventualshop.runtime.cli import banner

    # Was "(broker: inprocess, data: var)" for a shop whose stores were all on PostgreSQL, and
    # "http://::1:8080" for an IPv6 host.
    url = postgres_url.render_as_string(hide_password=False) + "?password=S3cretInQuery"
    monkeypatch.setenv("EVENTUALSHOP_EVENT_STORE_URL", url)
    monkeypatch.setenv("EVENTUALSHOP_READ_MODEL_URL", url)
    monkeypatch.setenv("EVENTUALSHOP_HOST", "::1")
    ROOT.reset()

    shown = banner(ROOT, ROOT.settings())

    assert shown.startswith("http://[::1]:8080  (broker: inprocess, postgresql"), shown
    assert "data:" not in shown
    assert "S3cretInQuery" not in shown


def test_dispatch_stops_cleanly_on_sigterm(tmp_path: Path, rabbitmq_url: str) -> None:  # noqa: F811
    # Was: killed by the signal (status 143) in the middle of its deliveries, so RabbitMQ
    # delivered again what had already been handed over. A process of its own, on an exchange
    # of its own, whose queues are deleted afterwards.
    import os
    import signal
    import subprocess
    import sys

    exchange = f"test-sigterm-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTUALSHOP_")}
    env |= {
        "EVENTUALSHOP_DATA_DIR": str(tmp_path),
        "EVENTUALSHOP_RABBITMQ_URL": rabbitmq_url,
        "EVENTUALSHOP_BROKER_EXCHANGE": exchange,
        "EVENTUALSHOP_DELIVERY_KEY": "a-delivery-key-for-these-tests-only",
    }
    assert cli(["migrate", "--data-dir", str(tmp_path)]) == 0
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("eventualshop")), "dispatch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("dispatching "), process.stderr
        _consuming(rabbitmq_url, amqp.trigger_queue(exchange, _a_trigger()))
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
        _delete_dispatch_queues(rabbitmq_url, exchange)

    assert code == 0, process.stderr.read() if process.stderr else ""


def _a_trigger() -> str:
    return next(s.name for f in ROOT.functions for s in f.subscriptions)


def _consuming(url: str, queue: str) -> None:
    """Wait until the dispatcher consumes from ``queue`` (RabbitMQ counts its consumer)."""

    def consumed() -> None:
        with contextlib.suppress(pika.exceptions.ChannelClosedByBroker), amqp.channel(url) as chan:
            if chan.queue_declare(queue, passive=True).method.consumer_count:
                return
        raise AssertionError(f"nothing consumes from {queue}")

    eventually(consumed, timeout=15)


def _delete_dispatch_queues(url: str, exchange: str) -> None:
    subscriptions = [s for f in ROOT.functions for s in f.subscriptions]
    with amqp.channel(url) as channel:
        for subscription in subscriptions:
            queue = amqp.trigger_queue(exchange, subscription.name)
            for name in {queue, *amqp.retry_queues(queue, subscription)}:
                channel.queue_delete(name)
        channel.exchange_delete(exchange)


@pytest.mark.parametrize("chosen", [[], ["1"], ["--trigger", "identity-user-details"]])
def test_a_replay_with_the_broker_down_is_one_line_saying_so(
    chosen: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: without ids, one warning per trigger in pika's nested words, then "replayed 0 dead
    # letters", exit 0; with ids, exit 2, a mistake, "its reason in … list says why".
    from datetime import UTC, datetime

    from eventualshop.runtime.broker.deadletters import DeadLetter

    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv(
        "EVENTUALSHOP_RABBITMQ_URL", f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F"
    )
    ROOT.reconfigure()
    attributes = {"specversion": "1.0", "id": "e-1", "source": "/s", "type": "t"}
    letter = DeadLetter(
        trigger="identity-user-details",
        event_id="e-1",
        event_type="t",
        attributes=attributes,
        data=b"{}",
        reason="status 401",
        attempts=1,
        dead_at=datetime.now(UTC),
    )
    assert ROOT.dead_letter_store().add(letter) == 1
    ROOT.reset()

    code = cli(["dead-letters", "replay", *chosen])

    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert code == 69, line
    assert line == "eventualshop: the broker cannot be reached: [Errno 111] Connection refused"
    assert "replayed" not in captured.out, captured.out
    assert [dead.id for dead in ROOT.dead_letter_store().list()] == [1]  # still to replay


def test_an_amqps_url_to_a_plain_port_is_the_brokers_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Was: "eventualshop: SSLError: [SSL: WRONG_VERSION_NUMBER] …", exit 1 (the shop's own
    # fault), naming no broker: pika let the handshake's ssl.SSLError through as it was.
    plain = socket.socket()  # answers the TLS hello with bytes that are no TLS record
    plain.bind(("127.0.0.1", 0))
    plain.listen(1)
    port = plain.getsockname()[1]

    def answer() -> None:
        with contextlib.suppress(OSError):
            connection, _ = plain.accept()
            with connection:
                connection.recv(1024)
                connection.sendall(b"AMQP\x00\x00\x09\x01")  # what RabbitMQ's plain port says

    import threading

    server = threading.Thread(target=answer, daemon=True)
    server.start()
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")
    monkeypatch.setenv("EVENTUALSHOP_RABBITMQ_URL", f"amqps://guest:guest@127.0.0.1:{port}/%2F")
    monkeypatch.setenv("EVENTUALSHOP_PORT", str(closed_port()))
    try:
        code = cli(["serve"])
    finally:
        plain.close()

    line = _one_line(capsys.readouterr().err)
    assert code == 69, line
    assert line.startswith("eventualshop: the broker cannot be reached: "), line
    assert "SSL" in line, line


def _refused(working: str, how: str) -> str:
    """The machine's RabbitMQ URL with a password it refuses, or a vhost it does not have."""
    parts = urllib.parse.urlsplit(working)
    host = f"{parts.hostname}:{parts.port or 5672}"
    if how == "login":
        return f"amqp://{parts.username}:not-s3cret@{host}/%2F"
    return f"amqp://{parts.username}:{parts.password}@{host}/outg_no_such_vhost"


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("login", "RabbitMQ at {host} refused the login for user 'guest'"),
        ("vhost", "RabbitMQ at {host} has no vhost 'outg_no_such_vhost'"),
    ],
)
def test_a_broker_that_refuses_the_login_or_has_no_such_vhost_says_so_in_one_line(
    how: str,
    said: str,
    rabbitmq_url: str,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Was: "eventualshop: the broker cannot be reached: Client was disconnected at a connection
    # stage indicating a probable authentication error: (\"ConnectionClosedByBroker: (403) …",
    # sending the operator to the network.
    url = _refused(rabbitmq_url, how)
    parts = urllib.parse.urlsplit(url)
    monkeypatch.setenv("EVENTUALSHOP_RABBITMQ_URL", url)
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "rabbitmq")

    code = cli(["serve", "--port", str(closed_port())])

    line = _one_line(capsys.readouterr().err)
    assert code == 69, line  # as PostgreSQL's refused login: EX_UNAVAILABLE
    expected = said.format(host=f"{parts.hostname}:{parts.port}")
    assert line.startswith(f"eventualshop: {expected}"), line
    assert "cannot be reached" not in line, line
    assert "s3cret" not in line, line
    assert "ConnectionClosedByBroker" not in line, line
