"""The report runner on a small fixture: parameters bound, the scope applied by rewriting every
core table, the sandbox kept, and broken definitions reported with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpiboard.config import load_settings
from reports.errors import ParameterError, QueryFailed, ScopeError
from reports.loader import Catalog, read_report
from reports.runner import Runner
from reports.scope import apply
from tests.reports.conftest import BRANCHES, make_project

EMPLOYEES = [
    {"employee_id": "d1", "branch_id": "denver", "full_name": "Dana", "role": "sales_manager"},
    {"employee_id": "d2", "branch_id": "denver", "full_name": "Drew", "role": "sales_manager"},
    {"employee_id": "a1", "branch_id": "austin", "full_name": "Alex", "role": "sales_manager"},
]
CLIENTS = [
    {"client_id": "c1", "branch_id": "denver", "name": "Acme", "owner_id": "d1"},
    {"client_id": "c2", "branch_id": "denver", "name": "Bolt", "owner_id": "d2"},
    {"client_id": "c3", "branch_id": "austin", "name": "Cove", "owner_id": "a1"},
]
INVOICES = [
    # invoice, branch, owner, client, issued, total
    ("i1", "denver", "d1", "c1", "2025-03-03", "100.00"),
    ("i2", "denver", "d2", "c2", "2025-03-10", "250.00"),
    ("i3", "austin", "a1", "c3", "2025-03-12", "400.00"),
    ("i4", "denver", "d1", "c1", "2025-04-02", "999.00"),  # April: outside March
]
PAYMENTS = [
    ("p1", "denver", "i1", "c1", "2025-03-20", "100.00"),
    ("p2", "austin", "i3", "c3", "2025-03-25", "150.00"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(
        tmp_path_factory.mktemp("runner"),
        {
            "dim_branch": BRANCHES,
            "dim_employee": EMPLOYEES,
            "dim_client": CLIENTS,
            "fct_invoice": [
                dict(
                    zip(
                        ("invoice_id", "branch_id", "owner_id", "client_id", "issued_on"),
                        row[:5],
                        strict=True,
                    ),
                    total_amount=row[5],
                    status="issued",
                )
                for row in INVOICES
            ],
            "fct_payment": [
                dict(
                    zip(
                        ("payment_id", "branch_id", "invoice_id", "client_id", "paid_on", "amount"),
                        row,
                        strict=True,
                    )
                )
                for row in PAYMENTS
            ],
        },
    )


INVOICED = """\
id: invoiced
title: Invoiced and paid by client
category: sales
question: How much did each client get invoiced, and pay, in a period?
parameters:
  period: {type: period, label: Period, default: 2025-03}
  branch: {type: branch, label: Branch}
sql: |
  WITH paid AS (
      SELECT invoice_id, sum(amount) AS paid FROM core.fct_payment GROUP BY invoice_id
  )
  SELECT c.name AS client, i.branch_id AS branch, sum(i.total_amount) AS invoiced,
         coalesce(sum(paid.paid), 0) AS paid
  FROM core.fct_invoice AS i
  LEFT JOIN core.dim_client AS c ON c.client_id = i.client_id
  LEFT JOIN paid USING (invoice_id)
  WHERE i.issued_on BETWEEN $period_start AND $period_end
    AND ($branch IS NULL OR i.branch_id = $branch)
  GROUP BY ALL
  ORDER BY client
columns:
  - {name: client, label: Client}
  - {name: invoiced, label: Invoiced, format: money}
  - {name: paid, label: Paid, format: money}
