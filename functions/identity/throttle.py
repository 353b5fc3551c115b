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
#: Conditional writes an attempt tries before it is told to wait (each miss means another
#: attempt was counted, so it only runs out under a flood of them).
_TRIES = 50


def _key(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()  # the collection names no email


def attempt(store: ReadModelStore, email: str, *, now: float | None = None) -> int:
    """Count a sign-in before its password is checked (a failure until it succeeds): 0 when it
    may go on, else the seconds to wait. Counted first, in one conditional write per attempt:
    checked first and counted after the password, sign-ins sent together all passed the check
    before any was counted (sixteen, the server's threads, where five were allowed), and two
    failures counted together were one."""
    settings = IdentitySettings()
    key = _key(email)
    for _ in range(_TRIES):
        moment = now if now is not None else time.time()
        found = store.get(FAILURES, key)
        if found is not None and float(found["heldUntil"]) > moment:
            return max(1, math.ceil(float(found["heldUntil"]) - moment))
        failures = int(found["failures"]) + 1 if found else 1
        over = failures - settings.sign_in_attempts
        hold = min(MAX_HOLD, settings.lockout_seconds * 2 ** min(over, 20))
        version = int(found["version"]) + 1 if found else 1
        counted = {
            "id": key,
            "failures": failures,
            "heldUntil": moment + hold if over >= 0 else 0,
            "version": version,
        }
        if store.upsert_if_newer(FAILURES, counted):
            return 0
        # Another attempt was counted first: read again.
    return 1  # this many attempts at once for one email: one more second is no one's loss


def succeeded(store: ReadModelStore, email: str) -> None:
    """The attempt's password was right: the count starts again."""
    store.delete(FAILURES, _key(email))
