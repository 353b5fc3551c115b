"""Property: rebuilding the cart read models from the event store gives exactly the documents of
delivering every event once, in order, whatever the read models held before.

The rebuild replays into a scratch store of its own (no JSON round trips, cursors and status kept
aside, hash look-ups for a discard's tombstones), so it is held here to the documents the live
projectors write: every collection in full, cursors and projection status included.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventualshop.kernel.readmodels_memory import InMemoryReadModelStore
from eventualshop.kernel.rebuild import rebuild
from eventualshop.shopping_cart.read_models import PROJECTIONS

from .history import contents, project, sqlite_read_models
from .test_projection_delivery_properties import cart_sessions, run


@settings(max_examples=100, deadline=None)
@given(session=cart_sessions(), delivered_before=st.integers(0, 60))
def test_a_rebuild_gives_the_documents_of_in_order_delivery(
    session: list[object], delivered_before: int
) -> None:
    history = run(session)  # type: ignore[arg-type]
    in_order = contents(project(history.events))
    # The live read models are behind (or empty) when the rebuild starts.
    store = project(history.events[:delivered_before])

    reports = rebuild(history.store, history.repository.decode, store, PROJECTIONS)

    assert contents(store) == in_order
    assert {r.projection: r.events for r in reports} == dict.fromkeys(
        (p.name for p in PROJECTIONS), len(history.events)
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=cart_sessions(max_ops=25))
def test_a_rebuild_into_the_sql_read_model_store_gives_the_same_documents(
    session: list[object],
) -> None:
    history = run(session)  # type: ignore[arg-type]
    in_order = contents(project(history.events))

    with sqlite_read_models() as store:
        rebuild(history.store, history.repository.decode, store, PROJECTIONS)
        rebuilt = contents(store)

    assert rebuilt == in_order


def test_a_rebuild_of_an_empty_event_store_leaves_empty_read_models() -> None:
    store = InMemoryReadModelStore()
    history = run([])

    reports = rebuild(history.store, history.repository.decode, store, PROJECTIONS)

    assert all(documents == {} for documents in contents(store).values())
    assert [(r.events, r.documents) for r in reports] == [(0, 0)] * len(PROJECTIONS)
