"""The in-process broker delivers like a Knative Trigger: filters, retries, dead letters, replay."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from eventualshop.processes.reservations import NotYet
from eventualshop.runtime.broker.binding import CloudEventMessage
from eventualshop.runtime.broker.deadletters import (
    DeadLetterNotFound,
    InMemoryDeadLetterStore,
    ReplayError,
    list_dead_letters,
    replay,
)
from eventualshop.runtime.broker.delivery import DeliveryOutcome, Subscriber, Verdict, verdict
from eventualshop.runtime.broker.in_process import InProcessBroker
from eventualshop.runtime.registry import Delivery, Subscription

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FAST = Delivery(retry=3, backoff_policy="linear", backoff_delay="PT0.5S")


def event(
    type_: str = "eventualshop.shopping-cart.CartCreated.v1", n: int = 1, **extensions: str
) -> CloudEventMessage:
    attributes = {
        "specversion": "1.0",
        "id": f"event-{n}",
        "source": "/eventualshop/shopping-cart",
        "type": type_,
        "datacontenttype": "application/json",
        "aggregatetype": "ShoppingCart",
        **extensions,
    }
    return CloudEventMessage(attributes, b'{"n":%d}' % n)


class Recorder:
    """A subscriber answering with scripted statuses (the last one repeats) and recording."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers) or [200]
        self.received: list[CloudEventMessage] = []

    def __call__(self, message: CloudEventMessage) -> int:
        self.received.append(message)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.received]


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def broker(
    pairs: Iterable[tuple[Subscription, Subscriber]],
    store: InMemoryDeadLetterStore | None = None,
    sleep: Callable[[float], None] | None = None,
) -> InProcessBroker:
    return InProcessBroker(
        pairs, store or InMemoryDeadLetterStore(), sleep=sleep or FakeSleep(), clock=lambda: NOW
    )


class TestRouting:
    def test_exact_match_on_the_type_and_on_extensions(self) -> None:
        created, added = "t.CartCreated.v1", "t.CartItemAdded.v1"
        by_type, by_type_and_ext, by_ext, everything = (
            Recorder(),
            Recorder(),
            Recorder(),
            Recorder(),
        )
        b = broker(
            [
                (Subscription("by-type", {"type": created}), by_type),
                (
                    Subscription("by-type-ext", {"type": created, "aggregatetype": "Order"}),
                    by_type_and_ext,
                ),
                (Subscription("by-ext", {"aggregatetype": "Order"}), by_ext),
                (Subscription("everything", {}), everything),
            ]
        )

        b.publish(event(created, 1))
        b.publish(event(added, 2))
        b.publish(event(created, 3, aggregatetype="Order"))
        b.publish(event(f"{created}.extra", 4, aggregatetype="order"))

        assert by_type.ids == ["event-1", "event-3"]
        assert by_type_and_ext.ids == ["event-3"]
        assert by_ext.ids == ["event-3"]
        assert everything.ids == ["event-1", "event-2", "event-3", "event-4"]

    @settings(max_examples=60, deadline=None)
    @given(
        filters=st.lists(
            st.dictionaries(
                st.sampled_from(["type", "aggregatetype", "subject"]),
                st.sampled_from(["a", "b"]),
                max_size=3,
            ),
            min_size=1,
            max_size=5,
        ),
        events=st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["a", "b"]),
                    "aggregatetype": st.sampled_from(["a", "b"]),
                },
                optional={"subject": st.sampled_from(["a", "b"])},
            ),
            max_size=8,
        ),
    )
    # Always tried: a filter that half matches (kills "any" for "all"), one that does not match
    # at all (kills "always True"), one on an attribute the event lacks, and the empty filter.
    @example(
        filters=[{"type": "a", "subject": "b"}, {"type": "b"}, {"subject": "a"}, {}],
        events=[
            {"type": "a", "aggregatetype": "a", "subject": "a"},
            {"type": "a", "aggregatetype": "b"},
        ],
    )
    def test_routing_equals_what_the_subscriptions_declare(
        self, filters: list[dict[str, str]], events: list[dict[str, str]]
    ) -> None:
        subscriptions = [Subscription(f"t{i}", f) for i, f in enumerate(filters)]
        recorders = {s.name: Recorder() for s in subscriptions}
        b = broker([(s, recorders[s.name]) for s in subscriptions])

        messages = [event(n=i, **attributes) for i, attributes in enumerate(events)]
        for message in messages:
            b.publish(message)

        # The oracle, independent of Subscription.matches: a trigger gets an event when every
        # (attribute, value) pair of its filter is one of the event's pairs.
        def wanted(f: dict[str, str], attributes: dict[str, str]) -> bool:
            return set(f.items()) <= set(attributes.items())

        for s, f in zip(subscriptions, filters, strict=True):
            expected = [
                f"event-{i}" for i, attributes in enumerate(events) if wanted(f, attributes)
            ]
            assert recorders[s.name].ids == expected
        assert [b.routes(m) for m in messages] == [
            [s.name for s, f in zip(subscriptions, filters, strict=True) if wanted(f, attributes)]
            for attributes in events
        ]

    def test_an_event_published_while_delivering_is_delivered_after_not_inside(self) -> None:
        order: list[str] = []
        b: InProcessBroker

        def saga(message: CloudEventMessage) -> int:
            order.append(f"saga<{message.id}")
            if message.id == "event-1":
                b.publish(event("reaction", 2))
            order.append(f"saga>{message.id}")
            return 200

        def audit(message: CloudEventMessage) -> int:
            order.append(f"audit {message.id}")
            return 200

        b = broker([(Subscription("saga", {}), saga), (Subscription("audit", {}), audit)])
        b.publish(event(n=1))

        assert order == [
            "saga<event-1",
            "saga>event-1",
            "audit event-1",
            "saga<event-2",
            "saga>event-2",
            "audit event-2",
        ]

    def test_two_triggers_with_one_name_are_refused(self) -> None:
        with pytest.raises(ValueError, match="two triggers"):
            broker([(Subscription("x", {}), Recorder()), (Subscription("x", {}), Recorder())])


