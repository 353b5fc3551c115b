"""How a function's process starts: the cyclic garbage collector kept out of the way.

A cold function imports the framework, pydantic and its context, and builds its target: tens of
thousands of objects (classes, functions, validators) that live as long as the process, and
almost no garbage. The collector does not know that. Left alone it runs while they are made,
rescanning them, and again in the first request: a full collection there scanned every one of
them, and in a worker that gunicorn forked after the import, marking them wrote to pages shared
with the parent, which the kernel then copied. Measured on the cart's first command under
functions-framework: 25-40 ms of the request, a sixth of the function's cold start.

So the start is built with collection paused, and what it built is frozen
(:func:`gc.freeze`, the standard library's answer to exactly this): later collections leave it
alone. The price is that garbage made during the start is never collected; the start makes
little (measured in the tests), once per process.

pydantic's plugins are off unless the environment says otherwise: looking for them reads the
metadata of every installed package (5-9 ms of the first model built), and this project installs
none. ``PYDANTIC_DISABLE_PLUGINS=`` (empty) lets them load again.

Nothing here imports more than the standard library and the kernel's small collector module: it
runs before the heavy imports it pauses for.
"""

from __future__ import annotations

import os

from eventualshop.kernel.collector import PausedCollection


def quiet_start() -> PausedCollection:
    """The start of a function's process (see the module's notes): collection paused, and what
    exists when the last overlapping pause ends frozen (:class:`PausedCollection`)."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    return PausedCollection(freeze=True)
