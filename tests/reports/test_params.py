"""Report parameters: periods resolved against the data's end, values validated before anything
runs, hostile values refused with one clear line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reports import model as m
from reports.errors import ParameterError
from reports.params import Lookup, resolve, resolve_period

D = dt.date


@pytest.mark.parametrize(
    ("preset", "data_end", "expected"),
    [
        # data up to the last day of October: "last month" is October itself
        ("last_month", D(2026, 10, 31), (D(2026, 10, 1), D(2026, 10, 31))),
        # data up to the 15th: October is not over, so last month is September
        ("last_month", D(2026, 10, 15), (D(2026, 9, 1), D(2026, 9, 30))),
        ("month_to_date", D(2026, 10, 15), (D(2026, 10, 1), D(2026, 10, 15))),
        ("month_to_date", D(2026, 10, 31), (D(2026, 10, 1), D(2026, 10, 31))),
        ("yesterday", D(2026, 10, 15), (D(2026, 10, 15), D(2026, 10, 15))),
        ("last_7_days", D(2026, 10, 15), (D(2026, 10, 9), D(2026, 10, 15))),
        ("last_30_days", D(2026, 3, 1), (D(2026, 1, 31), D(2026, 3, 1))),
        # 2026-10-31 is a Saturday: the week is not complete, last week ends Sunday the 25th
        ("last_week", D(2026, 10, 31), (D(2026, 10, 19), D(2026, 10, 25))),
        # 2026-11-01 is a Sunday: that week is complete
        ("last_week", D(2026, 11, 1), (D(2026, 10, 26), D(2026, 11, 1))),
        ("quarter_to_date", D(2026, 11, 20), (D(2026, 10, 1), D(2026, 11, 20))),
        ("last_quarter", D(2026, 11, 20), (D(2026, 7, 1), D(2026, 9, 30))),
        ("last_quarter", D(2026, 9, 30), (D(2026, 7, 1), D(2026, 9, 30))),
        ("year_to_date", D(2026, 10, 31), (D(2026, 1, 1), D(2026, 10, 31))),
        ("last_year", D(2026, 10, 31), (D(2025, 1, 1), D(2025, 12, 31))),
        ("last_year", D(2026, 12, 31), (D(2026, 1, 1), D(2026, 12, 31))),
        ("last_12_months", D(2026, 10, 31), (D(2025, 11, 1), D(2026, 10, 31))),
        ("last_12_months", D(2026, 1, 10), (D(2025, 1, 1), D(2025, 12, 31))),
        ("2026-01-01..2026-03-31", D(2026, 10, 31), (D(2026, 1, 1), D(2026, 3, 31))),
        ("2026-02", D(2026, 10, 31), (D(2026, 2, 1), D(2026, 2, 28))),
        ("2024-Q1", D(2026, 10, 31), (D(2024, 1, 1), D(2024, 3, 31))),
        ("2025", D(2026, 10, 31), (D(2025, 1, 1), D(2025, 12, 31))),
    ],
)
def test_periods_resolve_against_the_data_end(
    preset: str, data_end: dt.date, expected: tuple[dt.date, dt.date]
) -> None:
    assert resolve_period(preset, data_end) == expected


REPORT = m.Report(
    id="probe",
    title="Probe",
    category="sales",
    question="Does every kind of parameter hold?",
    parameters=(
        m.Parameter("as_of", "date", "As of", default="data_end"),
        m.Parameter("period", "period", "Period", default="last_month"),
        m.Parameter("branch", "branch", "Branch"),
        m.Parameter("employee", "employee", "Employee"),
        m.Parameter("client", "client", "Client"),
        m.Parameter("product", "product", "Product"),
        m.Parameter("category", "category", "Category"),
        m.Parameter("warehouse", "warehouse", "Warehouse"),
        m.Parameter("supplier", "supplier", "Supplier"),
        m.Parameter("role", "role", "Role"),
        m.Parameter("top", "integer", "Top", default=20, minimum=1, maximum=500),
        m.Parameter("status", "choice", "Status", default="open", values=("open", "won", "lost")),
        m.Parameter("services", "boolean", "Services", default=True),
    ),
    columns=(m.Column("x", "X"),),
    sql="SELECT 1 AS x",
    path=Path("probe.yaml"),
)

KNOWN = {
    "dim_branch": [("denver", "Denver"), ("austin", "Austin")],
    "dim_employee": [("crm_denver:7", "Ann Lee")],
    "dim_client": [("crm_denver:1", "Acme School")],
    "dim_product": [("p1", "Toner 12A")],
    "dim_warehouse": [("w1", "Main store")],
    "dim_supplier": [("s1", "Paperworks")],
}
CATEGORIES = ["toner", "printers"]


def lookup_of(calls: list[str]) -> Lookup:
    def lookup(table: str, key: str, names: tuple[str, ...], value: str) -> list[tuple[str, str]]:
        calls.append(value)
        if table == "dim_product" and key == "category":
            rows = [(c, c) for c in CATEGORIES]
        elif table == "dim_employee" and key == "role":
            rows = [("sales_manager", "sales_manager"), ("driver", "driver")]
        else:
            rows = KNOWN[table]
        if not value:
            return rows
        return [r for r in rows if value.lower() in (r[0].lower(), r[1].lower())]

    return lookup


def test_defaults_fill_in_and_optional_ids_mean_all() -> None:
    bound = resolve(REPORT, {}, data_end=D(2026, 10, 31), lookup=lookup_of([]))
    assert bound.values["as_of"] == D(2026, 10, 31)
    assert (bound.values["period_start"], bound.values["period_end"]) == (
        D(2026, 10, 1),
        D(2026, 10, 31),
    )
    assert bound.values["branch"] is None
    assert (bound.values["top"], bound.values["status"], bound.values["services"]) == (
        20,
        "open",
        True,
    )
    assert dict(bound.shown)["Branch"] == "all"
    assert dict(bound.shown)["Period"] == "last month (2026-10-01 – 2026-10-31)"


def test_an_entity_is_named_by_its_id_or_its_name() -> None:
    given = {"branch": "Denver", "employee": "crm_denver:7", "category": "TONER", "top": "5"}
    bound = resolve(REPORT, given, data_end=D(2026, 10, 31), lookup=lookup_of([]))
    assert bound.values["branch"] == "denver"
    assert bound.values["employee"] == "crm_denver:7"
    assert bound.values["category"] == "toner"
    assert bound.values["top"] == 5
    assert dict(bound.shown)["Employee"] == "Ann Lee"


HOSTILE = [
    ("branch", "denver' OR '1'='1", "parameter 'branch': no branch"),
    ("branch", "dnver", "did you mean 'denver'?"),
    ("branch", "x" * 10_000, "is 10,000 characters long; at most 200"),
    ("client", "../../etc/passwd", "parameter 'client': no client '../../etc/passwd'"),
    ("employee", "1; DROP TABLE core.dim_employee", "parameter 'employee': no employee"),
    ("product", "toner\u202e", "U+202E"),
    ("warehouse", "w1\x00", "U+0000"),
    ("category", "paper", "parameter 'category': no category 'paper'"),
    ("supplier", "Paperworks' OR 1=1 --", "parameter 'supplier': no supplier"),
    ("supplier", "paperwork", "did you mean 'Paperworks'?"),
    ("role", "admin", "parameter 'role': no role 'admin'"),
    ("role", "drivr", "did you mean 'driver'?"),
    ("as_of", "yesterday", "is not a date: write it as 2026-03-31"),
    ("as_of", "2026-02-30", "is not a date"),
    ("as_of", "'; SELECT 1 --", "is not a date"),
    ("period", "last_mnth", "did you mean 'last_month'?"),
    ("period", "2026-03-31..2026-01-01", "ends before it starts"),
    ("period", "../", "is not a period"),
    ("top", "0", "0 is below the minimum, 1"),
    ("top", "501", "501 is above the maximum, 500"),
    ("top", "20; DROP", "is not a whole number"),
    ("top", "1e3", "is not a whole number"),
    ("top", "9" * 40, "is not a whole number"),
    ("status", "OPEN", "is not one of open, won, lost"),
    ("status", "open' --", "is not one of open, won, lost"),
    ("services", "maybe", "is not true or false"),
    ("nope", "1", "report 'probe' has no parameter 'nope'"),
    ("stauts", "open", "did you mean 'status'?"),
]


@pytest.mark.parametrize(("name", "value", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_or_malformed_value_is_refused_in_one_line(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ParameterError) as caught:
        resolve(REPORT, {name: value}, data_end=D(2026, 10, 31), lookup=lookup_of([]))
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert len(text) < 400  # a 10 kB value is not echoed back


def test_a_required_parameter_without_a_value_is_refused() -> None:
    report = m.Report(
        id="bonus",
        title="Bonus",
        category="employees",
        question="What bonus?",
        parameters=(m.Parameter("employee", "employee", "Employee", required=True),),
        columns=(),
        sql="SELECT $employee AS e",
    )
    with pytest.raises(ParameterError, match="needs parameter 'employee'"):
        resolve(report, {}, data_end=D(2026, 10, 31), lookup=lookup_of([]))
