"""The Service & delivery page: its figures draw the engine's and the reports' numbers, a click
asks for the right explanation, an empty view says why, and the page loads clean."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from tests.dashboards.conftest import errors_of, settle

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from dashboards.data import Data

LAST_MONTH = "?period=last_month"
SLOW = 240_000
"""Milliseconds a first load may take on a busy machine (the page's callbacks run at once)."""


def _filters(search: str) -> Any:
    from dashboards.app import filters_of

    return filters_of(search)


def _same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and math.isclose(float(a), float(b), rel_tol=1e-9)


# -- pure builders -----------------------------------------------------------------------------


def test_requests_and_sla_are_two_panels_over_the_same_months_not_two_axes() -> None:
    from dashboards.figures import service as fs

    months = [dt.date(2026, 9, 1), dt.date(2026, 10, 1)]
    trend = pd.DataFrame(
        {
            "kpi": [fs.REQUESTS, fs.REQUESTS, fs.SLA, fs.SLA],
            "period": months * 2,
            "value": [100.0, 120.0, 0.5, 0.62],
            "plan": [None, None, 0.6, 0.6],
        }
    )
    figure = fs.requests_and_sla(trend, whose=" for Austin")
    bars, line = figure.data[0], figure.data[1]
    assert list(bars.y) == [100.0, 120.0] and list(line.y) == [0.5, 0.62]
    assert bars.yaxis != line.yaxis and bars.xaxis != line.xaxis  # stacked panels
    assert all(
        not getattr(a, "overlaying", None) for a in (figure.layout.yaxis, figure.layout.yaxis2)
    )
    plan = next(t for t in figure.data if t.name == "Plan")
    assert plan.line.dash == "dash" and list(plan.y) == [0.6, 0.6]
    assert list(bars.customdata[1][:3]) == [fs.REQUESTS, "2026-10-01", "2026-10-31"]
    assert figure.layout.title.text == (
        "Oct 2026: 120 requests, 62.0% of repairs within SLA (+12.0 pp on Sep)"
    )
    assert "for Austin" in figure.layout.title.subtitle.text


def test_drivers_are_ranked_best_on_top_with_their_ids_for_the_click() -> None:
    from dashboards.figures import service as fs

    rates = [
        fs.DriverRate("e1", "Ann", 0.4, 0.5, 10),
        fs.DriverRate("e2", "Bob", 0.9, None, 20),
        fs.DriverRate("e3", "Cy", 0.7, 0.5, 5),
    ]
    figure = fs.drivers_on_time(rates, overall=0.75, period="October")
    bars = figure.data[0]
    assert bars.orientation == "h" and list(bars.y) == ["Bob", "Cy", "Ann"]
    assert figure.layout.yaxis.autorange == "reversed"
    assert [c[0] for c in bars.customdata] == ["e2", "e3", "e1"]
    assert (
        figure.layout.title.text
        == "Ann on time least often (40.0%), Bob most (90.0%); 75.0% overall"
    )


def test_first_time_fix_names_no_lowest_row_when_every_row_is_the_same() -> None:
    from dashboards.figures import service as fs

    same = pd.DataFrame(
        {
            "row_label": ["A", "B"],
            "repaired": [10, 5],
            "came_back": [0, 0],
            "fixed_first_time": [10, 5],
            "first_time_fix_rate": [1.0, 1.0],
        }
    )
    assert fs.first_time_fix(same).layout.title.text == "100.0% of 15 repairs stayed fixed"
    other = same.assign(came_back=[0, 1], fixed_first_time=[10, 4], first_time_fix_rate=[1.0, 0.8])
    assert fs.first_time_fix(other).layout.title.text == (
        "93.3% of 15 repairs stayed fixed; lowest B (80.0%)"
    )


def test_a_click_asks_for_the_month_or_the_driver_it_hit(dash_app: object) -> None:
    from dashboards.pages.service import click_request

    month = {"points": [{"customdata": ["repair_sla_rate", "2026-09-01", "2026-09-30", "61%"]}]}
    assert click_request("service-trend", month) == {
        "kpi": "repair_sla_rate",
        "start": "2026-09-01",
        "end": "2026-09-30",
    }
    driver = {"points": [{"customdata": ["crm_denver:7", "40.0%", "10"]}]}
    assert click_request("service-drivers", driver) == {
        "kpi": "on_time_delivery_rate",
        "slice": {"employee": "crm_denver:7"},
    }
    assert click_request("service-drivers", {"points": [{}]}) is None
    assert click_request("service-trend", None) is None


# -- the page's fill functions against the engine and the runner -------------------------------


def test_the_trend_draws_the_engines_months_for_the_branch(in_app: Data) -> None:
    from dashboards.kpis import trend_range
    from dashboards.pages.service import fill_trend

    f = _filters(LAST_MONTH + "&branch=denver")
    figure, style, state = fill_trend(LAST_MONTH + "&branch=denver")
    assert state is None and style == {}
    first, last = trend_range(f.end)
    expected = in_app.engine().evaluate(
        "service_requests", start=first, end=last, grain="month", scope={"branch": ["denver"]}
    )
    assert list(figure.data[0].y) == pytest.approx(list(expected.sort_values("period")["value"]))
    assert len(figure.data[0].y) == 12


def test_the_drivers_chart_draws_the_engines_rates(in_app: Data) -> None:
    from dashboards.pages.service import fill_drivers

    f = _filters(LAST_MONTH)
    figure, _style, state, table = fill_drivers(LAST_MONTH)
    assert state is None and table is not None
    expected = in_app.engine().evaluate(
        "on_time_delivery_rate",
        start=f.start,
        end=f.end,
        grain="range",
        by=["employee"],
        scope=f.scope(),
    )
    by_id = dict(zip(expected["employee"], expected["value"], strict=True))
    bars = figure.data[0]
    assert len(bars.x) > 0
    for value, custom in zip(bars.x, bars.customdata, strict=True):
        assert _same(value, by_id[custom[0]])
    shown = [v for v in bars.x if v is not None]
    assert shown == sorted(shown, reverse=True)


def test_first_time_fix_and_warranty_draw_the_reports_rows(in_app: Data) -> None:
    from dashboards.kpis import trend_range
    from dashboards.pages.service import fill_repairs

    f = _filters(LAST_MONTH)
    fix, _, fix_state, fix_table, warranty, _, w_state, w_table = fill_repairs(LAST_MONTH)
    assert fix_state is None and w_state is None and fix_table and w_table
    runner = in_app.runner()
    period = f"{f.start}..{f.end}"
    expected = runner.run(
        "service_first_time_fix", {"period": period, "group_by": "engineer"}, scope=f.scope()
    ).frame
    assert sorted(fix.data[0].x) == pytest.approx(sorted(expected["first_time_fix_rate"]))
    first, last = trend_range(f.end)
    months = runner.run(
        "service_warranty", {"period": f"{first}..{last}"}, scope=f.scope()
    ).frame.sort_values("month")
    assert list(warranty.data[0].y) == pytest.approx(list(months["warranty_share"]))
    assert list(warranty.data[1].y) == pytest.approx(list(months["warranty_parts_cost"]))


def test_a_period_without_deliveries_says_so_and_names_the_branch(in_app: Data) -> None:
    from dashboards.pages.service import fill_drivers

    search = "?period=2001-01-01..2001-01-31&branch=austin"
    _figure, style, state, table = fill_drivers(search)
    assert style == {"display": "none"} and table is None
    assert "No deliveries in 2001-01-01 – 2001-01-31 for Austin — widen the period." in str(state)


# -- in a browser -----------------------------------------------------------------------------


def test_the_page_loads_clean_with_the_engines_first_tile(
    served: str, page: Page, dash_project: object
) -> None:
    from dashboards.data import Data
    from dashboards.filters import parse
    from kpiboard.config import load_settings

    data = Data(load_settings(dash_project))  # type: ignore[arg-type]
    page.goto(served + "service?branch=denver")
    page.wait_for_selector("#tile-service_requests .kb-tile-value", timeout=SLOW)
    page.wait_for_selector("#service-drivers .main-svg", timeout=SLOW)
    settle(page, timeout=SLOW)
    assert errors_of(page) == []
    shown = page.locator("#tile-service_requests .kb-tile-value").get_attribute("data-value")
    f = parse("?branch=denver", data_end=data.last_day(), branches=["denver"])
    frame = data.engine().evaluate(
        "service_requests", start=f.start, end=f.end, grain="range", scope={"branch": ["denver"]}
    )
    assert float(shown or "nan") == frame["value"].iloc[0]
    click_bar(page, "#service-drivers .bars .point path")
    page.wait_for_selector("#kb-explain-title")
    assert page.locator("#kb-explain-title").inner_text() == "On-time delivery rate"
    assert errors_of(page) == []


def click_bar(page: Page, selector: str) -> None:
    """Click the middle of the first bar: Plotly takes clicks on its drag layer above it."""
    bar = page.locator(selector).first
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
