"""Configuration from environment variables (prefix ``EVENTUALSHOP_``), with embedded defaults
so that a fresh clone runs with nothing installed: SQLite files under ``var/`` and an in-process
broker. Point the URLs at PostgreSQL, MongoDB or RabbitMQ to use real servers instead.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import SplitResult, parse_qsl, urlsplit

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from eventualshop.kernel.environment import (
    FILE_SUFFIX,
    EnvironmentConfig,
    EnvironmentSettings,
    UnreadableFile,
    read_setting_file,
)
from eventualshop.runtime.cors import Origins

DEFAULT_DATA_DIR = Path("var")
PREFIX = "EVENTUALSHOP_"

#: The variables the shop reads outside any settings model, each from its ``_FILE`` too: the
#: admin ``users create-admin`` makes and the demo signs in as.
READ_ELSEWHERE = (f"{PREFIX}ADMIN_EMAIL", f"{PREFIX}ADMIN_PASSWORD")
#: Variables under these prefixes are not the shop's settings: the tests' and the benchmarks' own.
NOT_SETTINGS = (f"{PREFIX}TEST_", f"{PREFIX}BENCH_")
#: The module of the runtime's other settings model (authorization's, ``EVENTUALSHOP_AUTH…``);
#: a context's are in the module of its ``configure`` hook.
RUNTIME_SETTINGS = "eventualshop.runtime.auth"

#: The stores the shop has adapters for, by a URL's scheme (before any ``+driver``), with what
#: to write instead of a URL of another.
EVENT_STORES = (
    frozenset({"sqlite", "postgresql", "postgres", "mssql"}),
    "sqlite:///…, postgresql://… or mssql+pyodbc://…",
)
#: ``EVENTUALSHOP_<CONTEXT>`` + this: one context's own event store.
CONTEXT_EVENT_STORE_SUFFIX = "_EVENT_STORE_URL"
READ_MODEL_STORES = (
    frozenset({"sqlite", "postgresql", "postgres", "mongodb", "memory"}),
    "sqlite:///…, postgresql://… or mongodb://…",
)


def store_scheme(url: str) -> str:
    """A store URL's scheme without its driver (``postgresql+psycopg://…`` -> ``postgresql``);
    empty for a URL without one."""
    return url.partition(":")[0].partition("+")[0].lower() if ":" in url else ""


def unsupported_store(url: str, stores: tuple[frozenset[str], str]) -> str | None:
    """Why ``url`` names none of ``stores``, in a sentence that shows only its scheme (a URL may
    carry a password); ``None`` when it names one. Caught here, a wrong URL stops the process in
    one line before anything opens, instead of in SQLAlchemy's plugin loader on first use."""
    schemes, expected = stores
    scheme = store_scheme(url)
    if scheme not in schemes:
        named = f"'{scheme}:' is" if scheme else "a URL without a scheme is"
        return f"{named} no store the shop has; use {expected}"
    return _malformed(url, scheme, expected)


#: The drivers each store's URL may name (``postgresql+psycopg``); none named is the default.
DRIVERS = {
    "sqlite": frozenset({"pysqlite"}),
    "postgresql": frozenset({"psycopg"}),
    "postgres": frozenset({"psycopg"}),
    "mssql": frozenset({"pyodbc"}),
    "mongodb": frozenset({"srv"}),
    "memory": frozenset(),
}


def _malformed(url: str, scheme: str, expected: str) -> str | None:
    """What is wrong with the form of a URL of a store the shop has, shown without the URL:
    a driver the shop lacks, no ``//``, a port that is no port, an in-memory SQLite database.
    Caught at start, each was a driver's or SQLAlchemy's error (exit 1) on first use."""
    written, _, rest = url.partition(":")
    driver = written.partition("+")[2].lower()
    if driver and driver not in DRIVERS.get(scheme, frozenset()):
        drivers = ", ".join(sorted(DRIVERS.get(scheme, ()))) or "none"
        return f"'{written}:' names a driver the shop lacks (it has: {drivers}); use {expected}"
    if scheme == "memory":  # ``memory:``, the tests' in-process read models: nothing to parse
        return None
    if not rest.startswith("//"):
        return f"'{written}:' must be followed by // (a URL such as {expected})"
    parts = urlsplit(url)
    # A MongoDB list of hosts (a comma) is pymongo's to read. Else a port that does not parse is
    # most often a password holding / ? or #, which end the host part of a URL: libpq and
    # pymongo read it so too, so it is refused here rather than by the driver.
    if not _port_parses(parts) and "," not in parts.netloc:
        return (
            "the host part does not parse: give the port as a number, and percent-encode "
            "any of : / ? # @ in the user or the password (%2F for /)"
        )
    if (scheme == "mongodb" and driver != "srv") or scheme in ("postgresql", "postgres"):
        # srv asks the DNS: pymongo's, on first use. libpq takes no host (its socket).
        refused = _host_list_problem(parts, need_host=scheme == "mongodb")
        if refused is not None:
            return refused
    if scheme == "sqlite" and parts.path in ("", "/", "/:memory:"):
        # Every connection would get a database of its own: a server's threads would not see
        # each other's writes (a read model empty after 202s).
        return "an in-memory SQLite database is one per connection; name a file: sqlite:///path"
    return None


