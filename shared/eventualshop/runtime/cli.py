"""``eventualshop``: run the shop locally, drive a demo, migrate, sweep and manage dead letters.

Every failure a user can cause ends in one line on stderr saying what to fix, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventualshop.runtime.root import Root

EXIT_USAGE = 2
#: A store or the broker does not answer (``EX_UNAVAILABLE`` of sysexits.h): try again later.
EXIT_UNAVAILABLE = 69
#: The shop a command is to read is not there (``EX_NOINPUT``).
EXIT_NO_SHOP = 66
#: A file or folder the command needs cannot be made or used (``EX_CANTCREAT``).
EXIT_CANTCREAT = 73


class CliError(Exception):
    """A problem the user can fix; printed as one line, then the command exits with ``status``."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def given_variable(variable: str) -> str | None:
    """``variable``, or the file its ``_FILE`` variable names; one line if that cannot be read."""
    from eventualshop.kernel.environment import UnreadableFile, given

    value = given(os.environ, variable)
    if isinstance(value, UnreadableFile):
        raise CliError(value.said())
    return value


@dataclass(frozen=True)
class SystemCommand:
    """A command the composed system adds to ``eventualshop``, beside the runtime's own
    (Identity's ``users``): it shares their parser and their one-line failures, and the runtime
    still names no context.

    ``arguments`` declares its options on its own sub-parser (``--data-dir``,
    ``--event-store-url`` and ``--read-model-url`` set the settings as they do for ``serve``);
    ``run`` raises :class:`CliError` for what the user can fix, and anything else it raises ends
    in the same one line as the runtime's commands."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Root], None]


def _apply_overrides(args: argparse.Namespace, root: Root) -> dict[str, str]:
    """Set the variables the options stand for; returns variable -> the option that set it."""
    # Settings are read from the environment once; options are just a shorter way to set them.
    given: dict[str, str] = {}
    for option, variable in (
        ("data_dir", "EVENTUALSHOP_DATA_DIR"),
        ("event_store_url", "EVENTUALSHOP_EVENT_STORE_URL"),
        ("read_model_url", "EVENTUALSHOP_READ_MODEL_URL"),
        ("broker", "EVENTUALSHOP_BROKER"),
        ("rabbitmq_url", "EVENTUALSHOP_RABBITMQ_URL"),
        ("host", "EVENTUALSHOP_HOST"),
        ("port", "EVENTUALSHOP_PORT"),
    ):
        value = getattr(args, option, None)
        if value is not None:
            os.environ[variable] = str(value)
            given[variable] = "--" + option.replace("_", "-")
    if given:
        # Read again what was read before. Only then: the same process may be serving the shop
        # (a test, the demo), whose stores and broker a reset would close under it.
        root.reset()
    return given


def _as_given(line: str, given: dict[str, str]) -> str:
    """``line`` naming the option the user typed where it names the variable that option set:
    a setting's line starts with its variable (``EVENTUALSHOP_PORT: …``), which the user of
    ``serve --port 99999`` never wrote."""
    for variable, option in given.items():
        if line.startswith(f"{variable}: "):
            return f"{option}: {line.removeprefix(f'{variable}: ')}"
    return line


def checked_settings(root: Root) -> Any:
    """The settings; one line naming the variable when one is unusable."""
    problem = root.settings_problem()
    if problem is not None:
        raise CliError(problem)
    return root.settings()


def migrated_stores(root: Root) -> Any:
    """The settings of a command that opens the shop's stores. With migrations left to
    ``eventualshop migrate`` (``EVENTUALSHOP_AUTO_MIGRATE`` false), an event store never
    migrated is refused in one line, as ``serve`` refuses it, before anything is opened: the
    other commands failed on the missing table, or made the tables of dead letters and read
    models the setting had left to ``migrate``, and answered as if for an empty shop."""
    return _migrated(root, checked_settings(root))


def _migrated(root: Root, config: Any) -> Any:
    """``config``, once every event store is found migrated where migrating is left to
    ``eventualshop migrate``."""
    if not config.auto_migrate:
        _require_migrated(root, config)
    return config


def store_urls(root: Root, config: Any) -> list[str]:
    """The URL of every store the shop's contexts open: each event store, then the read models'."""
    return [config.resolved_event_store_url(c) for c in root.contexts] + [
        config.resolved_read_model_url()
    ]


def existing_shop(root: Root) -> Any:
    """The settings of a shop that is there. The commands that read one (``lag``, ``rebuild``,
    ``sweep``, ``dead-letters``) made its embedded stores wherever a mistyped ``--data-dir``
    pointed, and reported that empty shop healthy; those that may start one (``serve``,
    ``migrate``, ``users``) make it."""
    config = checked_settings(root)
    data_dir = Path(config.data_dir)
    inside = f"sqlite:///{data_dir}/"  # an embedded store's URL (``Settings.resolved_…``)
    if any(url.startswith(inside) for url in store_urls(root, config)) and not data_dir.exists():
        raise CliError(
            f"no shop in {data_dir.absolute()}: the folder does not exist (--data-dir, "
            "EVENTUALSHOP_DATA_DIR: the one `eventualshop serve` was given)",
            EXIT_NO_SHOP,
        )
    return _migrated(root, config)


def _logging_as_a_service(config: Any) -> None:
    """The commands that run as services (``serve``, and ``dispatch`` and ``project``, which an
    operator runs beside it or as a Deployment) log one JSON object per line, as a deployed
    function does, at the settings' ``EVENTUALSHOP_LOG_LEVEL``. The others print what they did
    themselves."""
    from eventualshop.runtime.logs import configure_logging

    configure_logging(level=config.log_level)


def serve(_args: argparse.Namespace, root: Root) -> None:
    from eventualshop.runtime.server import PortTaken, ShopServer, check_port

    config = checked_settings(root)
    _logging_as_a_service(config)
    from eventualshop.runtime.auth import keys_problem, own_key_problem

    # A key that could neither sign nor verify a token, or a JWKS without the shop's own key.
    unusable = keys_problem() or own_key_problem()
    if unusable is not None:
        raise CliError(unusable)
    if config.broker == "knative" and not config.knative_sink:
        # The shop would take commands and publish none of their events (a warning, then one
        # failed relay pass per command). A deployed function without one is unready instead.
        raise CliError(
            "EVENTUALSHOP_BROKER is knative, but K_SINK is not set: set it to the broker's "
            "ingress URL, or run with EVENTUALSHOP_BROKER=rabbitmq or inprocess"
        )
    # A missing setting stops the shop before it listens. The hooks make nothing: the cart's
    # kept key is made on first use, so a start refused below leaves no folder behind.
    root.configure_contexts()
    try:
        check_port(config.host, config.port)
    except PortTaken as error:
        raise CliError(str(error)) from None
    _migrated(root, config)
    _reach_dependencies(root, config)
    print(f"EventualShop on {banner(root, config)}", flush=True)
    ShopServer(root, config.host, config.port, log_level=config.log_level).run()


def banner(root: Root, config: Any) -> str:
    """Where the shop listens and what it runs on: the data folder only where a store is in it
    (it said "data: var" for a shop on PostgreSQL), URLs without their secrets."""
    from eventualshop.runtime.server import address
    from eventualshop.runtime.urls import shown

    stores = set(store_urls(root, config))
    inside = f"sqlite:///{config.data_dir}/"
    where = [f"data: {config.data_dir}"] if any(u.startswith(inside) for u in stores) else []
    where += sorted(shown(u) for u in stores if not u.startswith(inside))
    listens = address(config.host, config.port)
    return f"http://{listens}  (broker: {config.broker}, {', '.join(where)})"


def _reach_dependencies(root: Root, config: Any) -> None:
    """Open what the server's worker opens first (every event store, migrated; the read-model
    store; RabbitMQ), then let go of it before gunicorn forks. A store or a broker that does not
    answer is then one line (:func:`main`'s) before the shop listens, instead of a worker that
    fails to boot with a traceback after "Listening at"."""
    try:
        for context in root.contexts:
            root.event_store(context)
        root.read_model_store().get("readiness", "_")
        if config.broker == "rabbitmq":
            from eventualshop.runtime.broker.amqp import connect

            connect(config.rabbitmq_url).close()
    finally:
        root.reset()  # connections must not cross the fork


def _require_migrated(root: Root, config: Any) -> None:
    """With migrations left to ``eventualshop migrate``, every event store must have had them:
    the shop started, and the first request said the database could not be reached (503), the
    log alone naming the missing table. A store that does not answer says so (``main``'s line),
    and one a later release migrated is taken as it is."""
    from eventualshop.adapters.database import create_engine, needs_migration

    checked: set[str] = set()
    for context in root.contexts:
        url = config.resolved_event_store_url(context)
        if url in checked:
            continue
        checked.add(url)
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
        if path is None or Path(path).exists():  # an SQLite file is not made just to look
            engine = create_engine(url)
            try:
                behind = needs_migration(engine)
            finally:
                engine.dispose()
            if not behind:
                continue
        from eventualshop.runtime.urls import shown

        raise CliError(
            f"the {context} event store at {shown(url)} is not migrated, and "
            "EVENTUALSHOP_AUTO_MIGRATE is false: run `eventualshop migrate` first"
        )


def demo(args: argparse.Namespace, root: Root) -> None:
    if root.demo is None:
        raise CliError("this system has no demo")
    named = [o for o in ("data_dir", "event_store_url", "read_model_url") if getattr(args, o)]
    if named and args.url is None:
        option = "--" + named[0].replace("_", "-")
        raise CliError(
            f"{option} names a running shop's stores: give its --url too (without --url the demo "
            "runs a shop of its own on throw-away data)"
        )
    root.demo(args.url, root)


def migrate(_args: argparse.Namespace, root: Root) -> None:
    from eventualshop.adapters.database import migrate as run_migrations
    from eventualshop.runtime.urls import shown

    config = checked_settings(root)
    for context in root.contexts:
        url = config.resolved_event_store_url(context)
        applied = run_migrations(url)
        done = f"migrated (applied {', '.join(applied)})" if applied else "was up to date"
        print(f"{context}: event store at {shown(url)} {done}")


#: How many pending events ``sweep`` counts at most after its drain.
PENDING_SHOWN = 1000


def sweep(_args: argparse.Namespace, root: Root) -> None:
    config = existing_shop(root)
    # With RabbitMQ, a failure to publish is this command's own one line (below); the relay's
    # outage line, meant for a service's log, said it again before it.
    with _relay_unlogged() if config.broker == "rabbitmq" else contextlib.nullcontext():
        published = root.sweep()
    left = sum(len(relay.store.pending_outbox(PENDING_SHOWN)) for relay in root.relays())
    if left and config.broker == "rabbitmq":
        # A drain stops quietly at the broker's first failure (the next sweep goes on); here a
        # person asked, and "published 0" would hide why. Unreachable: main's one line, 69.
        from eventualshop.runtime.broker.amqp import connect

        connect(config.rabbitmq_url).close()
    if not left:
        print(f"published {published} pending events")
        return
    count = f"{left}+" if left >= PENDING_SHOWN else str(left)
    if config.broker == "inprocess":
        # This process has no broker of its own: the in-process one lives in `serve`.
        print(
            f"published {published} events; {count} wait for `eventualshop serve`, whose "
            "in-process broker delivers them (the read models have them already)"
        )
    else:
        print(f"published {published} events; {count} still pending, for the next sweep")


@contextlib.contextmanager
def _relay_unlogged() -> Iterator[None]:
    """The outbox relay's lines left out while the block runs."""
    import logging

    relay = logging.getLogger("eventualshop.kernel.outbox")
    was, relay.disabled = relay.disabled, True
    try:
        yield
    finally:
        relay.disabled = was


def dead_letters(args: argparse.Namespace, root: Root) -> None:
    from eventualshop.runtime.broker.deadletters import DeadLetterNotFound, ReplayError

    if args.action == "list" and args.ids:
        # Ids choose what replay sends again; list took them and listed every dead letter.
        ids = " ".join(map(str, args.ids))
        raise CliError(
            f"dead-letters list takes no ids (dead-letters replay {ids} replays those); "
            "--trigger and --all choose what it lists"
        )
    config = existing_shop(root)
    store = root.dead_letter_store()
    if args.trigger is not None:
        _check_trigger(args.trigger, root, store)
    if args.action == "replay" and config.broker == "rabbitmq":
        # What a replay sends goes to RabbitMQ: unreachable, main's one line, 69, as for sweep
        # (it was a warning per trigger and "replayed 0 dead letters", exit 0, or with ids
        # exit 2 as if the letter were at fault).
        from eventualshop.runtime.broker.amqp import connect

        connect(config.rabbitmq_url).close()
    if args.action == "list":
        letters = store.list(trigger=args.trigger, include_replayed=args.all)
        for letter in letters:
            summary = {
                "id": letter.id,
                "trigger": letter.trigger,
                "eventId": letter.event_id,
                "eventType": letter.event_type,
                "attempts": letter.attempts,
                "reason": letter.reason,
                "deadAt": letter.dead_at.isoformat(),
                "replayedAt": letter.replayed_at.isoformat() if letter.replayed_at else None,
            }
            print(json.dumps(summary, separators=(",", ":")))
        if not letters:
            print("no dead letters", file=sys.stderr)
        return
    from eventualshop.runtime.local import LocalShop

    shop = LocalShop(root)
    for letter_id in args.ids:
        # A replayed letter is not sent again (its claim is taken): say why nothing went.
        earlier = store.get(letter_id)
        if earlier is not None and earlier.replayed_at is not None:
            print(
                f"eventualshop: dead letter {letter_id} was replayed before, at "
                f"{earlier.replayed_at.isoformat()}; dead-letters list --all shows it",
                file=sys.stderr,
            )
    try:
        replayed = shop.replay(ids=args.ids, trigger=args.trigger)
    except DeadLetterNotFound as error:
        raise CliError(f"{error}; eventualshop dead-letters list shows them") from None
    except ReplayError as error:  # a letter no broker can send (no id, no type): exit 2, not 1
        raise CliError(f"{error}; its reason in eventualshop dead-letters list says why") from None
    print(f"replayed {replayed} dead letters")


def _check_trigger(name: str, root: Root, store: Any) -> None:
    """A trigger nobody has is a typo, not a clean queue: say so, with the nearest names. The
    dead letters of a function since renamed or removed keep their trigger, so those count."""
    import difflib

    names = sorted({s.name for f in root.functions for s in f.subscriptions})
    if name in names or store.list(trigger=name, include_replayed=True, limit=1):
        return
    near = difflib.get_close_matches(name, names, n=2)
    hint = f"did you mean {' or '.join(near)}?" if near else f"e.g. {', '.join(names[:2])}"
    raise CliError(f"no trigger {name}; a trigger is named after the function it feeds, {hint}")


def deploy(args: argparse.Namespace, root: Root) -> None:
    from eventualshop.runtime.deploy import main as generate_artefacts

    if not _a_checkout(Path.cwd()):
        # The artefacts are a checkout's files (knative/, stack.yml, the Dockerfile, ...):
        # written anywhere else, they would scatter hundreds of files there.
        raise CliError(
            "deploy writes the deployment artefacts of a checkout of this project: "
            "run it at the checkout's top, where its pyproject.toml is"
        )
    if generate_artefacts(["--check"] if args.check else [], root) != 0:
        raise CliError("deployment artefacts: see above")


def dispatch(args: argparse.Namespace, root: Root) -> None:
    """Deliver RabbitMQ events to the CloudEvent functions over HTTP (the local dispatcher)."""
    import signal

    from eventualshop.runtime.broker.httpclient import HttpPoster
    from eventualshop.runtime.broker.rabbitmq import RabbitMqDispatcher
    from eventualshop.runtime.deliveries import authorization, delivery_key, kept_key_path

    config = migrated_stores(root)  # its dead letters go beside the event stores
    _logging_as_a_service(config)
    base = (args.subscriber_base or f"http://{config.host}:{config.port}/functions").rstrip("/")
    if not is_http_url(base):
        # Every delivery to it would fail, and after its retries each event become a dead letter.
        raise CliError(
            "--subscriber-base takes the functions' URL prefix, such as "
            "http://127.0.0.1:8080/functions"
        )
    kept = kept_key_path(config)
    if config.delivery_key is None and not kept.exists():
        # Made here, it would be a key of its own that no `serve` knows: every delivery a 401,
        # not retried, and every event a dead letter.
        raise CliError(
            f"no delivery key: {kept} does not exist; start `eventualshop serve` with this data "
            "folder first (it makes the key there), or set EVENTUALSHOP_DELIVERY_KEY to the "
            "functions' key"
        )
    triggers = [
        (sub, f"{base}/{spec.name}") for spec in root.functions for sub in spec.subscriptions
    ]
    dispatcher = RabbitMqDispatcher(
        config.rabbitmq_url,
        config.broker_exchange,
        triggers,
        root.dead_letter_store(),
        prefetch=args.prefetch,
        # Every POST carries the key the functions require (``runtime.deliveries``): the
        # configured one, or the one `serve` on the same data folder keeps there.
        poster=HttpPoster(headers=authorization(delivery_key(config))),
    )
    print(f"dispatching {len(triggers)} triggers from {config.broker_exchange} to {base}/…")
    # SIGTERM (a Deployment's stop) and Ctrl-C end the deliveries in flight and their acks, then
    # the process, with status 0: SIGTERM killed it mid-delivery (143), and RabbitMQ delivered
    # again what it had already handed over.
    signal.signal(signal.SIGTERM, lambda *_: dispatcher.stop())
    signal.signal(signal.SIGINT, lambda *_: dispatcher.stop())
    dispatcher.run()


def _a_checkout(folder: Path) -> bool:
    """Whether ``folder`` is the top of a checkout of this project."""
    import tomllib

    try:
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return bool(project.get("project", {}).get("name") == "eventualshop")


def lag(_args: argparse.Namespace, root: Root) -> None:
    """Per projector: the last position applied, the event store's last, and what its own
    streams lack (pitfall 4). The store's last is every stream's: contexts that share a database
    share it, so it stands above the position applied while nothing is behind. Labelled
    "written", it read as the projection's own ("applied 3  written 18  behind 0")."""
    from eventualshop.runtime import admin

    existing_shop(root)
    for item in (i for context in root.contexts for i in admin.lag(root, context)):
        print(
            f"{item.projection:40} applied {item.last_applied_position:>8}  "
            f"store's last {item.last_written_position:>8}  "
            f"behind {item.events_behind} events in {item.aggregates_behind} aggregates"
        )


def project(_args: argparse.Namespace, root: Root) -> None:
    """Every projector in this process, fed from the event stores (``runtime.projecting``),
    until SIGTERM or Ctrl-C."""
    import signal
    import threading

    from eventualshop.runtime import projecting

    _logging_as_a_service(migrated_stores(root))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        projecting.run(root, stop)


def rebuild(args: argparse.Namespace, root: Root) -> None:
    from eventualshop.runtime import admin

    existing_shop(root)
    wanted = list(args.projections) or ["all"]
    known = {name for context in root.contexts for name in admin.rebuild_names(root, context)}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise CliError(
            f"unknown projection {unknown[0]!r}; choose from: {', '.join(sorted(known))}"
        )
    for context in root.contexts:
        if not set(wanted) & set(admin.rebuild_names(root, context)):
            continue
        for report in admin.rebuild(root, context, wanted):
            print(
                f"{report.projection}: {report.events} events replayed, "
                f"{report.documents} documents swapped in"
            )


def check(_args: argparse.Namespace, root: Root) -> None:
    """The model check: the declarations against the domain they name."""
    from eventualshop.runtime.check import check as check_model

    problems = check_model(list(root.contexts.values()), root.functions)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        raise CliError(f"{len(problems)} declaration(s) disagree with the domain: see above")
    print(
        f"{len(root.contexts)} contexts and {len(root.functions)} functions agree with the domain"
    )


def is_http_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL with a host: what an option naming a server takes."""
    address = urllib.parse.urlsplit(text)
    return address.scheme in ("http", "https") and bool(address.hostname)


def _positive(text: str) -> int:
    # 0 would be RabbitMQ's "no limit": every queued event in flight at once.
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def store_options(parser: argparse.ArgumentParser, *, read_models: bool = True) -> None:
    """The options that say which stores a command works on (the settings' variables), the same
    for every command, so the shop ``serve --data-dir X`` runs is the one ``lag --data-dir X``
    reads."""
    parser.add_argument("--data-dir", help="where the embedded SQLite files live (default: var)")
    parser.add_argument("--event-store-url", help="sqlite:///…, postgresql://…, mssql+pyodbc://…")
    if read_models:
        parser.add_argument("--read-model-url", help="sqlite:///…, postgresql://…, mongodb://…")


def broker_options(parser: argparse.ArgumentParser) -> None:
    """Where a command's published events go (``EVENTUALSHOP_BROKER``, ``…_RABBITMQ_URL``)."""
    # In any case, as EVENTUALSHOP_BROKER is taken.
    parser.add_argument("--broker", type=str.lower, choices=["inprocess", "rabbitmq"])
    parser.add_argument("--rabbitmq-url")


def parser(system: Sequence[SystemCommand] = ()) -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="eventualshop", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser("serve", help="start the whole shop on one port")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    store_options(run)
    broker_options(run)
    run.set_defaults(handler=serve)

    show = commands.add_parser("demo", help="drive a scripted cart session over HTTP")
    show.add_argument("--url", help="a running shop (default: start one on a free port)")
    store_options(show)  # with --url: the shop's stores, where the demo makes its admin
    show.set_defaults(handler=demo)

    upgrade = commands.add_parser("migrate", help="create or upgrade every event store")
    store_options(upgrade, read_models=False)
    upgrade.set_defaults(handler=migrate)
    publish = commands.add_parser("sweep", help="publish pending outbox rows now")
    store_options(publish)
    broker_options(publish)
    publish.set_defaults(handler=sweep)

    commands.add_parser("check", help="check the declarations against the domain").set_defaults(
        handler=check
    )
    behind = commands.add_parser("lag", help="how far each projection is behind")
    store_options(behind)
    behind.set_defaults(handler=lag)
    follow = commands.add_parser(
        "project", help="run the projectors in this process, fed from the event stores"
    )
    store_options(follow)
    follow.set_defaults(handler=project)
    again = commands.add_parser("rebuild", help="rebuild read models from the event store")
    again.add_argument("projections", nargs="*", help="projection names (default: all)")
    store_options(again)
    again.set_defaults(handler=rebuild)

    relay = commands.add_parser("dispatch", help="deliver RabbitMQ events to the functions")
    store_options(relay, read_models=False)  # the dead letters live beside the event stores
    relay.add_argument("--rabbitmq-url")
    relay.add_argument("--subscriber-base", help="URL prefix of the functions (…/functions)")
    relay.add_argument(
        "--prefetch", type=_positive, default=10, help="events in flight per trigger (1 or more)"
    )
    relay.set_defaults(handler=dispatch)

    letters = commands.add_parser("dead-letters", help="list or replay dead letters")
    letters.add_argument("action", choices=["list", "replay"])
    letters.add_argument("ids", nargs="*", type=int, help="dead letter ids (replay)")
    letters.add_argument("--trigger", help="only this trigger's dead letters")
    letters.add_argument("--all", action="store_true", help="list replayed ones too")
    store_options(letters)
    broker_options(letters)  # a replayed delivery's function publishes what it writes
    letters.set_defaults(handler=dead_letters)

    artefacts = commands.add_parser(
        "deploy", help="regenerate knative/, stack.yml, Dockerfile, local/docker-compose.yaml"
    )
    artefacts.add_argument("--check", action="store_true", help="fail if any is out of date")
    artefacts.set_defaults(handler=deploy)
    for command in system:
        own = commands.add_parser(command.name, help=command.help)
        command.arguments(own)
        own.set_defaults(handler=command.run)
    return root


def main(argv: Sequence[str] | None, root: Root, system: Sequence[SystemCommand] = ()) -> int:
    """Run one command line against ``root``: the system, composed outside this package, with
    the commands it adds (``system``)."""
    args = parser(system).parse_args(argv)
    given = _apply_overrides(args, root)
    handler: Callable[[argparse.Namespace, Root], None] = args.handler
    try:
        handler(args, root)
        sys.stdout.flush()  # what is still buffered meets a closed pipe here, not at exit
    except BrokenPipeError as error:
        if _stdout_closed():
            _stdout_gone()
            return 1
        # A pipe of another kind (a socket a library let through): a failure like any other.
        print(f"eventualshop: {type(error).__name__}: {_reason(error)}", file=sys.stderr)
        return 1
    except CliError as error:
        print(f"eventualshop: {_as_given(str(error), given)}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # one line, not a traceback
        from eventualshop.runtime.unavailable import misconfiguration, unavailable_dependency

        unwritable = _embedded_store_problem(error, root)  # a file's fault, not a server's
        if unwritable is not None:
            print(f"eventualshop: {unwritable}", file=sys.stderr)
            return EXIT_CANTCREAT
        missing = _missing_database(error)  # the server answers: a URL to correct, not a wait
        if missing is not None:
            print(f"eventualshop: {_as_given(missing, given)}", file=sys.stderr)
            return EXIT_USAGE
        dependency = unavailable_dependency(error)
        refused = _broker_refusal(error) if dependency == "broker" else None
        if refused is not None:  # it answered: the login or the vhost, not the network
            print(f"eventualshop: {refused}", file=sys.stderr)
            return EXIT_UNAVAILABLE  # as PostgreSQL's refused login
        if dependency is not None:
            print(
                f"eventualshop: the {dependency} cannot be reached: {_reason(error)}",
                file=sys.stderr,
            )
            return EXIT_UNAVAILABLE
        wrong = misconfiguration(error)  # a setting missing or unusable: the user's to fix
        if wrong is not None:
            print(f"eventualshop: {_as_given(wrong, given)}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(error, OSError) and error.filename is not None:
            print(f"eventualshop: {_file_problem(error, root)}", file=sys.stderr)
            return EXIT_CANTCREAT
        print(f"eventualshop: {type(error).__name__}: {_reason(error)}", file=sys.stderr)
        return 1
    return 0


def _broker_refusal(error: BaseException) -> str | None:
    """RabbitMQ's refusal of the login or the vhost, in one line (``BrokerRefused``)."""
    from eventualshop.runtime.broker.amqp import refusal

    found = refusal(error)
    return None if found is None else str(found)


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone (poll reports an error on it)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no descriptor to ask (a test's capture)
        return False


def _stdout_gone() -> None:
    """Standard output's reader has gone (``eventualshop migrate | head -1``): stop without a
    word, as Python's "Note on SIGPIPE" does. It was ``eventualshop: BrokenPipeError: [Errno
    32] Broken pipe``. What is left in stdout's buffer then goes to /dev/null, so the
    interpreter's flush at exit does not fail and say so once more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout with no descriptor (a test's capture): no flush
        pass
    finally:
        os.close(devnull)


def _file_problem(error: OSError, root: Root) -> str:
    """A file or folder the command cannot use, and, when it is where the embedded stores go,
    the option that chooses that place."""
    return _cannot_use([Path(str(error.filename))], error.strerror or str(error), root)


def _cannot_use(paths: Sequence[Path], reason: str, root: Root) -> str:
    line = f"cannot use {' or '.join(map(str, paths))}: {reason}"
    try:
        data_dir = Path(root.settings().data_dir).absolute()
    except Exception:  # settings that do not read: the line without the hint
        return line
    if any(p.absolute() == data_dir or data_dir in p.absolute().parents for p in paths):
        line += (
            f"; the embedded stores go in {data_dir} (--data-dir, EVENTUALSHOP_DATA_DIR), "
            "which must be a folder this user may write"
        )
    return line


#: How SQLite says it cannot open a database file or may not write it (``sqlite_errorname``'s
#: beginnings, the extended codes included): its folder's or its file's fault, which the user
#: fixes there, not a server that is down.
_SQLITE_FILE_PROBLEMS = ("SQLITE_CANTOPEN", "SQLITE_READONLY")


def _embedded_store_problem(error: BaseException, root: Root) -> str | None:
    """A folder of SQLite stores the command cannot open or write a database in, in one line
    naming the folder (``None`` for any other error). It was "the database cannot be reached:
    unable to open database file" (exit 69: try again later), which no wait fixes, and SQLite's
    error names no file: the folder is where the settings put the SQLite stores."""
    from eventualshop.runtime.unavailable import causes

    said = next(
        (
            cause
            for cause in causes(error)
            if str(getattr(cause, "sqlite_errorname", "")).startswith(_SQLITE_FILE_PROBLEMS)
        ),
        None,
    )
    if said is None:
        return None
    try:
        config = root.settings()
        urls = store_urls(root, config)
    except Exception:  # settings that do not read: the driver's words, as before
        return None
    inside = "sqlite:///"
    folders = {
        Path(url.removeprefix(inside)).parent.absolute() for url in urls if url.startswith(inside)
    }
    if not config.event_store_url:  # the dead letters' own file (``Root.dead_letter_store``)
        folders.add(Path(config.data_dir).absolute())
    return _cannot_use(sorted(folders), str(said), root)


def _missing_database(error: BaseException) -> str | None:
    """A PostgreSQL server that answered that the store URL's database does not exist, in one
    line saying what to fix (``None`` for any other error). It was "the database cannot be
    reached: … FATAL: database "x" does not exist", exit 69 (try again later), which no wait
    fixes.

    psycopg reports no SQLSTATE for a failure while connecting (libpq keeps only the server's
    message, in the server's language), so 3D000 cannot be read from the error: the server is
    asked instead, on its maintenance database with the same credentials, whether the
    database is in pg_database. Only when it answers that it is not is the failure called a
    mistake; a server that refuses that connection too (the role or the password refused, too
    many connections, starting up) stays "cannot be reached"."""
    from eventualshop.runtime.unavailable import causes

    pgconn = next(
        (
            found
            for cause in causes(error)
            if type(cause).__module__.startswith("psycopg")
            and (found := getattr(cause, "pgconn", None)) is not None
        ),
        None,
    )
    if pgconn is None:
        return None
    import psycopg  # loaded already: the error is its own

    if pgconn.status != psycopg.pq.ConnStatus.BAD:  # BAD: it failed while connecting
        return None
    given = {o.keyword.decode(): o.val.decode() for o in pgconn.info if o.val is not None}
    database = given.get("dbname", "")
    if not database:
        return None
    maintenance = "template1" if database == "postgres" else "postgres"
    try:
        with psycopg.connect(
            **(given | {"dbname": maintenance, "connect_timeout": "3"}), autocommit=True
        ) as asked:
            there = asked.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if there.fetchone() is not None:
                return None
    except psycopg.Error:
        return None
    server = f"{given.get('host', 'localhost')}:{given.get('port', '5432')}"
    return (
        f'the PostgreSQL server at {server} has no database "{database}": create it '
        f"(createdb {database}) or correct the store URL (--event-store-url, --read-model-url, "
        "EVENTUALSHOP_…_URL)"
    )


def _reason(error: BaseException) -> str:
    """The driver's own words, on one short line: SQLAlchemy wraps them (``orig``) in its class
    name and a link to its documentation, pymongo appends its whole topology description."""
    from eventualshop.runtime.unavailable import described

    text = " ".join(described(getattr(error, "orig", None) or error).split())
    text = text.partition(", Timeout: ")[0]  # pymongo: the reason comes first
    return text if len(text) <= 240 else text[:239] + "…"
