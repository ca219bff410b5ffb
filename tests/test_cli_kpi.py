"""``kpiboard kpi …`` as a user runs it, on a small demo built by ``kpiboard demo``."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from kpiboard import urls
from kpiboard.config import load_settings
from kpiboard.core_model import ddl
from kpiboard.kpi_output import format_achievement, format_value
from tests.test_cli import _environment, _one_error_line, kpiboard

PACK = 131
"""The KPIs of the demo pack (kpiboard/demo/kpis)."""


@pytest.fixture(scope="module")
def demo(small_demo: Path) -> Path:
    """The small demo every test process builds once (tests/conftest.py)."""
    return small_demo


def _sql(project: Path, sql: str) -> list[tuple[object, ...]]:
    con = load_settings(project).open_warehouse().connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_list_csv_starts_with_the_id(demo: Path) -> None:
    result = kpiboard(demo, "kpi", "list", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.stdout.splitlines()[0].split(",")[0] == "id"
    assert len(rows) == PACK
    revenue = next(r for r in rows if r["id"] == "revenue")
    assert (revenue["type"], revenue["unit"], revenue["defined_at"]) == (
        "simple",
        "money",
        "kpis/sales.yaml:4",
    )


def test_show_explains_how_a_kpi_is_computed(demo: Path) -> None:
    result = kpiboard(demo, "kpi", "show", "avg_check", "--format", "json")
    assert result.returncode == 0, result.stderr
    [shown] = json.loads(result.stdout)
    assert shown["computed_from"] == "revenue / invoice_count (ratio of sums)"
    assert shown["inputs"] == "revenue, invoice_count"
    assert "employee" in shown["dimensions"].split(", ")
    assert "product_category" not in shown["dimensions"].split(", ")


def test_eval_equals_a_hand_written_query(demo: Path) -> None:
    result = kpiboard(
        demo,
        "kpi",
        "eval",
        "revenue",
        "--from",
        "2026-01-01",
        "--to",
        "2026-03-31",
        "--by",
        "branch",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    got = {(r["period_start"], r["branch"]): r["value"] for r in json.loads(result.stdout)}
    assert {r["period"] for r in json.loads(result.stdout)} == {"2026-01", "2026-02", "2026-03"}
    expected = _sql(
        demo,
        "SELECT strftime(date_trunc('month', issued_on), '%Y-%m-%d'), branch_id, "
        "round(sum(net_amount), 4)::DOUBLE FROM core.fct_invoice "
        "WHERE issued_on BETWEEN '2026-01-01' AND '2026-03-31' "
        "AND status NOT IN ('draft', 'cancelled') GROUP BY 1, 2",
    )
    assert got == {(p, b): v for p, b, v in expected}
    assert len(got) == 9  # three branches, three months
    plans = [r for r in json.loads(result.stdout) if r["plan"] is not None]
    assert plans and all(r["status"] in ("green", "amber", "red") for r in plans)


RANGE_EVAL = ("kpi", "eval", "revenue", "--grain", "range", "--from", "2025-01-10")
RANGE_EVAL += ("--to", "2025-03-20", "--by", "branch")


def test_eval_at_range_grain_is_one_period_labelled_by_its_days(demo: Path) -> None:
    """January 10 to March 20 as one period: labelled by its first and last day, dated by its
    first, each branch's value the sum over those days."""
    result = kpiboard(demo, *RANGE_EVAL, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {(r["period"], r["period_start"]) for r in rows} == {
        ("2025-01-10…2025-03-20", "2025-01-10")
    }
    expected = _sql(
        demo,
        "SELECT branch_id, round(sum(net_amount), 4)::DOUBLE FROM core.fct_invoice "
        "WHERE issued_on BETWEEN '2025-01-10' AND '2025-03-20' "
        "AND status NOT IN ('draft', 'cancelled') GROUP BY 1",
    )
    assert {r["branch"]: r["value"] for r in rows if r["value"]} == dict(expected)
    assert len(expected) == 3
    table = _at_width(demo, 100, *RANGE_EVAL)
    assert table.returncode == 0, table.stderr
    assert "revenue as one period, 2025-01-10 to 2025-03-20" in table.stdout
    assert table.stdout.count("2025-01-10…2025-03-20") == 3  # a row per branch
    compiled = kpiboard(demo, "kpi", "compile", "revenue", *RANGE_EVAL[3:], "--literal")
    assert compiled.returncode == 0, compiled.stderr
    assert "CAST(DATE '2025-01-10' AS DATE) AS \"period\"" in compiled.stdout
    assert "date_trunc" not in compiled.stdout.lower()


def test_eval_of_an_unreachable_dimension_is_one_error_line(demo: Path) -> None:
    result = kpiboard(demo, "kpi", "eval", "revenue", "--by", "product_category")
    assert result.returncode == 2
    assert _one_error_line(result).startswith(
        "error: kpi 'revenue' cannot be sliced, filtered or scoped by 'product_category': "
        "fact invoice does not reach it"
    )


def test_eval_of_a_hostile_filter_is_refused(demo: Path) -> None:
    result = kpiboard(
        demo,
        "kpi",
        "eval",
        "revenue",
        "--filter",
        "branch IN (SELECT branch_id FROM core.dim_branch)",
    )
    assert result.returncode == 2
    assert "must be an expression, not a query" in _one_error_line(result)
    result = kpiboard(demo, "kpi", "eval", "revenue", "--filter", "brnch = 'denver'")
    assert result.returncode == 2
    assert "'brnch' is not a dimension — did you mean 'branch'?" in _one_error_line(result)


def test_rows_are_the_invoices_behind_a_value_and_add_up_to_it(demo: Path) -> None:
    asked = ("--period", "2026-03", "--where", "branch=denver", "--format", "json")
    result = kpiboard(demo, "kpi", "rows", "revenue", *asked)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    expected = _sql(
        demo,
        "SELECT i.invoice_id, strftime(i.issued_on, '%Y-%m-%d'), e.full_name, "
        "i.net_amount::DOUBLE FROM core.fct_invoice AS i "
        "JOIN core.dim_employee AS e ON e.employee_id = i.owner_id "
        "WHERE i.issued_on BETWEEN '2026-03-01' AND '2026-03-31' AND i.branch_id = 'denver' "
        "AND i.status NOT IN ('draft', 'cancelled') ORDER BY 2, 1",
    )
    assert [(r["invoice_id"], r["date"], r["employee"], r["value"]) for r in rows] == expected
    assert len(rows) > 3 and {r["branch"] for r in rows} == {"Denver"}
    value = kpiboard(
        demo, "kpi", "eval", "revenue", "--from", "2026-03", "--to", "2026-03",
        "--filter", "branch = 'denver'", "--format", "json",
    )  # fmt: skip
    [evaluated] = json.loads(value.stdout)
    assert round(sum(r["value"] for r in rows), 2) == evaluated["value"]
    limited = kpiboard(demo, "kpi", "rows", "revenue", *asked[:4], "--limit", "2")
    assert limited.returncode == 0, limited.stderr
    assert f"revenue, 2026-03, branch=denver: {len(rows)} rows" in limited.stdout
    assert rows[0]["invoice_id"] in limited.stdout and rows[2]["invoice_id"] not in limited.stdout
    assert f"{len(rows) - 2} more rows (--limit 2); {len(rows)} rows in all" in limited.stderr


def test_rows_of_a_range_are_named_by_its_days_and_add_up_to_its_value(demo: Path) -> None:
    """A range as one period, written first..last: its grain is the range without --grain,
    the title names both days, and the receivables overdue at its end are its invoices past
    due less their payments."""
    period = ("--period", "2026-01-10..2026-03-20")
    table = kpiboard(demo, "kpi", "rows", "receivables_overdue", *period, "--limit", "1")
    assert table.returncode == 0, table.stderr
    assert "receivables_overdue, 2026-01-10…2026-03-20:" in table.stdout
    listed = kpiboard(demo, "kpi", "rows", "receivables_overdue", *period, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    sides = {name: sum(r["value"] for r in rows if r["input"] == name) for name in
             ("invoiced_overdue", "paid_on_overdue")}  # fmt: skip
    value = kpiboard(
        demo, "kpi", "eval", "receivables_overdue", "--grain", "range",
        "--from", "2026-01-10", "--to", "2026-03-20", "--format", "json",
    )  # fmt: skip
    [evaluated] = json.loads(value.stdout)
    assert evaluated["period"] == "2026-01-10…2026-03-20" and evaluated["value"] > 0
    assert sides["invoiced_overdue"] - sides["paid_on_overdue"] == pytest.approx(
        evaluated["value"], abs=0.01
    )


def test_rows_of_a_period_at_another_grain_is_one_error_line(demo: Path) -> None:
    result = kpiboard(demo, "kpi", "rows", "revenue", "--period", "2026-Q1", "--grain", "month")
    assert result.returncode == 2
    assert _one_error_line(result) == (
        "error: period '2026-Q1' is a quarter, not a month: ask at grain quarter, "
        "or name a day of the month"
    )
    quarter = kpiboard(demo, "kpi", "rows", "win_rate", "--period", "2026-Q1", "--format", "csv")
    assert quarter.returncode == 0, quarter.stderr
    header, *lines = quarter.stdout.splitlines()
    assert header == "side,deal_id,date,branch,employee,client,value"
    assert {line.split(",")[0] for line in lines} == {"numerator", "denominator"}
    assert all("2026-01-01" <= line.split(",")[2] <= "2026-03-31" for line in lines)
    bad = kpiboard(demo, "kpi", "rows", "revenue", "--period", "2026-03", "--where", "branch")
    assert bad.returncode == 2 and "'branch' is not dimension=member" in bad.stderr


def test_compile_prints_postgres_sql_with_bound_parameters(demo: Path) -> None:
    result = kpiboard(
        demo,
        "kpi",
        "compile",
        "avg_check",
        "--dialect",
        "postgres",
        "--by",
        "employee",
        "--from",
        "2026-01-01",
        "--to",
        "2026-06-30",
    )
    assert result.returncode == 0, result.stderr
    assert "-- start_0 = DATE '2026-01-01'" in result.stdout
    assert "BETWEEN %(start_0)s AND %(end_1)s" in result.stdout
    assert "DOUBLE PRECISION" in result.stdout  # rendered for PostgreSQL, not DuckDB


def test_check_passes_and_then_lists_every_problem(demo: Path, tmp_path: Path) -> None:
    ok = kpiboard(demo, "kpi", "check")
    assert ok.returncode == 0, ok.stderr
    assert f"{PACK} KPIs" in ok.stdout and "no problems" in ok.stdout
    broken = demo / "kpis" / "zz_broken.yaml"
    broken.write_text(
        "kpis:\n  - id: bad\n    label: Bad\n    description: d.\n    unit: money\n"
        "    type: simple\n    fact: invoice\n    agg: sum\n    expr: amout\n"
    )
    try:
        result = kpiboard(demo, "kpi", "check", "--format", "json")
        assert result.returncode == 2
        assert json.loads(result.stdout) == [
            {
                "file": "kpis/zz_broken.yaml",
                "line": 9,
                "column": None,
                "severity": "error",
                "problem": "kpi 'bad': expr: unknown column 'amout' of fact invoice"
                " — did you mean 'tax_amount'?",
            }
        ]
        table = kpiboard(demo, "kpi", "check")
        assert table.returncode == 2
        assert _one_error_line(table) == (
            "error: kpis/zz_broken.yaml:9: kpi 'bad': expr: unknown column 'amout' of fact invoice"
            " — did you mean 'tax_amount'?"
        )
    finally:
        broken.unlink()


def test_check_locates_a_related_table_problem_and_eval_reads_related_rows(demo: Path) -> None:
    """``first_payment.paid_on`` and ``invoice.due_on``: an unknown column of a related table is
    one located error; the KPI written right evaluates to what a hand-written query gives."""
    path = demo / "kpis" / "zz_related.yaml"
    head = "kpis:\n  - id: settle\n    label: S\n    description: d.\n    unit: days\n"
    body = "    type: simple\n    fact: invoice\n    agg: avg\n"
    path.write_text(head + body + "    expr: last_payment.paid_at - issued_on\n")
    try:
        result = kpiboard(demo, "kpi", "check")
        assert result.returncode == 2
        assert _one_error_line(result) == (
            "error: kpis/zz_related.yaml:9: kpi 'settle': expr: unknown column 'paid_at' of"
            " last_payment (fct_payment) in last_payment.paid_at — did you mean 'paid_on'?"
        )
        path.write_text(
            head + body + "    expr: last_payment.paid_on - issued_on\n"
            "    filter: first_payment.paid_on > due_on\n"
        )
        ok = kpiboard(demo, "kpi", "check")
        assert ok.returncode == 0, ok.stderr
        result = kpiboard(
            demo, "kpi", "eval", "settle", "--from", "2026-01-01", "--to", "2026-06-30",
            "--by", "branch", "--format", "json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        got = {(r["period_start"], r["branch"]): r["value"] for r in json.loads(result.stdout)}
        expected = _sql(
            demo,
            "SELECT strftime(date_trunc('month', i.issued_on), '%Y-%m-%d'), i.branch_id,"
            " avg(p.last_paid - i.issued_on)::DOUBLE FROM core.fct_invoice AS i JOIN ("
            "   SELECT invoice_id, min(paid_on) AS first_paid, max(paid_on) AS last_paid"
            "   FROM core.fct_payment GROUP BY invoice_id"
            " ) AS p ON p.invoice_id = i.invoice_id"
            " WHERE i.issued_on BETWEEN '2026-01-01' AND '2026-06-30' AND p.first_paid > i.due_on"
            " GROUP BY 1, 2",
        )
        assert len(expected) > 6  # late payers in every branch and most months
        assert got.keys() == {(d, b) for d, b, _ in expected}
        for day, branch, value in expected:
            assert got[(day, branch)] == pytest.approx(value, abs=1e-3)
    finally:
        path.unlink()


ENTITIES_KPIS = """\
kpis:
  - id: zz_new_clients
    label: New clients
    description: Clients whose first invoice falls in the period.
    unit: count
    type: entities
    count: new
    entity: client
    events:
      fact: invoice
      filter: "kind = 'invoice' AND status NOT IN ('draft', 'cancelled')"
  - id: zz_reactivated_clients
    label: Reactivated clients
    description: Clients invoiced or in a new deal after half a year without either.
    unit: count
    type: entities
    count: reactivated
    entity: client
    events:
      - {fact: invoice, filter: "kind = 'invoice' AND status NOT IN ('draft', 'cancelled')"}
      - {fact: deal}
"""


def test_an_entities_kpi_checks_and_counts_what_the_demo_counts(demo: Path) -> None:
    """New clients by their first invoice are the demo's first-time buyers, whose first
    purchase the pipeline numbers (client_invoice_no); a reactivation without its gap is one
    located error."""
    extra = demo / "kpis" / "zz_entities.yaml"
    extra.write_text(ENTITIES_KPIS + "    gap: 180 days\n")
    try:
        ok = kpiboard(demo, "kpi", "check")
        assert ok.returncode == 0, ok.stderr
        assert f"{PACK + 2} KPIs" in ok.stdout and "no problems" in ok.stdout
        result = kpiboard(
            demo,
            *("kpi", "eval", "zz_new_clients", "first_purchase_clients", "--wide"),
            *("--by", "branch", "--from", "2024-11", "--format", "csv"),
        )
        assert result.returncode == 0, result.stderr
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert sum(float(r["zz_new_clients"] or 0) for r in rows) > 0
        assert [r["zz_new_clients"] for r in rows] == [r["first_purchase_clients"] for r in rows]
        # the rows behind a quarter's value: the first invoices of its new clients
        listed = kpiboard(
            demo,
            *("kpi", "rows", "zz_new_clients", "--period", "2026-Q3", "--grain", "quarter"),
            *("--format", "json"),
        )
        assert listed.returncode == 0, listed.stderr
        firsts = json.loads(listed.stdout)
        expected = _sql(
            demo,
            "SELECT i.invoice_id, strftime(i.issued_on, '%Y-%m-%d'), b.name, m.name, m.client_id"
            " FROM core.fct_invoice AS i JOIN core.dim_branch AS b ON b.branch_id = i.branch_id"
            " JOIN core.dim_client AS c ON c.client_id = i.client_id"
            " JOIN core.dim_client AS m ON m.client_id = coalesce(c.master_client_id, c.client_id)"
            " WHERE i.client_invoice_no = 1"
            " AND i.issued_on BETWEEN '2026-07-01' AND '2026-09-30' ORDER BY 2, 1",
        )
        got = [(r["invoice_id"], r["date"], r["branch"], r["client"], r["entity"]) for r in firsts]
        assert got == expected and len(got) > 5
        assert [r["counted"] for r in firsts] == [r["entity"] for r in firsts]
        quarter = kpiboard(
            demo,
            *("kpi", "eval", "zz_new_clients", "--from", "2026-07", "--to", "2026-09"),
            *("--grain", "quarter", "--format", "json"),
        )
        assert [r["value"] for r in json.loads(quarter.stdout)] == [len(expected)]
        extra.write_text(ENTITIES_KPIS)
        broken = kpiboard(demo, "kpi", "check")
        assert broken.returncode == 2
        assert _one_error_line(broken) == (
            "error: kpis/zz_entities.yaml:17: kpi 'zz_reactivated_clients': count: reactivated"
            " needs gap: how long without an event makes the next one a reactivation"
            " (like '180 days')"
        )
    finally:
        extra.unlink()


def test_rows_of_a_balance_are_the_moves_in_force_and_per_entity_its_combinations(
    demo: Path,
) -> None:
    """``kpi rows`` on a balance lists the stock moves up to the month's end, whose sum is the
    stock ``kpi eval`` gives; on a balance per product and store, the pairs with their stock
    and minimum, whose flags add up to the count of pairs below it."""
    path = demo / "kpis" / "zz_stock.yaml"
    path.write_text(
        "kpis:\n"
        "  - {id: stock_units, label: S, description: d., unit: count, type: balance,\n"
        "     fact: stock_move, agg: sum, expr: qty}\n"
        "  - {id: low_stock, label: L, description: d., unit: count, type: balance,\n"
        "     fact: stock_move, agg: sum, expr: qty, per: [product, warehouse],\n"
        "     having: value < product.min_stock_qty}\n"
    )
    local = "CAST(timezone(b.timezone, s.moved_at AT TIME ZONE 'UTC') AS DATE)"
    moves = (
        "FROM core.fct_stock_move AS s JOIN core.dim_branch AS b ON b.branch_id = s.branch_id"
        f" JOIN core.dim_product AS p ON p.product_id = s.product_id"
        f" WHERE {local} <= DATE '2026-03-31'"
    )
    try:
        [(warehouse,)] = _sql(demo, f"SELECT min(s.warehouse_id) {moves}")
        asked = ("--period", "2026-03", "--where", f"warehouse={warehouse}", "--format", "json")
        result = kpiboard(demo, "kpi", "rows", "stock_units", *asked)
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        expected = _sql(
            demo,
            f"SELECT s.stock_move_id, s.qty::DOUBLE {moves} AND s.warehouse_id = '{warehouse}'"
            f" ORDER BY {local}, 1",
        )
        assert [(r["stock_move_id"], r["value"]) for r in rows] == expected
        assert len(rows) > 10 and all(r["until"] is None for r in rows)
        assert max(r["since"] for r in rows) <= "2026-03-31"
        value = kpiboard(
            demo, "kpi", "eval", "stock_units", "--from", "2026-03", "--to", "2026-03",
            "--filter", f"warehouse = '{warehouse}'", "--format", "json",
        )  # fmt: skip
        [evaluated] = json.loads(value.stdout)
        assert sum(r["value"] for r in rows) == pytest.approx(evaluated["value"])
        per = kpiboard(demo, "kpi", "rows", "low_stock", "--period", "2026-03", "--format", "csv")
        assert per.returncode == 0, per.stderr
        header, *lines = per.stdout.splitlines()
        assert header == "product,warehouse,balance,product.min_stock_qty,value"
        pairs = _sql(
            demo,
            "SELECT s.product_id, s.warehouse_id, SUM(s.qty) < max(p.min_stock_qty)"
            f" {moves} GROUP BY 1, 2 ORDER BY 1, 2",
        )
        got = [line.split(",") for line in lines]
        assert [(g[0], g[1], g[-1] == "1.0") for g in got] == [(a, b, bool(c)) for a, b, c in pairs]
        count = kpiboard(
            demo, "kpi", "eval", "low_stock", "--from", "2026-03", "--to", "2026-03",
            "--format", "json",
        )  # fmt: skip
        [counted] = json.loads(count.stdout)
        assert counted["value"] == sum(bool(c) for _, _, c in pairs)
    finally:
        path.unlink()


def test_the_default_range_is_the_twelve_months_up_to_the_last_day_of_data(demo: Path) -> None:
    # the demo's data ends on 2026-10-31 (local days); deliveries are planned into November and
    # Denver's evening rows of October 31 are November 1 in UTC
    [(planned,)] = _sql(demo, "SELECT max(planned_start_at) FROM core.fct_delivery")
    assert str(planned) > "2026-11"
    table = kpiboard(demo, "kpi", "eval", "revenue")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0] == "revenue by month, 2025-11-01 to 2026-10-31"
    result = kpiboard(demo, "kpi", "scorecard", "driver", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    months = sorted({row["period"] for row in rows})  # labelled as eval and plans label them
    assert (months[0], months[-1], len(months)) == ("2025-11", "2026-10", 12)
    assert {(row["period"], row["period_start"]) for row in rows if row["period"] == "2026-10"} == {
        ("2026-10", "2026-10-01")
    }


def test_check_warns_of_a_kpi_that_reads_the_clock_and_still_passes(demo: Path) -> None:
    clock = demo / "kpis" / "zz_clock.yaml"
    clock.write_text(
        "kpis:\n  - id: overdue_now\n    label: Overdue\n    description: d.\n"
        "    unit: money\n    type: simple\n    fact: invoice\n    agg: sum\n"
        "    expr: total_amount\n    filter: due_on < current_date\n    time: due_on\n"
    )
    warning = (
        "kpi 'overdue_now': filter reads the clock (CURRENT_DATE): its values change with the"
        " day they are computed, and a past period is judged by today; place the rows on a date"
        " column instead (docs/kpis.md)"
    )
    try:
        table = kpiboard(demo, "kpi", "check")
        assert table.returncode == 0, table.stderr
        assert table.stderr.splitlines() == [f"warning: kpis/zz_clock.yaml:2: {warning}"]
        assert table.stdout.strip().endswith(": no problems, 1 warning")
        result = kpiboard(demo, "kpi", "check", "--format", "json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == [
            {
                "file": "kpis/zz_clock.yaml",
                "line": 2,
                "column": None,
                "severity": "warning",
                "problem": warning,
            }
        ]
    finally:
        clock.unlink()


def test_scorecard_of_one_employee_shows_why(demo: Path) -> None:
    [(driver,)] = _sql(
        demo,
        "SELECT min(employee_id) FROM core.dim_employee WHERE role = 'driver' AND left_on IS NULL",
    )
    result = kpiboard(
        demo,
        "kpi",
        "scorecard",
        "driver",
        "--employee",
        str(driver),
        "--from",
        "2026-07-01",
        "--to",
        "2026-09-30",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    parts = json.loads(result.stdout)  # one document: each KPI's part with its month's bonus
    assert {p["period"] for p in parts} == {"2026-07", "2026-08", "2026-09"}
    for period in ("2026-07", "2026-08", "2026-09"):
        mine = [p for p in parts if p["period"] == period]
        [score] = {p["score"] for p in mine}
        [gate] = {p["gate"] for p in mine}
        [bonus] = {p["bonus"] for p in mine}
        assert score == pytest.approx(sum(p["contribution"] for p in mine), abs=1e-3)
        if gate is None:
            # the score is printed to 4 decimals: 600 x 0.00005 = 0.03 at most
            assert bonus == pytest.approx(600 * score, abs=0.03)
        else:
            assert bonus == 0


def test_scorecard_of_a_sales_manager_as_csv_equals_hand_computed_values(demo: Path) -> None:
    [(manager,)] = _sql(
        demo,
        "SELECT min(employee_id) FROM core.dim_employee "
        "WHERE role = 'sales_manager' AND hired_on < DATE '2026-01-01' AND left_on IS NULL",
    )
    [(revenue,)] = _sql(
        demo,
        "SELECT round(sum(net_amount), 2)::DOUBLE FROM core.fct_invoice WHERE owner_id = "
        f"'{manager}' AND status NOT IN ('draft', 'cancelled') "
        "AND issued_on BETWEEN '2026-03-01' AND '2026-03-31'",
    )
    plans = demo / "plans"
    [plan] = [
        float(row["plan"])
        for path in sorted(plans.glob("*.csv"))
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
        if (row["kpi"], row["period"], row["employee"]) == ("revenue", "2026-03", manager)
    ]
    result = kpiboard(
        demo,
        "kpi",
        "scorecard",
        "sales_manager",
        "--employee",
        str(manager),
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--format",
        "csv",
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_kpi = {r["kpi"]: r for r in rows}
    assert sorted(by_kpi) == ["calls_made", "revenue", "task_on_time_rate", "won_deals"]
    part = by_kpi["revenue"]
    assert (float(part["value"]), float(part["plan"]), float(part["weight"])) == (
        pytest.approx(revenue, abs=0.01),
        plan,
        0.5,
    )
    counted = min(max(revenue / plan, 0.0), 1.5)
    assert float(part["contribution"]) == pytest.approx(0.5 * counted, abs=1e-4)
    assert float(part["score"]) == pytest.approx(
        sum(float(r["contribution"]) for r in rows), abs=1e-3
    )


@pytest.mark.parametrize(
    ("role", "who", "expected"),
    [
        # a month before anyone was hired: no month on the card (this was a TypeError)
        (
            "sales_manager",
            "manager",
            "'{who}' was not employed in 2000-01-01 to 2000-01-31: a sales_manager from {hired}",
        ),
        ("driver", "manager", "'{who}' is a sales_manager, not a driver"),
        (
            "sales_manager",
            "crm_nowhere:1",
            "unknown employee 'crm_nowhere:1' (core.dim_employee has no such employee_id)",
        ),
    ],
)
def test_scorecard_of_an_employee_not_on_it_says_why(
    demo: Path, role: str, who: str, expected: str
) -> None:
    [(manager, hired)] = _sql(
        demo,
        "SELECT employee_id, hired_on FROM core.dim_employee WHERE role = 'sales_manager' "
        "AND left_on IS NULL ORDER BY employee_id LIMIT 1",
    )
    employee = str(manager) if who == "manager" else who
    result = kpiboard(
        demo,
        "kpi",
        "scorecard",
        role,
        "--employee",
        employee,
        "--from",
        "2000-01-01",
        "--to",
        "2000-01-31",
    )
    assert result.returncode == 2
    message = expected.format(who=employee, hired=hired)
    assert _one_error_line(result) == f"error: {message}"


# -- how eval prints ------------------------------------------------------------------------


def _at_width(project: Path, columns: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``kpiboard ARGS`` in a terminal ``columns`` wide (rich reads COLUMNS)."""
    return subprocess.run(
        [sys.executable, "-m", "kpiboard", *args],
        cwd=project,
        env={**_environment(), "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


EVAL = ("kpi", "eval", "revenue", "win_rate", "--by", "branch", "--from", "2026-01-01")


@pytest.mark.parametrize("columns", [80, 40])
def test_eval_never_splits_a_number_or_a_period(demo: Path, columns: int) -> None:
    raw = kpiboard(demo, *EVAL, "--format", "json")
    assert raw.returncode == 0, raw.stderr
    units = {"revenue": "money", "win_rate": "percent"}
    cells = set()
    for row in json.loads(raw.stdout):
        cells.add(row["period"])
        cells |= {format_value(row["value"], units[row["kpi"]])}
        cells |= {format_value(row["plan"], units[row["kpi"]])}
        cells.add(format_achievement(row["achievement"]))
    cells -= {""}
    assert any("," in c for c in cells)  # numbers with separators: what used to wrap
    table = _at_width(demo, columns, *EVAL)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()[1:]  # the title is text: it may run on
    assert all(len(line) <= columns for line in lines), table.stdout
    shown = {token for line in lines for token in re.split(r"[\s│┃:]+", line) if token}
    assert cells <= shown, sorted(cells - shown)
    assert "2026-01-01" not in table.stdout.split("\n", 1)[1]
    if columns == 80:
        assert "┃ kpi" in table.stdout  # a table
    else:
        assert "\nkpi:         revenue\nperiod:      2026-01\n" in table.stdout  # blocks


def test_eval_wide_has_a_column_per_kpi_with_the_long_values(demo: Path) -> None:
    long = json.loads(kpiboard(demo, *EVAL, "--format", "json").stdout)
    wide = kpiboard(demo, *EVAL, "--wide", "--format", "csv")
    assert wide.returncode == 0, wide.stderr
    rows = list(csv.DictReader(io.StringIO(wide.stdout)))
    assert list(rows[0]) == [
        "period",
        "period_start",
        "branch",
        "revenue",
        "revenue_plan",
        "revenue_achievement",
        "revenue_status",
        "win_rate",
        "win_rate_plan",
        "win_rate_achievement",
        "win_rate_status",
    ]
    assert len(rows) == len({(r["period"], r["branch"]) for r in long})
    for r in long:
        [row] = [w for w in rows if (w["period"], w["branch"]) == (r["period"], r["branch"])]
        assert (float(row[r["kpi"]]) if row[r["kpi"]] else None) == r["value"]
        assert row[f"{r['kpi']}_status"] == (r["status"] or "")
    quarter = kpiboard(demo, *EVAL, "--wide", "--grain", "quarter")
    assert quarter.returncode == 0, quarter.stderr
    assert "2026-Q1" in quarter.stdout and "2026-01-01" not in quarter.stdout.split("\n", 1)[1]


@pytest.fixture
def broken_project(demo: Path, tmp_path: Path) -> Path:
    """The demo's definitions and warehouse, with one more KPI file: a KPI with a misspelt
    column, one that uses it, and one the warehouse cannot compute."""
    project = tmp_path / "p"
    project.mkdir()
    shutil.copy(demo / "kpiboard.toml", project)
    for folder in ("kpis", "plans", "scorecards"):
        shutil.copytree(demo / folder, project / folder)
    os.symlink(demo / "warehouse", project / "warehouse")
    (project / "kpis" / "zz_broken.yaml").write_text(
        "kpis:\n"
        "  - {id: bad, label: Bad, description: d., unit: money, type: simple, fact: invoice,\n"
        "     agg: sum, expr: amout}\n"
        "  - {id: uses_bad, label: U, description: d., unit: money, type: derived,\n"
        "     expr: bad * 2}\n"
        "  - {id: no_such_function, label: F, description: d., unit: money, type: simple,\n"
        "     fact: invoice, agg: sum, expr: frobnicate(net_amount)}\n"
    )
    return project


BAD = (
    "error: kpis/zz_broken.yaml:3: kpi 'bad': expr: unknown column 'amout' of fact invoice"
    " — did you mean 'tax_amount'? (also leaves out uses_bad, which uses it)"
)


def test_a_broken_kpi_fails_alone_with_exit_4(broken_project: Path) -> None:
    good = kpiboard(broken_project, "kpi", "eval", "revenue", "--format", "json")
    assert good.returncode == 0, good.stderr
    result = kpiboard(
        broken_project,
        "kpi",
        "eval",
        "revenue",
        "bad",
        "uses_bad",
        "no_such_function",
        "--format",
        "json",
    )
    assert result.returncode == 4, result.stderr
    assert json.loads(result.stdout) == json.loads(good.stdout)  # revenue, as alone
    assert result.stderr.splitlines() == [
        BAD,
        BAD,
        "error: kpis/zz_broken.yaml:6: kpi 'no_such_function': the warehouse cannot compute it:"
        " Catalog Error: Scalar Function with name frobnicate does not exist!",
    ]


def test_only_broken_kpis_asked_is_exit_2(broken_project: Path) -> None:
    result = kpiboard(broken_project, "kpi", "eval", "bad")
    assert (result.returncode, result.stdout) == (2, "")
    assert _one_error_line(result) == BAD


def test_a_broken_kpi_not_asked_for_is_one_warning(broken_project: Path) -> None:
    result = kpiboard(broken_project, "kpi", "eval", "revenue", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("kpi,period,period_start,value")
    assert result.stderr.splitlines() == [
        "warning: the project's definitions have 1 problem that this evaluation does not use"
        " (`kpiboard kpi check` lists them)"
    ]
    unknown = kpiboard(broken_project, "kpi", "eval", "revenue", "bda")
    assert unknown.returncode == 2
    assert _one_error_line(unknown) == "error: unknown KPI 'bda' — did you mean 'bad'?"


# -- compile --literal ----------------------------------------------------------------------

LITERAL_KPIS = {
    # KPI → its compile options: a filter with a quote in a string, grains, slices
    "revenue": ("--by", "branch", "--filter", "branch IN ('denver', 'o''hare')"),
    "win_rate": ("--grain", "quarter", "--by", "employee"),
    "avg_check": ("--by", "branch"),
    "revenue_ytd": (),
}


def _literal(demo: Path, kpi: str, dialect: str) -> str:
    result = kpiboard(
        demo,
        "kpi",
        "compile",
        kpi,
        "--literal",
        "--dialect",
        dialect,
        "--from",
        "2026-01-01",
        "--to",
        "2026-06-30",
        *LITERAL_KPIS[kpi],
    )
    assert result.returncode == 0, result.stderr
    assert not re.search(r"%\(\w+\)s|\$\w+|datetime\.", result.stdout), result.stdout
    assert "DATE '2026-01-01'" in result.stdout
    return result.stdout


@pytest.mark.parametrize("kpi", list(LITERAL_KPIS))
def test_compile_literal_runs_in_duckdb_and_equals_eval(demo: Path, kpi: str) -> None:
    sql = _literal(demo, kpi, "duckdb")
    got = {(str(p), *keys): v for p, *keys, v in _sql(demo, sql)}
    options = [o for o in LITERAL_KPIS[kpi]]
    evaluated = kpiboard(
        demo,
        "kpi",
        "eval",
        kpi,
        "--from",
        "2026-01-01",
        "--to",
        "2026-06-30",
        *options,
        "--format",
        "json",
    )
    assert evaluated.returncode == 0, evaluated.stderr
    by = [options[i + 1] for i, o in enumerate(options) if o == "--by"]
    expected = {
        (r["period_start"], *(r[b] for b in by)): r["value"]
        for r in json.loads(evaluated.stdout)
        if r["value"] is not None
    }
    assert got and got.keys() <= expected.keys()
    for key, value in expected.items():  # eval adds planned slices without rows, as 0
        assert got.get(key, 0.0) == pytest.approx(value, abs=1e-4), key


@pytest.mark.postgres
def test_compile_literal_for_postgres_passes_its_parser_and_planner(demo: Path) -> None:
    url = urls.parse_url(f"postgresql://postgres@127.0.0.1:5432/literal_{uuid.uuid4().hex[:10]}")
    urls.ensure_database(url)
    try:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:5432/{url.database}", autocommit=True
        ) as con:
            for statement in ddl():
                con.execute(statement.encode())
            for kpi in LITERAL_KPIS:
                sql = _literal(demo, kpi, "postgres").strip().removesuffix(";")
                con.execute(f"EXPLAIN {sql}".encode())  # a syntax or type error raises
                assert con.execute(sql.encode()).fetchall() == []  # empty tables, no rows
    finally:
        urls.drop_database(url)
