"""The folder of the embedded stores and kept keys is its owner's alone.

The read models hold password hashes and refresh-token digests, the data folder the signing,
delivery and card-token keys. sqlite3 creates its files readable by everyone (mode 0644 under
the usual umask), so the folder that holds them is what keeps other users of the machine out.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from eventualshop.adapters.event_store_driver import open_event_store
from eventualshop.adapters.event_store_sql import SqlEventStore
from eventualshop.kernel.environment import kept_key
from eventualshop.runtime.root import Root
from functions.registry import CONTEXTS, FUNCTIONS


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder not made yet, named to a root configured by nothing else."""
    for name in [n for n in os.environ if n.startswith("EVENTUALSHOP_")]:
        monkeypatch.delenv(name)
    folder = tmp_path / "data"
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(folder))
    return folder


def _through_the_root(opens: Callable[[Root], object]) -> Callable[[Path], None]:
    def run(_: Path) -> None:
        root = Root(CONTEXTS, FUNCTIONS)
        try:
            opens(root)
        finally:
            root.reset()

    return run


OPENERS: dict[str, Callable[[Path], object]] = {
    "the root's event store": _through_the_root(lambda root: root.event_store(CONTEXTS[0].name)),
    "the root's read models": _through_the_root(lambda root: root.read_model_store()),
    "the root's dead letters": _through_the_root(lambda root: root.dead_letter_store()),
    "a kept key": lambda folder: kept_key(folder / "some.key"),
    "the driver path's store": lambda folder: open_event_store(
        f"sqlite:///{folder / 'events.sqlite3'}", migrate=True
    ).close(),
    "the SQLAlchemy store": lambda folder: SqlEventStore.from_url(
        f"sqlite:///{folder / 'events.sqlite3'}", migrate=True
    ).engine.dispose(),
}


@pytest.mark.parametrize("opens", OPENERS.values(), ids=OPENERS.keys())
def test_a_data_folder_made_for_a_store_or_a_key_is_readable_by_its_owner_only(
    data: Path, opens: Callable[[Path], object]
) -> None:
    opens(data)
    assert data.is_dir()
    assert _mode(data) == 0o700


def test_a_folder_that_is_there_keeps_the_mode_its_owner_gave_it(data: Path) -> None:
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # whatever the umask took off
    OPENERS["the root's read models"](data)
    assert _mode(data) == 0o755
