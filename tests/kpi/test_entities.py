"""``entities`` KPIs beyond the case table: a new entity counts once whatever ties its first
day holds, and on both engines in the same slice; plans of a count of new entities add up over
periods, those of active entities do not.

The fixture (``conftest.py``): Clear Clinic's first invoice line of a category that counts is
one of two lines of one invoice (2025-02-13: toner and repair hours), Eve Ray's too
(2025-03-03); first-time buyers of a category in denver are Acme School's toner and Bo Smith's
repair hours in January 2025, Clear Clinic's toner and repair hours in February, none in March.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from kpi_designer.compiler import Query, check_query
from kpi_designer.engine import Engine
from kpi_designer.errors import EvaluationError
from kpi_designer.loader import load_kpis
from kpiboard import sandbox

D = dt.date.fromisoformat
JAN, MAR_END = D("2025-01-01"), D("2025-03-31")


def test_a_new_entity_counts_once_whatever_ties_its_first_day_holds(
    case_engine: Engine, warehouse: Path
) -> None:
    """Sliced by product category, a client whose first day has lines of two categories
    counts in one of them: the slices add up to the total, which is the number of clients whose
    first line falls in the range (counted by hand), and each period's values add up to it."""
    start, end = D("2024-01-01"), D("2025-06-30")
    sliced = case_engine.evaluate(
        "new_line_clients", start=start, end=end, grain="month", by=["product_category"]
    )
    total = case_engine.evaluate("new_line_clients", start=start, end=end, grain="month")
    summed = sliced.groupby("period")["value"].sum()
    assert summed.to_dict() == total.set_index("period")["value"].to_dict()
    con = sandbox.open_snapshot(warehouse)
    try:
        found = con.execute(
            """
            SELECT COUNT(*) FROM (
                SELECT COALESCE(k.master_client_id, i.client_id), MIN(i.issued_on) AS first_day
                FROM core.fct_invoice_line AS l
                JOIN core.fct_invoice AS i ON i.invoice_id = l.invoice_id
                JOIN core.dim_client AS k ON k.client_id = i.client_id
                WHERE i.status <> 'cancelled' GROUP BY 1
            ) AS c WHERE first_day BETWEEN '2024-01-01' AND '2025-06-30'
            """
        ).fetchone()
    finally:
        con.close()
    assert found is not None
    firsts = found[0]
    assert firsts == 6 and total["value"].sum() == firsts
    clinic_first = sliced[sliced["period"] == D("2025-02-01")]
    assert clinic_first["value"].sum() == 1.0  # two lines of one invoice: one new client


@pytest.mark.postgres
def test_ties_are_broken_alike_on_both_engines(case_engine: Engine, postgres: str) -> None:
    """The first of several events of one day is chosen by the same order on PostgreSQL."""
    query = case_engine.query(
        start=D("2025-01-01"), end=D("2025-06-30"), grain="day", by=("product_category",)
    )
    compiled = case_engine.compile("new_line_clients", query)
    with psycopg.connect(postgres) as con:
        on_postgres = con.execute(compiled.sql("postgres"), compiled.params).fetchall()
    frame = case_engine.evaluate(
        "new_line_clients", start=query.start, end=query.end, grain="day", by=["product_category"]
    )
    on_duckdb = [tuple(r) for r in frame[["period", "product_category", "value"]].itertuples(False)]
    assert sorted(on_postgres) == sorted(on_duckdb)
    # Bo, Dental, and Clinic and Eve in one of the two categories of their first day each
    assert [v for _, _, v in on_duckdb] == [1.0] * 4


def test_monthly_plans_of_new_entities_add_up_to_a_quarter(plan_engine: Engine) -> None:
    frame = plan_engine.evaluate(
        "first_category_buyers", start=JAN, end=MAR_END, grain="quarter", by=["branch"]
    )
    denver = frame[frame["branch"] == "denver"].iloc[0]
    assert (denver["value"], denver["plan"]) == (4.0, 6.0)
    assert denver["achievement"] == pytest.approx(4 / 6) and denver["status"] == "red"
    monthly = plan_engine.evaluate(
        "first_category_buyers", start=JAN, end=MAR_END, grain="month", by=["branch"]
    )
    denver_months = monthly[monthly["branch"] == "denver"]
    # March has a plan and no first-time buyer: a count of new entities is 0 there
    assert denver_months[["value", "plan"]].to_numpy().tolist() == [[2, 2], [2, 2], [0, 2]]


def test_a_plan_of_active_entities_holds_at_its_own_grain_only(plan_engine: Engine) -> None:
    """Active clients of a quarter are not the sum of its months' (Acme in each of them)."""
    quarter = plan_engine.evaluate(
        "active_clients", start=JAN, end=MAR_END, grain="quarter", by=["branch"]
    )
    denver = quarter[quarter["branch"] == "denver"].iloc[0]
    assert (denver["value"], denver["plan"]) == (3.0, 3.0)
    months = plan_engine.evaluate(
        "active_clients", start=JAN, end=MAR_END, grain="month", by=["branch"]
    )
    denver_months = months[months["branch"] == "denver"]
    assert denver_months["value"].sum() > 3 and denver_months["plan"].isna().all()
    assert not pd.isna(denver["achievement"])


def test_the_refusal_names_only_the_facts_that_do_not_reach_the_dimension(
    tmp_path: Path,
) -> None:
    """Lines reach a product category and invoices do not: a KPI over both names invoices."""
    (tmp_path / "k.yaml").write_text(
        "kpis:\n"
        "  - {id: lines, label: L, description: d., unit: money, type: simple,"
        " fact: invoice_line, agg: sum, expr: line_amount}\n"
        "  - {id: invoiced, label: I, description: d., unit: money, type: simple,"
        " fact: invoice, agg: sum, expr: net_amount}\n"
        "  - {id: share, label: S, description: d., unit: percent, type: derived,"
        " expr: lines / invoiced}\n"
    )
    kpis = load_kpis(tmp_path)
    with pytest.raises(EvaluationError) as error:
        check_query("share", Query(JAN, MAR_END, "month", ("product_category",)), kpis)
    assert "by 'product_category': fact invoice does not reach it (it reaches" in str(error.value)


def test_a_dimension_one_events_fact_does_not_reach_is_refused(case_engine: Engine) -> None:
    """Invoices and deals reach clients, not products: slicing by product would leave the
    deals out, so it is refused, naming the facts."""
    with pytest.raises(EvaluationError) as error:
        case_engine.evaluate("new_clients_any", start=JAN, end=MAR_END, by=["product"])
    assert str(error.value) == (
        "kpi 'new_clients_any' cannot be sliced, filtered or scoped by 'product': facts deal,"
        " invoice do not reach it (it reaches branch, channel, client, client_city,"
        " client_kind, client_segment, employee, industry, region, role)"
    )
