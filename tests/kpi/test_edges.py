"""Rows and requests the fixture company cannot show: a branch without a time zone (it counts in
UTC, rows are never lost), KPIs the warehouse cannot compute (one clear error), and KPIs that
try to read a file (refused by the loader, and by the engine's sandboxed connection)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import duckdb
import pytest
import sqlglot

from kpi_designer import model as m
from kpi_designer.engine import Definitions, Engine
from kpi_designer.errors import DefinitionError, EvaluationError
from kpi_designer.loader import load_kpis
from kpiboard import sandbox
from kpiboard.core_model import create_core_schema

CALLS = """\
kpis:
  - id: calls
    label: Calls
    description: Activities of any kind.
    unit: count
    type: simple
    fact: activity
    agg: count
"""


def _engine(tmp_path: Path, database: Path, kpis: str) -> Engine:
    """An engine over ``kpis`` (a KPI file's text) and the warehouse ``database``."""
    (tmp_path / "kpis").mkdir()
    (tmp_path / "kpis" / "k.yaml").write_text(kpis)
    return Engine(
        Definitions(load_kpis(tmp_path / "kpis")),
        lambda: sandbox.open_snapshot(database),
        lambda: "w",
    )


def test_a_branch_without_a_time_zone_counts_in_utc(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    with duckdb.connect(database) as con:
        create_core_schema(con)
        con.execute(
            "INSERT INTO core.dim_branch (branch_id, name, timezone, currency, _source, _loaded_at)"
            " VALUES ('denver', 'Denver', 'America/Denver', 'USD', 's', now()),"
            " ('remote', 'Remote', NULL, 'USD', 's', now())"
        )
        # 03:00 UTC on March 1: February 28 in Denver, March 1 in UTC; 'nowhere' has no branch row
        for activity, branch in (("a1", "denver"), ("a2", "remote"), ("a3", "nowhere")):
            con.execute(
                "INSERT INTO core.fct_activity (activity_id, branch_id, occurred_at, _source,"
                " _loaded_at) VALUES (?, ?, TIMESTAMP '2025-03-01 03:00:00', 's', now())",
                [activity, branch],
            )
    engine = _engine(tmp_path, database, CALLS)
    frame = engine.evaluate(
        "calls", start=dt.date(2025, 2, 1), end=dt.date(2025, 3, 31), grain="day", by=["branch"]
    )
    got = {(r.period, r.branch): r.value for r in frame.itertuples()}
    assert got == {
        (dt.date(2025, 2, 28), "denver"): 1.0,
        (dt.date(2025, 3, 1), "remote"): 1.0,
        (dt.date(2025, 3, 1), "nowhere"): 1.0,
    }


def test_a_kpi_the_warehouse_cannot_compute_is_one_clear_error(tmp_path: Path) -> None:
    """A function DuckDB does not have, a core table the models never built: the KPI is named,
    with the warehouse's reason, instead of a traceback."""
    database = tmp_path / "w.duckdb"
    with duckdb.connect(database) as con:
        create_core_schema(con)
        con.execute("DROP TABLE core.fct_delivery")
    engine = _engine(
        tmp_path,
        database,
        CALLS + "  - id: odd_calls\n    label: Odd\n    description: d.\n    unit: count\n"
        "    type: simple\n    fact: activity\n    agg: sum\n    expr: no_such_function(1)\n"
        "  - id: deliveries\n    label: Deliveries\n    description: d.\n    unit: count\n"
        "    type: simple\n    fact: delivery\n    agg: count\n",
    )
    span = {"start": dt.date(2025, 1, 1), "end": dt.date(2025, 1, 31)}
    with pytest.raises(EvaluationError) as odd:
        engine.evaluate(["calls", "odd_calls"], **span)
    assert str(odd.value).startswith(
        "kpi 'odd_calls': the warehouse cannot compute it: Catalog Error: Scalar "
        "Function with name no_such_function does not exist!"
    )
    with pytest.raises(EvaluationError) as missing:
        engine.evaluate("deliveries", **span)
    assert str(missing.value).startswith(
        "kpi 'deliveries': the warehouse cannot compute it: Catalog Error: Table with name "
        "fct_delivery does not exist!"
    )


def test_local_days_are_exact_in_every_time_zone(tmp_path: Path) -> None:
    """The engine looks a row's local day up per branch and UTC date instead of converting it;
    the lookup must equal ``AT TIME ZONE`` in every zone the warehouse knows: a branch per zone,
    activities every 15 minutes on the days a zone's offset changes (and the days around them)
    and on the 15th of every month of 2026, counted per local day and branch."""
    database = tmp_path / "w.duckdb"
    with duckdb.connect(database) as con:
        create_core_schema(con)
        con.execute(
            "INSERT INTO core.dim_branch (branch_id, name, timezone, currency, _source, _loaded_at)"
            " SELECT name, name, name, 'USD', 's', now() FROM pg_timezone_names()"
        )
        # the calendar's dates are all the lookup reads of it
        con.execute("DROP TABLE core.dim_date")
        con.execute(
            "CREATE TABLE core.dim_date AS SELECT CAST(d AS DATE) AS calendar_date"
            " FROM range(DATE '2025-12-01', DATE '2027-02-01', INTERVAL 1 DAY) AS t(d)"
        )
        con.execute(
            """
            CREATE TEMP TABLE days AS
            WITH daily AS (
                SELECT b.branch_id, CAST(d AS DATE) AS day,
                    CAST(d AT TIME ZONE 'UTC' AT TIME ZONE b.timezone AS TIMESTAMP)
                        - CAST(d AS TIMESTAMP) AS offset_then
                FROM core.dim_branch AS b,
                    range(TIMESTAMP '2026-01-01', TIMESTAMP '2027-01-02', INTERVAL 1 DAY) AS t(d)
            ),
            changes AS (  -- the UTC days in which the offset changes
                SELECT branch_id, day FROM (
                    SELECT branch_id, day, offset_then <> lead(offset_then) OVER (
                        PARTITION BY branch_id ORDER BY day) AS changed
                    FROM daily
                ) WHERE changed
            )
            SELECT DISTINCT branch_id, day + CAST(around AS INTEGER) AS day
            FROM changes, range(-1, 2) AS r(around)
            UNION
            SELECT branch_id, make_date(2026, month, 15)
            FROM core.dim_branch, range(1, 13) AS m(month)
            """
        )
        con.execute(
            "INSERT INTO core.fct_activity (activity_id, branch_id, occurred_at, _source,"
            " _loaded_at) SELECT branch_id || ' ' || CAST(t AS VARCHAR), branch_id, t, 's', now()"
            " FROM days, range(CAST(day AS TIMESTAMP), CAST(day AS TIMESTAMP) + INTERVAL 1 DAY,"
            " INTERVAL 15 MINUTE) AS q(t)"
        )
        expected = con.execute(
            "SELECT CAST(f.occurred_at AT TIME ZONE 'UTC' AT TIME ZONE b.timezone AS DATE),"
            " f.branch_id, count(*) FROM core.fct_activity AS f"
            " JOIN core.dim_branch AS b USING (branch_id) GROUP BY ALL"
        ).fetchall()
    engine = _engine(tmp_path, database, CALLS)
    frame = engine.evaluate(
        "calls", start=dt.date(2025, 12, 31), end=dt.date(2027, 1, 2), grain="day", by=["branch"]
    )
    got = {(r.period, r.branch): r.value for r in frame.itertuples()}
    assert len(got) > 15_000  # every zone, on days with and without a change of offset
    assert got == {(day, branch): float(n) for day, branch, n in expected}


READS_A_FILE = "(SELECT count(*) FROM read_text('/etc/hostname'))"


def _database(tmp_path: Path) -> Path:
    database = tmp_path / "w.duckdb"
    with duckdb.connect(database) as con:
        create_core_schema(con)
        con.execute(
            "INSERT INTO core.dim_branch (branch_id, name, timezone, currency, _source, _loaded_at)"
            " VALUES ('denver', 'Denver', 'America/Denver', 'USD', 's', now())"
        )
        con.execute(
            "INSERT INTO core.fct_activity (activity_id, branch_id, occurred_at, _source,"
            " _loaded_at) VALUES ('a1', 'denver', TIMESTAMP '2026-01-05 15:00', 's', now())"
        )
    return database


def test_a_kpi_reading_a_file_is_refused_by_the_loader(tmp_path: Path) -> None:
    text = CALLS.replace("agg: count", f'agg: sum\n    expr: "{READS_A_FILE}"')
    with pytest.raises(DefinitionError) as caught:
        _engine(tmp_path, _database(tmp_path), text)
    assert str(caught.value) == (
        "kpis/k.yaml:9: kpi 'calls': expr must be an expression, not a query"
    )


def test_a_kpi_reading_a_file_past_the_loader_fails_in_the_sandbox(tmp_path: Path) -> None:
    """Should a KPI's SQL reach DuckDB with a table function in it (a definition made in code,
    or a parser the loader reads differently), the engine's connection refuses the file."""
    engine = _engine(tmp_path, _database(tmp_path), CALLS)
    calls = engine.kpis["calls"]
    assert isinstance(calls, m.Simple)
    hostile = m.Measure(calls.measure.fact, "sum", sqlglot.parse_one(READS_A_FILE, read="duckdb"))
    engine.definitions = Definitions({"calls": dataclasses.replace(calls, measure=hostile)})
    with pytest.raises(EvaluationError) as caught:
        engine.evaluate("calls", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31))
    assert str(caught.value).startswith(
        "kpi 'calls': the warehouse cannot compute it: Permission Error: "
        'Cannot access file "/etc/hostname" - file system operations are disabled'
    )
    # and the engine still answers the KPI as written
    engine.definitions = Definitions({"calls": calls})
    frame = engine.evaluate("calls", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31))
    assert frame["value"].tolist() == [1.0]


