"""CloudEvents 1.0 at the edges: outbox JSON, HTTP (binary and structured), AMQP, the SDK object.

Everything in between handles one neutral value, :class:`CloudEventMessage`: the attributes as
strings (context attributes and extensions alike, ``data`` excluded) plus the data as bytes. Each
edge has a pair of converters, and every converter rejects malformed input with
:class:`BindingError`, whose text is safe to answer to a client (no stack trace, no internals).

Follows: the CloudEvents JSON event format and HTTP protocol binding 1.0.2 (binary mode: one
``ce-`` header per attribute, percent-encoded, ``datacontenttype`` as ``Content-Type``;
structured mode: ``application/cloudevents+json``), and the eventing-rabbitmq message layout
(every attribute an application header, ``content_type`` = datacontenttype, ``message_id`` = event
id, persistent delivery mode).

Deviations, on purpose:

* AMQP headers are written with the ``ce-`` prefix (the CloudEvents AMQP binding's).
  eventing-rabbitmq's own ingress writes bare names, but its dispatcher strips an optional
  ``ce-`` prefix when reading, so both sides interoperate; the prefix keeps broker filters out of
  the way of ``x-`` and foreign headers.
  Reading accepts both forms; a prefixed header wins over a bare one.
* Attribute values are carried in their canonical *string* form. An integer or boolean attribute
  of a structured event becomes a string; structured output writes every attribute as a string.
  Binary modes can only carry strings anyway, so this is what makes all modes round-trip.
* Only ``specversion`` 1.0 is accepted; the batched content mode is rejected.
* ``data`` given as a JSON value is re-serialised compactly (``separators=(",", ":")``), which is
  byte-identical to the pydantic output the outbox stores.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from cloudevents.abstract import CloudEvent as AbstractCloudEvent
    from cloudevents.http import CloudEvent

    from eventualshop.kernel.eventstore import OutboxEntry

SPEC_VERSION = "1.0"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
REQUIRED_ATTRIBUTES = ("id", "source", "specversion", "type")
CONTEXT_ATTRIBUTES = frozenset(
    {"id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time"}
)
HTTP_PREFIX = "ce-"
AMQP_PREFIX = "ce-"
PERSISTENT = 2  # AMQP delivery mode: the broker writes the message to disk

# The spec asks for lower-case ASCII letters and digits (and at most 20 characters, a SHOULD);
# the upper bound here only stops absurd input, it does not enforce the recommendation.
_ATTRIBUTE_NAME = re.compile(r"[a-z0-9]{1,64}")
# HTTP binding 3.1.3.2: printable ASCII stays as is, except '"' and '%' (and space) which are
# percent-encoded together with everything outside U+0021..U+007E.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


class BindingError(ValueError):
    """Input that is not a valid CloudEvent. ``str(error)`` is a short, client-safe reason."""


class SupportsItems(Protocol):
    """Anything with ``items()``: a dict, werkzeug ``Headers``, ``http.client.HTTPMessage``."""

    def items(self) -> Iterable[tuple[str, str]]: ...


@dataclass(frozen=True, slots=True)
class CloudEventMessage:
    """A validated CloudEvent: every attribute (extensions included) as a string, data as bytes.

    Construction validates, so holding one means the required attributes are there. Treat
    ``attributes`` as read-only; it is a private copy of what was passed in.
    """

    attributes: Mapping[str, str]
    data: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", validate_attributes(self.attributes))
        if not isinstance(self.data, bytes):
            object.__setattr__(self, "data", bytes(self.data))

    @property
    def id(self) -> str:
        return self.attributes["id"]

    @property
    def type(self) -> str:
        return self.attributes["type"]

    @property
    def source(self) -> str:
        return self.attributes["source"]

    @property
    def specversion(self) -> str:
        return self.attributes["specversion"]

    @property
    def subject(self) -> str | None:
        return self.attributes.get("subject")

    @property
    def datacontenttype(self) -> str | None:
        return self.attributes.get("datacontenttype")

    @property
    def extensions(self) -> dict[str, str]:
        return {k: v for k, v in self.attributes.items() if k not in CONTEXT_ATTRIBUTES}

    def json(self) -> Any:
        """The data parsed as JSON (``None`` without data); raises ``BindingError`` if it is not."""
        if not self.data:
            return None
        try:
            return _loads(self.data)
        except ValueError:
            raise BindingError("event data is not valid JSON") from None


@dataclass(frozen=True, slots=True)
class AmqpMessage:
    """What goes into ``basic.publish``: application headers, body and the basic properties."""

    headers: dict[str, str]
    body: bytes
    content_type: str | None
    message_id: str
    delivery_mode: int = PERSISTENT


# ---------------------------------------------------------------------------------- validation


def validate_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """A checked copy: names lower-case alphanumeric, values strings, required ones present."""
    checked: dict[str, str] = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
            raise BindingError(f"invalid attribute name {str(name)[:40]!r}")
        if not isinstance(value, str):
            raise BindingError(f"attribute {name!r} must be a string")
        checked[name] = value
    for name in REQUIRED_ATTRIBUTES:
        if not checked.get(name):
            raise BindingError(f"missing required attribute {name!r}")
    if checked["specversion"] != SPEC_VERSION:
        raise BindingError(f"unsupported specversion {checked['specversion'][:20]!r}")
    time = checked.get("time")
    if time is not None:
        try:
            datetime.fromisoformat(time)
        except ValueError:
            raise BindingError("attribute 'time' is not an RFC 3339 timestamp") from None
    return checked


def is_json_content_type(content_type: str | None) -> bool:
    """JSON data per the JSON format: no content type at all, ``*/json`` or ``*/*+json``."""
    if content_type is None:
        return True
    media = _media_type(content_type)
    return media in ("application/json", "text/json") or media.endswith("+json")


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_text(content_type: str | None) -> bool:
    return content_type is not None and _media_type(content_type).startswith("text/")


def _dump_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# ------------------------------------------------------------------- structured mode (JSON format)


def parse_structured(text: str | bytes) -> CloudEventMessage:
    """A structured-mode CloudEvent (the JSON event format), e.g. an outbox row's payload."""
    try:
        document = _loads(text)
    except ValueError:
        raise BindingError("structured CloudEvent is not valid JSON") from None
    if not isinstance(document, dict):
        raise BindingError("structured CloudEvent must be a JSON object")
    try:
        return _from_json_object(document)
    except RecursionError:  # data nested just under the parser's limit, too deep to re-serialise
        raise BindingError("structured CloudEvent data is nested too deeply") from None


def _loads(text: str | bytes) -> Any:
    """``json.loads``, with input nested deeper than the parser's stack ("[[[[…") refused as
    invalid JSON: the caller's ``ValueError`` path answers 400 instead of a 500 and retries."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def from_outbox(entry: OutboxEntry) -> CloudEventMessage:
    """The CloudEvent an outbox row holds; the error names the row, for whoever must fix it."""
    try:
        return parse_structured(entry.payload)
    except BindingError as error:
        raise BindingError(f"outbox row {entry.id} (event {entry.event_id}): {error}") from None


def _from_json_object(document: Mapping[str, Any]) -> CloudEventMessage:
    if "data" in document and "data_base64" in document:
        raise BindingError("structured CloudEvent has both 'data' and 'data_base64'")
    attributes: dict[str, str] = {}
    for name, value in document.items():
        if name in ("data", "data_base64") or value is None:
            continue  # the JSON format treats a null attribute as absent
        attributes[name] = _attribute_string(name, value)
    content_type = attributes.get("datacontenttype")
    data = b""
    if document.get("data_base64") is not None:
        encoded = document["data_base64"]
        if not isinstance(encoded, str):
            raise BindingError("'data_base64' must be a string")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BindingError("'data_base64' is not valid base64") from None
    elif document.get("data") is not None:
        value = document["data"]
        if isinstance(value, str) and not is_json_content_type(content_type):
            data = value.encode()
        else:
            data = _dump_json(value)
    return CloudEventMessage(attributes, data)


def _attribute_string(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise BindingError(f"attribute {str(name)[:40]!r} must be a string, integer or boolean")


def structured_json(message: CloudEventMessage) -> str:
    """The JSON event format; JSON data is spliced in as is, other data as text or base64."""
    head = json.dumps(dict(message.attributes), separators=(",", ":"), ensure_ascii=False)
    if not message.data:
        return head
    content_type = message.datacontenttype
    if is_json_content_type(content_type):
        try:
            text = message.data.decode()
            _loads(text)
        except ValueError:
            pass  # declared JSON but is not: base64 keeps the bytes intact rather than failing
        else:
            return f'{head[:-1]},"data":{text}}}'
    elif _is_text(content_type):
        try:
            text = message.data.decode()
        except UnicodeDecodeError:
            pass
        else:
            return f'{head[:-1]},"data":{json.dumps(text, ensure_ascii=False)}}}'
    encoded = base64.b64encode(message.data).decode("ascii")
    return f'{head[:-1]},"data_base64":"{encoded}"}}'


# ----------------------------------------------------------------------------------------- HTTP


def to_structured(message: CloudEventMessage) -> tuple[dict[str, str], bytes]:
    """HTTP structured mode: the whole event in the body as ``application/cloudevents+json``."""
    headers = {"Content-Type": f"{STRUCTURED_CONTENT_TYPE}; charset=utf-8"}
    return headers, structured_json(message).encode()


def to_binary(message: CloudEventMessage) -> tuple[dict[str, str], bytes]:
    """HTTP binary mode: attributes as ``ce-`` headers, the data as the body."""
    headers: dict[str, str] = {}
    for name, value in message.attributes.items():
        if name == "datacontenttype":
            headers["Content-Type"] = value
        else:
            headers[HTTP_PREFIX + name] = _encode_header_value(value)
    return headers, message.data


def from_http(headers: Mapping[str, str] | SupportsItems, body: bytes | str) -> CloudEventMessage:
    """A CloudEvent from an HTTP request in binary or structured mode."""
    lowered = {name.lower(): value for name, value in headers.items()}
    raw = body.encode() if isinstance(body, str) else bytes(body)
    content_type = lowered.get("content-type")
    media = _media_type(content_type) if content_type else ""
    if media.startswith("application/cloudevents-batch"):
        raise BindingError("the batched content mode is not supported")
    if media.startswith("application/cloudevents"):
        if media != STRUCTURED_CONTENT_TYPE:
            raise BindingError(f"unsupported event format {media[:60]!r}")
        return parse_structured(raw)
    if HTTP_PREFIX + "specversion" not in lowered:
        raise BindingError("not a CloudEvent: no ce-specversion header and no structured body")
    attributes: dict[str, str] = {}
    for name, value in lowered.items():
        if name.startswith(HTTP_PREFIX):
            attributes[name[len(HTTP_PREFIX) :]] = _decode_header_value(name, value)
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return CloudEventMessage(attributes, raw)


def _encode_header_value(value: str) -> str:
    return quote(value, safe=_HEADER_SAFE)


def _decode_header_value(name: str, value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        # RFC 7230 quoted-string first, then one round of percent-decoding (binding 3.1.3.2).
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise BindingError(f"header {name[:40]!r} is not valid percent-encoded UTF-8") from None


# ----------------------------------------------------------------------------------------- AMQP


def to_amqp(message: CloudEventMessage) -> AmqpMessage:
    """Every attribute (datacontenttype too) as a ``ce-`` header, so a headers exchange can match
    any of them; the basic properties repeat content type and id for AMQP-native tooling."""
    headers = {AMQP_PREFIX + name: value for name, value in message.attributes.items()}
    return AmqpMessage(
        headers=headers,
        body=message.data,
        content_type=message.datacontenttype,
        message_id=message.id,
    )


def from_amqp(
    headers: Mapping[str, Any] | None,
    body: bytes,
    *,
    content_type: str | None = None,
    message_id: str | None = None,
) -> CloudEventMessage:
    """A CloudEvent from an AMQP message: ``ce-`` headers (or eventing-rabbitmq's bare names).

    ``x-`` headers belong to RabbitMQ or to the dispatcher and never become attributes. A bare
    header that is not a valid attribute name is a foreign header and is ignored; a ``ce-``
    header that cannot be an attribute makes the message malformed.
    """
    prefixed: dict[str, str] = {}
    bare: dict[str, str] = {}
    for key, value in (headers or {}).items():
        name = key.lower()
        if name.startswith("x-"):
            continue
        if name.startswith(AMQP_PREFIX):
            prefixed[name[len(AMQP_PREFIX) :]] = _amqp_string(name, value, strict=True) or ""
            continue
        if name == "content-type":
            name = "datacontenttype"
        text = _amqp_string(name, value, strict=False)
        if text is not None and _ATTRIBUTE_NAME.fullmatch(name):
            bare[name] = text
    if "specversion" not in prefixed and "specversion" not in bare:
        raise BindingError("not a CloudEvent: no specversion header")
    attributes = {**bare, **prefixed}
    if "datacontenttype" not in attributes and content_type:
        attributes["datacontenttype"] = content_type
    if "id" not in attributes and message_id:
        attributes["id"] = message_id
    return CloudEventMessage(attributes, bytes(body))


def _amqp_string(name: str, value: Any, *, strict: bool) -> str | None:
    # pika hands back field-table strings as str, or bytes when they are not UTF-8 text.
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            if strict:
                raise BindingError(f"header {name[:40]!r} is not UTF-8 text") from None
            return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if strict:
        raise BindingError(f"header {name[:40]!r} has a type no attribute can have")
    return None


# ------------------------------------------------------------------------------ CloudEvents SDK


def to_sdk(message: CloudEventMessage) -> CloudEvent:
    """The SDK's ``CloudEvent`` (what functions-framework hands to a CloudEvent function)."""
    from cloudevents.http import CloudEvent

    content_type = message.datacontenttype
    data: Any = None
    if message.data:
        data = message.data
        if is_json_content_type(content_type):
            with contextlib.suppress(ValueError):  # declared JSON but is not: hand over bytes
                data = _loads(message.data)
        elif _is_text(content_type):
            with contextlib.suppress(UnicodeDecodeError):
                data = message.data.decode()
    return CloudEvent(dict(message.attributes), data)


def from_sdk(event: AbstractCloudEvent) -> CloudEventMessage:
    """Our message from an SDK event; JSON data is serialised compactly, bytes kept as they are."""
    attributes: dict[str, str] = {}
    for name in event:
        value = event[name]
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        attributes[name] = _attribute_string(name, value)
    payload = event.get_data()
    if payload is None:
        data = b""
    elif isinstance(payload, bytes | bytearray):
        data = bytes(payload)
    elif isinstance(payload, str) and not is_json_content_type(attributes.get("datacontenttype")):
        data = payload.encode()
    else:
        try:
            data = _dump_json(payload)
        except (TypeError, ValueError):
            raise BindingError("event data cannot be serialised as JSON") from None
    return CloudEventMessage(attributes, data)