def _host_list_problem(parts: SplitResult, *, need_host: bool) -> str | None:
    """What the driver would refuse in a URL's hosts on first use, exit 1 (pymongo's "InvalidURI:
    Must provide at least one hostname or IP" and "Port contains non-digit characters",
    SQLAlchemy's "invalid literal for int()" for a PostgreSQL list): no host where one is
    needed, or a listed host whose port is no number from 0 to 65535. Read here without
    importing a driver, which a function's start does not otherwise pay for."""
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        if not need_host:
            return None
        return "names no host: write mongodb://host[:port][,host[:port]…]/database"
    for host in hosts.split(","):
        name, colon, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        if colon and not (port.isascii() and port.isdigit() and int(port) <= 65535):
            return (
                "the host part does not parse: give each host's port as a number, and "
                "percent-encode any of : / ? # @ in the user or the password (%2F for /)"
            )
        if need_host and not (name if colon else host):
            return "names an empty host: write mongodb://host[:port][,host[:port]…]/database"
    return None


def _port_parses(parts: SplitResult) -> bool:
    """Whether a URL's port, if it names one, is a number from 0 to 65535."""
    try:
        parts.port  # noqa: B018 (raises for a port that is not a number from 0 to 65535)
    except ValueError:
        return False
    return True


#: The query parameters of an AMQP URL that pika reads as numbers.
_AMQP_NUMBERS = frozenset(
    {
        "heartbeat",
        "channel_max",
        "connection_attempts",
        "frame_max",
        "retry_delay",
        "socket_timeout",
        "stack_timeout",
        "blocked_connection_timeout",
    }
)
_NUMBER = re.compile(r"\d+(\.\d+)?", re.ASCII)

#: What RabbitMQ takes as an exchange's name.
_EXCHANGE = re.compile(r"[\w.:-]{1,255}", re.ASCII)

#: What a delivery key may hold: it travels in a header (``Authorization: Bearer <key>``), so
#: visible ASCII without spaces, and at least 16 characters, so it cannot be guessed.
DELIVERY_KEY_FORM = re.compile(r"[\x21-\x7e]{16,}", re.ASCII)

#: Path segments of letters, digits, ``-._~`` or the one placeholder ``{function}``.
_LOCATION_PREFIX = re.compile(r"(/([\w.~-]|\{function\})+)+")


