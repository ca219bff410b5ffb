"""How an evaluation reads less: a fact that several statements read is summed per local day
once, and those statements read the day rows; a distinct count over month windows reads a bit
mask of months per value. The values must be exactly those of the plain way."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from kpi_designer.compiler import Query, Workspace, plan
from kpi_designer.compiler.types import cumulative
from kpi_designer.engine import Definitions, Engine
from kpi_designer.errors import EvaluationError
from kpiboard.core_model import create_core_schema

from .conftest import make_engine
from .test_edges import CALLS
from .test_edges import _engine as edge_engine
from .test_plans import _workspaces

D = dt.date.fromisoformat

QUERIES = {
    # monthly by branch: periods, to-date and windows from a month's days, earlier years
    "month-by-branch": {"start": D("2024-12-01"), "end": D("2025-06-30"), "by": ["branch"]},
    # a range inside months: daily buckets, like-for-like and moved ranges
    "mid-month-by-employee": {
        "start": D("2025-01-10"),
        "end": D("2025-05-20"),
        "by": ["employee"],
        "scope": {"branch": ["denver"]},
    },
    "day": {"start": D("2025-02-20"), "end": D("2025-03-12"), "grain": "day"},
    "week-filtered": {
        "start": D("2025-01-06"),
        "end": D("2025-04-27"),
        "grain": "week",
        "by": ["client_segment"],
        "filters": ["branch = 'austin'"],
    },
    "quarter": {"start": D("2024-10-01"), "end": D("2025-09-30"), "grain": "quarter"},
}


def _answerable(engine: Engine, ask: dict[str, Any]) -> list[str]:
    """Every fixture KPI the query's slices, filters and scope can be put to."""
    named = {*ask.get("by", ()), *ask.get("scope", {}), *(["branch"] if "filters" in ask else [])}
    return [k for k in engine.kpis if named <= set(engine.dimensions(k))]


@pytest.mark.parametrize("name", list(QUERIES))
def test_every_kpi_from_rollups_equals_reading_the_facts(
    name: str, definitions: Definitions, warehouse: Path
) -> None:
    ask = QUERIES[name]
    shared = make_engine(Definitions(definitions.kpis), warehouse)
    ids = _answerable(shared, ask)
    query = shared.query(**ask)
    rolled = {r.fact for r in plan(ids, query, shared.kpis).rollups}
    assert {"invoice", "activity"} <= rolled  # the comparison below is of two ways
    direct = _direct(definitions, warehouse)
    keys = ["kpi", "period", *ask.get("by", ())]
    got = shared.evaluate(ids, **ask).sort_values(keys, ignore_index=True)
    expected = direct.evaluate(ids, **ask).sort_values(keys, ignore_index=True)
    assert len(got) > 50
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


def _direct(definitions: Definitions, warehouse: Path) -> Engine:
    """An engine whose statements each read their facts themselves."""
    return make_engine(Definitions(definitions.kpis), warehouse, share_reads=False)


def test_statements_read_the_rollup_not_the_fact(definitions: Definitions) -> None:
    """Revenue by month, its year to date and its growth against last year read invoices once,
    from the first day the growth needs (a year before) to the range's end."""
    query = Query(D("2025-01-01"), D("2025-06-30"), by=("branch",))
    ids = ["revenue", "revenue_ytd", "revenue_growth_yoy", "call_count"]
    planned = plan(ids, query, definitions.kpis)
    [rollup] = planned.rollups
    assert (rollup.fact, rollup.first, rollup.last) == ("invoice", D("2024-01-01"), D("2025-06-30"))
    assert '"fct_invoice"' in rollup.create().sql()
    statements = dict(zip(map(tuple, planned.units), planned.statements, strict=True))
    for kpi_id in ids[:3]:
        sql = statements[(kpi_id,)].sql()
        assert '"fct_invoice"' not in sql and '"rollup_invoice_issued_on"' in sql, kpi_id
    # a fact read once is read directly, its local days looked up in the evaluation's one
    # table of them, made first
    calls = statements[("call_count",)].sql()
    assert '"fct_activity"' in calls and 'JOIN "zone_days"' in calls
    assert 'WITH "zone_days"' not in calls
    assert [c.sql().split(" AS ")[0] for c in planned.setup] == [
        'CREATE TEMPORARY TABLE "zone_days"',
        'CREATE TEMPORARY TABLE "rollup_invoice_issued_on"',
    ]
    alone = plan(ids, query, definitions.kpis, share_reads=False)
    assert not alone.rollups and not alone.setup
    assert 'WITH "zone_days"' in alone.statements[-1].sql()


