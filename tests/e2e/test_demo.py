"""``eventualshop demo``: the scripted session runs on an embedded shop of its own and shows
the back office (an inventory, a catalog), the cart, and the stock the cart holds."""

from __future__ import annotations

import pytest

from functions.demo import run_demo
from functions.main import ROOT


def test_the_demo_creates_an_inventory_and_a_catalog_and_uses_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The demo points the process at a throw-away folder and port: undone after the test.
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", "unused")
    monkeypatch.setenv("EVENTUALSHOP_PORT", "0")
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "inprocess")
    lines: list[str] = []
    try:
        steps = run_demo(None, ROOT, out=lines.append)
    finally:
        ROOT.reset()
    text = "\n".join(lines)
    assert steps == 20, text  # with sign-up and sign-in
    assert '["InventoryCreated"]' in text
    assert '["CatalogActivated"]' in text
    assert "('Keyboard', {'amount': '49.90', 'currency': 'USD'})" in text
    assert "quantity 10 reserved 3 available 7" in text
