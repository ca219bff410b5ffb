"""``kpiboard kpi …`` as a user runs it, on a small demo built by ``kpiboard demo``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from kpiboard.config import load_settings
from tests.test_cli import _one_error_line, kpiboard


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kpi")
    result = kpiboard(
        folder, "demo", "--dir", "D", "--scale", "0.01", "--seed", "5", "--no-serve", timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "KPIs:      122 in" in result.stdout
    return folder / "D"


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
    assert len(rows) == 122
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
    got = {(r["period"], r["branch"]): r["value"] for r in json.loads(result.stdout)}
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
    assert "-- start_0 = datetime.date(2026, 1, 1)" in result.stdout
    assert "BETWEEN %(start_0)s AND %(end_1)s" in result.stdout
    assert "DOUBLE PRECISION" in result.stdout  # rendered for PostgreSQL, not DuckDB


def test_check_passes_and_then_lists_every_problem(demo: Path, tmp_path: Path) -> None:
    ok = kpiboard(demo, "kpi", "check")
    assert ok.returncode == 0, ok.stderr
    assert "122 KPIs" in ok.stdout and "no problems" in ok.stdout
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
    months = sorted({row["period"] for row in json.loads(result.stdout)})
    assert (months[0], months[-1], len(months)) == ("2025-11-01", "2026-10-01", 12)


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
    assert {p["period"] for p in parts} == {"2026-07-01", "2026-08-01", "2026-09-01"}
    for period in ("2026-07-01", "2026-08-01", "2026-09-01"):
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
