"""``Compiled.literal_sql`` (``kpiboard kpi compile --literal``): the SQL with its parameters
written in as literals runs as it is, on DuckDB and on PostgreSQL, and gives the same rows as
the engine's parametrized statement."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import duckdb
import psycopg
import pytest

from kpi_designer.compiler import Compiled, sql_literal
from kpi_designer.engine import Engine
from kpiboard import sandbox
from tests.kpi.test_cases import assert_same_rows, normalized

D = dt.date.fromisoformat
QUOTED = "branch IN ('denver', 'o''hare')"
"""A request filter whose string holds a quote."""


class Ask(NamedTuple):
    """A KPI and the query to compile it for."""

    kpi: str
    start: dt.date
    end: dt.date
    grain: str
    by: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    scope: Mapping[str, tuple[str, ...]] = {}


YEAR = (D("2025-01-01"), D("2025-12-31"))
ASKS = {
    "revenue-quoted-filter": Ask("revenue", *YEAR, "month", ("branch",), (QUOTED,)),
    "win-rate-by-employee": Ask("win_rate", *YEAR, "quarter", ("employee",)),
    "revenue-ytd": Ask("revenue_ytd", D("2025-01-01"), D("2025-06-30"), "month"),
    "conversion-scoped": Ask("lead_to_win_30d", *YEAR, "month", scope={"branch": ("denver",)}),
    "yoy-lfl-weekly": Ask(
        "revenue_vs_ly_lfl", D("2025-03-01"), D("2025-04-15"), "week", ("branch",)
    ),
    "rolling-days-scoped": Ask(
        "calls_rolling_7d",
        D("2025-03-01"),
        D("2025-03-20"),
        "day",
        scope={"employee": ("crm_denver:1", "crm_denver:2")},
    ),
    "distinct-ytd": Ask("clients_ytd", D("2025-01-01"), D("2025-09-30"), "month", ("branch",)),
}


@pytest.fixture(scope="module")
def snapshot(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = sandbox.open_snapshot(warehouse)
    yield con
    con.close()


def _compiled(engine: Engine, ask: Ask) -> Compiled:
    query = engine.query(
        start=ask.start,
        end=ask.end,
        grain=ask.grain,
        by=ask.by,
        filters=ask.filters,
        scope=ask.scope,
    )
    return engine.compile(ask.kpi, query)


def _assert_no_placeholders(sql: str) -> None:
    assert not re.search(r"%\(\w+\)s|\$\w+", sql), sql
    assert "datetime." not in sql


@pytest.mark.parametrize("ask", list(ASKS.values()), ids=list(ASKS))
def test_literal_duckdb_sql_gives_the_engines_rows(
    case_engine: Engine, snapshot: duckdb.DuckDBPyConnection, ask: Ask
) -> None:
    compiled = _compiled(case_engine, ask)
    literal = compiled.literal_sql("duckdb", pretty=True)
    _assert_no_placeholders(literal)
    got = normalized(snapshot.execute(literal).fetchall())
    bound = normalized(snapshot.execute(compiled.sql("duckdb"), compiled.params).fetchall())
    frame = case_engine.evaluate(
        ask.kpi,
        start=ask.start,
        end=ask.end,
        grain=ask.grain,
        by=ask.by,
        filters=ask.filters,
        scope=ask.scope,
    )
    evaluated = normalized(list(frame[["period", *ask.by, "value"]].itertuples(index=False)))
    assert got, "the case should have rows"
    assert_same_rows(got, bound)
    assert_same_rows(got, evaluated)


@pytest.mark.postgres
@pytest.mark.parametrize("ask", list(ASKS.values()), ids=list(ASKS))
def test_literal_postgres_sql_runs_and_gives_the_bound_statements_rows(
    case_engine: Engine, postgres: str, ask: Ask
) -> None:
    compiled = _compiled(case_engine, ask)
    literal = compiled.literal_sql("postgres", pretty=True)
    _assert_no_placeholders(literal)
    with psycopg.connect(postgres, autocommit=True) as con:
        got = normalized(con.execute(literal.encode()).fetchall())  # no parameters: % is text
        bound = normalized(con.execute(compiled.sql("postgres"), compiled.params).fetchall())
    assert got
    assert_same_rows(got, bound)


STAMP = "TIMESTAMP '2026-01-01 08:30:00'"


@pytest.mark.parametrize(
    ("value", "duckdb_sql", "postgres_sql"),
    [
        (D("2026-01-01"), "DATE '2026-01-01'", "DATE '2026-01-01'"),
        (
            dt.datetime(2026, 1, 1, 8, 30),
            "TIMESTAMP '2026-01-01 08:30:00'",
            "TIMESTAMP '2026-01-01 08:30:00'",
        ),
        ("O'Brien", "'O''Brien'", "'O''Brien'"),
        ("back\\slash", "'back\\slash'", "'back\\slash'"),
        (42, "42", "42"),
        (0.5, "0.5", "0.5"),
        (True, "TRUE", "TRUE"),
        (None, "NULL", "NULL"),
        (["a", "b'c"], "['a', 'b''c']", "ARRAY['a', 'b''c']"),
    ],
)
def test_a_parameter_becomes_a_literal_of_the_same_value(
    value: object, duckdb_sql: str, postgres_sql: str
) -> None:
    literal = sql_literal(value)
    assert literal.sql("duckdb") == duckdb_sql
    assert literal.sql("postgres") == postgres_sql
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT {duckdb_sql}").fetchone()
    finally:
        con.close()
    assert row is not None and row[0] == value
