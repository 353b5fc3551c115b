"""What a CloudEvent function answers a request that claims to be an event and is not one it can
read: a 400 problem, on every way a function is served (the image's app, functions-framework's
own command), as on ``serve``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask, Response


def answer_as_a_function(app: Flask, signature_type: str) -> None:
    """What every served function answers besides its target (the image's app, and
    functions-framework's own): whatever escapes the target, or the framework refuses, as a
    problem (``unavailable.answer_errors``), and, for an event function, an unreadable
    CloudEvent as a 400."""
    from eventualshop.runtime.unavailable import answer_errors

    answer_errors(app)
    if signature_type == "cloudevent":
        refuse_unreadable_events(app)


def refuse_unreadable_events(app: Flask) -> None:
    """A POST that claims to be a CloudEvent but cannot be read as one is a 400 problem, as on
    ``serve``, and Knative does not retry a 400. functions-framework reads the event with the
    CloudEvents SDK before the target runs, and what the SDK could not read escaped it as a
    TypeError (a structured body that is a JSON array), a UnicodeDecodeError (one that is not
    UTF-8), a RecursionError (JSON nested deeper than the parser goes) or a plain error (the
    batched mode): a 500, retried as if the function had failed, a traceback logged each time.
    The SDK also read specversion 0.3, which the shop's binding refuses. So the shop's binding
    reads it first (its data too, where the SDK would parse it as JSON); data that is JSON of
    another shape, or no JSON at all, still reaches the target, which keeps it as a dead letter.
    """
    import json

    from flask import request

    from eventualshop.runtime.broker.binding import (
        HTTP_PREFIX,
        BindingError,
        from_http,
        is_json_content_type,
    )
    from eventualshop.runtime.problems import problem

    def check() -> Response | None:
        if request.method != "POST":
            return None
        claims = HTTP_PREFIX + "specversion" in request.headers or request.mimetype.startswith(
            "application/cloudevents"
        )
        if not claims:
            return None  # functions-framework refuses it (a 400 problem) or a tick takes it
        try:
            message = from_http(request.headers, request.get_data())
        except BindingError as error:
            return problem(400, "Not a CloudEvent", str(error))
        if message.data and is_json_content_type(message.datacontenttype):
            try:
                json.loads(message.data)
            except RecursionError:
                return problem(400, "Not a CloudEvent", "event data is nested too deeply")
            except ValueError:
                pass  # no JSON: the SDK hands it over as text, and the target keeps the letter
        return None

    app.before_request(check)