def test_a_plan_in_a_workspace_makes_and_reads_its_tables_there(
    definitions: Definitions,
) -> None:
    """For statements that run on several connections at once, the tables go to the
    workspace's schema, which they all see, and every statement reads them there. The plan
    says which statements read a rollup: the others need not wait for the rollups."""
    query = Query(D("2025-01-01"), D("2025-06-30"), by=("branch",))
    ids = ["revenue", "revenue_ytd", "revenue_growth_yoy", "call_count"]
    workspace = Workspace("work", "evaluation_7")
    planned = plan(ids, query, definitions.kpis, workspace=workspace)
    assert [c.sql().split(" AS ")[0] for c in planned.setup] == [
        'CREATE TABLE "work"."evaluation_7"."zone_days"',
        'CREATE TABLE "work"."evaluation_7"."rollup_invoice_issued_on"',
    ]
    texts = [c.sql() for c in [*planned.setup, *planned.statements]]
    unqualified = re.compile(r'(?<!\.)"(zone_days|rollup_[a-z_]+)"')
    assert not [t for t in texts if unqualified.search(t)]
    reading = [
        i
        for i, statement in enumerate(planned.statements)
        if '"work"."evaluation_7"."rollup_invoice_issued_on"' in statement.sql()
    ]
    assert planned.after_rollups == frozenset(reading)
    assert [planned.units[i] for i in reading] == [[k] for k in ids[:3]]
    calls = planned.statements[planned.units.index(["call_count"])].sql()
    assert 'JOIN "work"."evaluation_7"."zone_days"' in calls


KPIS = (
    CALLS
    + """\
  - id: calls_ytd
    label: Calls YTD
    description: Calls since January 1.
    unit: count
    type: cumulative
    kpi: calls
    to_date: year
  - id: meetings
    label: Meetings
    description: Meetings held.
    unit: count
    type: simple
    fact: activity
    agg: count
    filter: "kind = 'meeting'"
  - id: meetings_ytd
    label: Meetings YTD
    description: Meetings since January 1.
    unit: count
    type: cumulative
    kpi: meetings
    to_date: year
  - id: odd_calls
    label: Odd
    description: A function the warehouse does not have.
    unit: count
    type: simple
    fact: activity
    agg: sum
    expr: no_such_function(1)
"""
)


def test_a_count_of_days_is_kept_in_the_rollup(definitions: Definitions, warehouse: Path) -> None:
    """Distinct UTC dates of activities (a value of the row's time) are a further key of the
    activity rollup: calls per active day, the days with a call and the calls (one scan) and
    revenue per call read it."""
    query = Query(D("2025-01-01"), D("2025-03-31"), by=("employee",))
    ids = ["calls_per_active_day", "call_days", "call_count", "revenue_per_call"]
    planned = plan(ids, query, definitions.kpis)
    [rollup] = planned.rollups
    assert rollup.fact == "activity" and rollup.counted is not None
    assert rollup.counted.sql() == "CAST(occurred_at AS DATE)"
    assert len(planned.statements) == 2
    for statement in planned.statements:
        assert '"fct_activity"' not in statement.sql()
    for grain, by in (("month", ["employee"]), ("day", ["branch"]), ("quarter", [])):
        ask = {"start": D("2025-01-01"), "end": D("2025-06-30"), "grain": grain, "by": by}
        shared = make_engine(Definitions(definitions.kpis), warehouse).evaluate(ids, **ask)
        assert len(shared) >= len(ids)
        pd.testing.assert_frame_equal(shared, _direct(definitions, warehouse).evaluate(ids, **ask))
    # a distinct count of another value (clients) is not kept: it reads its fact
    ids = ["invoiced_clients", "revenue", "revenue_ytd", "revenue_running"]
    invoices = plan(ids, query, definitions.kpis)
    [rolled] = invoices.rollups
    assert rolled.counted is None
    [scan] = [c for u, c in zip(invoices.units, invoices.statements, strict=True) if len(u) > 1]
    assert '"fct_invoice"' in scan.sql()