class Settings(EnvironmentSettings):
    """``Settings()`` reads the environment; each field is one variable (``EVENTUALSHOP_`` +
    its name, ``K_SINK`` by its alias). Not pydantic-settings: see ``kernel.environment``."""

    model_config: ClassVar[EnvironmentConfig] = EnvironmentConfig(env_prefix=PREFIX, extra="ignore")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="where the embedded SQLite files live")
    event_store_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the event store: sqlite:///…, postgresql://…, "
        "mssql+pyodbc://…; default: an SQLite file in data_dir",
    )
    read_model_url: str | None = Field(
        None,
        description="read-model store: sqlite:///…, postgresql://… or mongodb://…; "
        "default: an SQLite file in data_dir",
    )
    broker: Literal["inprocess", "rabbitmq", "knative"] = "inprocess"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    broker_exchange: str = Field(
        "eventualshop",
        description="the RabbitMQ exchange events are published to (letters, digits, - _ . :)",
    )
    knative_sink: str | None = Field(
        None, validation_alias="K_SINK", description="broker ingress URL (Knative SinkBinding)"
    )
    snapshot_interval: int | None = Field(
        None, ge=1, le=100, description="override every aggregate type's snapshot interval"
    )
    aggregate_cache: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="how many aggregate states a warm instance keeps per context to decide the "
        "next command without loading (0: off); worth it when one instance gets an aggregate's "
        "consecutive commands (the embedded shop, sticky routing)",
    )
    # Empty is refused, not taken as every interface: exposure is asked for by name (0.0.0.0).
    host: str = Field("127.0.0.1", min_length=1, description="the address serve listens on")
    port: int = Field(8080, ge=1, le=65535)
    location_prefix: str = Field(
        "",
        description="what goes before the path of a command's Location: nothing where one host "
        "serves the /api/v1 paths (serve, Knative's HTTPRoutes); /function/{function} behind the "
        "OpenFaaS gateway, {function} being the query function that serves the path",
    )

    cors_origins: str = Field(
        "*",
        description="which origins a browser page may call the API from: * (any, as the "
        "original allowed), origins separated by commas (https://shop.example.com,"
        "http://localhost:5173), or empty (none); never with cookies: the API takes bearer tokens",
    )

    delivery_key: SecretStr | None = Field(
        None,
        description="the secret every POST /functions/<name> of serve must carry "
        "(Authorization: Bearer <key>), which eventualshop dispatch sends; unset: one generated "
        "once in data_dir (delivery.key), which serve and dispatch on the same data_dir share",
    )

    auto_migrate: bool = Field(
        True, description="create or upgrade the tables on first use (else: eventualshop migrate)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    #: ``EVENTUALSHOP_<CONTEXT>_EVENT_STORE_URL`` by ``<CONTEXT>`` (upper case, _ for -), as read at
    #: validation (``_each_context_an_event_store``).
    _own_event_stores: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("data_dir", mode="before")
    @classmethod
    def _a_folder(cls, folder: object) -> object:
        # Empty read as the current folder: the stores went wherever the shop was started, and
        # the commands that look for a shop found one there.
        if isinstance(folder, str) and not folder.strip():
            raise PydanticCustomError(
                "no_folder", "must name a folder (. for the current one), not be empty"
            )
        return folder

    @field_validator("broker", mode="before")
    @classmethod
    def _a_broker_without_spaces(cls, broker: object) -> object:
        # Taken before in any case and without the spaces around it; the case is every word's
        # now (``EnvironmentSettings``), the spaces still the broker's alone.
        return broker.strip().lower() if isinstance(broker, str) else broker

    @field_validator("rabbitmq_url")
    @classmethod
    def _an_amqp_url(cls, url: str) -> str:
        # Checked here without pika (every function reads these settings): pika's own parser
        # answered a URL without a scheme with "IndexError: list index out of range".
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise PydanticCustomError(
                "not_an_amqp_url", "must be amqp://user:password@host:5672/vhost (or amqps://…)"
            )
        # And what pika would refuse with a ValueError on first use (exit 1, after migrating).
        if not _port_parses(parts):
            raise PydanticCustomError("not_an_amqp_url", "the port is not a number from 0 to 65535")
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name in _AMQP_NUMBERS and not _NUMBER.fullmatch(value):
                raise PydanticCustomError(
                    "not_an_amqp_url", "the query parameter {name} must be a number", {"name": name}
                )
        return url

    @field_validator("broker_exchange")
    @classmethod
    def _an_exchange_name(cls, name: str) -> str:
        # Refused here, at start: the default exchange ("") and the broker's own (amq.*) refuse
        # a publisher, and that surfaced as a dispatcher's traceback after "Listening at".
        if not _EXCHANGE.fullmatch(name) or name.startswith("amq."):
            raise PydanticCustomError(
                "not_an_exchange",
                "must be an exchange name of letters, digits, - _ . or : (at most 255), not "
                "empty and not starting with amq.",
            )
        return name

    @field_validator("knative_sink")
    @classmethod
    def _a_sink_url(cls, url: str | None) -> str | None:
        # Unchecked, "K_SINK=notaurl" started, and every command then logged a failed relay.
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise PydanticCustomError(
                    "not_a_sink", "must be the broker's ingress URL, http(s)://host/…"
                )
        return url

    @field_validator("location_prefix")
    @classmethod
    def _a_path_prefix(cls, prefix: str) -> str:
        # A Location is built from it on every accepted command: refused here, at start, rather
        # than as a header no client can follow.
        if prefix and not _LOCATION_PREFIX.fullmatch(prefix):
            raise PydanticCustomError(
                "not_a_location_prefix",
                "must be empty or a path such as /function/{function} (no trailing slash)",
            )
        return prefix

    @field_validator("delivery_key")
    @classmethod
    def _a_delivery_key(cls, key: SecretStr | None) -> SecretStr | None:
        # Refused at start, in one line: a key no header can carry would refuse every delivery.
        if key is not None and not DELIVERY_KEY_FORM.fullmatch(key.get_secret_value()):
            raise PydanticCustomError(
                "not_a_delivery_key",
                "must be 16 or more visible ASCII characters without spaces "
                "(e.g. `openssl rand -hex 32`)",
            )
        return key

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, text: str) -> str:
        try:
            Origins.parse(text)
        except ValueError as error:
            raise PydanticCustomError("not_origins", str(error)) from None
        return text

    @cached_property
    def origins(self) -> Origins:
        """``cors_origins`` read (checked when the settings were)."""
        return Origins.parse(self.cors_origins)

    @field_validator("event_store_url")
    @classmethod
    def _an_event_store(cls, url: str | None) -> str | None:
        return _checked(url, EVENT_STORES)

    @field_validator("read_model_url")
    @classmethod
    def _a_read_model_store(cls, url: str | None) -> str | None:
        return _checked(url, READ_MODEL_STORES)

    @model_validator(mode="after")
    def _each_context_an_event_store(self) -> Settings:
        # ``EVENTUALSHOP_<CONTEXT>_EVENT_STORE_URL`` is no field (the settings name no context):
        # read and checked here all the same, as a field is (its ``_FILE`` too, any case), so a
        # wrong one stops the start as a field would. The shared one is the field, checked above.
        own: dict[str, str] = {}
        for key, (variable, url) in sorted(context_event_stores(os.environ).items()):
            if isinstance(url, UnreadableFile):
                raise url.error(type(self).__name__)
            wrong = unsupported_store(url, EVENT_STORES)
            if wrong is not None:
                raise PydanticCustomError("unsupported_store", f"{variable}: {wrong}")
            own[key] = url
        self._own_event_stores = own
        return self

    @property
    def embedded(self) -> bool:
        """The laptop default: nothing shared with another process (no store URL, no broker)."""
        return (
            self.event_store_url is None
            and not self._own_event_stores
            and self.read_model_url is None
            and (self.broker == "inprocess")
        )

    def own_event_store(self, context: str) -> str | None:
        """The URL ``EVENTUALSHOP_<CONTEXT>_EVENT_STORE_URL`` gives ``context``, if any."""
        return self._own_event_stores.get(context.replace("-", "_").upper())

    def resolved_event_store_url(self, context: str) -> str:
        """One database per context by default; a URL set here is shared by every context, but
        ``EVENTUALSHOP_<CONTEXT>_EVENT_STORE_URL`` gives one context a database of its own.

        Two contexts whose aggregates share ids must not share an event store while a stream is
        keyed by the aggregate id alone: one would find the other's events in its stream (the
        README's "Using PostgreSQL" names the pair)."""
        own = self.own_event_store(context)
        if own:
            return own
        if self.event_store_url:
            return self.event_store_url
        return f"sqlite:///{self.data_dir / f'eventstore-{context}.sqlite3'}"

    def resolved_read_model_url(self) -> str:
        return self.read_model_url or f"sqlite:///{self.data_dir / 'readmodels.sqlite3'}"


