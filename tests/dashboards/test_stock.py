"""The Stock page: its figures draw the engine's and the reports' numbers, a click on a
warehouse asks for its explanation, an empty view says why, and the page loads clean."""

from __future__ import annotations

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


# -- pure builders -----------------------------------------------------------------------------


def test_cover_per_warehouse_is_the_median_item_and_those_running_out() -> None:
    from dashboards.figures import stock as fk

    cover = pd.DataFrame(
        {
            "warehouse": ["North", "North", "North", "South"],
            "days_of_cover": [2.0, 20.0, 40.0, None],
        }
    )
    assert fk.cover_by_warehouse(cover) == {"North": (20.0, 3, 1), "South": (None, 1, 0)}


def test_warehouses_are_ranked_by_value_beside_their_cover() -> None:
    from dashboards.figures import stock as fk

    values = pd.DataFrame({"warehouse": ["w1", "w2", None], "value": [100.0, 300.0, 5.0]})
    rows = fk.warehouse_rows(values, {"w1": "North", "w2": "South"}, {"North": (12.5, 4, 2)})
    assert [(r.warehouse, r.name, r.value, r.median_days) for r in rows] == [
        ("w2", "South", 300.0, None),
        ("w1", "North", 100.0, 12.5),
    ]
    figure = fk.warehouses(rows, "USD", as_of="2026-10-31", whose=" for Denver")
    value, cover = figure.data
    assert list(value.y) == ["South", "North"] and list(value.x) == [300.0, 100.0]
    assert [c[0] for c in value.customdata] == ["w2", "w1"]
    assert list(cover.x) == [None, 12.5] and value.xaxis != cover.xaxis
    assert value.yaxis == "y" and cover.yaxis == "y2" and figure.layout.yaxis2.matches == "y"
    assert figure.layout.title.text == "$400 of stock; South holds 75.0% of it"


def test_a_click_on_a_value_bar_asks_for_that_warehouse(dash_app: object) -> None:
    from dashboards.pages.stock import click_request

    bar = {"points": [{"curveNumber": 0, "customdata": ["stock:2", "$1"]}]}
    assert click_request(bar) == {"kpi": "stock_value", "slice": {"warehouse": "stock:2"}}
    cover = {"points": [{"curveNumber": 1, "customdata": ["stock:2", "3 d"]}]}
    assert click_request(cover) is None
    assert click_request(None) is None


# -- the page's fill functions against the engine and the runner -------------------------------


def test_the_warehouses_chart_draws_the_engines_values_and_the_reports_cover(
    in_app: Data,
) -> None:
    from dashboards.figures import stock as fk
    from dashboards.pages.stock import fill_warehouses

    search = LAST_MONTH + "&branch=denver"
    f = _filters(search)
    figure, style, state, table = fill_warehouses(search)
    assert state is None and style == {} and table is not None
    expected = in_app.engine().evaluate(
        "stock_value",
        start=f.start,
        end=f.end,
        grain="range",
        by=["warehouse"],
        scope=f.scope(),
    )
    by_id = dict(zip(expected["warehouse"], expected["value"], strict=True))
    value, cover = figure.data
    assert {c[0]: x for c, x in zip(value.customdata, value.x, strict=True)} == pytest.approx(by_id)
    report = (
        in_app.runner().run("days_of_cover", {"as_of": f.end.isoformat()}, scope=f.scope()).frame
    )
    medians = fk.cover_by_warehouse(report)
    names = dict(in_app.runner().members("warehouse"))
    for custom, days in zip(cover.customdata, cover.x, strict=True):
        assert days == pytest.approx(medians[names[custom[0]]][0])


def test_stock_outs_dead_stock_and_reorder_list_are_the_reports(in_app: Data) -> None:
    from dashboards.pages.stock import fill_dead_stock, fill_reorder, fill_stock_outs
    from reports import formats

    f = _filters(LAST_MONTH)
    runner = in_app.runner()
    outs = runner.run("stock_outs", {"period": f"{f.start}..{f.end}"}, scope=f.scope()).frame
    figure, _, state, table = fill_stock_outs(LAST_MONTH)
    if outs.empty:
        assert "No item ran out of stock" in str(state)
    else:
        assert sum(figure.data[0].x) == len(outs) and table is not None
    dead = runner.run("dead_stock", {"as_of": f.end.isoformat()}, scope=f.scope()).frame
    figure, _, state, table = fill_dead_stock(LAST_MONTH)
    assert not dead.empty and table is not None
    money = formats.money(float(dead["value"].sum()), in_app.currency, cents=False)
    assert figure.layout.title.text.startswith(f"{money} tied up in {len(dead):,} idle items")
    reorder = runner.run("reorder_suggestions", {"as_of": f.end.isoformat()}, scope=f.scope())
    summary, table = fill_reorder(LAST_MONTH)
    value = formats.money(float(reorder.frame["order_value"].sum()), in_app.currency, cents=False)
    assert summary.startswith(f"{len(reorder.frame):,} items at or below their reorder level")
    assert value in summary


def test_a_day_before_any_stock_says_so_and_names_the_branch(in_app: Data) -> None:
    from dashboards.pages.stock import fill_warehouses

    _figure, style, state, table = fill_warehouses("?period=2001-01-01..2001-01-31&branch=austin")
    assert style == {"display": "none"}
    assert "No stock on hand on 2001-01-31 for Austin — choose another branch." in str(state)
    assert "No item went out in the 90 days to 2001-01-31 for Austin" in str(table)


# -- in a browser -----------------------------------------------------------------------------


def test_the_page_loads_clean_with_the_engines_first_tile(
    served: str, page: Page, dash_project: object
) -> None:
    from dashboards.data import Data
    from dashboards.filters import parse
    from kpiboard.config import load_settings

    data = Data(load_settings(dash_project))  # type: ignore[arg-type]
    page.goto(served + "stock?branch=denver")
    page.wait_for_selector("#tile-stock_value .kb-tile-value", timeout=SLOW)
    page.wait_for_selector("#stock-warehouses .main-svg", timeout=SLOW)
    settle(page, timeout=SLOW)
    assert errors_of(page) == []
    shown = page.locator("#tile-stock_value .kb-tile-value").get_attribute("data-value")
    f = parse("?branch=denver", data_end=data.last_day(), branches=["denver"])
    frame = data.engine().evaluate(
        "stock_value", start=f.start, end=f.end, grain="range", scope={"branch": ["denver"]}
    )
    assert float(shown or "nan") == frame["value"].iloc[0]
    click_bar(page, "#stock-warehouses .bars .point path")
    page.wait_for_selector("#kb-explain-title")
    assert page.locator("#kb-explain-title").inner_text() == "Stock value"
    assert "warehouse" in page.locator(".kb-explain-facts").inner_text().lower()
    assert errors_of(page) == []


def click_bar(page: Page, selector: str) -> None:
    """Click the middle of the first bar: Plotly takes clicks on its drag layer above it."""
    bar = page.locator(selector).first
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
