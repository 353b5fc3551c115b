"""The dead-letter sink: keeps every event that exhausted its Trigger's retries.

Knative POSTs the failed event here with ``knativeerror*`` extensions, to ``?trigger=<name>``
(the generated Triggers add it), so ``eventualshop dead-letters replay`` can send it back to the
one Trigger that failed. A 2xx only after the letter is stored: otherwise Knative retries.
"""

from __future__ import annotations

import json

from flask import Request, Response

from eventualshop.runtime import wiring
from eventualshop.runtime.broker.binding import BindingError, from_http
from eventualshop.runtime.broker.deadletters import from_error_event
from eventualshop.runtime.http import problem


def keep(request: Request) -> Response:
    try:
        message = from_http(request.headers, request.get_data())
    except BindingError as error:
        return problem(400, "Not a CloudEvent", str(error))
    letter = from_error_event(message, trigger=request.args.get("trigger"))
    letter_id = wiring.dead_letter_store().add(letter)
    return Response(json.dumps({"deadLetterId": letter_id}), 202, mimetype="application/json")
