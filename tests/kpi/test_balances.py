"""Balances beyond the case table: the two forms of their SQL give the same values, they are
evaluated and planned together with other KPIs, and their plans are never added up over time.

The values themselves are checked against hand-written queries in ``test_cases.py``
(``BALANCES``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler import Compiled, Query, compile_kpi, plan
from kpi_designer.compiler.builder import Builder
from kpi_designer.compiler.trees import col, ident
from kpi_designer.compiler.types.balance import due_days, in_force, running
from kpi_designer.engine import Definitions, Engine
from kpi_designer.loader import check_kpis, parse_kpis
from kpi_designer.plans import load_plans
from kpiboard import sandbox

from .conftest import make_engine

D = dt.date.fromisoformat
DENVER, AUSTIN = "denver", "austin"
DANA, FINN = "crm_denver:1", "crm_denver:3"

RUNNING = (
    "stock_on_hand",
    "stock_value",
    "open_pipeline_value",
    "service_backlog",
    "invoiced_balance",
    "paid_balance",
    "open_overdue_tasks",
    "invoiced_overdue",
    "paid_on_overdue",
)
"""Balances computed as a running sum of changes: sums and counts, without ``when`` or with
``when`` conditions of a day before ``as_of`` (from the later of the start and that day)."""


@pytest.fixture(scope="module")
def con(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = sandbox.open_snapshot(warehouse)
    yield con
    con.close()


def run_form(
    form: Callable[[Builder, m.Balance, Query], exp.Select],
    kpi: m.Balance,
    query: Query,
    kpis: dict[str, m.Kpi],
    con: duckdb.DuckDBPyConnection,
) -> pd.DataFrame:
    """``kpi`` for ``query`` computed by one form of the balance's SQL, on DuckDB."""
    builder = Builder(kpis, query)
    keys = ["period", *query.by]
    inner = form(builder, kpi, query)
    select = exp.select(*(col(k) for k in keys), col("value")).from_(
        inner.subquery(ident("kpi"), copy=False), copy=False
    )
    compiled = Compiled(builder.with_zone_days(select.order_by(*map(col, keys))), builder.params)
    frame = con.execute(compiled.sql("duckdb"), compiled.params).df()
    return frame.sort_values(keys, ignore_index=True)


QUERIES = [
    Query(D("2025-01-28"), D("2025-03-03"), "day", ("branch",)),
    Query(D("2025-01-01"), D("2025-03-16"), "week", ("employee",)),
    Query(D("2024-01-01"), D("2025-06-30"), "month", ("branch", "employee")),
    Query(D("2024-07-01"), D("2025-03-20"), "quarter", (), scope={"branch": (DENVER,)}),
    Query(D("2023-01-01"), D("2025-06-30"), "year", ("branch",)),
]


@pytest.mark.parametrize("query", QUERIES, ids=[q.grain for q in QUERIES])
@pytest.mark.parametrize("kpi_id", RUNNING)
def test_the_running_sum_of_changes_equals_the_rows_in_force(
    kpi_id: str, query: Query, case_engine: Engine, con: duckdb.DuckDBPyConnection
) -> None:
    """The fast form (changes summed per day, then up to each period's end) and the exact one
    (every row in force joined to every period's end) give the same rows and values."""
    kpis = dict(case_engine.kpis)
    kpi = kpis[kpi_id]
    assert isinstance(kpi, m.Balance)
    fast = run_form(running, kpi, query, kpis, con)
    exact = run_form(in_force, kpi, query, kpis, con)
    assert not exact.empty
    pd.testing.assert_frame_equal(fast, exact, check_dtype=False)


