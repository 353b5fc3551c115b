"""Given / When / Then for aggregates: given events, when a command, then events or a rejection.

No I/O: it drives ``execute`` and ``replay`` exactly as the application service does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic

from eventualshop.kernel.aggregate import AggregateKind, S, execute, replay
from eventualshop.kernel.errors import DomainRejection
from eventualshop.kernel.messages import Command, DomainEvent


class Scenario(Generic[S]):
    def __init__(self, kind: AggregateKind[S]) -> None:
        self.kind = kind
        self._given: list[DomainEvent] = []
        self._command: Command | None = None

    def given(self, *events: DomainEvent) -> Scenario[S]:
        self._given.extend(events)
        return self

    def when(self, command: Command) -> Scenario[S]:
        self._command = command
        return self

    @property
    def state(self) -> S | None:
        """The state the given events produce."""
        return replay(self.kind, None, enumerate(self._given, start=1))

    def _run(self) -> Sequence[DomainEvent]:
        assert self._command is not None, "call when(command) first"
        return [step.event for step in execute(self.kind, self.state, self._command)]

    def then(self, *expected: DomainEvent) -> S:
        """Assert the exact events raised; return the state after them."""
        assert self._command is not None, "call when(command) first"
        given = self.state
        steps = execute(self.kind, given, self._command)
        raised = [step.event for step in steps]
        assert raised == list(expected), f"expected {list(expected)!r}\n     got {raised!r}"
        # The kernel sets each new state's version in place (``aggregate._at``): an evolve that
        # returned a state held elsewhere would show here as a renumbered state.
        assert [s.state.version for s in steps] == [s.version for s in steps], "evolve aliased"
        # Replayed from the given events, the given state's version is their count.
        assert given is None or given.version == len(self._given), "the given state changed"
        final = steps[-1].state if steps else self.state
        assert final is not None
        return final

    def then_rejected(
        self, rejection: type[DomainRejection] = DomainRejection, *, code: str | None = None
    ) -> DomainRejection:
        """Assert the command is refused with this rejection type (and code, if given)."""
        try:
            raised = self._run()
        except rejection as error:
            if code is not None:
                assert error.code == code, f"expected rejection {code!r}, got {error.code!r}"
            return error
        raise AssertionError(f"expected {rejection.__name__}, but the command raised {raised!r}")
