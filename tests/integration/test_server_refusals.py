"""What gunicorn refuses before the shop sees a request, answered as a problem like the rest.

``eventualshop serve`` runs as a real process here; the image's command has the same check in
``tests/unit/test_deploy_artefacts.py``; both send ``tests/refusals.py``'s requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.support import ShopProcess
from tests.refusals import assert_refusals_are_problems, exchange


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[ShopProcess]:
    process = ShopProcess({"EVENTUALSHOP_BROKER": "inprocess"}, tmp_path)
    process.start()
    yield process
    process.close()


def test_what_gunicorn_refuses_in_serve_is_answered_as_a_problem(shop: ShopProcess) -> None:
    assert_refusals_are_problems(shop.port)


def test_a_request_gunicorn_takes_still_reaches_the_shop(shop: ShopProcess) -> None:
    """The worker class changes gunicorn's refusals only: the shop answers as before."""
    status, headers, body = exchange(
        shop.port, b"GET /api/v1/catalogs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200, body[:200]
    assert headers["content-type"].startswith("application/json")
