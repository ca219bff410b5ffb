"""The rows behind a value (``Engine.rows``): the fact rows one KPI value counts, for one period
and slice, on the case fixture (``conftest.py``).

Aggregating the rows as the KPI does must give the value ``Engine.evaluate`` gives, for every
KPI of the fixture, in periods of every grain, sliced and scoped (:func:`recomputed` aggregates
them in Python, by the KPI's definition). The rows themselves are checked against queries
written by hand on the ``core`` tables (the invoices of a quarter, the activities of a month on
their branch's local day), and the compiled statement on PostgreSQL lists the same rows as
DuckDB.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import psycopg
import pytest

from kpi_designer import model as m
from kpi_designer.compiler import Query, compile_kpi
from kpi_designer.compiler.behind import compile_rows
from kpi_designer.engine import Engine, one_period
from kpi_designer.errors import EvaluationError
from kpi_designer.loader import check_kpis, parse_kpis, reachable
from kpiboard import sandbox

from .conftest import KPI_FILES

D = dt.date.fromisoformat
DENVER, AUSTIN = "denver", "austin"
DANA = "crm_denver:1"
ACME, ACME_AGAIN = "crm_denver:101", "crm_denver:104"

Value = float | None


# -- aggregating the rows as the KPI does ---------------------------------------------------------


def _div(a: Value, b: Value) -> Value:
    return None if a is None or b is None or b == 0 else a / b


def _sub(a: Value, b: Value) -> Value:
    return None if a is None or b is None else a - b


DERIVED: dict[str, Callable[[Mapping[str, Value]], Value]] = {
    "gross_margin": lambda v: _sub(v["line_revenue"], v["line_cost"]),
    "margin_share": lambda v: _div(_sub(v["line_revenue"], v["line_cost"]), v["line_revenue"]),
    "revenue_growth_yoy": lambda v: _div(
        _sub(v["revenue"], v["revenue_last_year"]), v["revenue_last_year"]
    ),
    "revenue_change_pop": lambda v: _sub(v["revenue"], v["revenue_before"]),
    "stock_change": lambda v: _sub(v["stock_on_hand"], v["stock_before"]),
    "receivables": lambda v: _sub(v["invoiced_balance"], v["paid_balance"]),
    "receivables_overdue": lambda v: _sub(v["invoiced_overdue"], v["paid_on_overdue"]),
}
"""Each derived KPI of the fixture, written out by hand."""


def aggregate(measure: m.Measure, rows: pd.DataFrame) -> Value:
    """The measure's aggregation of the rows: of ``value``, or the distinct ``counted``."""
    if measure.agg == "count_distinct":
        return float(rows["counted"].dropna().nunique())
    values = rows["value"].dropna()
    if measure.agg in ("sum", "count"):
        return float(values.sum())
    if values.empty:
        return None
    found = {
        "avg": values.mean,
        "min": values.min,
        "max": values.max,
        "median": values.median,
    }[measure.agg]()
    return float(found)


def part(rows: pd.DataFrame, tag: str, name: str) -> pd.DataFrame:
    """The rows tagged ``name`` (``side`` or ``input``)."""
    return rows[rows[tag] == name] if tag in rows.columns else rows.iloc[0:0]


def recomputed(kpi: m.Kpi, rows: pd.DataFrame, kpis: Mapping[str, m.Kpi]) -> Value:
    """The value of ``kpi`` from the rows behind it: a sum or count of no rows is 0 (a balance's
    too, as an input), and so is a distinct count (a ratio's side in one scan of its fact);
    any other KPI has no value without rows. A balance per entity counts the combinations
    meeting its condition: the sum of their ``value``."""
    if rows.empty:
        counts = isinstance(kpi, m.Simple) and kpi.measure.agg == "count_distinct"
        return 0.0 if kpi.zero_when_missing or counts else None
    if isinstance(kpi, m.Balance) and kpi.per:
        return float(rows["value"].sum())
    if isinstance(kpi, m.Simple | m.Balance):
        return aggregate(kpi.measure, rows)
    if isinstance(kpi, m.Ratio):
        numerator = recomputed(kpis[kpi.numerator.kpi], part(rows, "side", "numerator"), kpis)
        denominator = recomputed(kpis[kpi.denominator.kpi], part(rows, "side", "denominator"), kpis)
        return _div(numerator, denominator)
    if isinstance(kpi, m.Derived):
        values = {
            one.alias: recomputed(kpis[one.kpi], part(rows, "input", one.alias), kpis)
            for one in kpi.named
        }
        return DERIVED[kpi.id](values)
    if isinstance(kpi, m.Cumulative):
        source = kpis[kpi.kpi]
        assert isinstance(source, m.Simple)
        return aggregate(source.measure, rows)
    if isinstance(kpi, m.Conversion):
        return float(rows["converted"].astype(bool).mean())
    if isinstance(kpi, m.Entities):
        return float(rows["counted"].nunique())
    assert isinstance(kpi, m.PeriodOverPeriod)
    source = kpis[kpi.kpi]
    now = recomputed(source, part(rows, "input", "current"), kpis)
    before = recomputed(source, part(rows, "input", "previous"), kpis)
    if kpi.output == "previous":
        return before
    if kpi.output == "change":
        return _sub(now, before)
    return _div(_sub(now, before), before)


