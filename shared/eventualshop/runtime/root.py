"""The composition root: the one object that chooses the adapters and owns what they open.

It receives the system as data (the context declarations and the function list, from the
top-level function registry), so nothing in ``eventualshop`` imports the function modules. Every
store, publisher, relay, application service, projector and built function target is created
on first use and kept for the life of the process (a warm function instance); :meth:`Root.reset`
forgets all of it at once, for tests and tools that build shops with other configurations.

Only the drivers the configuration names are imported: a command function on SQLite never
imports psycopg, pika or pymongo.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from eventualshop.kernel.declaration import BoundedContext, Surroundings
from eventualshop.kernel.environment import private_folder
from eventualshop.kernel.eventstore import EventStore, OutboxEntry
from eventualshop.kernel.outbox import OutboxRelay, Publisher, PublishError, PublishingOutage
from eventualshop.runtime.cors import Origins, answering
from eventualshop.runtime.registry import Delivery, FunctionSpec
from eventualshop.runtime.settings import Settings, store_scheme, unknown_variables

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from flask import Request, Response

    from eventualshop.adapters.sql_driver import DirectConnections
    from eventualshop.kernel.aggregate import AggregateKind, AggregateState
    from eventualshop.kernel.messages import RecordedEvent
    from eventualshop.kernel.projection import Projection, Projector
    from eventualshop.kernel.readmodels import ReadModelStore
    from eventualshop.kernel.service import ApplicationService
    from eventualshop.runtime.background import BackgroundRelay
    from eventualshop.runtime.broker.deadletters import SqlDeadLetterStore

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Seconds a sweep spends publishing one store's backlog before it yields to the next sweep: a
#: third of the PingSource's minute, so a backlog after a long broker outage is worked off at
#: thousands of events a sweep while a sweep still ends well inside its schedule. (Under load the
#: relay's own pass holds the backlog and the sweep does not drain at all: see ``sweep``.)
SWEEP_DRAIN_SECONDS = 20.0


class NoBroker:
    """Where no broker is reachable from this process: rows stay pending for the sweep."""

    def publish(self, entries: Sequence[OutboxEntry]) -> None:
        del entries
        raise PublishError("no broker configured for this process")


def resolve(reference: str) -> Any:
    """``"package.module:NAME"`` -> the object it names."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def open_read_model_store(url: str) -> ReadModelStore:
    """The adapter for ``url``: ``sqlite:///…``, ``postgresql://…``, ``mongodb://…`` or ``memory:``.

    Adapters are imported here, so a function pays at cold start only for the one it uses.
    """
    scheme = store_scheme(url)
    if scheme == "memory":
        from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore

        return InMemoryReadModelStore()
    if scheme in ("mongodb", "mongodb+srv"):
        from eventualshop.adapters.read_models_mongo import MongoReadModelStore

        return MongoReadModelStore.from_url(url)
    from eventualshop.adapters.read_models_sql import SqlReadModelStore

    return SqlReadModelStore.from_url(url)


