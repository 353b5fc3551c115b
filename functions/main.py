"""The functions-framework source of every function, and the process's composition root.

``functions-framework --source functions/main.py --target shopping_cart_add_cart_item`` serves
one function: a derived target is built from its context's declaration on first access (module
``__getattr__``), importing only that context's modules. ``eventualshop`` (the command line)
starts here too, so the runtime receives the system instead of importing it. Both imports and
the target's build run under :func:`~eventualshop.runtime.start.quiet_start`: what they make lives
as long as the process, so it is made without garbage collection and frozen afterwards.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from eventualshop.runtime.start import quiet_start

with quiet_start():  # the runtime and pydantic, imported once for the process's lifetime
    from eventualshop.runtime.logs import configure_logging
    from eventualshop.runtime.root import Root
    from functions.registry import CONTEXTS, DEFAULT_DELIVERY, FUNCTIONS


def _demo(url: str | None, root: Root) -> int:
    from functions.demo import run_demo

    return run_demo(url, root)


ROOT = Root(CONTEXTS, FUNCTIONS, default_delivery=DEFAULT_DELIVERY, demo=_demo)


#: Targets whose build ran under quiet_start: functions-framework asks twice (``hasattr``, then
#: ``getattr``), and the first build is the one worth it.
_STARTED: set[str] = set()


def __getattr__(name: str) -> Callable[..., Any]:
    if name.startswith("__"):
        raise AttributeError(name)
    if name in _STARTED:
        return ROOT.target(name)  # built once by the root (and again only after its reset)
    spec = ROOT.function(name)  # a name that is no function fails here, before any change
    # functions-framework loads its target here: the one place every deployed function passes.
    configure_logging()
    if "functions_framework._cli" in sys.modules:
        # functions-framework's own command, whose gunicorn options a function cannot set: it
        # builds the target before it starts gunicorn, and the worker it forks inherits this.
        from eventualshop.runtime.gunicorn_errors import answer_as_problems

        answer_as_problems()
        _answer_as_the_image_does(spec.signature_type)
    with quiet_start():  # the target and its context's modules, built once, likewise
        target = ROOT.target(name)
    _STARTED.add(name)
    return target


def _answer_as_the_image_does(signature_type: str) -> None:
    """functions-framework's own app answers as the image's (``runtime.entry``): what escapes a
    target, or what the framework refuses, is a problem, never its HTML page that quoted the
    request's headers (a bearer token) and body back; and a CloudEvent it cannot read is a 400,
    not a 500 retried. It loads the target inside the app it is building, the current one."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return
    from eventualshop.runtime.event_requests import answer_as_a_function

    app = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug's proxy
    answer_as_a_function(app, signature_type)


def cli(argv: Sequence[str] | None = None) -> int:
    from eventualshop.runtime.cli import main
    from functions.identity.users import USERS  # Identity's own: the runtime names no context

    return main(sys.argv[1:] if argv is None else argv, ROOT, system=(USERS,))