def test_a_balance_reads_no_row_after_the_range(
    case_engine: Engine, con: duckdb.DuckDBPyConnection
) -> None:
    """The receipt of 100 toners on 2025-07-03 (10:00 in Denver) counts from that day on,
    and not in a range ending the day before, whatever the grain."""
    by_day = case_engine.evaluate(
        "stock_on_hand", start=D("2025-07-01"), end=D("2025-07-04"), grain="day", by=["branch"]
    )
    denver = by_day[by_day["branch"] == DENVER].set_index("period")["value"]
    assert denver[D("2025-07-03")] - denver[D("2025-07-02")] == 100
    before = case_engine.evaluate(
        "stock_on_hand", start=D("2025-01-01"), end=D("2025-07-02"), grain="year", by=["branch"]
    )
    year = before.set_index("branch")["value"]
    assert year[DENVER] == denver[D("2025-07-02")]


def test_balances_planned_with_other_kpis_share_one_table_of_local_days(
    case_engine: Engine, con: duckdb.DuckDBPyConnection
) -> None:
    """A plan of balances and the KPIs that roll a fact up: the table of local days, made
    once, covers the days the balances place rows on, and every statement gives what it
    gives alone."""
    kpis = dict(case_engine.kpis)
    ids = ["stock_on_hand", "open_overdue_tasks", "revenue", "revenue_ytd", "receivables"]
    query = Query(D("2025-01-01"), D("2025-06-30"), "month", ("branch",))
    planned = plan(ids, query, kpis)
    assert planned.zones is not None and planned.rollups
    cursor = con.cursor()
    try:
        for setup in planned.setup:
            cursor.execute(setup.sql("duckdb"), setup.params)
        together = {}
        for unit, statement in zip(planned.units, planned.statements, strict=True):
            together[unit[0]] = cursor.execute(statement.sql("duckdb"), statement.params).df()
    finally:
        cursor.close()
    for kpi_id in ("stock_on_hand", "open_overdue_tasks", "receivables"):
        alone = case_engine.evaluate(kpi_id, start=query.start, end=query.end, by=["branch"])
        got = together[kpi_id].sort_values(["period", "branch"], ignore_index=True)
        want = alone[["period", "branch", "value"]].sort_values(["period", "branch"])
        pd.testing.assert_frame_equal(
            got.assign(period=pd.to_datetime(got["period"]).dt.date),
            want.reset_index(drop=True),
            check_dtype=False,
        )


def test_several_kpis_with_balances_evaluate_as_each_alone(
    fresh_engine: Callable[[], Engine],
) -> None:
    ids = [
        "stock_on_hand",
        "stock_value",
        "stock_value_vs_ly",
        "stock_change",
        "receivables",
        "receivables_overdue",
        "invoiced_balance",
        "revenue",
        "revenue_ytd",
        "open_overdue_tasks",
    ]

    def ask(kpi_ids: list[str]) -> pd.DataFrame:
        return fresh_engine().evaluate(
            kpi_ids, start=D("2024-12-01"), end=D("2025-04-20"), by=["branch"]
        )

    keys = ["kpi", "period", "branch"]
    together = ask(ids).sort_values(keys, ignore_index=True)
    alone = pd.concat([ask([k]) for k in ids]).sort_values(keys, ignore_index=True)
    assert set(together["kpi"]) == set(ids)
    pd.testing.assert_frame_equal(together, alone)


@pytest.mark.parametrize(
    ("kpi", "member"),
    [
        ("stock_on_hand", FINN),
        ("open_pipeline_value", DANA),
        ("largest_open_deal", DANA),
        ("receivables", DANA),
        ("receivables_overdue", DANA),
    ],
)
@pytest.mark.parametrize("dimension", ["branch", "employee"])
def test_a_scope_gives_a_balance_what_the_same_filter_gives(
    kpi: str, member: str, dimension: str, case_engine: Engine
) -> None:
    member = DENVER if dimension == "branch" else member

    def run(**narrowed: Any) -> pd.DataFrame:
        return case_engine.evaluate(
            kpi, start=D("2025-01-01"), end=D("2025-06-30"), by=["branch", "employee"], **narrowed
        )

    scoped = run(scope={dimension: [member]})
    filtered = run(filters=[f"{dimension} = '{member}'"])
    assert not scoped.empty and set(scoped[dimension]) == {member}
    pd.testing.assert_frame_equal(scoped, filtered)
    assert len(run()) > len(scoped)


