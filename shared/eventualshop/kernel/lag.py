"""How far each projection is behind the event store (pitfall 4: lag that nobody sees).

Counted by position and by stream, never by time (clocks of several writers disagree): for every
aggregate, the version its stream has reached against the version the projection's cursor has
applied. So the lag reads 0 only when every event is applied, and stays above 0 while any event
is pending, retried or dead-lettered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from eventualshop.kernel.eventstore import EventStore
from eventualshop.kernel.projection import Projection, cursor_collection
from eventualshop.kernel.readmodels import Document, ReadModelStore


@dataclass(frozen=True, slots=True)
class Lag:
    projection: str
    #: The highest global position among the events the projection applied (0: none).
    last_applied_position: int
    #: The last global position written to the event store, by any stream in it: where
    #: contexts share a database, other contexts' events too, so it may stand above
    #: ``last_applied_position`` while nothing is behind.
    last_written_position: int
    #: Aggregates whose cursor is behind their stream.
    aggregates_behind: int
    #: Events written and not yet applied, summed over those aggregates.
    events_behind: int

    @property
    def behind(self) -> int:
        return self.events_behind


def lag(store: ReadModelStore, projection: Projection, event_store: EventStore) -> Lag:
    """One projection's lag: every stream head of its aggregate type against its cursors."""
    last_written = event_store.last_position()
    heads = event_store.stream_heads(projection.aggregate_type)
    cursors = {c["id"]: c for c in store.find(cursor_collection(projection))}
    behind = streams_behind(heads, cursors)
    return Lag(
        projection=projection.name,
        last_applied_position=max((int(c.get("position", 0)) for c in cursors.values()), default=0),
        last_written_position=last_written,
        aggregates_behind=len(behind),
        events_behind=sum(behind.values()),
    )


def streams_behind(heads: Mapping[UUID, int], cursors: Mapping[str, Document]) -> dict[UUID, int]:
    """aggregate -> events not applied yet, for every stream whose head its cursor (by
    aggregate id, as a string) has not reached."""
    return {
        aggregate: head - int(cursors[key]["version"]) if key in cursors else head
        for aggregate, head in heads.items()
        if (key := str(aggregate)) not in cursors or int(cursors[key]["version"]) < head
    }
