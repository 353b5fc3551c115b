"""How far each projection is behind the event store (pitfall 4: lag that nobody sees)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventualshop.kernel.eventstore import EventStore
from eventualshop.kernel.projection import NEWEST_FIRST, Projection, cursor_collection
from eventualshop.kernel.readmodels import ReadModelStore


@dataclass(frozen=True, slots=True)
class Lag:
    projection: str
    last_applied_event_id: str | None
    last_applied_position: int | None
    last_written_position: int

    @property
    def behind(self) -> int | None:
        """Events written after the last one applied (``None`` if that one is unknown)."""
        if self.last_applied_position is None:
            return None if self.last_applied_event_id else self.last_written_position
        return max(0, self.last_written_position - self.last_applied_position)


def lag(store: ReadModelStore, projection: Projection, event_store: EventStore) -> Lag:
    """How far a projection is behind the event store (pitfall: lag that nobody sees).

    The last event applied is the newest by time of those the cursors name (one per aggregate:
    the last one applied to it); events written after it in the store are the lag. Of events
    with one time, the cursor with the lowest aggregate id tells.
    """
    newest = store.find(cursor_collection(projection), sort=NEWEST_FIRST, limit=1)
    # No cursor with a time (none yet, or only cursors written before they had one): unknown.
    event_id = newest[0].get("eventId") if newest and "eventTime" in newest[0] else None
    return Lag(
        projection=projection.name,
        last_applied_event_id=event_id,
        last_applied_position=event_store.position_of(UUID(event_id)) if event_id else 0,
        last_written_position=event_store.last_position(),
    )
