"""The dead-letter sink: keeps every event that exhausted its Trigger's retries.

Knative POSTs the failed event here with ``knativeerror*`` extensions, to ``?trigger=<name>``
(the generated Triggers add it), so ``eventualshop dead-letters replay`` can send it back to the
one Trigger that failed. A 2xx only after the letter is stored: otherwise Knative retries.
"""

from __future__ import annotations

import json

from flask import Request, Response

from eventualshop.runtime.broker.binding import BindingError, from_http
from eventualshop.runtime.broker.deadletters import from_error_event
from eventualshop.runtime.http import MAX_BODY_BYTES
from eventualshop.runtime.problems import problem
from functions.main import ROOT

MAX_TRIGGER = 253  # a Kubernetes object name, as the dead_letters.trigger column allows


def keep(request: Request) -> Response:
    if (request.content_length or 0) > MAX_BODY_BYTES * 16:
        return problem(413, "Payload too large", "a dead letter may hold 1 MiB")
    trigger = request.args.get("trigger")
    if trigger is not None and not 0 < len(trigger) <= MAX_TRIGGER:
        return problem(
            400,
            "Invalid trigger",
            f"trigger must be 1-{MAX_TRIGGER} characters",
            errors={"trigger": [f"must be 1-{MAX_TRIGGER} characters"]},
        )
    try:
        message = from_http(request.headers, request.get_data())
    except BindingError as error:
        return problem(400, "Not a CloudEvent", str(error))
    if len(message.id) > 255:
        return problem(
            400,
            "Invalid CloudEvent",
            "id may hold 255 characters",
            errors={"id": ["may hold 255 characters"]},
        )
    letter = from_error_event(message, trigger=trigger)
    letter_id = ROOT.dead_letter_store().add(letter)
    return Response(json.dumps({"deadLetterId": letter_id}), 202, mimetype="application/json")
