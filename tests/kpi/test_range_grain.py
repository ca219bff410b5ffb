"""The ``range`` grain: the whole range asked for as one period, whose ``period`` is the range's
first day. The values of every KPI type at this grain are checked against hand-written queries
in the case table (``test_cases.RANGE``, on DuckDB and PostgreSQL); here: that the case table
covers every type, that an additive KPI's value over a range is the sum of its days, the plans
of a range worked out by hand, KPIs evaluated together, and the labels of the output."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from kpi_designer import model as m
from kpi_designer.compiler import Query, one_period, periods
from kpi_designer.engine import Definitions, Engine
from kpi_designer.errors import EvaluationError
from kpi_designer.plans import attach, parse_plans
from kpiboard.kpi_output import long_rows, period_label, wide_rows
from tests.kpi.test_cases import RANGE

D = dt.date.fromisoformat
DANA, ELI, GUS, IVY = "crm_denver:1", "crm_denver:2", "crm_austin:1", "crm_austin:3"
FIRST, LAST = D("2025-01-10"), D("2025-03-20")
"""A range not aligned to months: 22 days of January, all of February, 20 days of March."""


def test_the_case_table_checks_every_kpi_type_at_range_grain(case_engine: Engine) -> None:
    kpis = case_engine.kpis
    assert {kpis[c.kpi].TYPE for c in RANGE} == set(m.KPI_TYPES)
    assert {c.grain for c in RANGE} == {"range"}
    assert any(c.scope for c in RANGE) and any(c.filters for c in RANGE)
    assert all(c.by or c.scope for c in RANGE)  # each sliced or scoped
    assert all(one_period(c.start, c.end) is None for c in RANGE)  # no range is a period


# -- additive KPIs: the range is the sum of its days --------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "scope", "filters"),
    [
        pytest.param(FIRST, LAST, None, (), id="unaligned"),
        pytest.param(D("2024-12-28"), D("2025-02-03"), {"employee": [DANA, GUS]}, (), id="scoped"),
        pytest.param(FIRST, LAST, None, ("client_segment IN ('key', 'regular')",), id="filtered"),
    ],
)
def test_an_additive_kpi_over_a_range_is_the_sum_of_its_days(
    start: dt.date,
    end: dt.date,
    scope: dict[str, list[str]] | None,
    filters: tuple[str, ...],
    fresh_engine: Callable[[], Engine],
) -> None:
    engine = fresh_engine()
    additive = sorted(
        k
        for k, kpi in engine.kpis.items()
        if kpi.additive and "client_segment" in engine.dimensions(k)
    )
    assert {"revenue", "invoice_count", "credit_notes", "line_revenue"} <= set(additive)

    def ask(grain: str) -> pd.DataFrame:
        return engine.evaluate(
            additive, start=start, end=end, grain=grain, by=["branch"], scope=scope, filters=filters
        )

    whole = ask("range")
    days = ask("day")
    assert set(whole["period"]) == {start}
    summed = days.groupby(["kpi", "branch"])["value"].sum()
    got = {(k, b): v for k, b, v in whole[["kpi", "branch", "value"]].itertuples(index=False)}
    assert got == pytest.approx(summed.to_dict(), rel=1e-12)
    assert len(got) > len(additive)  # several KPIs with rows in both branches


def test_kpis_evaluated_together_at_range_grain_equal_each_alone(
    fresh_engine: Callable[[], Engine],
) -> None:
    """Together they share scans and rollups of a fact read per day; each alone reads it."""
    ids = [
        "revenue",
        "invoice_count",
        "avg_check",
        "revenue_ytd",
        "revenue_rolling_30d",
        "revenue_vs_ly",
        "revenue_vs_prev",
        "revenue_growth_yoy",
        "call_count",
        "active_days",
        "revenue_per_call",
    ]

    def ask(kpis: list[str]) -> pd.DataFrame:
        return fresh_engine().evaluate(
            kpis, start=FIRST, end=LAST, grain="range", by=["branch"], scope={"branch": ["denver"]}
        )

    keys = ["kpi", "period", "branch"]
    together = ask(ids).sort_values(keys, ignore_index=True)
    alone = pd.concat([ask([k]) for k in ids]).sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(together, alone)
    assert set(together["kpi"]) == set(ids)


def test_previous_period_and_last_year_of_a_range(case_engine: Engine) -> None:
    """The moved ranges the compiler reads: 70 days before, and each end a year earlier (a
    range ending on February 28 is compared up to February 28, not 29)."""
    query = case_engine.query(start=FIRST, end=LAST, grain="range")
    before = query.moved(m.Span(1, "periods"), whole_periods=True)
    assert (before.start, before.end) == (D("2024-11-01"), D("2025-01-09"))
    assert query.moved(m.Span(1, "periods"), whole_periods=False) == before
    year = query.moved(m.Span(1, "years"), whole_periods=False)
    assert (year.start, year.end) == (D("2024-01-10"), D("2024-03-20"))
    feb = Query(D("2025-02-01"), D("2025-02-28"), "range").moved(
        m.Span(1, "years"), whole_periods=True
    )
    assert (feb.start, feb.end) == (D("2024-02-01"), D("2024-02-28"))


def test_an_unknown_grain_lists_range_among_the_grains(case_engine: Engine) -> None:
    with pytest.raises(EvaluationError, match=r"unknown grain 'ranges' \(grains: .*year, range\)"):
        case_engine.evaluate("revenue", start=FIRST, end=LAST, grain="ranges")


# -- plans ---------------------------------------------------------------------------------------


def plan_rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple[Any, ...]]:
    out = []
    for row in frame[columns].itertuples(index=False):
        out.append(tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row))
    return out


def test_an_additive_kpi_over_a_range_gets_its_plans_pro_rata(plan_engine: Engine) -> None:
    """Denver's revenue plans are 1000 for January, 1000 for February and 1500 for March; austin
    has one plan, 9100 for Q2 (91 days), none touching January to March 20."""
    frame = plan_engine.evaluate("revenue", start=FIRST, end=LAST, grain="range", by=["branch"])
    denver = 1000 * 22 / 31 + 1000 + 1500 * 20 / 31  # 2677.42
    assert plan_rows(frame, ["period", "branch", "value", "plan", "status"]) == [
        (FIRST, "austin", 850.0, None, None),
        (FIRST, "denver", 2400.0, pytest.approx(denver), "red"),  # 89.6%: under amber's 90%
    ]
    assert frame.loc[1, "achievement"] == pytest.approx(2400 / denver)
    # across the end of Q1: 17 days of denver's March, 14 of austin's Q2
    spring = plan_engine.evaluate(
        "revenue", start=D("2025-03-15"), end=D("2025-04-14"), grain="range", by=["branch"]
    )
    assert plan_rows(spring, ["branch", "plan"]) == [
        ("austin", pytest.approx(9100 * 14 / 91)),  # 1400
        ("denver", pytest.approx(1500 * 17 / 31)),
    ]


def test_per_employee_plans_over_a_range(plan_engine: Engine) -> None:
    """Dana: 1000, 1000, 2000 for January to March; Eli: 500 for January and February; Gus:
    2500 for January and February, none for March; Ivy: 350 for March."""
    frame = plan_engine.evaluate("revenue", start=FIRST, end=LAST, grain="range", by=["employee"])
    assert dict(plan_rows(frame, ["employee", "plan"])) == {
        DANA: pytest.approx(1000 * 22 / 31 + 1000 + 2000 * 20 / 31),
        ELI: pytest.approx(500 * 22 / 31 + 500),
        GUS: pytest.approx(2500 * 22 / 31 + 2500),
        IVY: pytest.approx(350 * 20 / 31),
    }


def test_a_range_that_is_one_period_is_planned_as_that_period(plan_engine: Engine) -> None:
    """Q1 as a range gets the quarter's plan (denver's months added up); a month as a range a
    non-additive KPI's plan of that month, and its carried-forward plan where it has none."""
    q1 = plan_engine.evaluate(
        "revenue", start=D("2025-01-01"), end=D("2025-03-31"), grain="range", by=["branch"]
    )
    quarter = plan_engine.evaluate(
        "revenue", start=D("2025-01-01"), end=D("2025-03-31"), grain="quarter", by=["branch"]
    )
    assert plan_rows(q1, ["branch", "plan"]) == [("austin", None), ("denver", 3500.0)]
    pd.testing.assert_frame_equal(q1, quarter)

    def win_rate_plan(start: str, end: str) -> float | None:
        frame = plan_engine.evaluate(
            "win_rate", start=D(start), end=D(end), grain="range", by=["branch"]
        )
        return dict(plan_rows(frame, ["branch", "plan"]))["denver"]

    assert win_rate_plan("2025-02-01", "2025-02-28") == 0.8
    assert win_rate_plan("2025-01-01", "2025-01-31") == 0.5  # carried forward from December
    assert win_rate_plan("2025-02-01", "2025-02-27") is None  # no plan period: no plan
    assert win_rate_plan("2025-01-10", "2025-03-20") is None


