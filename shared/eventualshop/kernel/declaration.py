"""A bounded context declared once, as plain data: its name, its HTTP routes, its read models.

Everything else the platform needs about a context is derived from this declaration (function
names, functions-framework targets, ``Location`` headers, Trigger subscriptions, the rebuild and
lag functions, the command line, the deployment artefacts), and the declaration is checked
against the domain it names (``eventualshop.runtime.check``). It names the domain's parts by
their names only, so reading it imports no domain module: a function's cold start pays only for
the context it serves.

The context's package follows one convention: ``<package>.commands`` defines the command types
named here, ``<package>.queries`` the query handlers, ``<package>.read_models`` its
``PROJECTIONS``, and ``aggregate`` names the ``AggregateKind`` (``"module:NAME"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Method = Literal["GET", "POST", "PUT", "DELETE", "PATCH"]
#: Who may call a route when authorization is on (``EVENTUALSHOP_AUTH``, default on):
#: ``anonymous`` anyone; ``customer`` anyone signed in; ``owner`` the user the resource belongs
#: to (see ``BoundedContext.owner``); ``admin`` the admin role only. An admin may call every route.
Access = Literal["anonymous", "customer", "owner", "admin"]
#: The one form a UUID takes in a route's path and in a command's body: 8-4-4-4-12 hexadecimal
#: digits, either case (``uuid.UUID`` alone also reads braces, ``urn:uuid:`` and no hyphens).
UUID_PATTERN = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"


@dataclass(frozen=True, slots=True)
class CommandRoute:
    """An HTTP command function: ``command`` (a type in ``<package>.commands``) at ``path``.

    Path parameters (``{cartId}``) fill the command fields of that name; ``query`` maps
    query-string names to command fields; ``body_field`` is the one field a bare JSON body fills
    (where the original sent a value object, such as an address, as the whole body).
    """

    command: str
    method: Method
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body_field: str | None = None
    access: Access = "owner"


@dataclass(frozen=True, slots=True)
class QueryRoute:
    """An HTTP query function: ``handler`` (a function in ``<package>.queries``) at ``path``.

    The handler is called with the read-model store, the path parameters as UUIDs under their
    snake-case names (``{cartId}`` -> ``cart_id``) and, when it takes one, ``paging``.
    """

    handler: str
    path: str
    access: Access = "owner"


@dataclass(frozen=True, slots=True)
class BoundedContext:
    #: DNS-label name: the CloudEvent ``source`` (``/eventualshop/<name>``), the ``type`` prefix,
    #: the prefix of every function name and of the context's settings
    #: (``EVENTUALSHOP_<NAME>_…``), and its own event store database by default.
    name: str
    #: The package that holds the context's domain, ``eventualshop.<context package>``.
    package: str
    #: ``"module:NAME"`` of the context's ``AggregateKind``.
    aggregate: str
    #: The ``aggregatetype`` of the context's events (checked against the ``AggregateKind``).
    aggregate_type: str
    #: Where every route of the context starts, e.g. ``/api/v1/<things>``.
    routes: str
    #: Below ``routes``: where a command's ``Location`` points (``{aggregateId}`` filled in).
    location: str
    commands: tuple[CommandRoute, ...] = ()
    queries: tuple[QueryRoute, ...] = ()
    #: Names of the read models in ``<package>.read_models.PROJECTIONS``: one projector each.
    projections: tuple[str, ...] = ()
    #: ``"module:function"`` run once per process before the context's first function is built,
    #: with the :class:`Surroundings`: reads the context's own settings
    #: (``EVENTUALSHOP_<NAME>_…``) and hands them to its domain, or raises
    #: :class:`ConfigurationMissing` to stop the process from starting.
    configure: str | None = None
    #: Names of the context's settings that are secrets (``card_token_key``): deployments take
    #: them from a Secret, as ``EVENTUALSHOP_<NAME>_<SETTING>``.
    secrets: tuple[str, ...] = ()
    #: Whose a resource is, for ``owner`` routes: ``owner_field`` is a request field that names
    #: the owner's user id outright (``customerId``); otherwise the route's first path parameter
    #: is the aggregate, and ``owner`` (``"module:function"``, state -> user id) reads its owner
    #: from the stored state (``None``: the aggregate id is the owner's user id).
    owner_field: str | None = None
    owner: str | None = None

    @property
    def env_prefix(self) -> str:
        return f"EVENTUALSHOP_{self.name.replace('-', '_').upper()}_"

    @property
    def secret_variables(self) -> tuple[str, ...]:
        return tuple(self.env_prefix + name.upper() for name in self.secrets)

    @property
    def source(self) -> str:
        return event_source(self.name)


def event_source(context: str) -> str:
    """The CloudEvent ``source`` of every event a context publishes."""
    return f"/eventualshop/{context}"


@dataclass(frozen=True, slots=True)
class Surroundings:
    """What the platform tells a context's ``configure`` hook about where it runs.

    A context decides from it what it may default: a secret may be generated and kept on disk
    on a laptop (``embedded``), never where a store or a broker is shared with other processes.
    """

    #: The laptop default: SQLite files in ``data_dir`` and the in-process broker, nothing shared.
    embedded: bool
    #: Where the embedded files live (a context may keep a generated secret there).
    data_dir: Path


class ConfigurationMissing(Exception):
    """A setting the operator must provide before the process may start; the message is one
    line saying what to set."""
