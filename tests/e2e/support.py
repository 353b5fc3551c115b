"""Helpers for the end-to-end tests that read through the query side: a whole shop served on a
real port (the RabbitMQ dispatcher delivers over HTTP, so a test client is not enough), a small
HTTP client that keeps every answer it got, polling with a deadline, and the request bodies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from werkzeug.serving import make_server

from eventualshop.kernel.eventstore import EventStore, StoredEvent
from eventualshop.kernel.projection import cursor_collection
from eventualshop.kernel.readmodels import Document, ReadModelStore
from eventualshop.runtime.local import LocalShop
from eventualshop.shopping_cart.declaration import SHOPPING_CART
from eventualshop.shopping_cart.read_models import PROJECTIONS
from functions.main import ROOT

CART = SHOPPING_CART.name

CARTS = "/api/v1/shopping-carts"
PROBLEM = "application/problem+json"
T = TypeVar("T")

# ---- request bodies ----------------------------------------------------------------------------

KEYBOARD = {
    "description": "A mechanical keyboard",
    "name": "Keyboard",
    "brand": "Acme",
    "category": "Peripherals",
    "unit": "each",
    "sku": "KB-1",
}
MOUSE = KEYBOARD | {"description": "A wireless mouse", "name": "Mouse", "sku": "MS-1"}
ADDRESS = {
    "street": "Main Street",
    "number": 42,
    "city": "Springfield",
    "state": "IL",
    "zipCode": "62701",
    "country": "USA",
}
OTHER_ADDRESS = ADDRESS | {"street": "Elm Street", "number": 7}
CARD_NUMBER = "4539 1488 0343 6467"  # passes Luhn
CARD_DIGITS = CARD_NUMBER.replace(" ", "")
SECURITY_CODE = 7351
PAYPAL_PASSWORD = "Sup3r-secret-pass"


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def product(name: str) -> dict[str, str]:
    return KEYBOARD | {"name": name, "description": f"A {name}", "sku": f"SKU-{name}"}


def item_body(item: str, goods: Mapping[str, str], quantity: int, price: str) -> dict[str, Any]:
    return {
        "itemId": item,
        "catalogId": str(uuid.uuid4()),
        "inventoryId": str(uuid.uuid4()),
        "product": dict(goods),
        "quantity": quantity,
        "unitPrice": usd(price),
    }


def card(holder: str = "Ada Lovelace") -> dict[str, Any]:
    return {
        "expirationDate": "01/12/2099",
        "number": CARD_NUMBER,
        "holderName": holder,
        "securityCode": SECURITY_CODE,
    }


# ---- HTTP --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    mimetype: str
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.mimetype}, {self.text[:300]!r})"


class Http:
    """Requests to the served shop over a real connection; every answer is kept (``answers``),
    so a test can check afterwards that none of them ever carried a secret."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.answers: list[Answer] = []
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, kind, text = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, kind, text = error.code, error.headers, error.read()
        answer = Answer(status, kind.get_content_type(), text.decode())
        with self._lock:
            self.answers.append(answer)
        return answer

    def get(self, path: str, **query: Any) -> Answer:
        return self.request("GET", path, query=query)

    def command(self, method: str, path: str, body: Any = None, **query: Any) -> dict[str, Any]:
        """A command that must be accepted (202)."""
        answer = self.request(method, path, body, query=query)
        assert answer.status == 202, answer
        accepted: dict[str, Any] = answer.json
        return accepted


def eventually(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.05) -> T:
    """``check()``'s result once it stops failing an assertion; its last failure at the deadline.

    The read side is eventually consistent: a query answers what has been projected so far, so
    a test asks again until the answer is the expected one, or gives up at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


def problem(answer: Answer, status: int, *, field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with ``status``, naming ``field`` among its errors."""
    assert answer.status == status, answer
    assert answer.mimetype == PROBLEM, answer
    body: dict[str, Any] = answer.json
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    if field is not None:
        assert field in body.get("errors", {}), body
    return body


# ---- secrets -----------------------------------------------------------------------------------

#: Keys a payment secret would be stored under ("number" is an address's too: the card number
#: itself is looked for as a text instead).
SECRET_KEYS = frozenset({"securityCode", "password", "token", "cardNumber"})


