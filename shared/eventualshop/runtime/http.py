"""HTTP edge of the command functions: request -> command -> application service -> response.

Every answer a client can provoke is a deliberate one: 202 with the outcome, 400/404/409/413/415
as RFC 9457 ``application/problem+json`` naming the fields at fault. Nothing a client sends can
produce a stack trace or a 500; only a fault of ours can, and then without details.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from flask import Request, Response
from pydantic import ValidationError

from eventualshop.kernel.errors import (
    AggregateNotFound,
    ConcurrencyConflict,
    IdempotencyKeyReused,
)
from eventualshop.kernel.identifiers import NOT_A_UUID, written_as_uuid
from eventualshop.kernel.messages import FINGERPRINT, Command
from eventualshop.kernel.paging import Page, Paging, PagingError
from eventualshop.kernel.service import CommandContext, Outcome
from eventualshop.kernel.validation import said
from eventualshop.runtime.after_commit import RelayAfterCommit
from eventualshop.runtime.logs import correlated, correlation_id
from eventualshop.runtime.problems import ProblemError, problem
from eventualshop.runtime.registry import Route
from eventualshop.runtime.unavailable import out_of_service, unreadable_body, unreadable_request

log = logging.getLogger("eventualshop.http")

MAX_BODY_BYTES = 64 * 1024
MAX_IDEMPOTENCY_KEY = 200  # the key is the inbox's message id: VARCHAR(200)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_CORRELATION = re.compile(r"^[\w.:\-]{1,128}$")


class CommandHandler(Protocol):
    def handle(self, command: Command, context: CommandContext | None = None) -> Outcome: ...


#: The route's access check (``runtime.auth.Guard``), in two steps: the request's token, before
#: anything else of the request is read (a 401 ``ProblemError``), then what it returns, on the
#: path parameters and body fields once they are read (a 403).
Authorize = Callable[[Request], Callable[[Mapping[str, Any]], None]]


def route_pattern(route: Route) -> re.Pattern[str]:
    """``/things/{thingId}/parts`` -> a regex with one named group per parameter."""
    parts = re.split(r"(\{[A-Za-z]+\})", route.path)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}/?$")


def validation_errors(
    error: ValidationError, renames: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """pydantic errors keyed by the field path as the client wrote it (camelCase, dotted);
    ``renames`` maps a command field back to the name the client used (a query parameter)."""
    errors: dict[str, list[str]] = {}
    for item in error.errors(include_url=False, include_input=False):
        parts = [str(part) for part in item["loc"]]
        if parts and renames and parts[0] in renames:
            parts[0] = renames[parts[0]]
        field = ".".join(parts) or "body"
        errors.setdefault(field, []).append(said(item))
    return errors


def read_json_body(request: Request, field: str = "") -> dict[str, Any]:
    """The request's JSON object. ``field``: the command field the whole body is (a bare value
    object), so a refusal names ``product.name`` as the command's own validation does."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise ProblemError(413, "Payload too large", f"the body may hold {MAX_BODY_BYTES} bytes")
    try:
        raw = request.stream.read(MAX_BODY_BYTES + 1)
    except Exception as error:
        # The server could not read the body as the headers describe it: gunicorn refuses a
        # body sent as ``Transfer-Encoding: chunked`` that is not chunked (``InvalidChunkSize``),
        # a chunk's bad terminator, a body that ends early. Its message quotes what it read (a
        # body's first line, a card number in it): the client's fault, a 400 that quotes
        # nothing, and nothing logged. It escaped as a 500, logged with its traceback. Any
        # other error is a fault of ours: still a 500 with its traceback.
        if not unreadable_request(error):
            raise
        raise unreadable_body() from None
    if len(raw) > MAX_BODY_BYTES:
        raise ProblemError(413, "Payload too large", f"the body may hold {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return {}
    if request.headers.get("Content-Encoding", "").strip():
        # Read as it came, a gzip body was "Malformed JSON", and a plain one sent with the
        # header was taken. RFC 9110 §15.5.16: say which codings are accepted; an empty
        # Accept-Encoding is "none" (§12.5.3), and the no-op coding is not to be sent (§8.4.1).
        raise ProblemError(
            415,
            "Unsupported media type",
            "send the body uncompressed, without a Content-Encoding header",
            headers={"Accept-Encoding": ""},
        )
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ProblemError(
            415,
            "Unsupported media type",
            "send the body as application/json",
        )
    text = _utf8(raw)
    try:
        body = _DECODER.decode(text)
    except _RepeatedKey:
        raise _repeated(text, field) from None
    except json.JSONDecodeError as error:
        raise ProblemError(
            400, "Malformed JSON", f"the body is not valid JSON: {error}", {"body": [str(error)]}
        ) from None
    except ValueError:
        # The one other ValueError of json.loads: an integer longer than Python converts
        # (sys.get_int_max_str_digits, a guard against quadratic time). Its own text advised
        # the client to call sys.set_int_max_str_digits(). Valid JSON, so not "Malformed".
        raise ProblemError(
            400,
            "Invalid body",
            "a number in the body is too long",
            {"body": [f"numbers may have at most {sys.get_int_max_str_digits()} digits"]},
        ) from None
    except RecursionError:  # "[[[[…": nested deeper than the parser's stack
        raise ProblemError(
            400, "Malformed JSON", "the body is nested too deeply", {"body": ["nested too deeply"]}
        ) from None
    if not isinstance(body, dict):
        raise ProblemError(
            400,
            "Invalid body",
            "the body must be a JSON object",
            {"body": ["expected a JSON object"]},
        )
    if b"\\u0000" in raw:  # JSON writes the NUL character only as this escape
        refuse_nul(body, field)
    return body


class _RepeatedKey(Exception):
    """Not a ValueError: json.loads's own refusals are, and are answered otherwise."""


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose names are unique. ``json.loads`` kept the last of a repeated name and
    dropped the others without a word, so ``{"quantity": 1, "quantity": 1000}`` was 1000 to us
    and maybe 1 to a proxy or validator that read the first (RFC 8259 §4: such an object's
    meaning is unpredictable). The hook costs about 1 µs a body (an add-item body, 356 bytes and
    three objects: 2.9 -> 3.8 µs a parse), against some 9 ms for that command, embedded."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _RepeatedKey
    return found


_DECODER = json.JSONDecoder(object_pairs_hook=_once_each)  # json.loads(hook=) built one a call


class _Marked(dict[str, Any]):
    """An object in which ``repeated`` appeared more than once (found on a second parse)."""

    repeated = ""


def _marked(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    marked = _Marked(found)
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            marked.repeated = name
            break
        seen.add(name)
    return marked


def _repeated(text: str, field: str) -> ProblemError:
    """The 400 naming, dotted as the client wrote it, the first name repeated in an object: the
    body parsed again, marking such objects (only a refused body pays for it)."""
    try:
        where = _first_repeated(json.loads(text, object_pairs_hook=_marked), field)
    except (ValueError, RecursionError):  # deeper on, the body is not JSON we read anyway
        where = None
    where = where or field or "body"
    return ProblemError(
        400,
        "Invalid body",
        f"{where} appears more than once in its object",
        {where: ["must appear once in its object"]},
    )


def _first_repeated(value: Any, field: str) -> str | None:
    if isinstance(value, _Marked):
        return f"{field}.{value.repeated}" if field else value.repeated
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = ((str(index), item) for index, item in enumerate(value))
    else:
        return None
    for key, item in items:
        found = _first_repeated(item, f"{field}.{key}" if field else key)
        if found is not None:
            return found
    return None


def _utf8(raw: bytes) -> str:
    """The body as text: JSON exchanged between systems is UTF-8 (RFC 8259 §8.1). ``json.loads``
    of bytes also read UTF-16 and UTF-32, where the NUL character is no ``\\u0000`` escape, so
    such a body got past the NUL refusal and its text was stored; and it decoded with
    ``surrogatepass``, taking the CESU-8 bytes of a lone surrogate, which no UTF-8 store keeps.
    A leading byte order mark is ignored, as the RFC lets a parser do (and as it was)."""
    # JSON holds no NUL byte anywhere (in a string it is the escape), UTF-16 and UTF-32 hold
    # one in every ASCII character: they decode as UTF-8, then read as garbage.
    if b"\x00" in raw:
        raise _not_utf8("it holds NUL bytes, as UTF-16 and UTF-32 do")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _not_utf8(f"byte {error.start} is not UTF-8") from None


def _not_utf8(why: str) -> ProblemError:
    return ProblemError(
        400,
        "Malformed JSON",
        f"the body must be JSON encoded as UTF-8: {why}",
        {"body": ["must be JSON encoded as UTF-8"]},
    )


_NUL = "\x00"


def refuse_nul(value: Any, field: str) -> None:
    """A 400 naming the field (dotted, as the client wrote it) of the first text that holds the
    NUL character. PostgreSQL keeps no NUL in text or JSONB: a product name with one was accepted,
    and every projection of it into a read model on PostgreSQL then failed, for good."""
    if isinstance(value, str):
        if _NUL in value:
            raise ProblemError(
                400,
                "Invalid request",
                "text may not contain the NUL character (U+0000)",
                {field or "body": ["must not contain the NUL character (U+0000)"]},
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key, field)
            refuse_nul(item, f"{field}.{key}" if field else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_nul(item, f"{field}.{index}" if field else str(index))


def _refuse_undecodable(request: Request, only: str) -> None:
    """A 400 if the query parameter ``only`` has percent-escapes that are not UTF-8. Werkzeug
    keeps such a value as its escapes (``title=%ff`` read as the text ``%FF``), which was then
    stored."""
    raw = request.query_string
    if b"%" not in raw:
        return
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        if urllib.parse.unquote(name.decode("latin-1"), errors="replace") != only:
            continue
        try:
            urllib.parse.unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise ProblemError(
                400,
                "Invalid request",
                f"the query parameter {only} is not UTF-8 text",
                {only: ["must be UTF-8 text, percent-encoded"]},
            ) from None


def query_value(request: Request, name: str) -> str | None:
    """The query parameter ``name`` (None when absent), or a 400 naming it when it is sent more
    than once. ``request.args[name]`` is the first of them: ``?quantity=1&quantity=1000`` was 1
    to us and 1000 to a proxy, a cache or a WAF that reads the last; neither is the client's
    evident meaning, so it is refused rather than picked. Escapes that are not UTF-8 are a 400
    too (``_refuse_undecodable``), wherever a parameter is read; one the route does not
    read (a tracker's ``utm=%ff``) is left alone."""
    _refuse_undecodable(request, name)
    values = request.args.getlist(name)
    if len(values) > 1:
        raise ProblemError(
            400,
            "Invalid request",
            f"the query parameter {name} is sent {len(values)} times",
            {name: ["must be sent once"]},
        )
    return values[0] if values else None


def command_context(request: Request) -> CommandContext:
    key = request.headers.get("Idempotency-Key")
    # Printable only: a control character (NUL) is refused by PostgreSQL's text types.
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise ProblemError(
            400,
            "Invalid header",
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters",
            {"Idempotency-Key": [f"must be 1-{MAX_IDEMPOTENCY_KEY} printable characters"]},
        )
    correlation = request.headers.get("CorrelationId") or request.headers.get("X-Correlation-Id")
    if correlation is not None and not _CORRELATION.match(correlation):
        raise ProblemError(
            400,
            "Invalid header",
            "CorrelationId must be an id such as a UUID",
            {"CorrelationId": ["must be 1-128 letters, digits, '-', '.', ':'"]},
        )
    traceparent = request.headers.get("traceparent")
    if traceparent is not None and not _TRACEPARENT.match(traceparent.strip().lower()):
        traceparent = None  # W3C: an invalid traceparent is ignored, not an error
    return CommandContext(
        message_id=key or str(uuid.uuid4()),
        correlation_id=correlation or str(uuid.uuid4()),
        traceparent=traceparent.strip().lower() if traceparent else None,
    )


def command_function(
    command_type: type[Command],
    route: Route,
    service: Callable[[], CommandHandler],
    *,
    query: Mapping[str, str] | None = None,
    body_field: str | None = None,
    location: Callable[[], str] | None = None,
    after_commit: Callable[[], None] | None = None,
    authorize: Authorize | None = None,
) -> Callable[[Request], Response]:
    """Build a functions-framework HTTP target for one command.

    ``query`` maps query-string names to command fields (``quantity`` -> ``newQuantity``);
    path parameters map by name; the JSON body supplies the rest, or only the field
    ``body_field`` where the original's body is a bare value object (an Address).
    ``location`` gives the read model to poll, with ``{aggregateId}`` to fill in (asked on
    every accepted command: the deployment's prefix is a setting, read once it is needed).
    """
    pattern = route_pattern(route)
    relay = RelayAfterCommit(after_commit) if after_commit is not None else None
    query = dict(query or {})
    client_names = {field: name for name, field in query.items()}

    def target(request: Request) -> Response:
        with correlated(None):  # set below, once the header is checked; reset when answered
            return handle(request)

    def handle(request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            if request.method != route.method:
                raise ProblemError(405, "Method not allowed", f"use {route.method}")
            context = command_context(request)
            correlation_id.set(context.correlation_id)
            headers = {"CorrelationId": context.correlation_id}
            if context.traceparent:
                headers["traceparent"] = context.traceparent
            match = pattern.match(request.path)
            if match is None:
                raise ProblemError(404, "Not found", f"no route {request.path}")
            permit = authorize(request) if authorize is not None else None
            body = read_json_body(request, body_field or "")
            data: dict[str, Any] = {body_field: body} if body_field else body
            for name, value in match.groupdict().items():
                data[name] = _from_path(name, path_uuid(name, value), data.get(name))
            for name, field in query.items():
                value = _from_query(name, field, query_value(request, name), data.pop(field, None))
                if value is not None:
                    refuse_nul(value, name)
                    data[field] = value
            if permit is not None:
                permit(data)
            try:
                command = command_type.model_validate(data)
            except ValidationError as error:
                # Only the client's input is a 400: a ValidationError from deeper down (our own
                # configuration, say) is our fault and falls through to the 500 below.
                raise ProblemError(
                    400,
                    "Invalid request",
                    "one or more fields are invalid",
                    validation_errors(error, client_names),
                ) from None
            # Same key, same request: the key is bound to what it was first sent with.
            context = replace(
                context, fingerprint=_fingerprint(request.method, route.path, command)
            )
            outcome = service().handle(command, context)
        except ProblemError as error:
            extra = {"Allow": route.method} if error.status == 405 else {}
            return problem(
                error.status,
                error.title,
                error.detail,
                errors=error.errors,
                headers=headers | extra | error.headers,
            )
        except IdempotencyKeyReused as error:
            return problem(
                422,
                "Idempotency-Key reused",
                str(error),
                code="idempotency-key-reused",
                errors={"Idempotency-Key": ["was first used with another request"]},
                headers=headers,
            )
        except AggregateNotFound as error:
            return problem(404, "Not found", str(error), headers=headers)
        except ConcurrencyConflict as error:
            return problem(
                409, "Conflict", f"{error}; retry the request", code="conflict", headers=headers
            )
        except Exception as error:
            # Nothing is half-written: the append is one transaction, rolled back on failure,
            # and a retry with the same Idempotency-Key is answered once whatever happened.
            unavailable = out_of_service(command_type.__name__, error, headers)
            if unavailable is not None:
                return unavailable
            log.exception("command %s failed", command_type.__name__)
            return problem(
                500, "Internal error", "the command could not be processed", headers=headers
            )
        if not outcome.accepted:
            return rejected(outcome, headers)
        if relay is not None and not outcome.duplicate:
            relay()
        body = {
            "aggregateId": str(outcome.aggregate_id),
            "commandId": outcome.message_id,
            "version": outcome.version,
            "events": list(outcome.event_types),
            "duplicate": outcome.duplicate,
        }
        template = location() if location is not None else None
        if template:
            headers["Location"] = template.format(aggregateId=outcome.aggregate_id)
        return Response(json.dumps(body), status=202, mimetype="application/json", headers=headers)

    target.__name__ = _snake(command_type.__name__)
    return target


def rejected(outcome: Outcome, headers: Mapping[str, str]) -> Response:
    """A command the domain refused: 409 with its stable code and its detail."""
    return problem(
        409,
        "Command rejected",
        outcome.rejection_detail or "rejected",
        code=outcome.rejection_code,
        headers=headers,
    )


def _from_path(name: str, in_path: uuid.UUID, in_body: Any) -> str:
    """The id the path names, where the body may repeat it: another id there is a mistake of
    the client's, not a choice for the path (it was dropped, and the command went to the path's
    aggregate, whichever the client meant)."""
    if in_body is not None and str(in_body).strip().lower() != str(in_path):
        raise ProblemError(
            400,
            "Invalid request",
            f"{name} in the body differs from the one in the path",
            {name: ["must be the one in the path, or left out of the body"]},
        )
    return str(in_path)


def _from_query(name: str, field: str, in_query: str | None, in_body: Any) -> str | None:
    """The command field ``field`` the route reads from the query parameter ``name``, where the
    body may repeat it, as it may a path id (:func:`_from_path`): the same value is taken, another
    one, or one the query lacks, is the client's mistake. Both were taken, the query overriding
    the body without a word (``{"title": "x"}`` with ``?title=q`` set q), and the body alone was
    taken too, although the API document gives such an operation no body field of that name.
    The same value is the query's text: a JSON string equal to it, or a number written so."""
    if in_body is None:  # null, as for a path id: not sent
        return in_query
    if in_query is None:
        raise ProblemError(
            400,
            "Invalid request",
            f"{field} is read from the query parameter {name}, not from the body",
            {field: [f"must be sent as the query parameter {name}, not in the body"]},
        )
    if _written(in_body) != in_query:
        raise ProblemError(
            400,
            "Invalid request",
            f"{field} in the body differs from the query parameter {name}",
            {field: [f"must be the query parameter {name}'s value, or left out of the body"]},
        )
    return in_query


def _written(value: Any) -> str | None:
    """A JSON string or number as a query parameter would write it; None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    return None


def _fingerprint(method: str, route: str, command: Command) -> str:
    """What an Idempotency-Key is bound to: the route (its template: the ids of the path are in
    the command, read as UUIDs, so a retry that spells them otherwise is the same request) and
    the command as the request set it (defaults the server filled in left out), every secret
    masked (pydantic dumps one as asterisks; a card number as the card's token, which the event
    keeps anyway: ``FINGERPRINT``). It is stored with the outcome, and a digest of a request
    holding a security code or a password is as good as the secret to whoever reads the store
    (a few thousand codes, a dictionary of passwords to try), so it must not depend on one: a
    repeat that differs in a security code or a password alone is the same request. The ``2:``
    names this form (:func:`kernel.service.same_request`)."""
    sent = command.model_dump(mode="json", exclude_unset=True, context={FINGERPRINT: True})
    canonical = json.dumps([method, route, sent], sort_keys=True, separators=(",", ":"))
    return "2:" + hashlib.sha256(canonical.encode()).hexdigest()


def path_uuid(name: str, value: str) -> uuid.UUID:
    """The path parameter ``name`` as a UUID, or a 400 naming it. Only the form the API gateway
    routes (``registry.UUID_PATTERN``): ``uuid.UUID`` alone also reads braces, a ``urn:uuid:``
    prefix and digits without hyphens, which a local shop served and a deployed one answered 404."""
    if not written_as_uuid(value):
        raise ProblemError(
            400,
            "Invalid path parameter",
            f"{name} must be a UUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
            {name: [NOT_A_UUID]},
        )
    return uuid.UUID(value)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


QueryAnswer = Mapping[str, Any] | Page | None


def query_function(
    route: Route,
    answer: Callable[[Mapping[str, uuid.UUID], Paging], QueryAnswer],
    authorize: Authorize | None = None,
) -> Callable[[Request], Response]:
    """Build a functions-framework HTTP target for one query.

    ``answer`` gets the path parameters as UUIDs and the paging (``limit``, ``offset``); it returns
    a document (200), a page (200, ``{items, page}``; an empty page is still 200) or ``None`` (404).
    """
    pattern = route_pattern(route)

    def target(request: Request) -> Response:
        correlation = request.headers.get("CorrelationId")
        with correlated(correlation if correlation and _CORRELATION.match(correlation) else None):
            return handle(request)

    def handle(request: Request) -> Response:
        try:
            if request.method not in ("GET", "HEAD"):
                raise ProblemError(405, "Method not allowed", "use GET")
            match = pattern.match(request.path)
            if match is None:
                raise ProblemError(404, "Not found", f"no route {request.path}")
            permit = authorize(request) if authorize is not None else None  # the token first
            ids = {name: path_uuid(name, v) for name, v in match.groupdict().items()}
            if permit is not None:
                permit(ids)
            try:
                paging = Paging.parse(query_value(request, "limit"), query_value(request, "offset"))
            except PagingError as error:
                raise ProblemError(
                    400, "Invalid paging", str(error), {error.field: [error.message]}
                ) from None
            found = answer(ids, paging)
        except ProblemError as error:
            return error.response()
        except Exception as error:
            unavailable = out_of_service(f"query {route.path}", error)
            if unavailable is not None:
                return unavailable
            log.exception("query %s failed", route.path)
            return problem(500, "Internal error", "the query could not be answered")
        if found is None:
            return problem(404, "Not found", f"nothing at {request.path}")
        body = found.to_json() if isinstance(found, Page) else dict(found)
        return Response(json.dumps(body), status=200, mimetype="application/json")

    return target
