"""The command path's SQL, compiled ahead of time (``adapters.sql_compiled``), is what SQLAlchemy
compiles from the event store's statements now, and the driver path's value converters do what
SQLAlchemy's type processors do; so the two paths read what the other one wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Dialect

from eventualshop.adapters import compile_sql
from eventualshop.adapters.schema import UtcDateTime, Uuid
from eventualshop.adapters.sql_compiled import STATEMENTS
from eventualshop.adapters.sql_driver import CONVERTERS, Statement

KINDS: dict[str, Any] = {"uuid": Uuid, "utc_datetime": UtcDateTime()}
DIALECTS = sorted(compile_sql.DIALECTS)

# Every year a column can hold (four digits, zero-padded below 1000); a day's margin at the ends
# keeps an offset from moving an aware value out of datetime's range.
aware = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    ),
)
moments = st.one_of(aware, st.datetimes())


def test_the_generated_module_is_what_sqlalchemy_compiles_now() -> None:
    """Stale after a change to a statement or the schema: run the generator (see compile_sql)."""
    assert compile_sql.compiled_statements() == STATEMENTS


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_statement_has_a_converter_for_each_value_sqlalchemy_converts(dialect: str) -> None:
    for compiled in STATEMENTS[dialect].values():
        Statement(dialect, compiled)  # a KeyError names a kind without a converter


@pytest.mark.parametrize("order", [(), ("limit",), ("message_id", "consumer", "limit", "consumer")])
def test_positional_parameters_follow_the_placeholders_order(order: tuple[str, ...]) -> None:
    constants: dict[str, Any] = {"limit": 5}
    compiled = {"sql": "", "binds": {}, "constants": constants, "order": order, "results": {}}
    values = {"consumer": "cart", "message_id": "m-1"}

    parameters = Statement("sqlite", compiled).parameters(values)

    assert parameters == tuple({**constants, **values}[name] for name in order)


def _processors(dialect: Dialect, kind: str) -> tuple[Any, Any]:
    impl = KINDS[kind].dialect_impl(dialect)
    return impl.bind_processor(dialect), impl.result_processor(dialect, None)


@settings(max_examples=150, deadline=None)
@given(moment=moments, identifier=st.uuids())
def test_converters_agree_with_sqlalchemys_processors_both_ways(
    moment: datetime, identifier: UUID
) -> None:
    samples = {"uuid": identifier, "utc_datetime": moment}
    for name, dialect in compile_sql.DIALECTS.items():
        for kind, value in samples.items():
            ours = CONVERTERS[name].get(kind)
            bind, result = _processors(dialect, kind)
            if ours is None:  # the driver takes the value as it is
                assert (bind, result) == (None, None), (name, kind)
                continue
            stored = bind(value) if bind is not None else value
            assert ours[0](value) == stored, (name, kind)
            assert ours[0](None) is None
            back = result(stored) if result is not None else stored
            assert ours[1](stored) == back, (name, kind)
            assert type(ours[1](stored)) is type(back)
            assert ours[1](None) is None


def test_postgresql_results_in_another_session_time_zone_come_back_as_utc() -> None:
    dialect = compile_sql.DIALECTS["postgresql"]
    _, result = _processors(dialect, "utc_datetime")
    local = datetime(2024, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    ours = CONVERTERS["postgresql"]["utc_datetime"][1](local)

    assert ours == result(local)
    assert ours.tzinfo is UTC


def test_sqlite_stores_a_uuid_as_its_32_hex_digits() -> None:
    identifier = uuid4()
    assert CONVERTERS["sqlite"]["uuid"][0](identifier) == identifier.hex
