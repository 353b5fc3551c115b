"""Rebuilds and lag for any declared context: what the admin routes and the command line run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from eventualshop.kernel.lag import Lag
from eventualshop.kernel.lag import lag as projection_lag
from eventualshop.kernel.rebuild import RebuildReport
from eventualshop.kernel.rebuild import rebuild as replay
from eventualshop.kernel.repository import Repository

if TYPE_CHECKING:
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


def catch_up(root: Parts, context: str, marks: dict[str, int]) -> int:
    """Each projector of the context applies what its cursors lack of the streams that changed
    after its mark; the mark moves on only when nothing was left behind (a failure is retried
    at the next sweep). ``marks``: projection -> position, kept by the caller."""
    store = root.event_store(context)
    applied = 0
    for projection in root.projections(context):
        since = marks.get(projection.name, 0)
        written = store.last_position()
        heads = store.stream_heads(projection.aggregate_type, after_position=since)
        projector = root.projector(context, projection.name)
        for aggregate_id, head in heads.items():
            applied += projector.catch_up(aggregate_id, head)
        marks[projection.name] = written
    return applied


def lag(root: Parts, context: str) -> list[Lag]:
    store, read_models = root.event_store(context), root.read_model_store()
    return [projection_lag(read_models, p, store) for p in root.projections(context)]
