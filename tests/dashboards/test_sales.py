"""The Sales & pipeline page: every number it draws is the engine's or the catalog report's
for the same period and scope, a clicked point explains that same number, an empty period says
why, and in a browser the page loads clean and follows the branch in the address."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from dashboards.figures import sales as figures_sales
from tests.dashboards.conftest import errors_of, settle

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from dashboards.data import Data


def graphs(component: Any) -> dict[str, Any]:
    """The figures of the ``dcc.Graph``s in a component tree, by their chart index."""
    found: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list | tuple):
            for child in node:
                walk(child)
            return
        if node is None or isinstance(node, str | int | float):
            return
        if type(node).__name__ == "Graph":
            found[node.id["index"]] = node.figure
        walk(getattr(node, "children", None))

    walk(component)
    return found


def text_of(component: Any) -> str:
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list | tuple):
            for child in node:
                walk(child)
        elif isinstance(node, str):
            parts.append(node)
        elif node is not None and not isinstance(node, int | float):
            walk(getattr(node, "children", None))

    walk(component)
    return " ".join(parts)


def trace(figure: Any, name: str) -> Any:
    return next(t for t in figure.data if t.name == name)


def close(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        x_missing = x is None or (isinstance(x, float) and math.isnan(x))
        y_missing = y is None or (isinstance(y, float) and math.isnan(y))
        if x_missing or y_missing:
            if x_missing != y_missing:
                return False
        elif not math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-6):
            return False
    return True


# -- the fill functions against the engine and the runner --------------------------------------


def test_the_trend_is_the_engines_revenue_plan_and_last_year(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.kpis import add_months, trend_range
    from dashboards.pages import sales

    f = filters_of("?period=last_month&branch=denver")
    figure = graphs(sales.trend_part(in_app, f))["trend"]
    first, last = trend_range(f.end)
    engine = in_app.engine()
    frame = engine.evaluate(
        "revenue", start=first, end=last, grain="month", scope={"branch": ["denver"]}
    ).sort_values("period")
    actual, plan = trace(figure, "Actual"), trace(figure, "Plan")
    assert close(list(actual.y), list(frame["value"]))
    assert close(list(plan.y), list(frame["plan"]))
    assert [str(x)[:10] for x in actual.x] == [str(p)[:10] for p in frame["period"]]
    year = engine.evaluate(
        "revenue",
        start=add_months(first, -12),
        end=add_months(last.replace(day=1), -11) - dt.timedelta(days=1),
        grain="month",
        scope={"branch": ["denver"]},
    ).sort_values("period")
    assert close(list(trace(figure, "Last year").y), list(year["value"]))
    # the title's message is the last month's against its plan
    value, target = frame["value"].iloc[-1], frame["plan"].iloc[-1]
    gap = figures_sales.against_plan(value, target)
    assert gap is not None and gap in figure.layout.title.text
    assert "Denver" in figure.layout.title.text


def test_a_clicked_month_explains_the_same_number(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.explain import explain, parse_request
    from dashboards.pages import sales

    f = filters_of("?period=last_month")
    actual = trace(graphs(sales.trend_part(in_app, f))["trend"], "Actual")
    index = len(actual.y) - 2
    click = {"points": [{"customdata": list(actual.customdata[index])}]}
    request = sales.clicked_request(click)
    assert request is not None and request["kpi"] == "revenue"
    month = dt.date.fromisoformat(str(actual.x[index])[:10])
    assert request["start"] == month.isoformat()
    assert request["end"] == figures_sales.month_end(month).isoformat()
    answer = explain(in_app, parse_request(request, f), f)
    assert math.isclose(answer.value or 0, actual.y[index])
    assert sales.clicked_request({"points": [{"customdata": ["$1", ""]}]}) is None
    assert sales.clicked_request(None) is None


def test_branch_and_manager_bars_are_the_engines(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.explain import explain, parse_request
    from dashboards.pages import sales

    f = filters_of("?period=last_month")
    branches, managers = sales.slices_part(in_app, f)
    engine = in_app.engine()
    by_branch = engine.evaluate(
        "revenue", start=f.start, end=f.end, grain="range", by=["branch"], scope=f.scope()
    ).sort_values("value", ascending=False)
    figure = graphs(branches)["branches"]
    names = dict(in_app.branches())
    bars = trace(figure, "Actual")
    assert list(bars.y) == [names[b] for b in by_branch["branch"]]
    assert close(list(bars.x), list(by_branch["value"]))
    planned = by_branch[by_branch["plan"].notna()]
    assert close(list(trace(figure, "Plan").x), list(planned["plan"]))

    by_manager = engine.evaluate(
        "revenue",
        start=f.start,
        end=f.end,
        grain="range",
        by=["employee"],
        filters=["role = 'sales_manager'"],
        scope=f.scope(),
    )
    figure = graphs(managers)["managers"]
    people = dict(in_app.employees())
    bars = trace(figure, "Actual")
    shown = dict(zip(bars.y, bars.x, strict=True))
    expected = {
        people[e]: v for e, v in zip(by_manager["employee"], by_manager["value"], strict=True)
    }
    assert shown.keys() == expected.keys()
    assert all(math.isclose(shown[k], expected[k]) for k in expected)
    assert list(bars.x) == sorted(bars.x, reverse=True)  # a ranking, biggest on top
    # a bar explains its own slice, with the same number
    request = sales.clicked_request({"points": [{"customdata": list(bars.customdata[0])}]})
    assert request is not None and set(request["slice"]) == {"employee"}
    answer = explain(in_app, parse_request(request, f), f)
    assert math.isclose(answer.value or 0, bars.x[0])


def test_funnel_and_lost_reasons_are_the_reports(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.pages import sales
    from reports import formats

    f = filters_of("?period=last_quarter")
    period = {"period": f"{f.start}..{f.end}"}
    funnel = in_app.report("pipeline_funnel", period, scope=f.scope()).frame
    assert len(funnel) >= 2, "the test project has a pipeline"
    stages = graphs(sales.funnel_part(in_app, f))["funnel"].data[0]
    assert list(stages.y) == list(funnel.sort_values("stage_order")["stage"])
    assert close(list(stages.x), [float(v) for v in funnel.sort_values("stage_order")["deals"]])
    second = funnel.sort_values("stage_order").iloc[1]
    assert formats.percent(second["from_previous"]) in stages.text[1]

    lost = in_app.report("lost_reasons", period, scope=f.scope()).frame
    assert len(lost), "the test project lost deals"
    bars = graphs(sales.lost_part(in_app, f))["lost"].data[0]
    ranked = lost.sort_values("amount", ascending=False)
    assert close(list(bars.x), list(ranked["amount"]))
    assert list(bars.y) == list(ranked["lost_group"])


def test_deals_at_risk_are_the_reports_as_of_the_period_end(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.format import kpi_value
    from dashboards.pages import sales
    from reports import formats

    f = filters_of("?period=last_month")
    frame = in_app.report(sales.AT_RISK, {"as_of": f.end.isoformat()}, scope=f.scope()).frame
    text = text_of(sales.risk_part(in_app, f))
    if frame.empty:
        assert "No open deal was past its expected close date" in text
    else:
        count = len(frame)
        assert text.startswith(f"{formats.count(count)} open deal{'s' if count > 1 else ''} past")
        at_stake = kpi_value(float(frame["amount"].sum()), "money", in_app.currency)
        assert f"{at_stake} at stake" in text


def test_a_period_without_data_says_why(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.pages import sales

    f = filters_of("?period=2001-03&branch=denver")
    assert "No revenue from 2000-04 to 2001-03 for Denver" in text_of(sales.trend_part(in_app, f))
    assert "No deals were opened" in text_of(sales.funnel_part(in_app, f))
    assert "No deals were lost" in text_of(sales.lost_part(in_app, f))
    branches, _managers = sales.slices_part(in_app, f)
    assert "widen the period" in text_of(branches)


# -- the figure builders -----------------------------------------------------------------------


def test_the_bullets_message_names_the_one_furthest_below_plan() -> None:
    frame = pd.DataFrame(
        {
            "branch": ["a", "b", "c"],
            "value": [90.0, 120.0, 50.0],
            "plan": [100.0, 100.0, None],
            "achievement": [0.9, 1.2, None],
            "status": ["red", "green", None],
        }
    )
    figure = figures_sales.bullet(
        frame,
        dim="branch",
        names={"a": "Austin", "b": "Boston"},
        kpi="revenue",
        label="Revenue",
        unit="money",
        currency="USD",
        noun="branch",
        period="2026-10",
    )
    assert figure.layout.title.text == "Austin 10.0% below plan; 1 of 2 branches below plan"
    bars = trace(figure, "Actual")
    assert list(bars.y) == ["Boston", "Austin", "c"]
    assert list(bars.text) == ["  ✓ 120%", "  ✗ 90%", "  no plan"]
    assert json.loads(bars.customdata[0][1]) == {"kpi": "revenue", "slice": {"branch": "b"}}
    assert list(trace(figure, "Plan").x) == [100.0, 100.0]


@pytest.mark.parametrize(
    ("value", "plan", "said"),
    [(106.3, 100.0, "6.3% above plan"), (88.0, 100.0, "12.0% below plan"), (1.0, None, None)],
)
def test_against_plan(value: float, plan: float | None, said: str | None) -> None:
    assert figures_sales.against_plan(value, plan) == said


def test_the_funnel_names_its_weakest_step() -> None:
    message = figures_sales.funnel_message(
        ["New", "Qualified", "Won"], [100.0, 60.0, 12.0], [None, 0.6, 0.2]
    )
    assert message == "12.0% of deals opened reached Won; weakest step Qualified → Won"


# -- in a browser ------------------------------------------------------------------------------


def test_the_sales_page_loads_without_a_console_error(served: str, page: Page) -> None:
    page.goto(served + "sales")
    page.wait_for_selector("#tile-revenue .kb-tile-value")
    page.wait_for_selector("#sales-trend .js-plotly-plot")
    page.wait_for_selector("#sales-risk .kb-grid, #sales-risk .kb-empty")
    settle(page)
    assert errors_of(page) == []
    assert page.locator("#tile-revenue .kb-tile-label").inner_text() == "Revenue"
    assert page.locator("#sales-branches .js-plotly-plot").count() == 1


def test_denver_in_the_address_shows_denvers_trend(
    served: str, page: Page, dash_project: object
) -> None:
    from dashboards.data import Data
    from dashboards.kpis import trend_range
    from kpiboard.config import load_settings

    data = Data(load_settings(dash_project))  # type: ignore[arg-type]
    end = data.last_day()
    assert end is not None
    first, last = trend_range(end)
    engine = data.engine()
    denver = engine.evaluate(
        "revenue", start=first, end=last, grain="month", scope={"branch": ["denver"]}
    ).sort_values("period")
    everyone = engine.evaluate(
        "revenue",
        start=first,
        end=last,
        grain="month",
        scope={"branch": [b for b, _ in data.branches()]},
    ).sort_values("period")
    assert not close(list(denver["value"]), list(everyone["value"]))

    read = """() => document.querySelector('#sales-trend .js-plotly-plot')._fullData
                   .filter(t => t.name === 'Actual')[0].y"""
    page.goto(served + "sales?branch=denver")
    page.wait_for_selector("#sales-trend .js-plotly-plot")
    settle(page)
    assert close(page.evaluate(read), list(denver["value"]))
    assert "Denver" in (page.locator("#sales-trend .gtitle").text_content() or "")
    assert errors_of(page) == []