class TestRetries:
    @pytest.mark.parametrize(
        ("policy", "waits"),
        [("linear", [0.5, 1.0, 1.5]), ("exponential", [0.5, 1.0, 2.0])],
    )
    def test_backoff_delays_follow_the_policy(self, policy: str, waits: list[float]) -> None:
        sleep = FakeSleep()
        subscriber = Recorder(503)
        delivery = Delivery(retry=3, backoff_policy=policy, backoff_delay="PT0.5S")  # type: ignore[arg-type]
        b = broker([(Subscription("t", {}, delivery), subscriber)], sleep=sleep)

        b.publish(event())

        assert sleep.waits == waits
        assert len(subscriber.received) == 4

    def test_a_subscriber_that_fails_twice_then_succeeds_gets_it_on_the_third_attempt(
        self,
    ) -> None:
        sleep, store = FakeSleep(), InMemoryDeadLetterStore()
        subscriber = Recorder(500, 503, 200)
        b = broker([(Subscription("t", {}, FAST), subscriber)], store, sleep)

        b.publish(event())

        report = b.reports[-1]
        assert (report.delivered, report.attempts) == (True, 3)
        assert sleep.waits == [0.5, 1.0]
        assert list_dead_letters(store) == []

    @pytest.mark.parametrize(
        "failure", [404, 408, 409, 429, 500, 502, 503, 504, RuntimeError("db is down")]
    )
    def test_what_is_retried(self, failure: int | Exception) -> None:
        subscriber = Recorder(failure, 200)
        b = broker([(Subscription("t", {}, FAST), subscriber)])

        b.publish(event())

        assert len(subscriber.received) == 2
        assert b.reports[-1].delivered

    @pytest.mark.parametrize(
        ("outcome", "expected"),
        [
            (DeliveryOutcome(200), Verdict.DELIVERED),
            (DeliveryOutcome(204), Verdict.DELIVERED),
            (DeliveryOutcome(None, "refused"), Verdict.RETRY),
            (DeliveryOutcome(409), Verdict.RETRY),
            (DeliveryOutcome(400), Verdict.REJECTED),
            (DeliveryOutcome(422), Verdict.REJECTED),
            (DeliveryOutcome(301), Verdict.REJECTED),
        ],
    )
    def test_the_verdict_on_each_answer(self, outcome: DeliveryOutcome, expected: Verdict) -> None:
        assert verdict(outcome) is expected


