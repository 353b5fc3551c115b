"""The whole shop in one process on one port: every HTTP function at its route, every
CloudEvent function behind the in-process broker, and a timer that plays the PingSources.

Function modules are imported on first use, exactly as functions-framework would import one
target; the routing comes from the same registry the Knative manifests are generated from.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, Response, request

from eventualshop.kernel.errors import DeliverLater
from eventualshop.runtime.broker.binding import BindingError, CloudEventMessage, from_http, to_sdk
from eventualshop.runtime.broker.deadletters import Redelivery, ReplayError, replay
from eventualshop.runtime.broker.in_process import InProcessBroker
from eventualshop.runtime.broker.publishers import InProcessPublisher
from eventualshop.runtime.broker.rabbitmq import RabbitMqDispatcher
from eventualshop.runtime.deliveries import delivery_key, refusal
from eventualshop.runtime.logs import correlated
from eventualshop.runtime.openapi import add_api_document
from eventualshop.runtime.problems import bodiless, problem
from eventualshop.runtime.registry import FunctionKind, FunctionSpec, Subscription
from eventualshop.runtime.root import Root
from eventualshop.runtime.unavailable import answer_errors, summary

log = logging.getLogger("eventualshop.local")


class _LazyTarget:
    """Builds its function target on the first call, like a cold start would."""

    def __init__(self, root: Root, spec: FunctionSpec) -> None:
        self.root = root
        self.spec = spec

    def __call__(self, *args: Any) -> Any:
        return self.root.target(self.spec.name)(*args)


def build_app(root: Root) -> Flask:
    app = Flask("eventualshop")
    # A path with // (or %2F%2F, decoded before routing) was answered a 308 to the merged path,
    # an HTML page and a Location built from the request's Host header: any Host a client sent
    # (a redirect an attacker could aim at another site through a cache). Such a path is no
    # route: a 404 problem, as any other unknown path.
    app.url_map.merge_slashes = False
    routes: list[dict[str, str]] = []
    for spec in root.functions:
        if spec.route is None:
            continue
        target = _LazyTarget(root, spec)
        rule = spec.route.path.replace("{", "<").replace("}", ">")

        def view(_target: _LazyTarget = target, **_path: str) -> Any:
            return _target(request)

        # OPTIONS goes to the function as it does deployed (``runtime.cors`` answers it), not
        # to Flask's own answer, which knows no CORS.
        app.add_url_rule(
            rule,
            endpoint=spec.name,
            view_func=view,
            methods=[spec.route.method, "OPTIONS"],
            provide_automatic_options=False,
        )
        routes.append({"function": spec.name, "method": spec.route.method, "path": spec.route.path})

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', mimetype="application/json")

    # An empty path (gunicorn's for the request target http://host) was a 308 to / from Host.
    @app.get("/", strict_slashes=False)
    def index() -> dict[str, Any]:
        return {"name": "EventualShop", "routes": routes}

    add_api_document(app, root)

    answer_errors(app)

    return app


class Ticker:
    """Runs each of ``jobs`` every ``interval`` seconds on a daemon thread (the local
    PingSources), each on its own: one that fails keeps no other from running (the outbox
    sweep failing on the read-model store kept the timer sweep, which needs only the event
    store, from firing any timer)."""

    def __init__(self, interval: float, jobs: Sequence[Callable[[], object]]) -> None:
        self.interval = interval
        self.jobs = tuple(jobs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eventualshop-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        for job in self.jobs:
            try:
                job()
            except Exception:  # the JSON log keeps a dead server's error to one line
                log.warning("scheduled job failed; it runs again next tick", exc_info=True)


def scheduled(root: Root) -> list[_LazyTarget]:
    return [_LazyTarget(root, s) for s in root.functions if s.kind is FunctionKind.SCHEDULED]


class DirectSubscriber:
    """Delivers a CloudEvent straight to a functions-framework ``cloud_event`` target.

    It answers as a deployed function does: 200 when the target returns, 503 for an event that
    came early (``DeliverLater``, the README's ``delivered-early``), 500 for anything else it
    raises; the broker retries both.
    """

    def __init__(self, root: Root, spec: FunctionSpec) -> None:
        self.target = _LazyTarget(root, spec)

    def __call__(self, message: CloudEventMessage) -> int:
        with correlated(message.attributes.get("correlationid")):
            try:
                self.target(to_sdk(message))
            except Exception as error:
                status = 503 if isinstance(error, DeliverLater) else 500
                log.info("%s answered %d: %s", self.target.spec.name, status, summary(error))
                return status
        return 200


def subscriptions(
    functions: Sequence[FunctionSpec],
) -> list[tuple[FunctionSpec, Subscription]]:
    return [(spec, sub) for spec in functions for sub in spec.subscriptions]


class LocalShop:
    """One process: the HTTP functions, the broker (in-process, or RabbitMQ with its dispatcher
    delivering back to this server) and the scheduled functions on a timer."""

    def __init__(self, root: Root, *, tick_seconds: float = 2.0) -> None:
        self.root = root
        self.config = config = root.settings()
        root.configure_contexts()  # a missing setting stops the shop before it listens
        self.functions = root.functions
        self.app = build_app(root)
        self.dead_letters = root.dead_letter_store()
        #: What every ``POST /functions/<name>`` must carry (``runtime.deliveries``).
        self.delivery_key = delivery_key(config)
        self.broker: InProcessBroker | None = None
        self.dispatcher: RabbitMqDispatcher | None = None
        jobs = scheduled(root)
        pairs = [(sub, DirectSubscriber(root, spec)) for spec, sub in subscriptions(root.functions)]
        self.ticker = Ticker(tick_seconds, [functools.partial(job, None) for job in jobs])
        self._add_cloudevent_routes()
        if config.broker == "inprocess":
            self.broker = InProcessBroker(
                pairs,
                self.dead_letters,
            )
            self.reinstall_publisher()
        elif config.broker == "rabbitmq":
            # The functions live in this process: the dispatcher hands each event to them
            # directly, with the same answers HTTP would carry (``eventualshop dispatch`` is the
            # out-of-process dispatcher that POSTs to ``/functions/<name>``).
            self.dispatcher = RabbitMqDispatcher(
                config.rabbitmq_url,
                config.broker_exchange,
                pairs,
                self.dead_letters,
            )

    def _add_cloudevent_routes(self) -> None:
        """``POST /functions/<name>``: every CloudEvent function, reachable as Knative would
        reach it (binary or structured mode), for the RabbitMQ dispatcher and for tests. They
        share the API's port, so each POST carries the delivery key (``runtime.deliveries``):
        without it anyone could project an event no aggregate raised, or keep a dead letter
        an operator might replay. Refused before the body is read."""
        key = self.delivery_key
        for spec in self.functions:
            if spec.kind is FunctionKind.SINK:
                target = _LazyTarget(self.root, spec)

                def keep(_target: _LazyTarget = target) -> Any:
                    return refusal(request, key) or _target(request)

                self.app.add_url_rule(
                    f"/functions/{spec.name}",
                    endpoint=f"sink:{spec.name}",
                    view_func=keep,
                    methods=["POST"],
                )
                continue
            if spec.signature_type != "cloudevent":
                continue
            subscriber = DirectSubscriber(self.root, spec)

            def view(_subscriber: DirectSubscriber = subscriber) -> Response:
                refused = refusal(request, key)
                if refused is not None:
                    return refused
                try:
                    message = from_http(request.headers, request.get_data())
                except BindingError as error:
                    return problem(400, "Not a CloudEvent", str(error))
                # The status is the answer (a 2xx acknowledges; a 500 or 503 the broker retries).
                return bodiless(_subscriber(message))

            self.app.add_url_rule(
                f"/functions/{spec.name}",
                endpoint=f"ce:{spec.name}",
                view_func=view,
                methods=["POST"],
            )

    def start(self) -> None:
        if self.broker is not None:
            self.broker.start()
        if self.dispatcher is not None:
            self.dispatcher.start()
        self.ticker.start()

    def reinstall_publisher(self) -> None:
        """Publish through this shop's broker (again, after a test or a tool replaced it)."""
        if self.broker is not None:
            self.root.use_publisher(InProcessPublisher(self.broker), in_background=True)
        else:
            self.root.use_publisher(None)  # built from the settings on first use

    def settle(self) -> None:
        """Wait until what was committed so far went through the relay and the broker."""
        self.root.settle()
        if self.broker is not None:
            self.broker.join()

    def stop(self) -> None:
        self.ticker.stop()
        self.root.settle(timeout=15)  # a graceful stop publishes what was committed
        if self.broker is not None:
            self.broker.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()

    def replay(self, *, ids: Sequence[int] = (), trigger: str | None = None) -> int:
        """Re-deliver dead letters through the broker this shop is configured with."""
        target: Redelivery
        if self.broker is not None:
            target = self.broker
        elif self.dispatcher is not None:
            target = self.dispatcher
        else:
            raise RuntimeError("no broker to replay through")
        if ids:
            return sum(
                len(replay(self.dead_letters, target, dead_letter_id=i).replayed) for i in ids
            )
        triggers = (
            [trigger]
            if trigger
            else sorted({letter.trigger for letter in self.dead_letters.list(limit=100_000)})
        )
        replayed = 0
        for name in triggers:
            try:
                replayed += len(replay(self.dead_letters, target, trigger=name).replayed)
            except ReplayError as error:  # one trigger that cannot be replayed stops no other
                log.warning("dead letters of %s not replayed: %s", name, error)
        return replayed