def test_the_data_ends_on_the_last_local_day_of_an_event_loaded_after_it(tmp_path: Path) -> None:
    """The default range of `kpi eval` ends with the month of this day: an evening in Denver
    that is already November in UTC, a delivery planned ahead and an invoice dated years after
    its load (a typo) must not end it in an empty month."""
    database = tmp_path / "w.duckdb"
    loaded = "TIMESTAMP '2026-11-02 03:00:00'"
    with duckdb.connect(database) as con:
        create_core_schema(con)
        con.execute(
            "INSERT INTO core.dim_branch (branch_id, name, timezone, currency, _source, _loaded_at)"
            f" VALUES ('denver', 'Denver', 'America/Denver', 'USD', 's', {loaded})"
        )
        # 18:50 on October 31 in Denver
        con.execute(
            "INSERT INTO core.fct_activity (activity_id, branch_id, occurred_at, _source,"
            f" _loaded_at) VALUES ('a1', 'denver', TIMESTAMP '2026-11-01 00:50:00', 's', {loaded})"
        )
        con.execute(
            "INSERT INTO core.fct_delivery (delivery_id, branch_id, planned_start_at, _source,"
            f" _loaded_at) VALUES ('d1', 'denver', TIMESTAMP '2026-12-05 16:00:00', 's', {loaded})"
        )
        con.execute(
            "INSERT INTO core.fct_invoice (invoice_id, branch_id, issued_on, _source, _loaded_at)"
            f" VALUES ('i1', 'denver', DATE '2026-10-20', 's', {loaded}),"
            f" ('i2', 'denver', DATE '2062-10-20', 's', {loaded})"
        )
    engine = _engine(tmp_path, database, CALLS)
    assert engine.data_end() == dt.date(2026, 10, 31)


