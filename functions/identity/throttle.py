"""Repeated failed sign-ins for one email are held back: after ``sign_in_attempts`` failures in a
row, each further failure doubles the wait (from ``lockout_seconds``, at most 15 minutes), and
sign-in answers 429 with ``Retry-After`` until it is over. Unknown emails are counted the same
way, so the answer never tells whether an email is registered. A success clears the count."""

from __future__ import annotations

import hashlib
import math
import time

from eventualshop.identity.settings import IdentitySettings
from eventualshop.kernel.readmodels import ReadModelStore

FAILURES = "IdentitySignInFailures"
MAX_HOLD = 15 * 60


def _key(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()  # the collection names no email


def retry_after(store: ReadModelStore, email: str, *, now: float | None = None) -> int:
    """Seconds to wait before the next attempt; 0 when one may try now."""
    found = store.get(FAILURES, _key(email))
    moment = now if now is not None else time.time()
    if found is None or float(found["heldUntil"]) <= moment:
        return 0
    return max(1, math.ceil(float(found["heldUntil"]) - moment))


def failed(store: ReadModelStore, email: str, *, now: float | None = None) -> None:
    settings = IdentitySettings()
    moment = now if now is not None else time.time()
    key = _key(email)
    found = store.get(FAILURES, key)
    failures = int(found["failures"]) + 1 if found else 1
    over = failures - settings.sign_in_attempts
    held = moment + min(MAX_HOLD, settings.lockout_seconds * 2 ** min(over, 20)) if over >= 0 else 0
    version = int(found["version"]) + 1 if found else 1
    store.upsert_if_newer(
        FAILURES, {"id": key, "failures": failures, "heldUntil": held, "version": version}
    )


def succeeded(store: ReadModelStore, email: str) -> None:
    store.delete(FAILURES, _key(email))
