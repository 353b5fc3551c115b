"""A scripted cart session over HTTP, printed step by step (``eventualshop demo``).

Without ``--url`` it starts an embedded shop on a free port with its data in a temporary folder,
so the demo never touches the data of a shop you are running.

Authorization is on by default, so the demo plays two people: a customer who signs up and signs
in for the cart, and an admin for the back office (the inventory and the catalog). The admin is
``EVENTUALSHOP_ADMIN_EMAIL`` with ``EVENTUALSHOP_ADMIN_PASSWORD`` when both are set (a shop of
yours with an admin of its own); otherwise a throw-away admin made in this process the way
``eventualshop users create-admin`` makes one, so against ``--url`` that needs the shop's own
store configuration (``make run``'s default folder works as it is): where the SQLite files it
would write are not there, it stops before the admin's sign-in, making none, and an admin it
made it names at the end.
"""

from __future__ import annotations

import json
import logging
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from eventualshop.identity.declaration import IDENTITY
from eventualshop.kernel.environment import FILE_SUFFIX
from eventualshop.runtime.cli import EXIT_UNAVAILABLE, CliError, given_variable, is_http_url

if TYPE_CHECKING:
    from eventualshop.runtime.root import Root

Printer = Callable[[str], object]


def _call(
    base: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:  # refused, unknown host, timed out
        reason = getattr(error, "reason", error)
        raise CliError(  # as every service that does not answer: 69, try again later
            f"cannot reach the shop at {base}: {reason}; is it running? (make run starts one)",
            EXIT_UNAVAILABLE,
        ) from None
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"body": raw.decode(errors="replace")}
    return status, parsed if isinstance(parsed, dict) else {"body": parsed}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


#: The settings that point a process at someone's own stores, broker, keys or network: a
#: variable ``EVENTUALSHOP_…`` ending in one of these, given itself or as a file
#: (``<VARIABLE>_FILE``), and Knative's ``K_SINK``.
_ELSEWHERE = ("_URL", "_BROKER", "_BROKER_EXCHANGE", "_KEY", "_JWKS", "_HOST")


def _points_elsewhere(name: str) -> bool:
    setting = name.removesuffix(FILE_SUFFIX)
    return name == "K_SINK" or (name.startswith("EVENTUALSHOP_") and setting.endswith(_ELSEWHERE))


@contextmanager
def _embedded_settings(folder: str) -> Iterator[None]:
    """This process's settings as the embedded defaults with ``folder`` for data, then back.

    Without it, an exported ``EVENTUALSHOP_EVENT_STORE_URL`` (README, "Using PostgreSQL, RabbitMQ
    and MongoDB instead") made the demo's "throw-away" shop write its customer, cart, catalog,
    inventory and a throw-away admin into that database; a broker, a signing key or a host set
    for a real shop went the same way."""
    import os

    saved: dict[str, str | None] = {
        name: value for name, value in os.environ.items() if _points_elsewhere(name)
    }
    # A fresh folder needs its tables, whatever a real shop's migrations policy is.
    for name in ("EVENTUALSHOP_DATA_DIR", "EVENTUALSHOP_PORT", "EVENTUALSHOP_AUTO_MIGRATE"):
        saved.setdefault(name, os.environ.get(name))
    for name in saved:
        os.environ.pop(name, None)
    os.environ["EVENTUALSHOP_DATA_DIR"] = folder
    os.environ["EVENTUALSHOP_PORT"] = str(_free_port())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def embedded_shop(root: Root) -> Iterator[str]:
    """An embedded shop on a free port, with its data in a temporary folder, whatever stores
    and broker this process's environment names."""
    from werkzeug.serving import make_server

    from eventualshop.runtime.local import LocalShop

    with (
        tempfile.TemporaryDirectory(prefix="eventualshop-demo-") as folder,
        _embedded_settings(folder),
    ):
        root.reset()
        try:
            config = root.settings()
            shop = LocalShop(root)
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            server = make_server(config.host, config.port, shop.app, threaded=True)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            shop.start()
            thread.start()
            try:
                yield f"http://{config.host}:{config.port}"
            finally:
                server.shutdown()
                shop.stop()
        finally:
            root.reset()  # its stores are in the folder about to go