class TestDeadLetters:
    def test_after_the_retries_the_event_is_dead_lettered_with_reason_attempts_and_trigger(
        self,
    ) -> None:
        store = InMemoryDeadLetterStore()

        def failing(message: CloudEventMessage) -> DeliveryOutcome:
            return DeliveryOutcome(503, "read model store unavailable")

        b = broker([(Subscription("cart-projector", {}, FAST), failing)], store)
        message = event()

        b.publish(message)

        [letter] = list_dead_letters(store)
        assert letter.trigger == "cart-projector"
        assert letter.attempts == 4
        assert letter.reason == "status 503: read model store unavailable"
        assert (letter.event_id, letter.event_type) == (message.id, message.type)
        assert letter.message() == message
        assert letter.dead_at == NOW
        assert letter.replayed_at is None

    @pytest.mark.parametrize("status", [400, 401, 403, 413, 422, 301])
    def test_a_rejected_event_is_dead_lettered_at_once_without_retries(self, status: int) -> None:
        sleep, store, subscriber = FakeSleep(), InMemoryDeadLetterStore(), Recorder(status)
        b = broker([(Subscription("t", {}, FAST), subscriber)], store, sleep)

        b.publish(event())

        [letter] = list_dead_letters(store)
        assert letter.attempts == 1
        assert letter.reason == f"rejected, not retried: status {status}"
        assert sleep.waits == []
        assert len(subscriber.received) == 1

    def test_an_exception_is_the_reason_when_the_subscriber_raised(self) -> None:
        store = InMemoryDeadLetterStore()
        b = broker([(Subscription("t", {}, FAST), Recorder(KeyError("cart")))], store)

        b.publish(event())

        assert list_dead_letters(store)[0].reason == "no response: KeyError: 'cart'"

    def test_an_event_that_came_early_is_retried_in_one_log_line_without_a_traceback(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        store, subscriber = InMemoryDeadLetterStore(), Recorder(NotYet("cart v3 first"))
        b = broker([(Subscription("t", {}, FAST), subscriber)], store)

        with caplog.at_level(logging.INFO, logger="eventualshop.runtime.broker.delivery"):
            b.publish(event())

        assert len(subscriber.received) == 4  # retried as any failure is
        assert list_dead_letters(store)[0].reason == "no response: NotYet: cart v3 first"
        early = [r for r in caplog.records if "came early" in r.getMessage()]
        assert len(early) == 4
        assert all(r.levelno == logging.INFO and r.exc_info is None for r in early)

    def test_without_a_dead_letter_sink_the_event_is_dropped_as_knative_does(self) -> None:
        store = InMemoryDeadLetterStore()
        delivery = Delivery(retry=1, backoff_delay="PT0S", dead_letter_sink=None)
        b = broker([(Subscription("t", {}, delivery), Recorder(500))], store)

        b.publish(event())

        assert list_dead_letters(store, include_replayed=True) == []
        assert not b.reports[-1].delivered

    def test_one_trigger_failing_does_not_affect_another(self) -> None:
        store, healthy = InMemoryDeadLetterStore(), Recorder()
        b = broker(
            [(Subscription("bad", {}, FAST), Recorder(500)), (Subscription("good", {}), healthy)],
            store,
        )

        b.publish(event())

        assert healthy.ids == ["event-1"]
        assert [letter.trigger for letter in list_dead_letters(store)] == ["bad"]


class TestReplay:
    def test_replay_delivers_to_the_now_healthy_subscriber_once_and_marks_it(self) -> None:
        store, subscriber, other = InMemoryDeadLetterStore(), Recorder(500), Recorder()
        b = broker(
            [(Subscription("t", {}, FAST), subscriber), (Subscription("other", {}), other)],
            store,
        )
        b.publish(event())
        [letter] = list_dead_letters(store)
        subscriber.answers = [200]
        subscriber.received.clear()

        report = replay(store, b, dead_letter_id=letter.id, clock=lambda: NOW)

        assert report.replayed == [letter.id]
        assert subscriber.ids == ["event-1"]
        assert other.ids == ["event-1"]  # the original delivery only: replay targets one trigger
        assert list_dead_letters(store) == []
        [kept] = list_dead_letters(store, include_replayed=True)
        assert kept.replayed_at == NOW

    def test_a_replayed_letter_is_not_replayed_twice(self) -> None:
        store, subscriber = InMemoryDeadLetterStore(), Recorder(500)
        b = broker([(Subscription("t", {}, FAST), subscriber)], store)
        b.publish(event())
        [letter] = list_dead_letters(store)
        subscriber.answers = [200]
        replay(store, b, dead_letter_id=letter.id)
        subscriber.received.clear()

        report = replay(store, b, dead_letter_id=letter.id)

        assert report.replayed == []
        assert report.skipped == [letter.id]
        assert subscriber.received == []

    def test_replaying_a_trigger_replays_its_pending_letters_only_once_even_if_they_fail_again(
        self,
    ) -> None:
        store, failing, other = InMemoryDeadLetterStore(), Recorder(500), Recorder(400)
        b = broker(
            [(Subscription("t", {}, FAST), failing), (Subscription("u", {}, FAST), other)], store
        )
        b.publish(event(n=1))
        b.publish(event(n=2))
        failing.received.clear()

        report = replay(store, b, trigger="t")

        assert len(report.replayed) == 2
        assert failing.ids == ["event-1"] * 4 + ["event-2"] * 4
        pending = list_dead_letters(store)
        assert sorted((x.trigger, x.event_id) for x in pending) == [
            ("t", "event-1"),
            ("t", "event-2"),
            ("u", "event-1"),
            ("u", "event-2"),
        ]
        assert {x.id for x in pending}.isdisjoint(report.replayed)

    def test_a_malformed_letter_cannot_be_replayed(self) -> None:
        store = InMemoryDeadLetterStore()
        b = broker([(Subscription("t", {}), Recorder())], store)
        from eventualshop.runtime.broker.deadletters import DeadLetter

        letter_id = store.add(DeadLetter("t", "", "", {"type": "x"}, b"?", "malformed", 0, NOW))

        with pytest.raises(ReplayError, match="malformed"):
            replay(store, b, dead_letter_id=letter_id)
        assert replay(store, b, trigger="t").skipped == [letter_id]

    def test_an_unknown_letter_is_reported(self) -> None:
        with pytest.raises(DeadLetterNotFound):
            replay(InMemoryDeadLetterStore(), broker([]), dead_letter_id=99)

    def test_a_failed_hand_over_undoes_the_claim(self) -> None:
        store, subscriber = InMemoryDeadLetterStore(), Recorder(500)
        b = broker([(Subscription("t", {}, FAST), subscriber)], store)
        b.publish(event())
        [letter] = list_dead_letters(store)
        b.triggers.clear()  # the trigger was removed: the hand-over fails

        with pytest.raises(ReplayError, match="no trigger"):
            replay(store, b, dead_letter_id=letter.id)
        assert list_dead_letters(store) == [letter]


class TestBackgroundDelivery:
    def test_a_started_broker_delivers_on_its_own_thread(self) -> None:
        import threading

        threads: list[str] = []

        def subscriber(message: CloudEventMessage) -> int:
            threads.append(threading.current_thread().name)
            return 200

        b = broker([(Subscription("t", {}), subscriber)])
        b.start()
        try:
            for n in range(5):
                b.publish(event(n=n))
            b.join()
        finally:
            b.stop()

        assert threads == ["inprocess-broker"] * 5
