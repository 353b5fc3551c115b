"""A registered function as a func (Knative Functions) Python function instance.

``func`` builds a Python function from its project's ``function`` package, whose ``new()`` returns
an instance served by the ``func-python`` middleware: an ASGI ``handle``, ``ready``/``alive`` for
``/health/readiness`` and ``/health/liveness``, ``start``/``stop`` around its life. Each generated
project (``knative/func/<name>/function/func.py``) returns a :class:`FuncFunction`, which serves
the same target as the shared image does:

* HTTP functions: the app of :func:`eventualshop.runtime.entry.create_app` (functions-framework
  plus the health paths) behind an ASGI-to-WSGI bridge, so a command answers exactly as on
  Knative Serving, ``Location`` and problem+json included;
* CloudEvent functions: func-python has already decoded the event; the target gets it as
  functions-framework would hand it over, and a raise answers 500 so the broker retries.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from eventualshop.runtime import health
from eventualshop.runtime.entry import create_app, root_of, spec_of

if TYPE_CHECKING:
    from eventualshop.runtime.registry import FunctionSpec
    from eventualshop.runtime.root import Root

log = logging.getLogger("eventualshop.func")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def source_file(module: str) -> str:
    """The file of an importable module (functions-framework loads its source by path), found
    without importing it: in a func image the function source lives in site-packages."""
    found = importlib.util.find_spec(module)
    if found is None or found.origin is None:
        raise ModuleNotFoundError(f"the function source {module!r} is not installed")
    return found.origin


class FuncFunction:
    def __init__(self, target: str, signature_type: str, source_module: str) -> None:
        self.target = target
        self.signature_type = signature_type
        self.source_module = source_module
        self._asgi: Any = None
        self._root: Root | None = None
        self._spec: FunctionSpec | None = None

    # ---- the func-python instance protocol ------------------------------------------------------

    def start(self, cfg: dict[str, str]) -> None:
        """Build the function once per instance (a warm start keeps its stores open)."""
        del cfg  # Settings read the same environment
        self._load()

    def stop(self) -> None:
        if self._root is not None:
            self._root.reset()

    def alive(self) -> tuple[bool, str]:
        return True, "alive"

    def ready(self) -> tuple[bool, str]:
        root, spec = self._load()
        status, body = health.readiness(root, spec, dict(os.environ))
        return status == 200, json.dumps(body)

    async def handle(self, scope: Scope, receive: Receive, send: Any) -> None:
        self._load()
        if self.signature_type == "cloudevent":
            await self._cloud_event(scope, send)
        else:
            await self._asgi(scope, receive, send)

    # ---- inside -------------------------------------------------------------------------------

    def _load(self) -> tuple[Root, FunctionSpec]:
        if self._root is None or self._spec is None:
            source = source_file(self.source_module)
            app = create_app(self.target, source, self.signature_type)
            from a2wsgi import WSGIMiddleware

            self._asgi = WSGIMiddleware(app)  # type: ignore[arg-type]
            self._root = root_of(app)
            self._spec = spec_of(self._root, self.target, source)
        return self._root, self._spec

    async def _cloud_event(self, scope: Scope, send: Any) -> None:
        root, spec = self._load()
        target = root.target(spec.name)
        try:
            # The target commits to the stores: off the event loop, as functions-framework's
            # threads would run it.
            await asyncio.to_thread(target, scope["event"])
            status = 204
        except Exception as error:  # any failure means "deliver it again later"
            log.info("%s answered 500: %s", spec.name, error)
            status = 500
        await send.http({"type": "http.response.start", "status": status, "headers": []})
        await send.http({"type": "http.response.body", "body": b""})