totals: [invoiced, paid]
"""

RAW = """\
id: raw_peek
title: Raw peek
category: data_quality
question: Can a scoped run read a raw table?
sql: SELECT count(*) AS n FROM raw_crm.invoices
columns: [{name: n, label: Rows, format: count}]
"""


def runner_for(project: Path, tmp_path: Path, *texts: str) -> Runner:
    reports = {}
    for text in texts:
        report_id = text.split("\n", 1)[0].removeprefix("id: ")
        path = tmp_path / f"{report_id}.yaml"
        path.write_text(text, encoding="utf-8")
        report, problems = read_report(path, path.name)
        assert not problems, problems
        assert report is not None
        reports[report_id] = report
    return Runner.from_settings(load_settings(project), Catalog(reports))


def rows(runner: Runner, report: str, given: dict[str, str], **kw: object) -> list[dict]:
    return runner.run(report, given, **kw).frame.to_dict("records")  # type: ignore[arg-type]


def test_the_scope_filters_every_core_table_and_equals_the_branch_slice(
    project: Path, tmp_path: Path
) -> None:
    runner = runner_for(project, tmp_path, INVOICED)
    everyone = rows(runner, "invoiced", {})
    # March: Acme 100 (paid 100), Bolt 250 (paid nothing), Cove 400 (paid 150); April's i4 is out
    assert everyone == [
        {"client": "Acme", "branch": "denver", "invoiced": 100.0, "paid": 100.0},
        {"client": "Bolt", "branch": "denver", "invoiced": 250.0, "paid": 0.0},
        {"client": "Cove", "branch": "austin", "invoiced": 400.0, "paid": 150.0},
    ]
    scoped = rows(runner, "invoiced", {}, scope={"branch": ["denver"]})
    sliced = rows(runner, "invoiced", {"branch": "denver"})
    assert scoped == sliced == everyone[:2]
    # an employee sees their own invoices, and payments of those invoices only
    assert rows(runner, "invoiced", {}, scope={"employee": ["d2"]}) == [
        {"client": "Bolt", "branch": "denver", "invoiced": 250.0, "paid": 0.0}
    ]
    # a branch head asking for another branch's slice gets nothing, not its numbers
    with pytest.raises(ParameterError, match="no branch 'austin'"):
        runner.run("invoiced", {"branch": "austin"}, scope={"branch": ["denver"]})


def test_the_rewrite_keeps_aliases_ctes_and_shared_tables() -> None:
    sql, values = apply(
        "WITH x AS (SELECT * FROM core.fct_invoice) "
        "SELECT * FROM x JOIN core.dim_product p ON true JOIN core.fct_payment ON true",
        {"branch": ["denver", "austin"]},
    )
    assert (
        "(SELECT * FROM core.fct_invoice WHERE branch_id IN ($scope_3, $scope_4)) AS fct_invoice"
        in sql
    )
    assert "core.dim_product AS p" in sql  # shared reference data: not filtered
    assert "AS fct_payment" in sql  # an unaliased table keeps its name for its columns
    assert values == {f"scope_{i}": b for i, b in enumerate(["denver", "austin"] * 2, 1)}


def test_a_scoped_run_may_read_only_core(project: Path, tmp_path: Path) -> None:
    runner = runner_for(project, tmp_path, RAW)
    with pytest.raises(ScopeError, match=r"raw_crm\.invoices is not a core table"):
        runner.run("raw_peek", scope={"branch": ["denver"]})
    with pytest.raises(ScopeError, match="no schema"):
        apply("SELECT * FROM fct_invoice", {"branch": ["denver"]})


def test_a_company_wide_report_is_refused_under_a_scope(project: Path, tmp_path: Path) -> None:
    text = RAW.replace("columns:", "scope: company\ncolumns:")
    runner = runner_for(project, tmp_path, text)
    with pytest.raises(ScopeError, match="company-wide data"):
        runner.run("raw_peek", scope={"branch": ["denver"]})


def test_refused_parameters_run_nothing(project: Path, tmp_path: Path) -> None:
    # the query would fail on its unknown table: a ParameterError proves it never ran
    text = INVOICED.replace("FROM core.fct_invoice AS i", "FROM core.no_such_table AS i")
    runner = runner_for(project, tmp_path, text)
    with pytest.raises(ParameterError):
        runner.run("invoiced", {"period": "2025-03'; DROP TABLE x; --"})
    with pytest.raises(QueryFailed, match=r"no table core\.no_such_table"):
        runner.run("invoiced")


def test_the_sandbox_refuses_what_sql_may_not_do(project: Path, tmp_path: Path) -> None:
    text = RAW.replace(
        "SELECT count(*) AS n FROM raw_crm.invoices", "SELECT * FROM read_csv('/etc/passwd') AS n"
    )
    text = text.replace("columns:", "scope: company\ncolumns:")
    runner = runner_for(project, tmp_path, text)
    with pytest.raises(QueryFailed, match=r"read_csv\(\) reads files and is not allowed"):
        runner.run("raw_peek")


BROKEN = [
    ("title: X\n", "missing 'id'"),
    ("id: other\n", "id 'other' must be the file's name (broken.yaml)"),
    ("id: broken\ncategory: salse\n", "unknown category 'salse' — did you mean 'sales'?"),
    ("id: broken\nquestion: Is it\n", "the question must be a question"),
    ("id: broken\nsql: SELECT 1 AS a\nkpis: {ids: [x], period: p}\n", "exactly one query"),
    (
        "id: broken\nparameters:\n  top: {type: integr}\n",
        "unknown type 'integr' — did you mean 'integer'?",
    ),
    (
        "id: broken\nparameters:\n  top: {type: integer, default: 9, min: 10}\n",
        "default 9 is below the minimum, 10",
    ),
    (
        "id: broken\nparameters:\n  p: {type: period, default: last_mont}\n",
        "did you mean 'last_month'?",
    ),
    (
        "id: broken\nparameters:\n  branch: {type: branch}\nsql: SELECT 1 AS a\n",
        "parameter 'branch' is not used by the SQL (no $branch)",
    ),
    ("id: broken\nsql: SELECT $brnch AS a\n", "$brnch is not a declared parameter"),
    (
        "id: broken\nsql: SELECT 1 AS amount\ncolumns: [{name: amout}]\n",
        "unknown column 'amout' — did you mean 'amount'?",
    ),
    (
        "id: broken\nsql: SELECT 1 AS a\ncolumns: [{name: a, format: money2}]\n",
        "unknown format 'money2'",
    ),
    ("id: broken\nsql: SELECT 1 AS a\ntotals: {a: median}\n", "unknown 'median'"),
    ("id: broken\nsql: SELECT 1 AS a\ncolour: red\n", "unknown key 'colour'"),
    ("id: broken\nsql: [oops\n", "the '[' here is not closed"),
]


@pytest.mark.parametrize(("text", "message"), BROKEN, ids=[b[1][:30] for b in BROKEN])
def test_a_broken_definition_is_located(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.yaml"
    base = "title: T\ncategory: sales\nquestion: Q?\ncolumns: [{name: a}]\nsql: SELECT 1 AS a\n"
    keys = {line.split(":")[0] for line in text.splitlines() if line and line[0] != " "}
    merged = text + "".join(
        line + "\n" for line in base.splitlines() if line.split(":")[0] not in keys
    )
    if "kpis" in keys:
        merged = text + "title: T\ncategory: sales\nquestion: Q?\ncolumns: [{name: a}]\n"
    path.write_text(merged, encoding="utf-8")
    report, problems = read_report(path, "reports/broken.yaml")
    assert report is None
    shown = [str(p) for p in problems]
    assert any(message in s for s in shown), shown
    assert all(s.startswith("reports/broken.yaml:") for s in shown), shown


def test_a_scope_naming_no_branch_is_an_error_not_an_empty_report(
    project: Path, tmp_path: Path
) -> None:
    runner = runner_for(project, tmp_path, INVOICED)
    with pytest.raises(ScopeError, match="no branch 'denvr' — did you mean 'denver'"):
        runner.run("invoiced", scope={"branch": ["denvr"]})
    with pytest.raises(ScopeError, match="no employee 'nobody'"):
        runner.run("invoiced", scope={"employee": ["nobody"]})


def test_members_are_listed_under_the_scope(project: Path, tmp_path: Path) -> None:
    """What a dashboard's filter offers: every branch, or only the scope's employees."""
    runner = runner_for(project, tmp_path, INVOICED)
    assert runner.members("branch") == [("austin", "Austin"), ("denver", "Denver")]
    assert runner.members("employee", {"branch": ["denver"]}) == [("d1", "Dana"), ("d2", "Drew")]
    assert runner.members("client", {"employee": ["a1"]}) == [("c3", "Cove")]
    with pytest.raises(ScopeError, match="no branch 'denvr'"):
        runner.members("employee", {"branch": ["denvr"]})
    with pytest.raises(ValueError, match="unknown kind 'planet'"):
        runner.members("planet")