def secret_leaks(value: Any, texts: tuple[str, ...], where: str = "$") -> list[str]:
    """Where in a JSON value a secret shows: a key of ``SECRET_KEYS``, the security code as a
    value, or one of ``texts`` (card number, password, token) inside a string."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in SECRET_KEYS:
                found.append(f"{where}.{key}")
            found += secret_leaks(item, texts, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += secret_leaks(item, texts, f"{where}[{index}]")
    elif value in (SECURITY_CODE, str(SECURITY_CODE)) or (
        isinstance(value, str) and any(text in value for text in texts)
    ):
        found.append(where)
    return found


def secret_texts(store: EventStore, cart: str) -> tuple[str, ...]:
    """The card number (both spellings), the PayPal password and every card token of the cart
    (the tokens are in its events, for the payment provider, and nowhere else)."""
    tokens: list[str] = []
    for event in store.read_all(0, 100_000):
        if str(event.aggregate_id) != cart:
            continue
        for option in json.loads(event.payload).values():
            if isinstance(option, dict) and option.get("token") not in (None, *tokens):
                tokens.append(option["token"])
    return (CARD_NUMBER, CARD_DIGITS, PAYPAL_PASSWORD, *tokens)


# ---- read models -------------------------------------------------------------------------------


def cart_collections() -> list[str]:
    """Every collection the cart projectors write: the read models and their cursors."""
    return [c for p in PROJECTIONS for c in (*p.collections, cursor_collection(p))]


def dump(store: ReadModelStore) -> dict[str, list[Document]]:
    """Every document of every cart collection, in id order."""
    return {c: sorted(store.find(c), key=lambda d: str(d["id"])) for c in cart_collections()}


def differences(
    before: Mapping[str, list[Document]], after: Mapping[str, list[Document]]
) -> list[tuple[str, str, Document | None, Document | None]]:
    """(collection, id, before, after) of every document that is not the same in both dumps."""
    found = []
    for collection in sorted({*before, *after}):
        old = {d["id"]: d for d in before.get(collection, [])}
        new = {d["id"]: d for d in after.get(collection, [])}
        for id_ in sorted({*old, *new}):
            if old.get(id_) != new.get(id_):
                found.append((collection, id_, old.get(id_), new.get(id_)))
    return found


def all_events(store: EventStore) -> list[StoredEvent]:
    """Every stored event, in position order."""
    events: list[StoredEvent] = []
    while page := store.read_all((events[-1].position or 0) if events else 0, 1000):
        events += page
    return events


def assert_all_delivered(store: EventStore, read_models: ReadModelStore) -> None:
    """Every projection's cursor of every cart is at the cart's last version: every stored
    event has been applied (the lag alone cannot tell: it is the position of the newest event
    applied, so an older event still waiting for a redelivery does not show in it)."""
    versions: dict[str, int] = {}
    for event in all_events(store):
        versions[str(event.aggregate_id)] = event.version
    for projection in PROJECTIONS:
        cursors = {c["id"]: c["version"] for c in read_models.find(cursor_collection(projection))}
        behind = {
            cart: (version, cursors.get(cart, 0))
            for cart, version in versions.items()
            if cursors.get(cart, 0) != version
        }
        assert not behind, f"{projection.name}: (stored, applied) {behind}"


# ---- the shop ----------------------------------------------------------------------------------


def forget() -> None:
    """Drop every cached part of the composition root (stores, publisher, services, targets)."""
    ROOT.reset()


@dataclass
class ServedShop:
    """A whole shop on a real port, configured through the environment like a deployment."""

    setup: str
    shop: LocalShop
    http: Http
    store: EventStore
    read_models: ReadModelStore
    env: dict[str, str] = field(default_factory=dict)

    def settle(self) -> None:
        """Wait for the in-process broker to be idle (a no-op on RabbitMQ: tests poll)."""
        self.shop.settle()


@contextlib.contextmanager
def served_shop(setup: str, env: Mapping[str, str], data_dir: str) -> Iterator[ServedShop]:
    """Configure the shop from ``env`` (every other ``EVENTUALSHOP_`` variable removed), serve
    it with werkzeug on a free port, start its broker; undo all of it on exit."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):  # a developer's own settings must not leak in
            if name.startswith("EVENTUALSHOP_") and not name.startswith("EVENTUALSHOP_TEST_"):
                patch.delenv(name)
        patch.delenv("K_SINK", raising=False)
        patch.setenv("EVENTUALSHOP_DATA_DIR", data_dir)
        # Outside the embedded default the shop refuses to start without its card-token key.
        patch.setenv("EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY", "e2e-card-token-key-" * 2)
        # The cart's read side through the original's anonymous API (authorization has its
        # own tests); ``env`` may switch it on.
        patch.setenv("EVENTUALSHOP_AUTH", "off")
        for name, value in env.items():
            patch.setenv(name, value)
        # The port must be known before the shop is built (the dispatcher posts back to it), so
        # the server binds first and serves the shop's app once it exists.
        app: list[Any] = []
        server = make_server(
            "127.0.0.1", 0, lambda environ, start: app[0](environ, start), threaded=True
        )
        patch.setenv("EVENTUALSHOP_HOST", "127.0.0.1")
        patch.setenv("EVENTUALSHOP_PORT", str(server.server_port))
        forget()
        shop = LocalShop(ROOT)
        app.append(shop.app)
        thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
        thread.start()
        started = False
        try:
            shop.start()
            started = True
            yield ServedShop(
                setup,
                shop,
                Http(f"http://127.0.0.1:{server.server_port}"),
                ROOT.event_store(CART),
                ROOT.read_model_store(),
                dict(env),
            )
        finally:
            if started:
                shop.stop()
            server.shutdown()
            server.server_close()
            if shop.dispatcher is not None:
                with contextlib.suppress(Exception):  # best effort: never hide a failure
                    shop.dispatcher.delete(exchange=True)
            forget()


