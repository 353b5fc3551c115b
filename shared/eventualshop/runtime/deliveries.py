"""The delivery key: what an event must carry to reach a CloudEvent function or the dead-letter
sink over HTTP.

Those functions believe what they are given: a projector writes into the read model whatever an
event says, the sink keeps a letter an operator may replay. Knative reaches them from its Broker
only (their Services are cluster-local), but ``serve`` answers ``POST /functions/<name>`` on the
API's own port: there anyone could have had a read model show what no aggregate raised, or
kept a dead letter no Trigger gave up on. So every such POST carries ``Authorization: Bearer
<key>``, which ``eventualshop dispatch`` sends, and one without it is a 401 before its body is
read.

The key is ``EVENTUALSHOP_DELIVERY_KEY`` (or its ``_FILE``); unset, ``serve`` and ``dispatch``
share one generated in the data folder on first use (``delivery.key``, mode 0600), as the
embedded shop keeps its other keys.
"""

from __future__ import annotations

import errno
import hmac
from typing import TYPE_CHECKING

from eventualshop.kernel.environment import kept_key
from eventualshop.runtime.problems import problem
from eventualshop.runtime.settings import DELIVERY_KEY_FORM

if TYPE_CHECKING:
    from flask import Request, Response

    from eventualshop.runtime.settings import Settings

KEPT_KEY_FILE = "delivery.key"
VARIABLE = "EVENTUALSHOP_DELIVERY_KEY"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="eventualshop-deliveries"'}


def delivery_key(config: Settings) -> str:
    """The key deliveries carry: the configured one, else the one kept in the data folder
    (made on first use)."""
    if config.delivery_key is not None:
        return config.delivery_key.get_secret_value()
    path = config.data_dir / KEPT_KEY_FILE
    key = kept_key(path).decode("utf-8", "replace")
    if not DELIVERY_KEY_FORM.fullmatch(key):  # a file edited by hand: never sent nor accepted
        raise OSError(errno.EINVAL, "holds no usable delivery key (delete it)", str(path))
    return key


def authorization(key: str) -> dict[str, str]:
    """The header a delivery carries."""
    return {"Authorization": f"Bearer {key}"}


def refusal(request: Request, key: str) -> Response | None:
    """``None`` when ``request`` carries ``key``; else the 401 problem to answer, the key
    compared in constant time, so the answer's timing tells nothing of it."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), key.encode()
    ):
        return None
    detail = (
        "a delivery carries the delivery key: Authorization: Bearer <key>"
        if not given.strip()
        else "that is not the delivery key"
    )
    return problem(401, "Unauthorized", detail, headers=CHALLENGE)
