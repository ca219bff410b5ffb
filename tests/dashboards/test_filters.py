"""The global filters: what an address asks for, what it gets, and what it is told."""

from __future__ import annotations

import datetime as dt

import pytest

from dashboards.filters import Filters, parse, to_search
from dashboards.format import achievement, change, is_good, kpi_value

END = dt.date(2026, 10, 31)
BRANCHES = ("austin", "denver", "portland")
D = dt.date.fromisoformat


def read(search: str, data_end: dt.date | None = END) -> Filters:
    return parse(search, data_end=data_end, branches=BRANCHES, employees=["e1"])


@pytest.mark.parametrize(
    ("search", "start", "end"),
    [
        ("", "2026-10-01", "2026-10-31"),  # month to date, data to the 31st
        ("?period=last_month", "2026-10-01", "2026-10-31"),
        ("?period=last_quarter", "2026-07-01", "2026-09-30"),
        ("?period=2026-Q1", "2026-01-01", "2026-03-31"),
        ("?period=2026-02-03..2026-02-10", "2026-02-03", "2026-02-10"),
        ("?period=2025", "2025-01-01", "2025-12-31"),
    ],
)
def test_a_period_reads_as_its_days(search: str, start: str, end: str) -> None:
    f = read(search)
    assert (f.start, f.end) == (D(start), D(end))
    assert f.ignored == ()


@pytest.mark.parametrize(
    ("search", "said"),
    [
        ("?period=drop%20table", "period:"),
        ("?period=" + "9" * 10_000, "period: the period is too long"),
        ("?period=2026-03-10..2026-03-01", "ends before it starts"),
        ("?branch=atlantis", "no branch 'atlantis'"),
        ("?branch=%27%3BDROP", "no branch"),
        ("?employee=someone", "no employee 'someone'"),
        ("?compare=forecast", "compare: 'forecast'"),
    ],
)
def test_what_cannot_be_used_is_named_and_the_default_kept(search: str, said: str) -> None:
    f = read(search)
    assert any(said in line for line in f.ignored), f.ignored
    assert (f.branch, f.employee, f.compare) == (None, None, "plan")
    assert (f.start, f.end) == (D("2026-10-01"), D("2026-10-31"))


def test_all_branches_is_every_branch_the_viewer_may_see() -> None:
    assert read("").scope() == {"branch": list(BRANCHES)}
    assert read("?branch=denver").scope() == {"branch": ["denver"]}
    # an employee is in one branch: their own rows and their own plans (a scope of branch and
    # employee would look for plans of both, which nobody writes)
    assert read("?branch=denver&employee=e1").scope() == {"employee": ["e1"]}


def test_comparison_periods() -> None:
    october = read("?period=last_month")
    assert october.previous() == (D("2026-09-01"), D("2026-09-30"))
    assert october.last_year() == (D("2025-10-01"), D("2025-10-31"))
    assert read("?period=2026-Q1").previous() == (D("2025-10-01"), D("2025-12-31"))
    week = read("?period=2026-10-05..2026-10-11")
    assert week.previous() == (D("2026-09-28"), D("2026-10-04"))
    leap = read("?period=2028-02-29..2028-02-29")
    assert leap.last_year() == (D("2027-02-28"), D("2027-02-28"))


def test_the_address_keeps_only_what_differs_from_the_defaults() -> None:
    assert to_search(read("?period=month_to_date&compare=plan")) == ""
    assert to_search(read("?branch=denver&compare=last_year")) == "?branch=denver&compare=last_year"
    assert read("?branch=denver").search(branch=None) == ""
    assert (
        to_search(read("?branch=denver"), keep={"role": "driver"}) == "?branch=denver&role=driver"
    )


@pytest.mark.parametrize(
    ("value", "unit", "short", "text"),
    [
        (3997306.39, "money", True, "$4.0 M"),
        (3997306.39, "money", False, "$3,997,306"),
        (843.5, "money", False, "$843.50"),
        (-12500.0, "money", True, "\u2212$12.5 k"),
        (0.6183, "percent", True, "61.8%"),
        (429.0, "count", True, "429"),
        (12.25, "hours", False, "12.2 h"),
        (None, "money", True, "\u2014"),
        (float("nan"), "count", False, "\u2014"),
    ],
)
def test_kpi_values_read_as_numbers(value: object, unit: str, short: bool, text: str) -> None:
    assert kpi_value(value, unit, "USD", short=short) == text


def test_changes_read_with_sign_and_judge_by_direction() -> None:
    assert change(110.0, 100.0, "money", "USD") == "+10.0%"
    assert change(90.0, 100.0, "count", None) == "\u221210.0%"
    assert change(0.62, 0.60, "percent", None) == "+2.0 pp"
    assert change(5.0, 0.0, "count", None) == "\u2014"
    assert is_good(90.0, 100.0, "lower") is True  # overdue receivables fell
    assert is_good(90.0, 100.0, "higher") is False
    assert is_good(None, 100.0, "higher") is None
    assert achievement(0.9412) == "94% of plan"
    assert achievement(None) == "\u2014"