def _plan(grain: m.PeriodGrain, period: str, value: float) -> m.Plan:
    return m.Plan("revenue", grain, D(period), (), value, m.Location("plans/p.csv", 2))


def test_a_range_takes_the_plans_of_the_grain_covering_most_of_it(definitions: Definitions) -> None:
    """Plans of one grain, never several added up: of the grains whose plans touch the range,
    the one covering most of its days, the finest of those covering as many."""
    revenue = definitions.kpis["revenue"]
    values = pd.DataFrame({"period": [FIRST], "value": [100.0]})
    months = [_plan("month", "2025-01-01", 310), _plan("month", "2025-02-01", 280)]
    months.append(_plan("month", "2025-03-01", 620))
    quarter = _plan("quarter", "2025-01-01", 900)
    days = [_plan("day", "2025-01-10", 5), _plan("day", "2025-01-11", 7)]

    def planned(plans: list[m.Plan], end: dt.date = LAST) -> float:
        frame = attach(values, revenue, plans, grain="range", by=(), start=FIRST, end=end)
        return float(frame.loc[0, "plan"])

    by_month = 310 * 22 / 31 + 280 + 620 * 20 / 31  # 220 + 280 + 400
    assert planned(months) == pytest.approx(by_month)
    assert planned([*months, quarter]) == pytest.approx(by_month)  # as many days: the finer
    assert planned([*days, *months]) == pytest.approx(by_month)  # months cover more days
    assert planned([quarter, *days]) == pytest.approx(900 * 70 / 90)
    assert planned(days, end=D("2025-01-11")) == pytest.approx(12)
    assert planned(months[2:]) == pytest.approx(400)  # only March's plan touches the range


