"""``EVENTUALSHOP_AGGREGATE_CACHE``: the composition root gives each context's application
service an aggregate cache of that size; unset, none (see the README's Configuration)."""

from __future__ import annotations

import uuid

import pytest

from eventualshop.runtime.root import Root
from eventualshop.shopping_cart.commands import CreateCart

CONTEXT = "shopping-cart"


@pytest.fixture
def environment(embedded_root: Root, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The test's own environment (``embedded_root`` cleared it); settings are read lazily."""
    return monkeypatch


@pytest.fixture
def root(embedded_root: Root) -> Root:
    return embedded_root


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
