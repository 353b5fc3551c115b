"""``eventualshop demo``: the scripted session runs on an embedded shop of its own and shows
the back office (an inventory, a catalog, as an admin), the cart (as a customer who signed up and
signed in), and the stock the cart holds; with authorization on, as by default, and off."""

from __future__ import annotations

import re

import pytest

from functions.demo import run_demo
from functions.main import ROOT


@pytest.mark.parametrize("auth", ["on", "off"])
def test_the_demo_creates_an_inventory_and_a_catalog_and_uses_them(
    monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    # The demo points the process at a throw-away folder and port: undone after the test.
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", "unused")
    monkeypatch.setenv("EVENTUALSHOP_PORT", "0")
    monkeypatch.setenv("EVENTUALSHOP_BROKER", "inprocess")
    monkeypatch.setenv("EVENTUALSHOP_AUTH", auth)
    lines: list[str] = []
    try:
        steps = run_demo(None, ROOT, out=lines.append)
    finally:
        ROOT.reset()
    text = "\n".join(lines)
    assert steps == 21, text  # with sign-up, sign-in and the admin's sign-in
    assert '["InventoryCreated"]' in text
    assert '["CatalogActivated"]' in text
    assert "('Keyboard', {'amount': '49.90', 'currency': 'USD'})" in text
    assert "quantity 10 reserved 3 available 7" in text
    # Every HTTP step got the answer the script meant: none was refused for want of a token.
    statuses = [int(m[1]) for m in re.finditer(r" (?:GET|POST|PUT|DELETE)\s+(\d{3}) ", text)]
    assert len(statuses) == 17, text
    assert not {401, 403} & set(statuses), text
    assert "accessToken" not in text