def test_a_rollup_that_cannot_be_made_leaves_the_error_to_the_kpi(tmp_path: Path) -> None:
    """One KPI's broken measure would break the rollup every KPI of its fact reads: the
    statements then read the fact themselves, and the error names the KPI, not the rollup."""
    database = tmp_path / "w.duckdb"
    with duckdb.connect(database) as con:
        create_core_schema(con)
        con.execute("DROP TABLE core.dim_date")  # the calendar's dates are all KPIs read of it
        con.execute(
            "CREATE TABLE core.dim_date AS SELECT CAST(d AS DATE) AS calendar_date"
            " FROM range(DATE '2024-12-01', DATE '2025-05-01', INTERVAL 1 DAY) AS t(d)"
        )
        for activity, kind, day in (
            ("a1", "call_out", "2025-01-15"),
            ("a2", "meeting", "2025-02-03"),
        ):
            con.execute(
                "INSERT INTO core.fct_activity (activity_id, branch_id, kind, occurred_at,"
                " _source, _loaded_at)"
                " VALUES (?, 'x', ?, CAST(? AS TIMESTAMP) + INTERVAL 12 HOUR, 's', now())",
                [activity, kind, day],
            )
    engine = edge_engine(tmp_path, database, KPIS)
    span = {"start": dt.date(2025, 1, 1), "end": dt.date(2025, 3, 31)}
    assert [r.fact for r in plan(list(engine.kpis), engine.query(**span), engine.kpis).rollups] == [
        "activity"
    ]
    with pytest.raises(EvaluationError) as odd:
        engine.evaluate(["calls", "calls_ytd", "odd_calls"], **span)
    assert str(odd.value).startswith(
        "kpi 'odd_calls': the warehouse cannot compute it: Catalog Error: Scalar "
        "Function with name no_such_function does not exist!"
    )
    assert _workspaces(engine) == []  # the failed evaluation's tables are dropped
    # read from the rollup; January has a row in it (a call) but no meeting, so no value
    frame = engine.evaluate(["calls", "calls_ytd", "meetings_ytd"], **span)
    got = {(r.kpi, r.period.month): r.value for r in frame.itertuples()}
    assert got == {
        ("calls", 1): 1.0,
        ("calls", 2): 1.0,
        ("calls_ytd", 1): 1.0,
        ("calls_ytd", 2): 2.0,
        ("calls_ytd", 3): 2.0,
        ("meetings_ytd", 2): 1.0,
        ("meetings_ytd", 3): 1.0,
    }


@pytest.mark.parametrize("grain", ["month", "quarter"])
def test_distinct_counts_by_month_bit_masks_equal_spans(
    grain: str, definitions: Definitions, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A to-date distinct count in month buckets is counted from a bit mask of months per
    client; over more months than a mask holds, from each client's spans. Both give the same."""
    ask = {"start": D("2024-01-01"), "end": D("2025-09-30"), "grain": grain, "by": ["branch"]}

    def evaluated() -> tuple[pd.DataFrame, str]:
        engine = make_engine(Definitions(definitions.kpis), warehouse)
        sql = engine.compile("clients_ytd", engine.query(**ask)).sql()
        return engine.evaluate("clients_ytd", **ask), sql

    masked, masked_sql = evaluated()
    monkeypatch.setattr(cumulative, "MASK_BITS", 0)
    spans, spans_sql = evaluated()
    assert "BIT_OR" in masked_sql and "BIT_OR" not in spans_sql and "LEAD(" in spans_sql
    assert len(masked) > 5
    pd.testing.assert_frame_equal(masked, spans)
