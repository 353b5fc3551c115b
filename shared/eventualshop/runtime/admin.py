"""Rebuilds and lag for any declared context: what the admin routes and the command line run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventualshop.kernel.eventstore import StoredEvent
from eventualshop.kernel.lag import Lag, streams_behind
from eventualshop.kernel.lag import lag as projection_lag
from eventualshop.kernel.rebuild import RebuildReport
from eventualshop.kernel.rebuild import rebuild as replay
from eventualshop.kernel.repository import Repository

if TYPE_CHECKING:
    from eventualshop.kernel.projection import Projection
    from eventualshop.runtime.parts import Parts


def rebuild_names(root: Parts, context: str) -> tuple[str, ...]:
    """Every name a rebuild request may give: ``all``, a projection, or its first collection
    (the original named read models by collection, as the original named them)."""
    projections = root.projections(context)
    return (
        "all",
        *(p.name for p in projections),
        *(next(iter(p.collections)) for p in projections),
    )


def rebuild(root: Parts, context: str, names: Sequence[str] = ("all",)) -> list[RebuildReport]:
    """Replay the context's events into fresh read models and swap them in (all, or those named
    by projection or collection)."""
    projections = root.projections(context)
    chosen = [
        p
        for p in projections
        if "all" in names or p.name in names or next(iter(p.collections)) in names
    ]
    store = root.event_store(context)
    decode = Repository(store, root.aggregate(context)).decode
    return replay(store, decode, root.read_model_store(), chosen)


#: Events read per run when the catch-up reads by position (one read-model transaction each).
CATCH_UP_RUN = 500
#: Streams behind at a first look up to which they are caught up one by one (a round trip or
#: more each); beyond, reading the store by position once is cheaper.
FIRST_LOOK_STREAMS = 20


@dataclass
class _Scan:
    """One projection's share of a read by position: the events after ``since``, and, at a
    first look, only those its cursors have not applied (``applied``: aggregate -> version)."""

    projection: Projection
    since: int
    applied: Mapping[str, int] | None = None

    def wants(self, event: StoredEvent) -> bool:
        if event.aggregate_type != self.projection.aggregate_type or _at(event) <= self.since:
            return False
        return self.applied is None or event.version > self.applied.get(str(event.aggregate_id), 0)


def catch_up(root: Parts, context: str, marks: dict[str, int]) -> int:
    """Each projector of the context applies what its cursors lack of what the store wrote
    after its mark; the marks move on only when nothing was left behind (a failure is retried
    at the next sweep). ``marks``: projection -> position, kept by the caller.

    A projector's first look in this process compares every stream's head with its cursor (one
    query each for heads and cursors): nothing more when none is behind (a restart), the
    streams behind one by one when they are few. Otherwise, and at every later look, the store
    is read by position (from the start, or from the mark), a run at a time through
    ``Projector.handle_batch``: one read-model transaction per run, not one per stream. So a
    sweep after a burst the broker has not delivered yet brings the read models level in one
    pass instead of round trips per cart. Positions commit in order (appends are serialised
    per database), so nothing lands behind a mark."""
    store = root.event_store(context)
    written = store.last_position()
    projections = root.projections(context)
    scans: list[_Scan] = []
    applied = 0
    for projection in projections:
        since = marks.get(projection.name, 0)
        if since > 0:
            scans.append(_Scan(projection, since))
            continue
        projector = root.projector(context, projection.name)
        heads = store.stream_heads(projection.aggregate_type)
        cursors = {c["id"]: c for c in projector.store.find(projector.cursors)}
        behind = streams_behind(heads, cursors)
        if len(behind) <= FIRST_LOOK_STREAMS:
            for aggregate_id in behind:
                applied += projector.catch_up(aggregate_id, heads[aggregate_id])
        else:
            versions = {key: int(cursor["version"]) for key, cursor in cursors.items()}
            scans.append(_Scan(projection, 0, versions))
    if scans:
        applied += _read_by_position(root, context, scans, written)
    for projection in projections:
        marks[projection.name] = written
    return applied


def _read_by_position(root: Parts, context: str, scans: Sequence[_Scan], until: int) -> int:
    """Read the store once from the lowest ``since`` up to ``until``, decode each event at most
    once, and give every projection the events its scan wants."""
    store = root.event_store(context)
    decode = Repository(store, root.aggregate(context)).decode
    position, applied = min(scan.since for scan in scans), 0
    while position < until:
        run = [e for e in store.read_all(position, limit=CATCH_UP_RUN) if _at(e) <= until]
        if not run:
            break
        wanted = [(scan, [e for e in run if scan.wants(e)]) for scan in scans]
        decoded = {_at(e): decode(e) for _, events in wanted for e in events}
        for scan, events in wanted:
            if events:
                projector = root.projector(context, scan.projection.name)
                applied += projector.handle_batch([decoded[_at(e)] for e in events])
        position = _at(run[-1])
    return applied


def _at(event: StoredEvent) -> int:
    assert event.position is not None, "events read by position carry it"
    return event.position


def lag(root: Parts, context: str) -> list[Lag]:
    store, read_models = root.event_store(context), root.read_model_store()
    return [projection_lag(read_models, p, store) for p in root.projections(context)]
