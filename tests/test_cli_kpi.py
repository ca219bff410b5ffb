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
    assert "KPIs:      120 in" in result.stdout
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
    assert len(rows) == 120
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
    assert "120 KPIs" in ok.stdout and "no problems" in ok.stdout
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
    parts_text, summary_text = result.stdout.split("\n]\n", 1)
    parts = json.loads(parts_text + "\n]")
    summary = json.loads(summary_text)
    assert {p["period"] for p in parts} == {"2026-07-01", "2026-08-01", "2026-09-01"}
    for month in summary:
        mine = [p for p in parts if p["period"] == month["period"]]
        assert month["score"] == pytest.approx(sum(p["contribution"] for p in mine), abs=1e-3)
        if month["gate"] is None:
            # the score is printed to 4 decimals: 600 x 0.00005 = 0.03 at most
            assert month["bonus"] == pytest.approx(600 * month["score"], abs=0.03)
        else:
            assert month["bonus"] == 0