# -- every KPI, in periods of every grain, sliced and scoped -------------------------------------

VIEWS: list[tuple[str, str, dict[str, str], dict[str, tuple[str, ...]]]] = [
    ("2025-01", "month", {}, {}),
    ("2025-03", "month", {"branch": DENVER}, {}),
    ("2025-Q1", "quarter", {}, {"branch": (AUSTIN,)}),
    ("2024", "year", {"employee": DANA}, {"branch": (DENVER,)}),
    ("2025-W10", "week", {}, {}),  # March 3 to 9: daylight saving time starts on the 9th
    ("2024-02-29", "day", {"branch": DENVER}, {}),
    ("2025-02", "month", {"role": "sales_manager"}, {"branch": (DENVER, AUSTIN)}),
    ("2025-05-15", "month", {"client": ACME}, {"employee": (DANA,)}),
]
"""A period (its label, or a day inside it), its grain, the slice and the scope."""


def _view_id(view: tuple[str, str, dict[str, str], dict[str, tuple[str, ...]]]) -> str:
    period, grain, sliced, scope = view
    parts = [period, grain, *(f"{d}={v}" for d, v in sliced.items())]
    parts += [f"scope:{d}={'+'.join(v)}" for d, v in scope.items()]
    return "-".join(parts)


def valued(engine: Engine, kpi_id: str, view: tuple[Any, ...]) -> tuple[bool, Value]:
    """Whether ``Engine.evaluate`` has a value for the view's period and slice, and which."""
    period, grain, sliced, scope = view
    start, end = one_period(period, grain)
    frame = engine.evaluate(kpi_id, start=start, end=end, grain=grain, by=list(sliced), scope=scope)
    for dimension, member in sliced.items():
        frame = frame[frame[dimension] == member]
    frame = frame[frame["period"] == start]
    assert len(frame) <= 1
    if frame.empty:
        return False, None
    value = frame["value"].iloc[0]
    return True, None if pd.isna(value) else float(value)


def _kpi_ids() -> list[str]:
    """Every KPI of the fixture, of every type."""
    return [k for text in KPI_FILES.values() for k in re.findall(r"^  - id: (\w+)$", text, re.M)]


@pytest.mark.parametrize("view", VIEWS, ids=[_view_id(v) for v in VIEWS])
@pytest.mark.parametrize("kpi_id", _kpi_ids())
def test_the_rows_aggregated_as_the_kpi_does_give_its_value(
    kpi_id: str, view: tuple[Any, ...], case_engine: Engine
) -> None:
    period, grain, sliced, scope = view
    kpi = case_engine.kpis[kpi_id]
    if not {*sliced, *scope} <= reachable(kpi, case_engine.kpis):
        # a slice its facts do not reach (stock by client): no rows, as no value
        refused = "cannot be sliced, filtered or scoped by"
        with pytest.raises(EvaluationError, match=refused):
            case_engine.rows(kpi_id, period=period, grain=grain, slice=sliced, scope=scope)
        with pytest.raises(EvaluationError, match=refused):
            day = D(period) if len(period) == 10 else D("2025-05-01")
            case_engine.evaluate(kpi_id, start=day, end=day, grain=grain, by=list(sliced))
        return
    rows = case_engine.rows(kpi_id, period=period, grain=grain, slice=sliced, scope=scope)
    present, value = valued(case_engine, kpi_id, view)
    if not present:
        # no value: no rows, but a period over period's of the period compared with
        current = part(rows, "input", "current") if "input" in rows.columns else rows
        assert current.empty, rows
        return
    got = recomputed(kpi, rows, case_engine.kpis)
    if value is None or got is None:
        assert got is value, f"{got} != {value}\n{rows}"
    else:
        assert math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-9), f"{got} != {value}\n{rows}"