def test_an_evening_that_is_the_next_month_in_utc_ends_the_data_in_its_own_month(
    tmp_path: Path,
) -> None:
    database = tmp_path / "w.duckdb"
    with duckdb.connect(database) as con:
        create_core_schema(con)
        con.execute(
            "INSERT INTO core.dim_branch (branch_id, name, timezone, currency, _source, _loaded_at)"
            " VALUES ('denver', 'Denver', 'America/Denver', 'USD', 's', now())"
        )
        # 18:50 on October 31 in Denver, 00:50 on November 1 in UTC
        con.execute(
            "INSERT INTO core.fct_lead (lead_id, branch_id, created_at, _source, _loaded_at)"
            " VALUES ('l1', 'denver', TIMESTAMP '2026-11-01 00:50:00', 's', now())"
        )
    assert _engine(tmp_path, database, CALLS).data_end() == dt.date(2026, 10, 31)


REVENUE_YTD = """\
kpis:
  - id: revenue
    label: Revenue
    description: Net invoiced amount.
    unit: money
    type: simple
    fact: invoice
    agg: sum
    expr: net_amount
  - id: revenue_ytd
    label: Revenue, year to date
    description: Revenue from the start of the year.
    unit: money
    type: cumulative
    kpi: revenue
    to_date: year
"""


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        (None, "core.dim_date, the calendar, is empty"),
        (
            ("2025-01-01", "2025-02-28"),
            "core.dim_date, the calendar, covers 2025-01-01 to 2025-02-28, not all of "
            "2025-01-01 to 2025-03-31",
        ),
    ],
)
def test_a_running_total_beyond_the_calendar_is_refused_not_left_empty(
    tmp_path: Path, calendar: tuple[str, str] | None, message: str
) -> None:
    """A cumulative KPI takes its periods from core.dim_date: where the calendar has no days,
    it would answer nothing at all, and nothing would say why."""
    from etl.calendar import calendar_sql

    database = tmp_path / "w.duckdb"
    with duckdb.connect(database) as con:
        create_core_schema(con)
        con.execute(
            "INSERT INTO core.fct_invoice (invoice_id, branch_id, issued_on, net_amount, _source,"
            " _loaded_at) VALUES ('i1', 'b', DATE '2025-03-10', 100, 's', now())"
        )
        if calendar is not None:
            first, last = (dt.date.fromisoformat(d) for d in calendar)
            con.execute(f"INSERT INTO core.dim_date BY NAME {calendar_sql(first, last)}")
    engine = _engine(tmp_path, database, REVENUE_YTD)
    window = {"start": dt.date(2025, 1, 1), "end": dt.date(2025, 3, 31)}
    assert engine.evaluate("revenue", **window)["value"].tolist() == [100.0]  # needs no calendar
    with pytest.raises(EvaluationError, match=message):
        engine.evaluate("revenue_ytd", **window)