def test_a_plan_of_a_balance_is_never_added_up_over_time(
    definitions: Definitions, warehouse: Path, tmp_path: Path
) -> None:
    """Stock on hand planned per month: a month shows its plan, a quarter none (three
    months' stock is not the quarter's stock). Denver's store: 70 toners at the start of
    2025; in January 3 printers in, 2 toners out and 5 more late on January 31 (local); 10
    toners sent to Austin in February; a printer out in March."""
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "stock.csv").write_text(
        "kpi,period,branch,plan\n"
        "stock_on_hand,2025-01,denver,60\n"
        "stock_on_hand,2025-02,denver,60\n"
        "stock_on_hand,2025-03,denver,60\n"
    )
    kpis = definitions.kpis
    engine = make_engine(Definitions(kpis, load_plans(tmp_path / "plans", kpis)), warehouse)
    months = engine.evaluate(
        "stock_on_hand", start=D("2025-01-01"), end=D("2025-03-31"), by=["branch"]
    )
    denver = months[months["branch"] == DENVER]
    assert list(denver["plan"]) == [60.0, 60.0, 60.0]
    assert list(denver["value"]) == [66.0, 56.0, 55.0]
    quarter = engine.evaluate(
        "stock_on_hand", start=D("2025-01-01"), end=D("2025-03-31"), grain="quarter", by=["branch"]
    )
    assert quarter[quarter["branch"] == DENVER]["plan"].isna().all()
    assert quarter[quarter["branch"] == DENVER]["value"].tolist() == [55.0]


def test_a_filter_on_a_derived_kpis_input_filters_a_balance(
    case_engine: Engine, con: duckdb.DuckDBPyConnection
) -> None:
    """``{kpi: stock_on_hand, filter: …}`` is the balance of the rows passing the filter, as
    the same filter on the request gives it."""
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
    query = Query(D("2025-01-01"), D("2025-06-30"), "month", ("branch",))
    compiled = compile_kpi("printers_on_hand", query, kpis)
    got = con.execute(compiled.sql("duckdb"), compiled.params).df()
    want = case_engine.evaluate(
        "stock_on_hand",
        start=query.start,
        end=query.end,
        by=["branch"],
        filters=["product_category = 'Printers'"],
    )
    assert not want.empty and len(got) == len(want)
    assert list(got["value"]) == list(want["value"])


@pytest.mark.parametrize("query", QUERIES, ids=[q.grain for q in QUERIES])
def test_a_related_tables_day_before_as_of_is_a_running_sum_too(
    query: Query, case_engine: Engine, con: duckdb.DuckDBPyConnection
) -> None:
    """``last_payment.paid_on < as_of`` is a day of the row (its invoice's last payment)
    before the period's end: the running form counts the invoice from the day after it, and
    gives what the rows in force give."""
    text = """\
kpis:
  - id: settled_invoices
    label: Settled invoices
    description: d.
    unit: money
    type: balance
    fact: invoice
    agg: sum
    expr: total_amount
    when: last_payment.paid_on < as_of
"""
    extra, problems = parse_kpis(text, "kpis/x.yaml")
    kpis, problems = check_kpis([*case_engine.kpis.values(), *extra])
    assert problems == []
    kpi = kpis["settled_invoices"]
    assert isinstance(kpi, m.Balance) and due_days(kpi) is not None
    fast = run_form(running, kpi, query, dict(kpis), con)
    exact = run_form(in_force, kpi, query, dict(kpis), con)
    assert not exact.empty
    pd.testing.assert_frame_equal(fast, exact, check_dtype=False)
