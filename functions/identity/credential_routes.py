"""Identity's credential functions at their routes (reference §7.4 rows 20-24, §6.4).

Secrets travel in JSON bodies only: the original's ``GET sign-in?email=&password=`` and
``PUT change-password?password=`` put them in URLs, which servers, proxies and browsers log.
The idempotency fingerprint of a sign-up leaves the password out, so no fast hash of it is
stored either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar, cast

from flask import Request, Response
from pydantic import BaseModel, SecretStr, ValidationError

from eventualshop.identity.commands import ChangeEmail, ChangePassword, RegisterUser
from eventualshop.identity.declaration import IDENTITY
from eventualshop.identity.queries import find_by_sign_in_email
from eventualshop.identity.user import User
from eventualshop.kernel.errors import (
    AggregateNotFound,
    ConcurrencyConflict,
    IdempotencyKeyReused,
)
from eventualshop.kernel.messages import Command
from eventualshop.kernel.readmodels import ReadModelStore
from eventualshop.kernel.service import CommandContext, Outcome
from eventualshop.runtime.auth import current_settings, jwks
from eventualshop.runtime.http import (
    command_context,
    path_uuid,
    query_value,
    read_json_body,
    refuse_nul,
    rejected,
    validation_errors,
)
from eventualshop.runtime.problems import ProblemError, bodiless, problem
from eventualshop.runtime.targets import command_location, guard
from eventualshop.runtime.unavailable import out_of_service
from functions.identity import credentials, emails, throttle, tokens
from functions.identity.forms import (
    NewEmail,
    NewPassword,
    RefreshToken,
    SignIn,
    SignUp,
    same_name,
)
from functions.main import ROOT

log = logging.getLogger("eventualshop.identity")
CONTEXT = IDENTITY.name
M = TypeVar("M", bound=BaseModel)
_SIGN_UP = uuid.UUID("0b6c7a52-4d0e-4c55-9d8e-5f2f3f1e2a10")  # names user ids made from keys
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="eventualshop"'}
#: An answer that holds tokens is kept by no cache, a browser's or a proxy's (RFC 6749 §5.1).
NOT_STORED = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_LOCATION = command_location(ROOT, IDENTITY)


def _parse(model: type[M], request: Request, method: str) -> M:
    """The JSON body as ``model``, on a request of ``method``."""
    _require(request, method)
    return _validated(model, read_json_body(request))


def _require(request: Request, method: str) -> None:
    if request.method != method:
        raise ProblemError(405, "Method not allowed", f"use {method}", headers={"Allow": method})


def _validated(model: type[M], data: object) -> M:
    """``data`` as ``model``, or the 400 naming each field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ProblemError(
            400, "Invalid request", "one or more fields are invalid", validation_errors(error)
        ) from None


def _confirmed(password: SecretStr, confirmation: SecretStr) -> None:
    if password.get_secret_value() != confirmation.get_secret_value():
        raise ProblemError(
            400,
            "Invalid request",
            "the password confirmation must match the password",
            {"passwordConfirmation": ["must match the password"]},
        )


