"""A function's start: no garbage collection while the long-lived objects are made, and those
objects frozen afterwards (``eventualshop.runtime.start``).

The start itself is checked in a fresh interpreter, because this test process has imported
everything long ago.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict, cast

import pytest

from eventualshop.kernel.collector import PausedCollection
from eventualshop.runtime.start import quiet_start

ROOT = Path(__file__).resolve().parents[2]

#: Imports the composition root and builds a command's target as functions-framework does (after
#: importing itself and Flask), counting the collections that ran meanwhile; prints what it saw.
#: The module that pauses collection is imported first, and the counters start from zero: the few
#: allocations before the pause could otherwise complete a young generation's count by chance.
PROBE = """
import gc, json, os, sys
import functions_framework, flask
import eventualshop.runtime.start
gc.collect()
if sys.argv[1] == "off":
    gc.disable()
collections = []
count = lambda phase, info: phase == "start" and collections.append(info["generation"])
gc.callbacks.append(count)
import functions.main
after_import = gc.get_freeze_count()
functions.main.shopping_cart_create_cart
after_target = gc.get_freeze_count()
alive = [[] for _ in range(10)]  # what a request holds meanwhile: a freeze now would take them
assert not hasattr(functions.main, "no_such_function")
functions.main.shopping_cart_create_cart  # functions-framework asks twice
seen = {
    "collections": list(collections),
    "frozen_after_lookups": gc.get_freeze_count() - after_target,
    "enabled": gc.isenabled(),
    "frozen_after_import": after_import,
    "frozen_after_target": after_target,
    "plugins": os.environ.get("PYDANTIC_DISABLE_PLUGINS"),
}
gc.callbacks.remove(count)
gc.unfreeze()
seen["garbage"] = gc.collect()
print(json.dumps(seen))
"""


class Start(TypedDict):
    """What the probe saw."""

    collections: list[int]
    enabled: bool
    frozen_after_import: int
    frozen_after_target: int
    frozen_after_lookups: int
    plugins: str | None
    garbage: int


def _environment() -> dict[str, str]:
    """This process's environment without the plugin choice that importing functions.main set."""
    return {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}


def _start(collector: str = "on", **env: str) -> Start:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, collector],
        env=_environment() | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return cast(Start, json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def started() -> Start:
    return _start()


def test_no_collection_runs_while_the_function_starts(started: Start) -> None:
    # Importing the runtime, pydantic and the cart, and building the target, ran dozens of
    # collections before (one a full one in the first request of a forked worker).
    assert started["collections"] == []


def test_what_the_start_made_is_frozen_and_collection_is_back_on(
    started: Start,
) -> None:
    assert started["enabled"] is True
    after_import, after_target = started["frozen_after_import"], started["frozen_after_target"]
    assert after_import > 10_000  # the runtime and pydantic: thousands of objects
    assert after_target > after_import  # the cart's modules and target joined them


def test_a_missing_name_and_a_second_lookup_freeze_nothing_more(started: Start) -> None:
    # Freezing on a miss (a hasattr probe) would keep whatever was alive then, for good.
    assert started["frozen_after_lookups"] == 0


def test_the_garbage_frozen_with_the_start_is_small(started: Start) -> None:
    """The price of freezing without collecting first: the start's garbage is kept for good."""
    frozen, garbage = started["frozen_after_target"], started["garbage"]
    assert garbage < frozen // 20, (garbage, frozen)


def test_a_process_that_turned_collection_off_keeps_it_off() -> None:
    seen = _start("off")
    assert seen["enabled"] is False
    assert seen["frozen_after_target"] > seen["frozen_after_import"] > 0  # and still freezes


def test_pydantic_plugins_are_off_unless_the_environment_says_otherwise(
    started: Start,
) -> None:
    assert started["plugins"] == "__all__"
    assert _start(PYDANTIC_DISABLE_PLUGINS="")["plugins"] == ""  # asked for: they load


@pytest.fixture
def collector_state() -> Iterator[None]:
    """The tests below turn this process's collector off and freeze: put both back."""
    was_on = gc.isenabled()
    yield
    gc.unfreeze()
    if was_on:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.usefixtures("collector_state")
def test_the_collector_pauses_inside_and_freezes_on_the_way_out() -> None:
    gc.enable()
    with PausedCollection(freeze=True):
        assert not gc.isenabled()
        made = [object() for _ in range(3)]  # tracked objects to freeze
        frozen_before = gc.get_freeze_count()
    assert gc.isenabled()
    assert gc.get_freeze_count() > frozen_before
    del made


@pytest.mark.usefixtures("collector_state")
def test_the_collector_comes_back_on_when_the_start_fails() -> None:
    gc.enable()
    with pytest.raises(ImportError), PausedCollection(freeze=True):
        raise ImportError("no such module")
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_state")
def test_overlapping_starts_in_two_threads_share_one_pause() -> None:
    """Thread A starts, thread B starts, A finishes: B is still building, so collection stays
    paused and nothing is frozen until B finishes too."""
    gc.enable()
    first, second = PausedCollection(freeze=True), PausedCollection(freeze=True)
    done = threading.Event()

    def other_thread() -> None:
        second.__enter__()
        done.set()

    first.__enter__()
    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert done.is_set()
    frozen = gc.get_freeze_count()
    first.__exit__(None, None, None)
    assert not gc.isenabled()
    assert gc.get_freeze_count() == frozen
    second.__exit__(None, None, None)
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_state")
def test_nested_quiet_starts_leave_the_collector_to_the_outermost() -> None:
    gc.enable()
    with PausedCollection(freeze=True):
        with PausedCollection(freeze=True):
            pass
        assert not gc.isenabled()  # the inner one found it off, and leaves it off
    assert gc.isenabled()


def test_quiet_start_keeps_an_explicit_plugin_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "logfire")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gc, "freeze", lambda: None)  # keep this test process's objects unfrozen
        with quiet_start():
            pass
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "logfire"


#: The image's start (``gunicorn 'eventualshop.runtime.entry:create_app()'``): the entry module's
#: own imports and functions-framework's app come before functions/main.py. gunicorn's worker has
#: imported itself (and the standard library it uses) before it loads the app.
IMAGE_PROBE = """
import gc, json
import gunicorn.app.wsgiapp, gunicorn.workers.gthread
import eventualshop.runtime.start
gc.collect()
collections = []
count = lambda phase, info: phase == "start" and collections.append(info["generation"])
gc.callbacks.append(count)
from eventualshop.runtime.entry import create_app
create_app()
gc.callbacks.remove(count)
import pydantic.plugin._loader as plugins
print(json.dumps({"collections": collections, "plugins_searched": plugins._plugins is not None}))
"""


def test_the_image_start_pauses_collection_from_its_first_import(tmp_path: Path) -> None:
    from functions.registry import FUNCTIONS

    spec = next(s for s in FUNCTIONS if s.derived == "command:CreateCart")
    out = subprocess.run(
        [sys.executable, "-c", IMAGE_PROBE],
        env=_environment()
        | {
            "FUNCTION_SOURCE": spec.source,
            "FUNCTION_TARGET": spec.target,
            "FUNCTION_SIGNATURE_TYPE": spec.signature_type,
            "EVENTUALSHOP_DATA_DIR": str(tmp_path),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"collections": [], "plugins_searched": False}
