"""``EVENTUALSHOP_AGGREGATE_CACHE``: the composition root gives each context's application
service an aggregate cache of that size; unset, none (see the README's Configuration)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventualshop.runtime.root import Root
from eventualshop.shopping_cart.commands import CreateCart
from functions.registry import CONTEXTS, FUNCTIONS

CONTEXT = "shopping-cart"


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [n for n in os.environ if n.startswith("EVENTUALSHOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    return monkeypatch


@pytest.fixture
def root() -> Iterator[Root]:
    made = Root(CONTEXTS, FUNCTIONS)
    try:
        yield made
    finally:
        made.reset()


def test_without_the_variable_a_service_keeps_no_states(
    environment: pytest.MonkeyPatch, root: Root
) -> None:
    del environment
    assert root.service(CONTEXT).cache is None


def test_the_variable_sizes_every_service_cache_and_a_command_fills_it(
    environment: pytest.MonkeyPatch, root: Root
) -> None:
    environment.setenv("EVENTUALSHOP_AGGREGATE_CACHE", "25")
    service = root.service(CONTEXT)
    assert service.cache is not None
    assert service.cache.size == 25
    cart_id = uuid.uuid4()
    service.handle(CreateCart(cart_id=cart_id, customer_id=uuid.uuid4(), currency="USD"))
    cached = service.cache.get(cart_id)
    assert cached is not None
    assert cached.version == 1


def test_a_negative_size_is_refused_naming_the_variable(
    environment: pytest.MonkeyPatch, root: Root
) -> None:
    environment.setenv("EVENTUALSHOP_AGGREGATE_CACHE", "-1")
    with pytest.raises(ValueError, match="aggregate_cache"):
        root.settings()
