"""The version a raised or replayed event gives its state: set on the state ``evolve`` built, and
never on a state held elsewhere (the state given to ``execute``, a step's, a snapshot's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from uuid import UUID, uuid4

from eventualshop.kernel import Command, DomainEvent
from eventualshop.kernel.aggregate import execute, replay
from tests.fixtures.counter import (
    COUNTER,
    Counter,
    CounterCreated,
    Increment,
    Incremented,
    evolve,
)


class Touched(DomainEvent):
    """An event that changes nothing: its evolve hands the state back as it was."""

    counter_id: UUID


def _decide_three(state: Counter | None, command: Command) -> Sequence[DomainEvent]:
    assert state is not None
    assert isinstance(command, Increment)
    return [
        Incremented(counter_id=state.id, by=1),
        Touched(counter_id=state.id),
        Incremented(counter_id=state.id, by=2),
    ]


def _evolve_touch(state: Counter | None, event: DomainEvent) -> Counter:
    if isinstance(event, Touched):
        assert state is not None
        return state
    return evolve(state, event)


KIND = dataclasses.replace(COUNTER, decide=_decide_three, evolve=_evolve_touch)


def _counter(version: int) -> Counter:
    created = evolve(None, CounterCreated(counter_id=uuid4(), name="c", limit=100))
    return created.model_copy(update={"version": version})


def test_each_step_keeps_its_own_version_and_the_given_state_keeps_its() -> None:
    given = _counter(version=7)
    steps = execute(KIND, given, Increment(counter_id=given.id))
    assert [s.version for s in steps] == [8, 9, 10]
    assert [s.state.version for s in steps] == [8, 9, 10]
    assert [s.state.value for s in steps] == [1, 1, 3]
    assert given.version == 7
    assert len({id(s.state) for s in steps} | {id(given)}) == 4


def test_a_state_handed_back_unchanged_is_copied_not_renumbered() -> None:
    snapshot = _counter(version=3)
    replayed = replay(KIND, snapshot, [(4, Touched(counter_id=snapshot.id))])
    assert replayed is not None
    assert replayed.version == 4
    assert snapshot.version == 3


def test_the_versioned_state_is_what_model_copy_would_give() -> None:
    """Same fields, same fields set, equal and with the same hash and JSON as pydantic's copy."""
    created = CounterCreated(counter_id=uuid4(), name="c", limit=100)
    copied = evolve(None, created).model_copy(update={"version": 1})
    replayed = replay(COUNTER, None, [(1, created)])
    assert replayed == copied
    assert replayed is not None
    assert hash(replayed) == hash(copied)
    assert replayed.model_fields_set == copied.model_fields_set
    assert replayed.model_dump_json() == copied.model_dump_json()
