"""What a function target needs from the composition root, as a protocol.

The targets and the admin jobs are built *by* the root; they name this protocol rather than the
root itself, so the dependency runs one way (root -> targets -> parts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from eventualshop.kernel.aggregate import AggregateKind, AggregateState
    from eventualshop.kernel.declaration import BoundedContext
    from eventualshop.kernel.eventstore import EventStore
    from eventualshop.kernel.projection import Projection, Projector
    from eventualshop.kernel.readmodels import ReadModelStore
    from eventualshop.kernel.service import ApplicationService
    from eventualshop.runtime.broker.deadletters import DeadLetterStore
    from eventualshop.runtime.settings import Settings


class Parts(Protocol):
    def context(self, name: str) -> BoundedContext: ...

    def aggregate(self, context: str) -> AggregateKind[AggregateState]: ...

    def service(self, context: str) -> ApplicationService[AggregateState]: ...

    def event_store(self, context: str) -> EventStore: ...

    def read_model_store(self) -> ReadModelStore: ...

    def document_exists(self, collection: str, id: str) -> bool: ...

    def dead_letter_store(self) -> DeadLetterStore: ...

    def projections(self, context: str) -> tuple[Projection, ...]: ...

    def projector(self, context: str, projection: str) -> Projector: ...

    def relay_after_commit(self, context: str) -> Callable[[], None]: ...

    def settings(self) -> Settings: ...
