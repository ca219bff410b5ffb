"""The Clients page: its figures draw the engine's and the reports' numbers, every part follows
the filters' period and scope, empty parts say why, and in a browser the page loads clean and a
branch in the address gives that branch's numbers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.dashboards.conftest import errors_of, settle

COLD_MS = 120_000

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from dashboards.data import Data


def walk(node: Any) -> Iterator[Any]:
    """Every component under ``node`` (itself included)."""
    if isinstance(node, list | tuple):
        for child in node:
            yield from walk(child)
        return
    if node is None or isinstance(node, str | int | float):
        return
    yield node
    yield from walk(getattr(node, "children", None))


def by_id(node: Any, wanted: str) -> Any:
    for component in walk(node):
        if getattr(component, "id", None) == wanted:
            return component
    raise AssertionError(f"no component {wanted!r}")


def texts(node: Any) -> str:
    out = []
    for component in walk(node):
        if isinstance(getattr(component, "children", None), str):
            out.append(component.children)
    return " ".join(out)


def same(a: Any, b: Any) -> bool:
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    if any(missing):
        return all(missing)
    return math.isclose(float(a), float(b), rel_tol=1e-9)


# -- acquisition ------------------------------------------------------------------------------


def test_the_stacked_bars_add_up_to_the_engines_new_clients_per_month(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.figures import clients as figures_clients
    from dashboards.pages import clients

    f = filters_of("?period=last_quarter")
    first, last = clients.months_shown(f)
    assert (last.year - first.year) * 12 + last.month - first.month + 1 == 12
    frame = clients.acquisition_frame(in_app, f)
    figure = figures_clients.acquisition(frame)
    totals = in_app.engine().evaluate(
        "new_clients", start=first, end=last, grain="month", scope=f.scope()
    )
    expected = {str(p)[:10]: v for p, v in zip(totals["period"], totals["value"], strict=True)}
    drawn: dict[str, float] = {}
    for trace in figure.data:
        for month, value in zip(trace.x, trace.y, strict=True):
            drawn[str(month)[:10]] = drawn.get(str(month)[:10], 0.0) + value
    assert drawn == pytest.approx({k: v for k, v in expected.items() if k in drawn})
    assert sum(drawn.values()) == pytest.approx(totals["value"].sum())
    # each segment is the engine's count of its channel and month, and carries that request
    trace = figure.data[0]
    channel = trace.customdata[0][1]
    assert trace.name == figures_clients.channel_label(channel)
    one = frame[frame["channel"].fillna("other") == channel]
    counts = {str(p)[:10]: float(v) for p, v in zip(one["period"], one["value"], strict=True)}
    for month, value in zip(trace.x, trace.y, strict=True):
        assert value == counts.get(str(month)[:10], 0.0)  # a month without one is a zero
    assert sum(trace.y) == pytest.approx(sum(counts.values())) and sum(trace.y) > 0


def test_a_click_on_a_bar_explains_that_channel_and_month(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.explain import explain, parse_request
    from dashboards.pages import clients

    f = filters_of("?period=last_quarter&branch=denver")
    head, figure, _table = clients.acquisition_part(in_app, f)
    assert figure is not None and figure.layout.title.text is None  # the message is on the page
    assert "new clients" in texts(head).lower()
    trace = figure.data[0]
    point = {"points": [{"customdata": list(trace.customdata[-1]), "y": trace.y[-1]}]}
    request = clients.explain_request(point)
    assert request is not None
    assert request["kpi"] == "new_clients" and set(request["slice"]) == {"channel"}
    answer = explain(in_app, parse_request(request, f), f)
    assert answer.value == pytest.approx(trace.y[-1])
    assert clients.explain_request({"points": []}) is None


def test_the_channel_table_is_the_catalog_report_of_the_period(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.pages import clients

    f = filters_of("?period=last_quarter&branch=austin")
    _head, _figure, table = clients.acquisition_part(in_app, f)
    grid = by_id(table, "clients-channel-grid")
    report = in_app.runner().run(
        "client_acquisition_by_channel",
        {"period": f"{f.start}..{f.end}"},
        scope={"branch": ["austin"]},
    )
    assert [r["new_clients"] for r in grid.rowData] == list(report.frame["new_clients"])


# -- segments ---------------------------------------------------------------------------------


def test_the_rfm_bars_are_the_reports_clients_and_sales_sorted(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.pages import clients

    f = filters_of("?period=last_month&branch=denver")
    card = clients.segments_part(in_app, f)
    figure = by_id(card, "clients-segments-chart").figure
    report = in_app.runner().run(
        "client_rfm_segments", {"as_of": f.end.isoformat()}, scope={"branch": ["denver"]}
    )
    counts = dict(zip(report.frame["segment"], report.frame["clients"], strict=True))
    sales = dict(zip(report.frame["segment"], report.frame["sales"], strict=True))
    bars, money = figure.data
    assert dict(zip(bars.y, bars.x, strict=True)) == pytest.approx(counts)
    assert dict(zip(money.y, money.x, strict=True)) == pytest.approx(sales)
    assert list(bars.x) == sorted(bars.x)  # the most clients at the top
    grid = by_id(card, "clients-segments-grid")
    assert [r["clients"] for r in grid.rowData] == list(report.frame["clients"])


# -- retention --------------------------------------------------------------------------------


def test_the_cohort_heatmap_is_the_reports_retention(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.figures import clients as figures_clients
    from dashboards.pages import clients

    f = filters_of("?period=year_to_date")
    card = clients.retention_part(in_app, f)
    figure = by_id(card, "clients-retention-chart").figure
    first, _ = clients.cohorts_shown(f)
    report = in_app.runner().run(
        "client_cohort_retention", {"cohorts": f"{first}..{f.end}"}, scope=f.scope()
    )
    heat = figure.data[0]
    assert list(heat.y) == list(report.frame["cohort"])
    assert len(heat.y) >= clients.COHORT_MONTHS - 1
    columns = [c for c, _ in figures_clients.RETENTION_MONTHS]
    for row, (_, expected) in zip(heat.z, report.frame.iterrows(), strict=True):
        assert all(same(a, expected[c]) for a, c in zip(row, columns, strict=True))
    # the values are printed in the cells, as percentages with one decimal
    value = next(v for v in heat.z[0] if v is not None)
    assert f"{value * 100:.1f}%" in heat.text[0]
    assert figure.layout.title.text is None and "buy again" in texts(card)


# -- lists, and parts with nothing to show ----------------------------------------------------


def test_top_and_lapsed_clients_follow_the_period_and_the_branch(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.pages import clients

    f = filters_of("?period=last_quarter&branch=portland")
    top = by_id(clients.top_part(in_app, f), "clients-top-grid")
    report = in_app.runner().run(
        "top_clients",
        {"period": f"{f.start}..{f.end}", "top": clients.LIST_SIZE},
        scope={"branch": ["portland"]},
    )
    assert [r["revenue"] for r in top.rowData] == pytest.approx(list(report.frame["revenue"]))
    assert {r["branch"] for r in top.rowData} == {"Portland"}
    lapsed = by_id(clients.lapsed_part(in_app, f), "clients-lapsed-grid")
    assert {r["branch"] for r in lapsed.rowData} <= {"Portland"}
    for row in lapsed.rowData:
        assert row["last_on"] <= f.end.isoformat()


def test_an_empty_period_says_why(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.pages import clients

    f = filters_of("?period=2001-01&branch=denver")
    head, figure, _table = clients.acquisition_part(in_app, f)
    assert figure is None
    assert "No client bought for the first time" in texts(head)
    assert "Denver" in texts(head)
    assert "widen the period" in texts(clients.top_part(in_app, f))
    assert "nobody to segment" in texts(clients.segments_part(in_app, f))


# -- in a browser ----------------------------------------------------------------------------


def test_the_clients_page_loads_without_a_console_error(served: str, page: Page) -> None:
    page.goto(served + "clients")
    # the first load of a fresh server computes every part at once: patience on a busy machine
    page.wait_for_selector("#tile-new_clients .kb-tile-value", timeout=COLD_MS)
    page.wait_for_selector("#clients-retention-chart .main-svg")
    page.wait_for_selector("#clients-top-grid .ag-row")
    settle(page, timeout=COLD_MS)
    assert errors_of(page) == []
    assert page.locator("#clients-acquisition-box").is_visible()


def test_a_branch_in_the_address_gives_that_branchs_new_clients(
    served: str, page: Page, dash_project: object
) -> None:
    from dashboards.data import Data
    from kpiboard.config import load_settings

    data = Data(load_settings(dash_project))  # type: ignore[arg-type]
    end = data.last_day()
    assert end is not None
    start = end.replace(day=1)
    page.goto(served + "clients?period=month_to_date&branch=denver")
    page.wait_for_selector("#tile-new_clients .kb-tile-value", timeout=COLD_MS)
    settle(page)
    shown = page.locator("#tile-new_clients .kb-tile-value").get_attribute("data-value")
    denver = data.engine().evaluate(
        "new_clients", start=start, end=end, grain="range", scope={"branch": ["denver"]}
    )
    everyone = data.engine().evaluate("new_clients", start=start, end=end, grain="range")
    assert float(shown or "nan") == denver["value"].iloc[0]
    assert denver["value"].iloc[0] != everyone["value"].iloc[0]
    assert errors_of(page) == []