#: The two set-ups an end-to-end module runs on (``served_setup``).
EMBEDDED = "embedded"
POSTGRES_RABBITMQ_MONGODB = "postgres-rabbitmq-mongodb"
SETUPS = [
    EMBEDDED,
    pytest.param(
        POSTGRES_RABBITMQ_MONGODB,
        marks=[pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.mongodb],
    ),
]


@contextlib.contextmanager
def served_setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, module: str
) -> Iterator[ServedShop]:
    """A module's shop on ``request.param`` of ``SETUPS``: the embedded default, or every
    context on the one PostgreSQL database (as the generated manifests configure it), RabbitMQ
    with an exchange of the module's own and a MongoDB database of its own, dropped after."""
    from tests.conftest import truncate

    data_dir = str(tmp_path_factory.mktemp(module))
    if request.param == EMBEDDED:
        with served_shop(EMBEDDED, {"EVENTUALSHOP_BROKER": "inprocess"}, data_dir) as shop:
            yield shop
        return
    broker: str = request.getfixturevalue("rabbitmq_url")
    mongodb: str = request.getfixturevalue("mongodb_url")
    database = request.getfixturevalue("postgres_url")
    # Other modules share the session database: none of their rows may be left in the outbox
    # (the first relay would publish them here), count in this module's lag or be scanned.
    truncate(request.getfixturevalue("postgres_engine"))
    suffix = uuid.uuid4().hex[:12]
    name = f"e2e_{module.replace('-', '_')}_{suffix}"
    read_models = urllib.parse.urlunsplit(urllib.parse.urlsplit(mongodb)._replace(path=f"/{name}"))
    env = {
        "EVENTUALSHOP_EVENT_STORE_URL": database.render_as_string(False),
        "EVENTUALSHOP_READ_MODEL_URL": read_models,
        "EVENTUALSHOP_BROKER": "rabbitmq",
        "EVENTUALSHOP_RABBITMQ_URL": broker,
        "EVENTUALSHOP_BROKER_EXCHANGE": f"e2e-{module}-{suffix}",
    }
    try:
        with served_shop(POSTGRES_RABBITMQ_MONGODB, env, data_dir) as shop:
            yield shop
    finally:
        import pymongo

        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(read_models)
        try:
            client.drop_database(name)
        finally:
            client.close()
