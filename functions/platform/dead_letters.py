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
from eventualshop.runtime.http import MAX_BODY_BYTES, query_value
from eventualshop.runtime.problems import ProblemError, problem
from functions.main import ROOT

MAX_TRIGGER = 253  # a Kubernetes object name, as the dead_letters.trigger column allows


MAX_LETTER = MAX_BODY_BYTES * 16  # 1 MiB: a command's body, and more than any event of ours


def keep(request: Request) -> Response:
    if request.method != "POST":  # an HTTP function takes every method: a GET kept a letter
        return problem(405, "Method not allowed", "use POST", headers={"Allow": "POST"})
    too_large = problem(413, "Payload too large", "a dead letter may hold 1 MiB")
    if (request.content_length or 0) > MAX_LETTER:
        return too_large
    try:
        trigger = query_value(request, "trigger")
    except ProblemError as error:
        return error.response()
    if trigger is not None and not 0 < len(trigger) <= MAX_TRIGGER:
        return problem(
            400,
            "Invalid trigger",
            f"trigger must be 1-{MAX_TRIGGER} characters",
            errors={"trigger": [f"must be 1-{MAX_TRIGGER} characters"]},
        )
    body = request.stream.read(MAX_LETTER + 1)  # a chunked body has no length to check first
    if len(body) > MAX_LETTER:
        return too_large
    try:
        message = from_http(request.headers, body)
    except BindingError as error:
        return problem(400, "Not a CloudEvent", str(error))
    # An id or a type of any length is kept: the letter's columns hold their first 255
    # characters, its attributes the whole event (``DeadLetter``).
    letter = from_error_event(message, trigger=trigger)
    letter_id = ROOT.dead_letter_store().add(letter)
    return Response(json.dumps({"deadLetterId": letter_id}), 202, mimetype="application/json")
