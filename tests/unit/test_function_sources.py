"""Every function source starts in a fresh interpreter as the image starts it (and is ready),
and no source's file name hides a module another one imports.

The finding: functions-framework loads a function's source file as a module named after the
file's stem, in ``sys.modules``. Identity's credential functions lived in ``http.py``, so a
deployed sign-up, sign-in, refresh, sign-out, change-password or JWKS function put itself in the
standard library's ``http`` package's place, and its own imports then failed
(``import jwt`` -> ``urllib.request`` -> ``http.client``): ``AttributeError: module 'http' has
no attribute 'client'``, at every start. The tests in one pytest process never saw it, because
``urllib.request`` was imported there long before.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from functions.registry import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
#: One function of each source file (they start alike).
BY_SOURCE = {spec.source: spec for spec in FUNCTIONS}

START = """
import sys, time
from eventualshop.runtime.entry import create_app
app = create_app(sys.argv[1], sys.argv[2], sys.argv[3])
# What the platform asks first: the readiness probe (it opens what the function needs). A probe
# gives a store 0.8 s, and a first open migrates it: on a busy machine the platform functions'
# first answer can be a 503 while their stores' migrations run on. The platform probes again,
# and so does this, for up to 30 s.
client = app.test_client()
deadline = time.monotonic() + 30
while (status := client.get("/health/readiness").status_code) != 200:
    if time.monotonic() > deadline:
        break
    time.sleep(0.5)
print(status)
"""


@pytest.mark.parametrize("source", sorted(BY_SOURCE))
def test_the_source_starts_in_a_fresh_interpreter_as_the_image_starts_it(
    source: str, tmp_path: Path
) -> None:
    spec = BY_SOURCE[source]
    started = subprocess.run(
        [sys.executable, "-c", START, spec.target, spec.source, spec.signature_type],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "EVENTUALSHOP_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr[-2000:]
    assert started.stdout.split() == ["200"], (started.stdout, started.stderr[-2000:])


@pytest.mark.parametrize("source", sorted(BY_SOURCE))
def test_no_source_is_named_as_a_module_it_would_hide(source: str) -> None:
    stem = Path(source).stem
    assert stem not in sys.stdlib_module_names, f"{source} would hide the standard {stem!r}"
    assert stem not in {"functions", "eventualshop"}, f"{source} would hide the project's {stem}"
    found = importlib.util.find_spec(stem)
    # Itself, once functions-framework has loaded it in this process (it adds the source's
    # folder to sys.path), and nothing else.
    itself = found is not None and found.origin == str((ROOT / source).resolve())
    assert found is None or itself, f"{source} would hide {stem!r} ({found.origin})"
