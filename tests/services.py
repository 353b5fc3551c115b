"""What a test does when a real server it needs is missing: skip here, fail under ``CI=true``.

On a developer's machine a missing PostgreSQL (RabbitMQ, MongoDB, ...) should not turn the run
red, but it must say why tests were skipped; in CI the server is part of the contract, so its
absence is a failure, never a silent skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the requesting test (or fixture) with ``reason``; fail it when ``CI=true``."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(reason)
