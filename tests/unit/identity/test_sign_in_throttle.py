"""The sign-in throttle counts attempts sent together one by one (``functions/identity/throttle``).

The finding: sign-in read the count, checked the password, then counted the failure. Sixteen
wrong passwords sent together (the server's threads) all read "not held" and were all checked,
where five are allowed; and two failures counted together were counted as one."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventualshop.kernel.readmodels import ReadModelStore
from functions.identity import throttle
from functions.main import ROOT

EMAIL = "ada@example.com"


class _Together:
    """A store whose reads of the throttle's count wait until every attempt has read once: the
    widest interleaving sign-ins sent together can have."""

    def __init__(self, store: ReadModelStore, parties: int) -> None:
        self._store = store
        self._barrier = threading.Barrier(parties, timeout=10)
        self._first: set[int] = set()

    def get(self, collection: str, id: str) -> Any:
        found = self._store.get(collection, id)
        if threading.get_ident() not in self._first:
            self._first.add(threading.get_ident())
            self._barrier.wait()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReadModelStore]:
    for name in list(os.environ):  # the embedded stores of this test alone
        if name.startswith("EVENTUALSHOP_") and not name.startswith("EVENTUALSHOP_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EVENTUALSHOP_IDENTITY_SIGN_IN_ATTEMPTS", "5")
    ROOT.reset()
    yield ROOT.read_model_store()
    ROOT.reset()


def test_attempts_sent_together_are_counted_one_by_one(store: ReadModelStore) -> None:
    parties = 12
    together = _Together(store, parties)
    waits: list[int] = []

    def sign_in() -> None:
        waits.append(throttle.attempt(together, EMAIL))  # type: ignore[arg-type]

    threads = [threading.Thread(target=sign_in) for _ in range(parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(w == 0 for w in waits) == [False] * (parties - 5) + [True] * 5
    assert throttle.attempt(store, EMAIL) > 0  # held now


def test_a_success_starts_the_count_again(store: ReadModelStore) -> None:
    for _ in range(4):
        assert throttle.attempt(store, EMAIL, now=1000.0) == 0
    throttle.succeeded(store, EMAIL)
    for _ in range(5):
        assert throttle.attempt(store, EMAIL, now=1000.0) == 0
    assert throttle.attempt(store, EMAIL, now=1000.0) > 0