def context_event_stores(
    environ: Mapping[str, str],
) -> dict[str, tuple[str, str | UnreadableFile]]:
    """``<CONTEXT>`` -> (variable, URL) of every context's own event store:
    ``EVENTUALSHOP_<CONTEXT>_EVENT_STORE_URL``, or the file its ``_FILE`` variable names, as
    every setting may be given (``kernel.environment``). Names are compared without regard to
    case, as the settings' are; the variable itself wins over its file."""
    shared = f"{PREFIX}EVENT_STORE_URL"
    given: dict[str, tuple[str, str | UnreadableFile]] = {}
    files: dict[str, tuple[str, str]] = {}
    for variable, value in environ.items():
        name = variable.upper()
        if not value or not name.startswith(PREFIX):
            continue
        if name.endswith(CONTEXT_EVENT_STORE_SUFFIX) and name != shared:
            given[_context_of(name)] = (variable, value)
        elif (
            name.endswith(CONTEXT_EVENT_STORE_SUFFIX + FILE_SUFFIX) and name != shared + FILE_SUFFIX
        ):
            files[_context_of(name.removesuffix(FILE_SUFFIX))] = (variable, value)
    for context, (variable, path) in files.items():
        if context not in given:
            given[context] = (variable, read_setting_file(variable, path))
    return given