def test_the_views_have_rows_for_every_kpi(case_engine: Engine) -> None:
    """The case above compares something: every KPI has rows in one of the views at least."""
    for kpi_id in _kpi_ids():
        reach = reachable(case_engine.kpis[kpi_id], case_engine.kpis)
        counts = [
            case_engine.rows(kpi_id, period=p, grain=g, slice=s, scope=sc).attrs["total"]
            for p, g, s, sc in VIEWS
            if {*s, *sc} <= reach
        ]
        assert any(counts), (kpi_id, counts)


# -- the rows themselves, by hand ----------------------------------------------------------------


@pytest.fixture(scope="module")
def duckdb_con(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = sandbox.open_snapshot(warehouse)
    yield con
    con.close()


def test_revenue_rows_are_the_quarters_invoices_with_names(
    case_engine: Engine, duckdb_con: duckdb.DuckDBPyConnection
) -> None:
    rows = case_engine.rows("revenue", period="2025-Q2", grain="quarter", slice={"branch": DENVER})
    assert list(rows.columns) == [
        "invoice_id",
        "date",
        "branch",
        "employee",
        "client",
        "value",
    ]
    # a duplicate client's invoice shows the client it counts as
    expected = duckdb_con.execute(
        """
        SELECT i.invoice_id, i.issued_on, b.name, e.full_name, c.name, i.net_amount::DOUBLE
        FROM core.fct_invoice AS i
        JOIN core.dim_branch AS b ON b.branch_id = i.branch_id
        JOIN core.dim_employee AS e ON e.employee_id = i.owner_id
        JOIN core.dim_client AS own ON own.client_id = i.client_id
        JOIN core.dim_client AS c ON c.client_id = coalesce(own.master_client_id, own.client_id)
        WHERE i.branch_id = 'denver' AND i.status <> 'cancelled'
          AND i.issued_on BETWEEN DATE '2025-04-01' AND DATE '2025-06-30'
        ORDER BY i.issued_on, i.invoice_id
        """
    ).fetchall()
    assert len(expected) >= 3
    assert [tuple(r) for r in rows.itertuples(index=False)] == expected
    assert "crm_denver:2512" in set(rows["invoice_id"])  # Acme School's duplicate record
    assert rows.attrs == {"start": D("2025-04-01"), "end": D("2025-06-30"), "total": len(expected)}


def test_rows_are_placed_on_their_branchs_local_day(
    case_engine: Engine, duckdb_con: duckdb.DuckDBPyConnection
) -> None:
    rows = case_engine.rows("activity_count", period="2025-01")
    expected = duckdb_con.execute(
        """
        SELECT a.activity_id, CAST(timezone(b.timezone, a.occurred_at AT TIME ZONE 'UTC') AS DATE)
        FROM core.fct_activity AS a JOIN core.dim_branch AS b ON b.branch_id = a.branch_id
        WHERE CAST(timezone(b.timezone, a.occurred_at AT TIME ZONE 'UTC') AS DATE)
              BETWEEN DATE '2025-01-01' AND DATE '2025-01-31'
        ORDER BY 2, 1
        """
    ).fetchall()
    assert list(zip(rows["activity_id"], rows["date"], strict=True)) == expected
    # 22:30 on January 31 in Denver is February 1 in UTC; 22:00 on December 31 in Austin is 2025
    assert ("crm_denver:a3", D("2025-01-31")) in expected
    assert "crm_austin:a1" not in set(rows["activity_id"])
    assert rows["value"].tolist() == [1.0] * len(expected)


def test_a_distinct_count_lists_the_value_counted(case_engine: Engine) -> None:
    rows = case_engine.rows("invoiced_clients", period="2025-05", slice={"branch": DENVER})
    assert "value" not in rows.columns
    by_invoice = dict(zip(rows["invoice_id"], rows["counted"], strict=True))
    assert by_invoice["crm_denver:2512"] == ACME  # the duplicate counts as its master
    assert rows.loc[rows["invoice_id"] == "crm_denver:2512", "client"].item() == "Acme School"


def test_a_ratio_lists_both_sides(case_engine: Engine) -> None:
    rows = case_engine.rows("revenue_per_call", period="2025-03", slice={"branch": DENVER})
    assert list(rows.columns[:3]) == ["side", "invoice_id", "activity_id"]
    numerator = rows[rows["side"] == "numerator"]
    denominator = rows[rows["side"] == "denominator"]
    assert numerator["activity_id"].isna().all() and numerator["invoice_id"].notna().all()
    assert set(denominator["activity_id"]) == {"crm_denver:a7"}  # March's one Denver call
    assert denominator["invoice_id"].isna().all()


def test_a_conversion_lists_its_base_events_with_whether_each_converted(
    case_engine: Engine, duckdb_con: duckdb.DuckDBPyConnection
) -> None:
    rows = case_engine.rows("repeat_service_14d", period="2025", grain="year")
    assert "converted" in rows.columns and "value" not in rows.columns
    # by hand: another request of the same client within 14 days after (the same instant too)
    expected = duckdb_con.execute(
        """
        SELECT s.service_request_id, EXISTS (
            SELECT 1 FROM core.fct_service_request AS t
            WHERE t.client_id = s.client_id AND t.service_request_id <> s.service_request_id
              AND t.received_at BETWEEN s.received_at AND s.received_at + INTERVAL 14 DAY)
        FROM core.fct_service_request AS s
        JOIN core.dim_branch AS b ON b.branch_id = s.branch_id
        WHERE year(CAST(timezone(b.timezone, s.received_at AT TIME ZONE 'UTC') AS DATE)) = 2025
        """
    ).fetchall()
    got = dict(zip(rows["service_request_id"], rows["converted"], strict=True))
    assert got == dict(expected)
    assert any(got.values()) and not all(got.values())


def test_a_derived_kpi_lists_each_input_in_its_own_period(case_engine: Engine) -> None:
    rows = case_engine.rows("revenue_growth_yoy", period="2025-03", slice={"branch": DENVER})
    assert set(rows["input"]) == {"revenue", "revenue_last_year"}
    last_year = rows[rows["input"] == "revenue_last_year"]
    assert last_year["date"].between(D("2024-03-01"), D("2024-03-31")).all()
    this_year = rows[rows["input"] == "revenue"]
    assert this_year["date"].between(D("2025-03-01"), D("2025-03-31")).all()


def test_a_cumulative_kpi_lists_the_window_ending_on_the_periods_last_day(
    case_engine: Engine,
) -> None:
    ytd = case_engine.rows("revenue_ytd", period="2025-03")
    assert ytd["date"].min() >= D("2025-01-01") and ytd["date"].max() <= D("2025-03-31")
    assert set(ytd["invoice_id"]) == set(
        case_engine.rows("revenue", period="2025-Q1", grain="quarter")["invoice_id"]
    )
    rolling = case_engine.rows("revenue_rolling_30d", period="2025-03")
    assert rolling["date"].min() >= D("2025-03-02")  # March 31 and the 29 days before
    ever = case_engine.rows("revenue_running", period="2025-03")
    assert ever["date"].min() < D("2024-02-01")  # from the first invoice


ENTITY_INVOICES = """
    SELECT i.invoice_id, i.issued_on AS day, b.name AS branch,
           coalesce(c.master_client_id, c.client_id) AS entity
    FROM core.fct_invoice AS i
    JOIN core.dim_branch AS b ON b.branch_id = i.branch_id
    JOIN core.dim_client AS c ON c.client_id = i.client_id
    WHERE i.kind = 'invoice' AND i.status {}
"""
"""The invoices an entities KPI of clients counts (the status condition left to fill), each with
the client it counts as: its master for a duplicate."""


def test_new_clients_rows_are_each_new_clients_first_invoice(
    case_engine: Engine, duckdb_con: duckdb.DuckDBPyConnection
) -> None:
    rows = case_engine.rows("new_clients", period="2024-Q1", grain="quarter")
    assert list(rows.columns) == [
        "invoice_id",
        "date",
        "branch",
        "employee",
        "client",
        "entity",
        "counted",
    ]
    invoices = ENTITY_INVOICES.format("NOT IN ('draft', 'cancelled')")
    expected = duckdb_con.execute(
        f"""
        SELECT invoice_id, day, branch, entity, entity FROM (
            SELECT *, row_number() OVER (PARTITION BY entity ORDER BY day, invoice_id) AS nth
            FROM ({invoices}) AS i
        ) AS firsts
        WHERE nth = 1 AND day BETWEEN DATE '2024-01-01' AND DATE '2024-03-31'
        ORDER BY day, invoice_id
        """
    ).fetchall()
    got = rows[["invoice_id", "date", "branch", "entity", "counted"]]
    assert [tuple(r) for r in got.itertuples(index=False)] == expected
    assert len(expected) == 6 and rows["entity"].is_unique
    # Acme School typed in again is Acme School: its first invoice (2025-05-20) is not new
    assert rows.loc[rows["entity"] == ACME, "invoice_id"].tolist() == ["crm_denver:2401"]
    assert case_engine.rows("new_clients", period="2025-Q2", grain="quarter").empty
    returning = case_engine.rows("returning_clients", period="2025-05", slice={"branch": DENVER})
    again = returning[returning["invoice_id"] == "crm_denver:2512"]
    assert again[["client", "entity", "first_day"]].values.tolist() == [
        ["Acme School", ACME, D("2024-01-15")]
    ]


def test_reactivated_clients_rows_are_the_invoices_after_the_gap(
    case_engine: Engine, duckdb_con: duckdb.DuckDBPyConnection
) -> None:
    rows = case_engine.rows("reactivated_clients", period="2025", grain="year")
    assert list(rows.columns) == [
        "invoice_id",
        "date",
        "branch",
        "employee",
        "client",
        "entity",
        "previous_day",
        "gap_days",
        "counted",
    ]
    invoices = ENTITY_INVOICES.format("<> 'cancelled'")
    # by hand: the entity's latest invoice day before this one's, 91 days or more before
    expected = duckdb_con.execute(
        f"""
        SELECT invoice_id, day, entity, previous_day, datediff('day', previous_day, day) FROM (
            SELECT i.*, (SELECT max(e.day) FROM ({invoices}) AS e
                         WHERE e.entity = i.entity AND e.day < i.day) AS previous_day
            FROM ({invoices}) AS i
        ) AS r
        WHERE previous_day + 91 <= day AND year(day) = 2025
        ORDER BY day, invoice_id
        """
    ).fetchall()
    got = rows[["invoice_id", "date", "entity", "previous_day", "gap_days"]]
    assert [tuple(r) for r in got.itertuples(index=False)] == expected
    assert len(expected) == 8 and min(gap for *_, gap in expected) == 91  # on the gap itself
    # Acme School's invoice of 2025-01-08 comes 202 days after its previous one
    acme = rows[rows["entity"] == ACME]
    assert acme[["invoice_id", "previous_day", "gap_days"]].values.tolist() == [
        ["crm_denver:2501", D("2024-06-20"), 202]
    ]
    # Dental Group and Bo Smith came back twice in the year: each counts once
    year = {"start": D("2025-01-01"), "end": D("2025-12-31"), "grain": "year"}
    value = case_engine.evaluate("reactivated_clients", **year)
    assert value["value"].tolist() == [float(rows["counted"].nunique())] == [6.0]


def test_stock_rows_are_the_moves_in_force_at_the_months_end(
    case_engine: Engine, duckdb_con: duckdb.DuckDBPyConnection
) -> None:
    """A balance's rows are those in force at the period's last day: every stock move up to
    it, whenever it was, each on its own local day; the move at 22:30 on January 31 in Denver
    (February in UTC) is January's, and nothing after it counts."""
    rows = case_engine.rows("stock_on_hand", period="2025-01", slice={"branch": DENVER})
    assert list(rows.columns) == [
        "stock_move_id",
        "date",
        "branch",
        "employee",
        "product",
        "warehouse",
        "value",
        "since",
        "until",
    ]
    local = "CAST(timezone(b.timezone, s.moved_at AT TIME ZONE 'UTC') AS DATE)"
    expected = duckdb_con.execute(
        f"""
        SELECT s.stock_move_id, {local}, b.name, e.full_name, p.name, w.name, s.qty::DOUBLE,
               {local}, NULL
        FROM core.fct_stock_move AS s
        JOIN core.dim_branch AS b ON b.branch_id = s.branch_id
        JOIN core.dim_employee AS e ON e.employee_id = s.keeper_id
        JOIN core.dim_product AS p ON p.product_id = s.product_id
        JOIN core.dim_warehouse AS w ON w.warehouse_id = s.warehouse_id
        WHERE s.branch_id = 'denver' AND {local} <= DATE '2025-01-31'
        ORDER BY 2, 1
        """
    ).fetchall()
    assert [tuple(r) for r in rows.itertuples(index=False)] == expected
    placed = set(zip(rows["stock_move_id"], rows["date"], strict=True))
    assert ("stock:m5", D("2025-01-31")) in placed
    assert rows["date"].min() == D("2023-06-01")  # the opening balance, long before
    assert rows["value"].sum() == 20 + 50 + 3 - 2 - 5
    # Austin's March: the write-off at 23:00 on March 31 (April in UTC) is in force
    march = case_engine.rows("stock_on_hand", period="2025-03", slice={"branch": AUSTIN})
    assert march["stock_move_id"].tolist() == ["stock:m9", "stock:m10", "stock:m7", "stock:m11"]
    assert march["value"].sum() == 4 - 2 + 10 - 1


def test_a_balance_with_until_lists_the_rows_not_yet_stopped(
    case_engine: Engine, duckdb_con: duckdb.DuckDBPyConnection
) -> None:
    """A deal is open at a month's end from the day it opened until the day it closed: its
    rows show both days, and a deal closed after the month is listed with that day."""
    rows = case_engine.rows("open_pipeline_value", period="2025-02")
    day = "CAST(timezone(b.timezone, {} AT TIME ZONE 'UTC') AS DATE)"
    opened, closed = day.format("d.opened_at"), day.format("d.closed_at")
    expected = duckdb_con.execute(
        f"""
        SELECT d.deal_id, {opened}, {closed}, d.amount::DOUBLE
        FROM core.fct_deal AS d JOIN core.dim_branch AS b ON b.branch_id = d.branch_id
        WHERE {opened} <= DATE '2025-02-28'
          AND (d.closed_at IS NULL OR {closed} > DATE '2025-02-28')
        ORDER BY 2, 1
        """
    ).fetchall()
    got = list(zip(rows["deal_id"], rows["since"], rows["until"], rows["value"], strict=True))
    assert [(k, s, None if pd.isna(u) else u, v) for k, s, u, v in got] == expected
    assert any(u is not None for _, _, u, _ in expected)  # one closes after February
    assert (rows["date"] == rows["since"]).all()


def test_a_balance_per_entity_lists_its_combinations_with_their_balances(
    case_engine: Engine, duckdb_con: duckdb.DuckDBPyConnection
) -> None:
    """Behind the number of products below their minimum: each product in each store with a
    move up to the period's end, its stock then, its minimum, and 1 where it is below."""
    rows = case_engine.rows("stock_below_minimum", period="2025-03")
    assert list(rows.columns) == [
        "product",
        "warehouse",
        "balance",
        "product.min_stock_qty",
        "value",
    ]
    expected = duckdb_con.execute(
        """
        SELECT s.product_id, s.warehouse_id, SUM(s.qty)::DOUBLE, p.min_stock_qty::DOUBLE,
               CASE WHEN SUM(s.qty) < p.min_stock_qty THEN 1.0 ELSE 0.0 END
        FROM core.fct_stock_move AS s
        JOIN core.dim_branch AS b ON b.branch_id = s.branch_id
        JOIN core.dim_product AS p ON p.product_id = s.product_id
        WHERE CAST(timezone(b.timezone, s.moved_at AT TIME ZONE 'UTC') AS DATE)
              <= DATE '2025-03-31'
        GROUP BY 1, 2, p.min_stock_qty ORDER BY 1, 2
        """
    ).fetchall()
    assert [tuple(r) for r in rows.itertuples(index=False)] == expected
    # Austin's toner: 10 less the write-off at 23:00 on March 31 (April in UTC)
    assert ("stock:1", "stock:w2", 9.0, 30.0, 1.0) in expected
    assert rows["value"].sum() == 1
    # an entity the payments refer to, and the advance that names none
    paid = case_engine.rows("invoices_part_paid", period="2025-06", slice={"branch": AUSTIN})
    assert list(paid.columns) == ["invoice", "balance", "invoice.total_amount", "value"]
    part = paid[paid["value"] == 1]
    assert part[["invoice", "balance", "invoice.total_amount"]].values.tolist() == [
        ["crm_austin:2505", 1000.0, 1800.0]
    ]


# -- scope ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kpi_id", ["revenue", "avg_check", "revenue_per_call", "lead_to_win_30d", "revenue_vs_ly"]
)
def test_a_branch_head_never_sees_another_branchs_rows(kpi_id: str, case_engine: Engine) -> None:
    scope = {"branch": [DENVER]}
    everyone = case_engine.rows(kpi_id, period="2025", grain="year")
    head = case_engine.rows(kpi_id, period="2025", grain="year", scope=scope)
    assert set(everyone["branch"]) == {"Denver", "Austin"}
    assert set(head["branch"]) == {"Denver"}
    assert len(head) == (everyone["branch"] == "Denver").sum()
    # asking for the other branch's slice gives nothing
    other = case_engine.rows(
        kpi_id, period="2025", grain="year", slice={"branch": AUSTIN}, scope=scope
    )
    assert other.empty