#: (email, password) of an admin the demo may sign in as.
Admin = Callable[[], tuple[str, str]]


def throwaway_admin(root: Root) -> tuple[str, str]:
    """An admin made in this process (``users create-admin``'s path), with a password made here
    and printed nowhere."""
    from functions.identity.admin import create_admin

    email, password = f"demo-admin-{uuid.uuid4().hex[:8]}@example.com", _password()
    create_admin(root, email, password, first_name="Demo", last_name="Backoffice")
    return email, password


def _named_admin() -> tuple[str, str] | None:
    """The admin the environment names (both variables set), if any."""
    import os

    email = os.environ.get("EVENTUALSHOP_ADMIN_EMAIL")
    password = given_variable("EVENTUALSHOP_ADMIN_PASSWORD")  # or its _FILE
    return (email, password) if email and password else None


def _admins_store_problem(root: Root) -> str | None:
    """Why the throw-away admin cannot be made in a running shop's stores, before anything is
    made: an SQLite file of the stores ``create_admin`` writes (Identity's events, the read
    models) that does not exist is no running shop's. Run from a folder without the shop's
    settings, the demo made a whole embedded shop in ./var (five event stores, read models),
    and only then stopped at the admin's sign-in."""
    from pathlib import Path

    from eventualshop.runtime.cli import checked_settings

    config = checked_settings(root)
    urls = [config.resolved_event_store_url(IDENTITY.name), config.resolved_read_model_url()]
    inside = "sqlite:///"
    files = [Path(url.removeprefix(inside)) for url in urls if url.startswith(inside)]
    missing = [file for file in files if not file.exists()]
    if not missing:
        return None
    return (
        f"the demo makes its admin in the running shop's stores, and {missing[0].absolute()} "
        "is none of them (no such file): give the demo the shop's --data-dir or "
        "--event-store-url and --read-model-url (or EVENTUALSHOP_DATA_DIR, …_URL), or set "
        "EVENTUALSHOP_ADMIN_EMAIL and EVENTUALSHOP_ADMIN_PASSWORD to one of its admins"
    )


def _admin_hint() -> str:
    """What to fix when the shop refuses the demo's admin."""
    if _named_admin() is not None:
        return (
            "EVENTUALSHOP_ADMIN_EMAIL and EVENTUALSHOP_ADMIN_PASSWORD name no admin of that "
            "shop: set them to one of its admins (eventualshop users create-admin makes one)"
        )
    return (
        "The demo made its admin in the store this process is configured for, which is not the "
        "shop's: give it the shop's --data-dir or --event-store-url (or EVENTUALSHOP_DATA_DIR, "
        "EVENTUALSHOP_EVENT_STORE_URL), or set EVENTUALSHOP_ADMIN_EMAIL and "
        "EVENTUALSHOP_ADMIN_PASSWORD to one of its admins"
    )


def _password() -> str:
    return f"Demo-{uuid.uuid4().hex}!"


def run_demo(url: str | None, root: Root, *, out: Printer = print) -> int:
    if url is None:
        with embedded_shop(root) as base:
            return _script(base, out, lambda: throwaway_admin(root))
    if not is_http_url(url):
        raise CliError("--url takes the shop's address, such as http://127.0.0.1:8080")
    made: list[str] = []

    def admin() -> tuple[str, str]:
        named = _named_admin()
        if named is not None:
            return named
        problem = _admins_store_problem(root)  # after the shop answered: a shop down says so
        if problem is not None:
            raise CliError(problem)
        email, password = throwaway_admin(root)
        made.append(email)
        return email, password

    try:
        return _script(url.rstrip("/"), out, admin)
    finally:
        if made:
            # The admin outlives the run (it is the running shop's), listed among its accounts
            # with a password nobody knows: said, so that it is no stranger found there later.
            from eventualshop.runtime.urls import shown

            where = shown(root.settings().resolved_event_store_url(IDENTITY.name))
            out(
                f"the demo's admin {made[0]} stays in the event store at {where}, with a "
                "password printed nowhere (EVENTUALSHOP_ADMIN_EMAIL and "
                "EVENTUALSHOP_ADMIN_PASSWORD make the demo use an admin of yours instead)"
            )