def _context_of(variable: str) -> str:
    return variable.removeprefix(PREFIX).removesuffix(CONTEXT_EVENT_STORE_SUFFIX)


def _checked(url: str | None, stores: tuple[frozenset[str], str]) -> str | None:
    wrong = None if url is None else unsupported_store(url, stores)
    if wrong is not None:
        raise PydanticCustomError("unsupported_store", wrong)
    return url


def unknown_variables(environ: Mapping[str, str], contexts: Mapping[str, str | None]) -> list[str]:
    """One warning line for each ``EVENTUALSHOP_`` variable in ``environ`` that the shop does not
    read: not a field of a settings model (these, the runtime's authorization settings, each
    context's), not a declared context's own event store, not the ``_FILE`` of one of those,
    nor a variable read elsewhere (:data:`READ_ELSEWHERE`, :data:`NOT_SETTINGS`). A misspelt one
    (``EVENTUALSHOP_EVENT_STORE_ULR``) was ignored without a word, and the shop ran on its
    defaults. The line names the variable as written and the closest known name, if one is
    close, never the value (it may be a secret). Names are compared without regard to case, as
    the settings read them.

    ``contexts``: each declared context's prefix (``EVENTUALSHOP_<CONTEXT>_``) -> the module that
    declares its settings model (its ``configure`` hook's), or ``None``.

    A function's start pays for little: the models already imported answer first, then the
    modules of the prefixes an unknown name is under, and only a name none of them reads
    imports the rest and ``difflib``."""
    given = [
        name
        for name in environ
        if name.upper().startswith(PREFIX) and not name.upper().startswith(NOT_SETTINGS)
    ]
    if not given:
        return []
    owners = {prefix.upper(): module for prefix, module in contexts.items() if module}
    every = [RUNTIME_SETTINGS, *owners.values()]
    known = _known(contexts, [module for module in every if module in sys.modules])
    unknown = [name for name in given if name.upper() not in known]
    if unknown:  # a context's variable is its model's to read; any other, the runtime's
        wanted = {_owner(name.upper(), owners) for name in unknown}
        known = _known(contexts, [m for m in every if m in sys.modules or m in wanted])
        unknown = [name for name in unknown if name.upper() not in known]
    if not unknown:
        return []
    import difflib

    known = _known(contexts, every)
    # Compared after the prefix every name shares, which would make any two look alike.
    candidates = sorted(name.removeprefix(PREFIX) for name in known if name.startswith(PREFIX))
    lines = []
    for name in sorted(unknown, key=str.upper):
        if name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper().removeprefix(PREFIX), candidates, n=1)
        hint = f"did you mean {PREFIX}{close[0]}?" if close else "it is ignored"
        lines.append(f"{name} is not a setting; {hint}")
    return lines


def _owner(name: str, owners: Mapping[str, str]) -> str:
    """The module whose settings model would read ``name``: its context's, else the runtime's."""
    prefix = max((p for p in owners if name.startswith(p)), key=len, default=None)
    return RUNTIME_SETTINGS if prefix is None else owners[prefix]


def _known(contexts: Iterable[str], modules: Iterable[str]) -> set[str]:
    """Every variable (upper case) the settings models of these modules, of this module and the
    contexts' own event stores read, with each one's ``_FILE``."""
    models: list[type[EnvironmentSettings]] = [Settings]
    for name in modules:
        module = importlib.import_module(name)
        models += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, EnvironmentSettings)
            and value.__module__ == module.__name__
        ]
    names = {*READ_ELSEWHERE}
    names.update(
        prefix.upper().removesuffix("_") + CONTEXT_EVENT_STORE_SUFFIX for prefix in contexts
    )
    names.update(model.variable(field).upper() for model in models for field in model.model_fields)
    return names | {name + FILE_SUFFIX for name in names}