def _answering(work: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Every answer a client can provoke is a problem+json 4xx; ours is a 500 without details;
    a page on another origin may call it (CORS, as every HTTP function)."""

    def target(request: Request) -> Response:
        try:
            return work(request)
        except ProblemError as error:
            return error.response()
        except IdempotencyKeyReused as error:
            return problem(422, "Idempotency-Key reused", str(error), code="idempotency-key-reused")
        except AggregateNotFound as error:  # as the derived command functions answer both
            return problem(404, "Not found", str(error))
        except ConcurrencyConflict as error:
            return problem(409, "Conflict", f"{error}; retry the request", code="conflict")
        except Exception as error:
            # A store that does not answer, or a setting this process cannot use: a 503 and one
            # line naming the dependency or the variable, as for every other function.
            unavailable = out_of_service(f"identity function {work.__name__}", error)
            if unavailable is not None:
                return unavailable
            # The type only: a message could quote a request, and requests here hold secrets.
            log.error("identity function %s failed: %s", work.__name__, type(error).__name__)
            return problem(500, "Internal error", "the request could not be processed")

    target.__name__ = work.__name__
    # Deployed from this file, a function is loaded as defined here: CORS is wrapped on here.
    return ROOT.http_function(target)


def _json(
    body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body), status=status, mimetype="application/json", headers=dict(headers or {})
    )


def _accepted(outcome: Outcome, headers: dict[str, str]) -> Response:
    if not outcome.accepted:
        return rejected(outcome, headers)
    if not outcome.duplicate and outcome.event_types:
        try:
            ROOT.relay_after_commit(CONTEXT)()
        except Exception:  # the sweep publishes what the relay could not
            log.warning("outbox relay after commit failed; the sweep will retry")
    user = str(outcome.aggregate_id)
    body = {
        "userId": user,
        "aggregateId": user,
        "commandId": outcome.message_id,
        "version": outcome.version,
        "events": list(outcome.event_types),
        "duplicate": outcome.duplicate,
    }
    headers["Location"] = _LOCATION().format(aggregateId=user)
    return _json(body, 202, headers)


def _fingerprint(*parts: object) -> str:
    """Of the form the derived command functions' are (``2:``, ``runtime.http._fingerprint``):
    they share the ``identity.User`` consumer, so a key reused from one route to the other is
    compared, and refused, rather than taken for an outcome of another form."""
    return "2:" + hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def _user(user_id: uuid.UUID) -> User | None:
    found = ROOT.service(CONTEXT).repository.load(user_id)
    return cast(User | None, found)


@_answering
def sign_up(request: Request) -> Response:
    form = _parse(SignUp, request, "POST")
    _confirmed(form.password, form.password_confirmation)
    if same_name(form.first_name, form.last_name):
        raise ProblemError(
            400, "Invalid request", "names differ", {"lastName": ["must differ from firstName"]}
        )
    context = command_context(request)
    store = ROOT.read_model_store()
    # A retried sign-up (same Idempotency-Key) is the same user: its claim on the email holds.
    key = request.headers.get("Idempotency-Key")
    user_id = uuid.uuid5(_SIGN_UP, key) if key else uuid.uuid4()

    def registration() -> RegisterUser:  # the password is kept once the email is claimed
        return RegisterUser(
            user_id=user_id,
            first_name=form.first_name,
            last_name=form.last_name,
            email=form.email,
            credential_id=credentials.keep(store, user_id, form.password),
        )

    fingerprint = _fingerprint("sign-up", form.first_name, form.last_name, form.email)
    return _under_claim(
        store, form.email, user_id, registration, replace(context, fingerprint=fingerprint)
    )


def _under_claim(
    store: ReadModelStore,
    email: str,
    user_id: uuid.UUID,
    command: Callable[[], Command],
    context: CommandContext,
) -> Response:
    """Claim ``email`` for ``user_id``, then handle the command. A refusal for good (a
    rejection, or the Idempotency-Key of another request) lets the claim lapse
    (``emails.let_go``); a failure that may pass (a conflict, a store down) keeps it: another
    attempt of the same request may be committing."""
    refused = _claim(store, email, user_id)
    if refused is not None:
        return refused
    try:
        outcome = ROOT.service(CONTEXT).handle(command(), context)
    except IdempotencyKeyReused:
        _let_go(store, email, user_id)
        raise
    if not outcome.accepted:
        _let_go(store, email, user_id)
    return _accepted(outcome, {"CorrelationId": context.correlation_id})


def _let_go(store: ReadModelStore, email: str, user_id: uuid.UUID) -> None:
    try:
        emails.let_go(store, email, user_id)
    except Exception:  # the refusal is the answer; the claim lapses in a minute anyway
        log.warning("could not give up the claim on an email; it lapses", exc_info=True)


def _claim(store: ReadModelStore, email: str, user_id: uuid.UUID) -> Response | None:
    """Claim ``email`` for ``user_id`` (``emails.claim``), or the 409 that says why not. A user
    who signs in with it already holds it, claimed or not (emails that became a user's before
    changed emails were claimed have no claim)."""
    holder = find_by_sign_in_email(store, email)
    claimed = (
        emails.Claim.TAKEN
        if holder is not None and holder["userId"] != str(user_id)
        else emails.claim(store, email, user_id, emails.holders_in(ROOT, email))
    )
    if claimed is emails.Claim.TAKEN:
        return problem(
            409, "Email taken", "a user already signs in with this email", code="email-taken"
        )
    if claimed is emails.Claim.PENDING:
        return problem(
            409,
            "Email claimed",
            "a sign-up with this email is under way; if it was yours and it failed, "
            "try again in a minute",
            code="email-claim-pending",
        )
    return None


@_answering
def change_email(request: Request) -> Response:
    """A user adds an email (it becomes the one they sign in with once confirmed). It is claimed
    first, as a sign-up claims its email: derived from the declaration, this route checked no
    other user, so a customer could add another user's email, confirm it (the confirmation link
    takes no token) and sign in with it, and the user who had it was locked out."""
    user_id = _path_user(request)
    guard(ROOT, IDENTITY, "owner", "/{userId}/change-email")(request)({"userId": str(user_id)})
    _require(request, "PUT")
    email = _email_to_add(request)
    context = command_context(request)
    if _user(user_id) is None:
        raise ProblemError(404, "Not found", f"no user {user_id}")
    command = ChangeEmail(user_id=user_id, email=email)
    fingerprint = _fingerprint("change-email", user_id, email)
    store, keyed = ROOT.read_model_store(), replace(context, fingerprint=fingerprint)
    return _under_claim(store, email, user_id, lambda: command, keyed)


def _email_to_add(request: Request) -> str:
    """The query's ``email``, checked as a derived route checks its query. The body is read as
    every command route reads one (over 64 KiB 413, not JSON 415, not an object 400), and holds
    nothing: it was not read at all, so a 70 KB or text/plain body was taken, and a body naming
    another email was silently ignored. A field in it is a 400 naming it, as an unknown field is
    on a derived route."""
    body = read_json_body(request)
    # Absent, it is absent (pydantic's "Field required", as a derived route's missing query);
    # it was passed on as None, "Input should be a valid string". Sent twice, a 400 (the first
    # was taken), as on every route.
    given = query_value(request, "email")
    query = {"email": given} if given is not None else {}
    refuse_nul(query.get("email", ""), "email")  # as a derived route's query
    errors = {
        name: [
            "send the email as the query parameter ?email="
            if name == "email"
            else "Extra inputs are not permitted"
        ]
        for name in body
    }
    try:
        email = NewEmail.model_validate(query).email
    except ValidationError as error:
        for field, said in validation_errors(error).items():
            errors.setdefault(field, []).extend(said)
    if errors:
        raise ProblemError(400, "Invalid request", "one or more fields are invalid", errors)
    return email


def _refused() -> ProblemError:
    return ProblemError(
        401,
        "Unauthorized",
        "wrong email or password",
        headers=CHALLENGE,
    )


@_answering
def sign_in(request: Request) -> Response:
    form = _parse(SignIn, request, "POST")
    store = ROOT.read_model_store()
    wait = throttle.attempt(store, form.email)
    if wait:
        return problem(
            429,
            "Too many attempts",
            f"too many failed sign-ins for this email; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    user = _signing_in(store, form.email)
    live = user is not None and not user.is_deleted
    # The hash is checked whether or not the email is known (a decoy hash when it is not), so
    # both answers take as long.
    credential = user.credential_id if user is not None and live else None
    if not credentials.matches(store, credential, form.password) or user is None:
        raise _refused()  # counted as a failure already (``throttle.attempt``)
    refresh = tokens.start_family(store, user.id)
    # A change of password signs out every session it finds once its command is stored; a
    # sign-in that checked the old password just before, and starts its session just after,
    # was not among them and kept a session for good. So the password is looked at again
    # once the session exists: changed since, the session ends here.
    now = _user(user.id)
    if now is None or now.is_deleted or now.credential_id != user.credential_id:
        tokens.revoke(store, refresh)
        raise _refused()
    throttle.succeeded(store, form.email)
    return _json(tokens.token_answer(_holder(user), refresh), headers=NOT_STORED)


def _signing_in(store: ReadModelStore, email: str) -> User | None:
    """The user who signs in with ``email`` now: claimed at sign-up, or primary since."""
    claimed = emails.owner(store, email)
    found = find_by_sign_in_email(store, email) if claimed is None else None
    user_id = claimed or (uuid.UUID(str(found["userId"])) if found else None)
    user = _user(user_id) if user_id is not None else None
    if user is None or user.sign_in_email != email:
        return None  # e.g. an email that was primary before another one was confirmed
    return user


def _holder(user: User) -> tokens.Holder:
    return tokens.Holder(user.id, user.first_name, user.last_name, user.sign_in_email, user.roles)


@_answering
def refresh(request: Request) -> Response:
    form = _parse(RefreshToken, request, "POST")
    store = ROOT.read_model_store()
    try:
        user_id, family = tokens.spend(store, form.refresh_token)
    except tokens.RefreshRefused as refused:
        raise ProblemError(
            401,
            "Unauthorized",
            str(refused),
            headers=CHALLENGE,
        ) from None
    user = _user(user_id)
    if user is None or user.is_deleted:
        tokens.revoke_family(store, family)
        raise ProblemError(401, "Unauthorized", "the user no longer exists", headers=CHALLENGE)
    answer = tokens.token_answer(_holder(user), tokens.rotate(store, user_id, family))
    return _json(answer, headers=NOT_STORED)


@_answering
def sign_out(request: Request) -> Response:
    form = _parse(RefreshToken, request, "POST")
    tokens.revoke(ROOT.read_model_store(), form.refresh_token)
    return bodiless(204)


@_answering
def change_password(request: Request) -> Response:
    user_id = _path_user(request)
    # The same check as every derived route: the user themself, or an admin.
    guard(ROOT, IDENTITY, "owner", "/{userId}/change-password")(request)({"userId": str(user_id)})
    form = _parse(NewPassword, request, "PUT")
    _confirmed(form.password, form.password_confirmation)
    context = command_context(request)
    headers = {"CorrelationId": context.correlation_id}
    user = _user(user_id)
    if user is None:
        raise ProblemError(404, "Not found", f"no user {user_id}")
    store = ROOT.read_model_store()
    credential = user.credential_id
    if user.is_deleted or not credentials.matches(store, credential, form.password):
        credential = credentials.keep(store, user_id, form.password)
    # The same password again names the current credential: no event, and 202 all the same.
    command = ChangePassword(user_id=user_id, credential_id=credential)
    # The credential tells two passwords apart without holding either (as a card's token does).
    # So a retry after another change of password is refused (422): its password is no longer the
    # current one, and names a new credential. Left so: taking the credential out answered a
    # different password under a reused key as a duplicate, and changed nothing.
    fingerprint = _fingerprint("change-password", user_id, credential)
    outcome = ROOT.service(CONTEXT).handle(command, replace(context, fingerprint=fingerprint))
    if outcome.accepted and outcome.event_types and not outcome.duplicate:
        tokens.revoke_user(store, user_id)  # a new password signs out every other session
    return _accepted(outcome, headers)


def _path_user(request: Request) -> uuid.UUID:
    parts = request.path.rstrip("/").split("/")
    return path_uuid("userId", parts[-2] if len(parts) > 1 else "")


@_answering
def jwks_document(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise ProblemError(405, "Method not allowed", "use GET", headers={"Allow": "GET"})
    return _json(jwks(current_settings()), headers={"Cache-Control": "public, max-age=300"})