# -- period, order, limit, bad requests ----------------------------------------------------------


def test_a_period_is_a_day_inside_it_or_its_label(case_engine: Engine) -> None:
    labelled = case_engine.rows("revenue", period="2025-Q1", grain="quarter")
    dated = case_engine.rows("revenue", period=D("2025-02-14"), grain="quarter")
    written = case_engine.rows("revenue", period="2025-02-14", grain="quarter")
    assert labelled.equals(dated) and labelled.equals(written) and len(labelled) > 3
    week = case_engine.rows("activity_count", period="2025-W10", grain="week")
    assert week.attrs["start"] == D("2025-03-03") and week.attrs["end"] == D("2025-03-09")


def test_at_range_grain_the_period_is_the_range_as_a_pair_or_its_label(
    case_engine: Engine,
) -> None:
    """The rows behind a value of the range grain are those of the whole range, named by its
    first and last day; they add up to the value ``evaluate`` gives at range grain."""
    first, last = D("2025-01-10"), D("2025-03-20")
    pair = case_engine.rows("revenue", period=(first, last), grain="range")
    label = case_engine.rows("revenue", period="2025-01-10…2025-03-20", grain="range")
    dots = case_engine.rows("revenue", period="2025-01-10..2025-03-20", grain="range")
    assert pair.equals(label) and pair.equals(dots)
    assert (pair.attrs["start"], pair.attrs["end"]) == (first, last)
    assert pair["date"].min() >= first and pair["date"].max() <= last
    value = case_engine.evaluate("revenue", start=first, end=last, grain="range")
    assert len(value) == 1 and pair["value"].sum() == pytest.approx(value["value"].iloc[0])
    with pytest.raises(EvaluationError, match="at grain range is its first and last day"):
        case_engine.rows("revenue", period="2025-Q1", grain="range")