def test_a_plan_file_cannot_set_a_range(definitions: Definitions) -> None:
    rows = [
        ["kpi", "period", "branch", "plan"],
        ["revenue", "2025-01", "denver", "1000"],
        ["revenue", "2025-01-01…2025-03-31", "denver", "3000"],
        ["revenue", "2025-01-01..2025-03-31", "", "3000"],
    ]
    plans, problems = parse_plans(rows, "plans/2025.csv", definitions.kpis)
    assert [p.period for p in plans] == [D("2025-01-01")]
    assert [(p.path, p.line) for p in problems] == [("plans/2025.csv", 3), ("plans/2025.csv", 4)]
    assert str(problems[0]) == (
        "plans/2025.csv:3: period '2025-01-01…2025-03-31' is a range: plans are set per day, "
        "week, month, quarter or year, one row each (2026-01, 2026-02 …); a range evaluated as "
        "one period gets the plans of the periods inside it"
    )


# -- periods and labels ------------------------------------------------------------------------


def test_a_range_is_one_period() -> None:
    assert periods(FIRST, LAST, "range") == [FIRST]
    assert one_period(D("2026-01-01"), D("2026-03-31")) == "quarter"
    assert one_period(D("2026-03-02"), D("2026-03-08")) == "week"
    assert one_period(FIRST, LAST) is None


def test_a_range_is_labelled_by_its_first_and_last_day() -> None:
    assert period_label(D("2026-01-01"), "range", D("2026-03-31")) == "2026-01-01…2026-03-31"
    frame = pd.DataFrame(
        {"kpi": ["revenue"], "period": [FIRST], "value": [2400.0], "plan": [float("nan")]}
    ).assign(achievement=None, status=None)
    [row] = long_rows(frame, "range", [], LAST)
    assert (row["period"], row["period_start"]) == ("2025-01-10…2025-03-20", "2025-01-10")
    [wide], _ = wide_rows(frame, "range", [], ["revenue"], LAST)
    assert (wide["period"], wide["revenue"]) == ("2025-01-10…2025-03-20", 2400.0)
    with pytest.raises(ValueError, match="last day"):
        period_label(FIRST, "range")
