"""``kpiboard report``: the catalog listed and shown, a report run to every format, hostile
values refused in one line, every definition checked with file and line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pypdf
import pytest

from reports.loader import load_catalog
from tests.reports.conftest import BRANCHES, make_project
from tests.test_cli import _one_error_line, kpiboard

CATALOG = load_catalog()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two invoices of Denver, one of Austin; a payment; as of 2025-03-31."""
    clients = [
        {"client_id": "c1", "branch_id": "denver", "name": "Acme School"},
        {"client_id": "c2", "branch_id": "austin", "name": "Bolt Dental"},
    ]
    invoices = [
        ("i1", "denver", "c1", "2025-01-10", "2025-02-09", "1000.00"),
        ("i2", "denver", "c1", "2025-03-20", "2025-04-19", "300.00"),
        ("i3", "austin", "c2", "2025-02-01", "2025-03-03", "500.00"),
    ]
    return make_project(
        tmp_path_factory.mktemp("cli_report"),
        {
            "dim_branch": BRANCHES,
            "dim_client": clients,
            "fct_invoice": [
                {
                    "invoice_id": i,
                    "branch_id": b,
                    "client_id": c,
                    "issued_on": issued,
                    "due_on": due,
                    "total_amount": total,
                    "net_amount": total,
                    "status": "issued",
                    "kind": "invoice",
                    "invoice_number": i.upper(),
                }
                for i, b, c, issued, due, total in invoices
            ],
            "fct_payment": [
                {
                    "payment_id": "p1",
                    "branch_id": "denver",
                    "invoice_id": "i1",
                    "client_id": "c1",
                    "paid_on": "2025-02-01",
                    "amount": "400.00",
                }
            ],
        },
    )


def test_list_csv_starts_with_the_id_and_lists_the_catalog(project: Path) -> None:
    result = kpiboard(project, "report", "list", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.stdout.splitlines()[0] == "id,title,category,question,parameters"
    assert len(rows) == len(CATALOG.reports) >= 110
    finance = kpiboard(project, "report", "list", "--category", "finance", "--format", "json")
    assert {r["category"] for r in json.loads(finance.stdout)} == {"finance"}
    wrong = kpiboard(project, "report", "list", "--category", "finanse")
    assert wrong.returncode == 2
    assert "did you mean 'finance'?" in _one_error_line(wrong)


def test_show_says_the_question_and_the_parameters(project: Path) -> None:
    result = kpiboard(project, "report", "show", "receivables_aging", "--sql")
    assert result.returncode == 0, result.stderr
    report = CATALOG.get("receivables_aging")
    assert report.question in result.stdout.replace("\n", " ")
    for parameter in report.parameters:
        assert parameter.name in result.stdout
    assert "core.fct_invoice" in result.stdout


def test_run_to_every_format(project: Path) -> None:
    # as of 2025-03-31: i1 owes 1000 - 400 = 600 (due 02-09: 50 days overdue, 31-60),
    # i2 owes 300 (not yet due); Austin's i3 owes 500 (due 03-03: 28 days, 1-30)
    args = ("report", "run", "receivables_aging", "--param", "as_of=2025-03-31")
    out = kpiboard(project, *args, "--format", "json", "--branch", "denver")
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert row["name"] == "Acme School"
    assert float(row["outstanding"]) == pytest.approx(900.0)
    assert float(row["days_31_60"]) == pytest.approx(600.0)
    assert float(row["not_due"]) == pytest.approx(300.0)
    for fmt in ("pdf", "xlsx", "html", "csv"):
        target = project / f"aging.{fmt}"
        made = kpiboard(project, *args, "--format", fmt, "-o", str(target), timeout=180)
        assert made.returncode == 0, made.stderr
        assert target.stat().st_size > 0
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(project / "aging.pdf").pages)
    assert "Receivables aging" in text and "2025-03-31" in text
    assert "$1,400.00" in text  # the total owed: 600 + 300 + 500
    sheet = openpyxl.load_workbook(project / "aging.xlsx").worksheets[0]
    numbers = [
        c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, int | float)
    ]
    assert 1400.0 in numbers
    assert "<table" in (project / "aging.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--param", "as_of=2025-03-31'; DROP TABLE x"), "is not a date"),
        (("--param", "branch=../../etc"), "no branch '../../etc'"),
        (("--param", "as_of"), "write it as name=value"),
        (("--param", "nope=1"), "has no parameter 'nope'"),
        (("--param", "branch=" + "x" * 10_000), "at most 200 are accepted"),
        (("--branch", "austin", "--param", "branch=denver"), "no branch 'denver'"),
        (("--format", "pdf"), "give -o FILE"),
    ],
)
def test_a_bad_value_is_one_line(project: Path, args: tuple[str, ...], message: str) -> None:
    result = kpiboard(project, "report", "run", "receivables_aging", *args)
    assert result.returncode == 2
    assert message in _one_error_line(result)


def test_an_unknown_report_is_one_line_with_the_nearest(project: Path) -> None:
    result = kpiboard(project, "report", "run", "receivables_agin")
    assert result.returncode == 2
    assert "did you mean 'receivables_aging'?" in _one_error_line(result)


def test_check_lists_every_problem_with_file_and_line(project: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "reports").mkdir(parents=True)
    (mine / "kpiboard.toml").write_text((project / "kpiboard.toml").read_text(), "utf-8")
    (mine / "reports" / "big.yaml").write_text(
        "id: big\ntitle: Big\ncategory: sales\nquestion: Which are big?\n"
        "parameters:\n  top: {type: integer, default: 5}\n"
        "sql: SELECT 1 AS amount\ncolumns: [{name: amout, format: money}]\n",
        encoding="utf-8",
    )
    (mine / "reports" / "other.yaml").write_text("id: nope\n", encoding="utf-8")
    result = kpiboard(mine, "report", "check", "--no-run")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any(
        line.startswith("reports/big.yaml:6:") and "parameter 'top' is not used" in line
        for line in lines
    ), lines
    assert any(
        line.startswith("reports/big.yaml:8:") and "did you mean 'amount'?" in line
        for line in lines
    ), lines
    assert any(line.startswith("reports/other.yaml:1:") for line in lines), lines
    assert "problems in" in lines[-1]