def test_rows_are_ordered_by_date_then_key_and_a_limit_keeps_the_first(
    case_engine: Engine,
) -> None:
    every = case_engine.rows("avg_check", period="2025", grain="year")
    order = list(zip(every["date"], every["invoice_id"], every["side"], strict=True))
    assert order == sorted(order) and len(order) > 10
    first = case_engine.rows("avg_check", period="2025", grain="year", limit=5)
    assert first.equals(every.head(5))
    assert first.attrs["total"] == len(every) == every.attrs["total"]


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        (
            {"period": "2025-Q1"},
            "period '2025-Q1' is a quarter, not a month: ask at grain quarter, "
            "or name a day of the month",
        ),
        (
            {"period": "March"},
            "period 'March' is not a day or a period (2026-03-15, 2026-W11, 2026-03, 2026-Q1, "
            "2026)",
        ),
        ({"period": "2025-03", "grain": "decade"}, "unknown grain 'decade'"),
        (
            {"period": "2025-03", "slice": {"product_category": "Toner"}},
            "kpi 'revenue' cannot be sliced, filtered or scoped by 'product_category'",
        ),
        ({"period": "2025-03", "slice": {"brnch": DENVER}}, "unknown dimension 'brnch'"),
        ({"period": "2025-03", "limit": 0}, "a limit of rows is 1 or more, not 0"),
    ],
)
def test_a_request_the_definitions_cannot_answer_says_why(
    asked: dict[str, Any], message: str, case_engine: Engine
) -> None:
    with pytest.raises(EvaluationError) as caught:
        case_engine.rows("revenue", **asked)
    assert str(caught.value).startswith(message)


