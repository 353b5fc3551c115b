"""The timer sweep, triggered every minute by a PingSource (locally: by the server's timer).

It sends the commands that durable timers scheduled (``eventualshop.kernel.timers``) once they
fall due: a reservation that its cart did not check out in time, an email not confirmed in time.
A timer fires at most a minute late; firing twice is harmless (the command's message id is the
timer's), so overlapping sweeps need no lock.
"""

from __future__ import annotations

from typing import Any

from functions.main import ROOT


def fire(event: Any = None) -> int:
    """Fire every due timer of every context; return how many fired."""
    del event  # the PingSource's event carries nothing we need
    return ROOT.fire_timers()