class Root:
    def __init__(
        self,
        contexts: Sequence[BoundedContext],
        functions: Sequence[FunctionSpec],
        *,
        default_delivery: Delivery | None = None,
        demo: Callable[[str | None, Root], object] | None = None,
    ) -> None:
        self.contexts: dict[str, BoundedContext] = {c.name: c for c in contexts}
        self.functions: tuple[FunctionSpec, ...] = tuple(functions)
        self.by_name: dict[str, FunctionSpec] = {f.name: f for f in self.functions}
        self.default_delivery = default_delivery or Delivery()
        #: ``eventualshop demo``: drives the shop at a URL (``None``: an embedded one).
        self.demo = demo
        self._lock = threading.RLock()
        self._parts: dict[tuple[str, str], Any] = {}
        self._publisher: Publisher | None = None
        self._settings: Settings | None = None
        # How to release what was opened (engines, connections): reset() calls them.
        self._opened: list[Callable[[], None]] = []
        #: Per projection, the position up to which its catch-up found nothing left to do.
        self._catch_up_marks: dict[str, int] = {}
        self._background: BackgroundRelay | None = None
        self._told_no_broker = False
        self._told_unknown_variables = False

    # ---- configuration ------------------------------------------------------------------------

    def settings(self) -> Settings:
        # Read without the lock once read (as ``_part`` reads a part): every HTTP function's CORS
        # asks for them on every request, which then waited for any part being built under the
        # lock, a store slow to open, say.
        found = self._settings
        if found is not None:
            return found
        with self._lock:
            if self._settings is None:
                self._tell_unknown_variables()
                self._settings = Settings()
            return self._settings

    def _tell_unknown_variables(self) -> None:
        """Where the settings are first read (``serve`` and every command, a function's start):
        one warning per ``EVENTUALSHOP_`` variable the shop does not read, with the closest name
        it does (a misspelt store URL started the shop on SQLite without a word). A warning,
        not a refusal: an older deployment's leftovers must not stop the shop. Once a process,
        not again when a reset reads the settings anew."""
        if self._told_unknown_variables:
            return
        self._told_unknown_variables = True
        modules = {
            context.env_prefix: context.configure.partition(":")[0] if context.configure else None
            for context in self.contexts.values()
        }
        for line in unknown_variables(os.environ, modules):
            log.warning(line)

    def settings_problem(self) -> str | None:
        """What is wrong with a setting this process cannot use, in one line naming its variable
        (never its value); ``None`` when the settings read."""
        from pydantic import ValidationError

        try:
            self.settings()
        except ValidationError as error:
            return Settings.problem(error)
        return None

    def reconfigure(self) -> None:
        """Read the settings again and build a new publisher from them; the stores stay open."""
        with self._lock:
            self._settings = None
        self.use_publisher(None)

    def configure_contexts(self) -> None:
        """Run every context's ``configure`` hook, once per process (again after a reset).

        The local server calls it before it listens, so a missing setting
        (:class:`ConfigurationMissing`) stops the process at start-up rather than failing its
        first request; a deployed function's readiness names what is missing instead.
        """
        for name in self.contexts:
            self.configure_context(name)

    def configure_context(self, name: str) -> None:
        """Run one context's ``configure`` hook, once per process."""
        declared = self.context(name)
        if not declared.configure:
            return
        config = self.settings()
        surroundings = Surroundings(embedded=config.embedded, data_dir=config.data_dir)
        hook: Callable[[Surroundings], None] = resolve(declared.configure)

        def run() -> bool:
            hook(surroundings)
            return True

        self._part("configured", declared.name, run)

    def context_problem(self, name: str) -> str | None:
        """What is wrong with a context's own settings (its ``configure`` hook refused them), in
        one line naming the variable, never its value; ``None`` when they read. Any other
        failure of the hook is raised: it is ours, not the operator's."""
        from eventualshop.runtime.unavailable import misconfiguration

        try:
            self.configure_context(name)
        except Exception as error:
            wrong = misconfiguration(error)
            if wrong is None:
                raise
            return wrong
        return None

    def context(self, name: str) -> BoundedContext:
        try:
            return self.contexts[name]
        except KeyError:
            raise KeyError(f"no bounded context named {name!r} is declared") from None

    def _part(self, kind: str, key: str, make: Callable[[], T]) -> T:
        # A warm request reads a built part without the lock (a dict read is atomic; ``reset``
        # clears the dict, and then parts are built again under the lock): a part being built,
        # a store being opened, must not hold up every request of every thread.
        found: T | None = self._parts.get((kind, key))
        if found is not None:
            return found
        with self._lock:
            found = self._parts.get((kind, key))
            if found is None:
                found = self._parts[(kind, key)] = make()
            return found

    # ---- stores ---------------------------------------------------------------------------------

    def event_store(self, context: str) -> EventStore:
        """The context's event store. Contexts configured with one URL share one store, so a
        process serving several contexts opens one connection pool per database, not one per
        context."""
        config = self.settings()
        url = self._event_store_url(context)

        def make() -> EventStore:
            # A command's path on it imports no SQLAlchemy (see adapters.event_store_driver).
            from eventualshop.adapters.event_store_driver import open_event_store

            _ensure_folder(url)
            store = open_event_store(
                url, migrate=config.auto_migrate, connections=self.driver_connections(url)
            )
            self._opened.append(store.close)
            return store

        return self._part("event-store", url, make)

    def _event_store_url(self, context: str) -> str:
        """What keys a context's event store and its relay: contexts sharing a URL share both."""
        return self.settings().resolved_event_store_url(self.context(context).name)

    def driver_connections(self, url: str) -> DirectConnections | None:
        """The driver's connections to the database at ``url`` (``None`` where there is no
        driver path), one set per database: the event stores on it and the revocation look-up
        share them. A function whose read models live in its event store's PostgreSQL database
        then holds one server connection, not two, and its first request opens one. Nothing
        connects until a connection is asked for."""
        from eventualshop.adapters.sql_driver import DirectConnections, DriverUrl

        parsed = DriverUrl.parse(url)
        if parsed is None:
            return None

        def make() -> DirectConnections:
            connections = DirectConnections(parsed)
            self._opened.append(connections.close)
            return connections

        return self._part("driver-connections", f"{parsed.dialect}:{parsed.target}", make)

    def read_model_store(self) -> ReadModelStore:
        def make() -> ReadModelStore:
            url = self.settings().resolved_read_model_url()
            _ensure_folder(url)
            store = open_read_model_store(url)
            self._opened.append(store.close)
            return store

        return self._part("read-models", "", make)

    def document_exists(self, collection: str, id: str) -> bool:
        """Whether the read-model store holds the document: on the driver where the read models
        are SQL (``adapters.read_models_driver``), so the per-request revocation check of a
        command function imports no SQLAlchemy; elsewhere through the store."""

        def make() -> Callable[[str, str], bool]:
            from eventualshop.adapters.read_models_driver import open_document_lookup

            url = self.settings().resolved_read_model_url()
            lookup = open_document_lookup(url, self.driver_connections(url))
            if lookup is None:
                return lambda c, i: self.read_model_store().get(c, i) is not None
            self._opened.append(lookup.close)
            return lookup.exists

        return self._part("document-lookup", "", make)(collection, id)

    def dead_letter_store(self) -> SqlDeadLetterStore:
        """Dead letters beside the embedded stores, or in the configured event store database."""

        def make() -> SqlDeadLetterStore:
            from eventualshop.runtime.broker.deadletters import SqlDeadLetterStore

            config = self.settings()
            url = config.event_store_url or f"sqlite:///{config.data_dir / 'dead-letters.sqlite3'}"
            _ensure_folder(url)
            store = SqlDeadLetterStore(url)
            self._opened.append(store.engine.dispose)
            store.create_table()
            return store

        return self._part("dead-letters", "", make)

    # ---- publishing -----------------------------------------------------------------------------

    def use_publisher(self, publisher: Publisher | None, *, in_background: bool = False) -> None:
        """Install the process's publisher (the local server installs its in-process broker).

        ``in_background``: publishing delivers (in-process), so the relay after a commit runs on
        a thread of its own instead of the request's (:class:`BackgroundRelay`).
        """
        from eventualshop.runtime.background import BackgroundRelay

        with self._lock:
            self._publisher = publisher
            for key in [k for k in self._parts if k[0] in ("relay", "publishing-outage")]:
                del self._parts[key]
            previous, self._background = self._background, None
            if in_background:
                self._background = BackgroundRelay(self.relay)
        if previous is not None:
            previous.stop()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until the background relay has published everything committed so far."""
        background = self._background
        return True if background is None else background.idle(timeout)

    def publisher(self) -> Publisher:
        with self._lock:
            if self._publisher is None:
                self._publisher = _configured_publisher(self.settings())
            return self._publisher

    def relay(self, context: str) -> OutboxRelay:
        """The relay of the context's event store: one per store, like the store itself. Two
        relays over one outbox would each hold a pass lock of their own, publishing the same
        events at once, and a sweep would drain the same backlog once per context."""
        return self._part(
            "relay",
            self._event_store_url(context),
            lambda: OutboxRelay(
                self.event_store(context), self.publisher(), outage=self._publishing_outage()
            ),
        )

    def _publishing_outage(self) -> PublishingOutage:
        """The publisher's outage, one for all its relays: a broker that is down is told of
        once, not once per event store."""
        return self._part("publishing-outage", "", PublishingOutage)

    def relays(self) -> list[OutboxRelay]:
        """Every event store's relay, once each."""
        found: dict[int, OutboxRelay] = {}
        for name in self.contexts:
            relay = self.relay(name)
            found.setdefault(id(relay), relay)
        return list(found.values())

    def relay_after_commit(self, context: str) -> Callable[[], None]:
        """Publish right after a commit: one batch at most, so a request never works off a
        backlog (after a broker outage); the scheduled sweep drains the rest. Several instances
        may publish the same row: delivery is at least once and every consumer is idempotent."""

        def run() -> None:
            background = self._background
            if background is not None:
                background.wake(context)
            elif isinstance(self.publisher(), NoBroker):
                self._tell_no_broker()  # a pass could only read the outbox and fail
            else:
                self.relay(context).run_once()

        return run

    def _tell_no_broker(self) -> None:
        """Say once per process, not once per command, that its events go nowhere yet."""
        with self._lock:
            if self._told_no_broker:
                return
            self._told_no_broker = True
        # Knative's broker is named, but not where it takes events: say what to set.
        missing = "K_SINK" if self.settings().broker == "knative" else "EVENTUALSHOP_BROKER"
        log.warning(
            "no broker is configured (%s), so this process publishes no events: "
            "they stay in its event store, where eventualshop sweep (or serve) projects them",
            missing,
        )

    def sweep(self) -> int:
        """Let every projector catch up with its store, then drain every store's outbox once;
        how many events were published. The catch-up comes first and needs no broker, so an
        outage of the broker never keeps the read side stale. A drain leaves a relay that is
        publishing in this process to that pass, and stops after a time budget: a relay
        backlog (a broker slower than the load) must not keep the next catch-up from running;
        the commits' own passes and the next sweep publish the rest."""
        try:
            self.catch_up()
        finally:
            # The read models down must not keep the outbox full: drained all the same, and the
            # catch-up's failure is the sweep's answer after it (one line saying what is down).
            # An event store that is down fails here too, and is the sweep's answer (a 503).
            # Without a broker a drain could only fail, and its relay would tell of that as a
            # broker outage: what is pending stays for `serve` (the command line says so).
            relays = [] if isinstance(self.publisher(), NoBroker) else self.relays()
            published = sum(r.drain(wait=0.0, budget=SWEEP_DRAIN_SECONDS) for r in relays)
        return published

    def fire_timers(self, now: datetime | None = None) -> int:
        """Send every due durable timer of every context whose aggregate has any, then publish
        what they wrote; how many fired. The timer sweep runs it (a PingSource, locally the
        server's timer). Idempotent: two sweeps at once send each command once."""
        from eventualshop.kernel.messages import utc_now
        from eventualshop.kernel.timer_sweep import fire_all_due

        fired = 0
        for name in self.contexts:
            if not self.aggregate(name).scheduled:
                continue
            result = fire_all_due(self.event_store(name), self.service(name), now or utc_now())
            if result.fired:
                self.relay_after_commit(name)()
            fired += result.fired
        if fired:
            log.info("fired %d durable timers", fired)
        return fired

    # ---- the domain, through the declarations -------------------------------------------------

    def aggregate(self, context: str) -> AggregateKind[AggregateState]:
        return self._part("aggregate", context, lambda: resolve(self.context(context).aggregate))

    def service(self, context: str) -> ApplicationService[AggregateState]:
        def make() -> ApplicationService[AggregateState]:
            from eventualshop.kernel.service import ApplicationService

            self.configure_context(context)
            return ApplicationService(
                self.event_store(context),
                self.aggregate(context),
                snapshot_interval=self.settings().snapshot_interval,
                cache_size=self.settings().aggregate_cache,
            )

        return self._part("service", context, make)

    def projections(self, context: str) -> tuple[Projection, ...]:
        """The context's declared read models, in the declaration's order."""

        def make() -> tuple[Projection, ...]:
            declared = self.context(context)
            module = importlib.import_module(f"{declared.package}.read_models")
            by_name = {p.name: p for p in module.PROJECTIONS}
            return tuple(by_name[name] for name in declared.projections)

        return self._part("projections", context, make)

    def projector(self, context: str, projection: str) -> Projector:
        """A projector that fills gaps from the context's event store (``kernel.projection``)."""

        def make() -> Projector:
            from eventualshop.kernel.projection import Projector
            from eventualshop.kernel.repository import Repository

            chosen = next(p for p in self.projections(context) if p.name == projection)
            store = self.event_store(context)
            kind = self.aggregate(context)
            decode = Repository(store, kind).decode

            def history(aggregate_id: UUID, after: int, through: int) -> list[RecordedEvent]:
                events = store.load_events(aggregate_id, after, kind.name)
                return [decode(e) for e in events if e.version <= through]

            found = Projector(self.read_model_store(), chosen, history)
            found.ensure_indexes()
            return found

        return self._part("projector", projection, make)

    def catch_up(self) -> int:
        """Every projector applies what the store holds and it never received (lost, dead-lettered
        or in flight at a crash); how many events were applied. The sweep runs it. A context's
        failure ends it at once: a store that is down would keep every other context waiting in
        turn (the sweep drains the outbox all the same)."""
        from eventualshop.runtime.admin import catch_up

        applied = 0
        for context in self.contexts:
            if self.contexts[context].projections:
                applied += catch_up(self, context, self._catch_up_marks)
        for spec in self.functions:
            if spec.catch_up is not None:
                try:
                    applied += int(resolve(spec.catch_up)())
                except Exception:  # one projector's failure must not keep the sweep from draining
                    log.warning("catch-up of %s failed; next sweep", spec.name, exc_info=True)
        if applied:
            log.info("caught up with %d events the broker had not brought", applied)
        return applied

    # ---- function targets -----------------------------------------------------------------------

    def target(self, function: str) -> Callable[..., Any]:
        """The functions-framework target of a registered function, built once."""
        spec = self.function(function)

        def make() -> Callable[..., Any]:
            if spec.derived is None:
                found: Callable[..., Any] = getattr(
                    importlib.import_module(spec.module), spec.target
                )
            else:
                from eventualshop.runtime.targets import build

                found = build(self, spec)
            if spec.route is None or spec.signature_type != "http":
                return found
            return answering(found, self._methods_at(spec.route.path), self._origins)

        return self._part("target", spec.name, make)

    def http_function(self, target: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """A hand-written HTTP target (its file and name those of a registered function),
        answering CORS as :meth:`target` makes every HTTP function answer. Deployed from its own
        source, functions-framework loads it as its module defines it, not through this root,
        and under the file's stem: the file, not the module's name, says which it is."""
        defined_in = Path(target.__code__.co_filename).as_posix()
        spec = next(
            spec
            for spec in self.functions
            if spec.target == target.__name__ and defined_in.endswith(spec.source)
        )
        assert spec.route is not None, f"{spec.name} has no route"
        return answering(target, self._methods_at(spec.route.path), self._origins)

    def _methods_at(self, path: str) -> list[str]:
        """The methods of every function at ``path``: what an OPTIONS there is told."""
        return [
            spec.route.method
            for spec in self.functions
            if spec.route is not None and spec.route.path == path
        ]

    def _origins(self) -> Origins | None:
        """Who may call from a browser page; ``None`` while the settings cannot be read."""
        from pydantic import ValidationError

        try:
            return self.settings().origins
        except ValidationError:
            return None

    def function(self, name: str) -> FunctionSpec:
        """The registered function by its name or its functions-framework target (a derived
        target's); AttributeError, as for a module attribute, when there is none."""
        return self.by_name.get(name) or self._by_target(name)

    def _by_target(self, target: str) -> FunctionSpec:
        for spec in self.functions:
            if spec.target == target and spec.derived is not None:
                return spec
        raise AttributeError(f"no function has the target {target!r}")

    # ---- lifetime -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every part, releasing what it holds, and read the settings again next time."""
        with self._lock:
            dropped, self._publisher = self._publisher, None
            background, self._background = self._background, None
            opened, self._opened = self._opened, []
            self._parts.clear()
            self._settings = None
            self._catch_up_marks.clear()
            self._told_no_broker = False  # the settings read next may lack a broker anew
        if background is not None:
            background.stop()
        close = getattr(dropped, "close", None)
        if callable(close):
            close()
        for release in opened:
            release()


def _configured_publisher(config: Settings) -> Publisher:
    if config.broker == "rabbitmq":
        from eventualshop.runtime.broker.publishers import RabbitMqPublisher

        return RabbitMqPublisher(config.rabbitmq_url, config.broker_exchange)
    if config.broker == "knative" and config.knative_sink:
        from eventualshop.runtime.broker.publishers import KnativeSinkPublisher

        return KnativeSinkPublisher(config.knative_sink)
    return NoBroker()


def _ensure_folder(url: str) -> None:
    if url.startswith("sqlite:///"):
        private_folder(Path(url.removeprefix("sqlite:///")).parent)