def test_a_member_is_matched_as_a_filter_matches_it(case_engine: Engine) -> None:
    sliced = case_engine.rows("revenue", period="2025", grain="year", slice={"branch": DENVER})
    filtered = case_engine.rows(
        "revenue", period="2025", grain="year", filters=["branch = 'denver'"]
    )
    assert sliced.equals(filtered) and not sliced.empty
    quoted = case_engine.rows("revenue", period="2025", grain="year", slice={"branch": "o'hare"})
    assert quoted.empty  # a quote in a member is a member, not SQL
    # a line without a product is the slice of no product
    lines = case_engine.rows("line_revenue", period="2025-03", slice={"product": None})
    assert not lines.empty and lines["product"].isna().all()


# -- PostgreSQL ----------------------------------------------------------------------------------

ON_POSTGRES = [
    "revenue",
    "median_invoice",
    "invoiced_clients",
    "credited_client_share",
    "revenue_per_call",
    "margin_share",
    "revenue_growth_yoy",
    "clients_rolling_30d",
    "revenue_running",
    "lead_to_win_30d",
    "repeat_service_14d",
    "revenue_vs_ly_lfl",
    "revenue_ytd_vs_ly",
    "first_category_buyers",
    "returning_clients",
    "reactivated_clients_3m",
    "reactivated_contacts",
    "active_contacts",
    "stock_on_hand",
    "open_pipeline_value",
    "clients_with_open_deals",
    "open_overdue_tasks",
    "receivables_overdue",
    "stock_value_vs_ly",
    "stock_below_minimum",
    "invoices_part_paid",
    "overdue_invoices_part_paid",
    "clients_owing_more_than_one_invoice",
    "invoices_overdue_count",
]