def _script(base: str, out: Printer, admin: Admin) -> int:
    carts = "/api/v1/shopping-carts"
    steps = 0
    token: str | None = None
    admin_token: str | None = None

    def step(
        title: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        back_office: bool = False,
        needed: str | None = None,
    ) -> dict[str, Any]:
        """One request, printed. ``needed``: the rest of the script depends on this step's
        answer, so a refusal stops the demo there, in one line ending with this hint."""
        nonlocal steps
        steps += 1
        status, answer = _call(base, method, path, body, admin_token if back_office else token)
        summary = answer.get("events") or answer.get("code") or answer.get("errors") or answer
        if "accessToken" in answer:  # never print a token
            summary = {"userId": answer["userId"], "expiresIn": answer["expiresIn"]}
        out(f"{steps:2}. {title:<44} {method:6} {status}  {json.dumps(summary)}")
        if needed is not None and not 200 <= status < 300:
            detail = answer.get("detail") or answer.get("title") or json.dumps(summary)
            raise CliError(
                f"the demo stopped at step {steps} ({title}): {base} answered {status}, "
                f"{detail}. {needed}"
            )
        return answer

    out(f"EventualShop demo against {base}")
    # The demo's own throw-away user: a password made here, printed nowhere.
    email, password = f"demo-{uuid.uuid4().hex[:8]}@example.com", _password()
    sign_up = {
        "firstName": "Augusta",
        "lastName": "Lovelace",
        "email": email,
        "password": password,
        "passwordConfirmation": password,
    }
    customer_needed = "The rest of the session is the customer's."
    step("sign up", "POST", "/api/v1/identities/sign-up", sign_up, needed=customer_needed)
    signed_in = step(
        "sign in",
        "POST",
        "/api/v1/identities/sign-in",
        {"email": email, "password": password},
        needed=customer_needed,
    )
    token = signed_in.get("accessToken")
    customer = str(signed_in.get("userId") or uuid.uuid4())  # with EVENTUALSHOP_AUTH=off: anyone
    admin_email, admin_password = admin()
    as_admin = {"email": admin_email, "password": admin_password}
    admin_token = step(
        "sign in as the admin",
        "POST",
        "/api/v1/identities/sign-in",
        as_admin,
        needed=_admin_hint(),
    ).get("accessToken")
    product = {
        "description": "A mechanical keyboard",
        "name": "Keyboard",
        "brand": "Acme",
        "category": "Peripherals",
        "unit": "each",
        "sku": "KB-1",
    }
    # The back office first: stock in a warehouse, then a catalog that offers it.
    warehouses = "/api/v1/warehouses"
    inventory = step(
        "create an inventory (admin)",
        "POST",
        f"{warehouses}?ownerId={uuid.uuid4()}",
        back_office=True,
        needed="The catalog and the cart are made of its stock.",
    )["aggregateId"]
    stock = f"{warehouses}/{inventory}/items"
    step(
        "receive 10 keyboards at cost 30 (admin)",
        "POST",
        f"{stock}?cost=30&quantity=10",
        product,
        back_office=True,
    )
    catalogs = "/api/v1/catalogs"
    catalog = str(uuid.uuid4())
    step(
        "create a catalog (admin)",
        "POST",
        catalogs,
        {"catalogId": catalog, "title": "Keyboards", "description": "For typists"},
        back_office=True,
    )
    offer = {
        "inventoryId": inventory,
        "product": product,
        "unitPrice": {"amount": "49.90", "currency": "USD"},
        "sku": product["sku"],
        "quantity": 10,
    }
    step(
        "offer the keyboards at 49.90 (admin)",
        "POST",
        f"{catalogs}/{catalog}/items",
        offer,
        back_office=True,
    )
    step("activate the catalog (admin)", "PUT", f"{catalogs}/{catalog}/activate", back_office=True)
    created = step(
        "create a cart in USD",
        "POST",
        carts,
        {"customerId": customer, "currency": "USD"},
        needed="Every later step uses the cart.",
    )
    cart = f"{carts}/{created['aggregateId']}"
    item = {
        "catalogId": catalog,
        "inventoryId": inventory,
        "product": product,
        "quantity": 2,
        "unitPrice": {"amount": "49.90", "currency": "USD"},
    }
    step("add 2 keyboards at 49.90", "POST", f"{cart}/items", item)
    step("add 1 more keyboard (same product)", "POST", f"{cart}/items", item | {"quantity": 1})
    step("add an item with quantity 0 (invalid)", "POST", f"{cart}/items", item | {"quantity": 0})
    step("check out before paying (rejected)", "PUT", f"{cart}/check-out")
    address = {
        "street": "Main Street",
        "number": 42,
        "city": "Springfield",
        "state": "IL",
        "zipCode": "62701",
        "country": "USA",
    }
    step("set the billing address", "PUT", f"{cart}/add-billing-address", address)
    card = {
        "amount": {"amount": "149.70", "currency": "USD"},
        "creditCard": {
            # Five years ahead, whenever the demo runs: a card whose month has passed is refused.
            "expirationDate": f"01/12/{time.gmtime().tm_year + 5}",
            "number": "4111 1111 1111 1111",
            "holderName": "Ada Lovelace",
            "securityCode": 123,
        },
    }
    step("pay 149.70 by credit card", "POST", f"{cart}/payment-methods/credit-card", card)
    step("check out", "PUT", f"{cart}/check-out")
    step("add an item after check-out (rejected)", "POST", f"{cart}/items", item)
    # The read side is eventually consistent: poll the details until the check-out shows.
    details: dict[str, Any] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, details = _call(base, "GET", f"{cart}/details", token=token)
        if status == 200 and details.get("status") == "CheckedOut":
            break
        time.sleep(0.05)
    steps += 1
    out(
        f"{steps:2}. {'read the cart details (query)':<44} {'GET':6} "
        f"{details.get('status')}  total {details.get('total')}  due {details.get('amountDue')}"
    )
    _, listed = _call(base, "GET", f"{cart}/items/list-item", token=token)
    steps += 1
    names = [(i.get("productName"), i.get("quantity")) for i in listed.get("items", [])]
    out(f"{steps:2}. {'list the items (query)':<44} {'GET':6} {names}")
    storefront: dict[str, Any] = {}
    stocked: dict[str, Any] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, storefront = _call(base, "GET", f"{catalogs}/items?limit=8")
        _, stocked = _call(base, "GET", stock, token=admin_token)  # the back office's view
        held = [i.get("reserved") for i in stocked.get("items", [])]
        if storefront.get("items") and held == [3]:
            break
        time.sleep(0.05)
    steps += 1
    shown = [
        (c.get("product", {}).get("name"), c.get("unitPrice")) for c in storefront.get("items", [])
    ]
    out(f"{steps:2}. {'the storefront listing (query)':<44} {'GET':6} {shown}")
    steps += 1
    counts = [
        f"quantity {i.get('quantity')} reserved {i.get('reserved')} available {i.get('available')}"
        for i in stocked.get("items", [])
    ]
    out(f"{steps:2}. {'the stock the cart holds (query)':<44} {'GET':6} {counts}")
    out("done: the card number and security code are in no event (only a token and last four).")
    return steps