def _cells(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Rows comparable across engines: NaN as None, numbers as floats, sorted."""
    out = []
    for row in rows:
        cells: list[object] = []
        for cell in row:
            if cell is None or (isinstance(cell, float) and math.isnan(cell)):
                cells.append(None)
            elif isinstance(cell, int | float) and not isinstance(cell, bool):
                cells.append(round(float(cell), 6))
            else:
                cells.append(cell)
        out.append(tuple(cells))
    return sorted(out, key=lambda r: [(c is None, str(c)) for c in r])


@pytest.mark.postgres
@pytest.mark.parametrize("kpi_id", ON_POSTGRES)
def test_the_compiled_rows_on_postgres_are_duckdbs(
    kpi_id: str, case_engine: Engine, postgres: str
) -> None:
    asked: dict[str, Any] = {
        "period": "2025-Q1",
        "grain": "quarter",
        "slice": {"role": "sales_manager"},
        "scope": {"branch": [DENVER, AUSTIN]},
    }
    on_duckdb = case_engine.rows(kpi_id, **asked)
    query = case_engine.rows_query(**asked)
    compiled = case_engine.compile_rows(kpi_id, query, limit=3)
    with psycopg.connect(postgres) as con:
        limited = con.execute(compiled.sql("postgres"), compiled.params).fetchall()
        compiled = case_engine.compile_rows(kpi_id, query)
        cursor = con.execute(compiled.sql("postgres"), compiled.params)
        names = [d.name for d in cursor.description or ()]
        every = cursor.fetchall()
    assert names == list(on_duckdb.columns)
    assert _cells(every) == _cells(list(on_duckdb.itertuples(index=False)))
    assert len(limited) == min(3, len(every))
    assert all(row[-1] == len(every) for row in limited)  # how many there are in all


def test_a_derived_kpis_filter_on_a_balance_input_narrows_its_rows(
    case_engine: Engine, duckdb_con: duckdb.DuckDBPyConnection
) -> None:
    """``{kpi: stock_on_hand, filter: …}`` counts the printers only: its rows are the
    printers' moves, and they add up to the value, as the value's SQL narrows the balance."""
    text = """\
kpis:
  - id: printers_on_hand
    label: Printers on hand
    description: d.
    unit: count
    type: derived
    expr: s
    inputs:
      - {kpi: stock_on_hand, as: s, filter: "product_category = 'Printers'"}
"""
    extra, problems = parse_kpis(text, "kpis/x.yaml")
    kpis, problems = check_kpis([*case_engine.kpis.values(), *extra])
    assert problems == []
    query = Query(D("2025-03-01"), D("2025-03-31"), "month")
    listed = compile_rows("printers_on_hand", query, kpis)
    rows = duckdb_con.execute(listed.sql("duckdb"), listed.params).df()
    valued = compile_kpi("printers_on_hand", query, kpis)
    [value] = duckdb_con.execute(valued.sql("duckdb"), valued.params).df()["value"]
    assert set(rows["product"]) == {"LaserJet M404"} and len(rows) == 4
    assert rows["value"].sum() == value == 4
