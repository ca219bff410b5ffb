"""The Employees & KPIs page: its ranking, bonus total and one employee's month read exactly
the engine's scorecard (scores, bonuses, each KPI's plan, fact and contribution), its empty
states say why, and in a browser it loads clean and shows the engine's numbers."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import pytest

from tests.dashboards.conftest import errors_of, settle

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from dashboards.data import Data

ROLE = "sales_manager"
QUARTER = "?period=last_quarter"


def walk(component: Any) -> list[Any]:
    """Every component under ``component`` (itself included)."""
    out = [component]
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        for child in children:
            out += walk(child)
    elif children is not None and hasattr(children, "to_plotly_json"):
        out += walk(children)
    return out


def find(component: Any, id_: str) -> Any:
    items = component if isinstance(component, list) else [component]
    for item in items:
        for found in walk(item):
            if getattr(found, "id", None) == id_:
                return found
    raise AssertionError(f"no component {id_!r}")


def engine_card(d: Data, search: str, scope: dict[str, list[str]] | None = None) -> Any:
    from dashboards.app import filters_of
    from dashboards.pages.employees import peers_scope

    f = filters_of(search)
    return f, d.engine().scorecard(
        ROLE, start=f.start, end=f.end, scope=peers_scope(f) if scope is None else scope
    )


def first_employee(d: Data, search: str) -> str:
    """The employee of the role with the most months and the highest score in the period."""
    _, scored = engine_card(d, search)
    summary = scored.summary
    return str(summary.sort_values("score", ascending=False)["employee"].iloc[0])


# -- function tests -------------------------------------------------------------------------------


def test_the_ranking_and_the_bonus_total_are_the_engines(in_app: Data) -> None:
    from dashboards.pages.employees import fill
    from reports import formats

    _, scored = engine_card(in_app, QUARTER)
    summary = scored.summary
    assert not summary.empty
    expected = summary.groupby("employee").agg(score=("score", "mean"), bonus=("bonus", "sum"))

    facts, chart, table, _ = fill(QUARTER)
    figure = find(chart, "employees-ranking").figure
    bars = figure.data[0]
    shown = {row[0]: x / 100.0 for x, row in zip(bars.x, bars.customdata, strict=True)}
    assert set(shown) == set(expected.index)
    for employee, score in shown.items():
        assert score == pytest.approx(expected.loc[employee, "score"], abs=1e-12)
    assert list(bars.x) == sorted(bars.x)  # highest last: on top of a horizontal bar chart
    assert any(s["x0"] == 100 for s in figure.layout.shapes)  # the 100% reference

    rows = find(table, "employees-role-grid").rowData
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    for row in rows:
        assert row["bonus"] == pytest.approx(expected.loc[row["employee"], "bonus"], abs=1e-9)
        for kpi in ("revenue", "won_deals"):
            mine = scored.parts[
                (scored.parts["employee"] == row["employee"]) & (scored.parts["kpi"] == kpi)
            ]["achievement"].astype("float64")
            if mine.notna().any():
                assert row[kpi] == pytest.approx(mine.mean(), abs=1e-12)
    total = find(facts, "employees-total-bonus").children
    assert total == formats.money(float(summary["bonus"].sum()), in_app.currency)


def test_one_employees_month_is_the_engines_parts(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.pages.employees import employee_scope, fill_employee
    from kpi_designer.scorecards import Scored
    from reports import formats

    employee = first_employee(in_app, QUARTER)
    search = f"{QUARTER}&employee={employee}"
    f = filters_of(search)
    assert f.employee == employee
    _, body, months, month = fill_employee(in_app, f, None)
    assert month == max(months)
    scored: Scored = in_app.engine().scorecard(
        ROLE, start=f.start, end=f.end, scope=employee_scope(f)
    )
    day = scored.parts["period"].map(lambda p: p == month)
    parts = scored.parts[(scored.parts["employee"] == employee) & day].set_index("kpi")
    rows = {r["kpi"]: r for r in find(body, "employees-kpi-grid").rowData}
    assert set(rows) == set(parts.index)
    card = in_app.engine().definitions.scorecards[ROLE]
    total_weight = sum(w.weight for w in card.kpis)
    for kpi, row in rows.items():
        part = parts.loc[kpi]
        assert row["value"] == pytest.approx(part["value"])
        assert row["plan"] == pytest.approx(part["plan"])
        assert row["achievement"] == pytest.approx(part["achievement"])
        assert row["contribution"] == pytest.approx(part["contribution"])
        assert row["weight"] == pytest.approx(part["weight"] / total_weight)
    summary = scored.summary[
        (scored.summary["employee"] == employee) & (scored.summary["period"] == month)
    ].iloc[0]
    assert sum(r["contribution"] for r in rows.values() if r["contribution"]) == pytest.approx(
        summary["score"]
    )
    line = "".join(str(c) for c in find(body, "employees-bonus-line").children)
    if summary["gate"]:
        assert "No bonus" in line
    else:
        assert formats.money(float(summary["bonus"]), in_app.currency) in line
    # the same month as the peers' scorecard has it: the ranking and the month agree
    _, peers = engine_card(in_app, QUARTER)
    same = peers.parts[(peers.parts["employee"] == employee) & (peers.parts["period"] == month)]
    assert dict(zip(same["kpi"], same["contribution"], strict=True)) == pytest.approx(
        dict(parts["contribution"])
    )
    bullet = find(body, "employees-bullet").figure.data[1]
    for x, (kpi, *_rest) in zip(bullet.x, bullet.customdata, strict=True):
        achieved = parts.loc[kpi, "achievement"]
        expected = 0 if achieved is None or math.isnan(achieved) else achieved * 100
        assert x == pytest.approx(expected)


def test_empty_states_say_why(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.pages.employees import fill, fill_employee

    engine = in_app.engine()
    cards = engine.definitions.scorecards
    without = next(
        e for e, _ in in_app.employees() if (engine.employee(e) or ("",))[0] not in cards
    )
    f = filters_of(f"?employee={without}")
    _, body, _, _ = fill_employee(in_app, f, None)
    assert "has no scorecard" in body.children[1].children

    hired = next(
        (e, info[1])
        for e, _ in in_app.employees()
        if (info := engine.employee(e)) and info[0] in cards and info[1] is not None
    )
    before = hired[1] - dt.timedelta(days=40)
    f = filters_of(f"?period={before:%Y-%m}-01..{before:%Y-%m}-28&employee={hired[0]}")
    _, body, _, _ = fill_employee(in_app, f, None)
    assert f"joined on {hired[1].isoformat()}" in body.children[1].children

    _, chart, table, _ = fill("?period=2001-01-01..2001-01-31")
    assert chart.id == "employees-ranking-empty" and table is None
    assert "No sales manager worked in any branch" in chart.children[1].children


def test_clicks_pick_an_employee_or_explain_a_number(in_app: Data) -> None:
    from dashboards.pages.employees import month_request, role_grid_click, with_query

    assert with_query("?period=last_quarter&role=driver", employee="x:1") == (
        "?period=last_quarter&role=driver&employee=x%3A1"
    )
    assert with_query("?employee=a", employee=None) == ""
    search, request = role_grid_click({"rowId": "crm:1", "colId": "name"}, "?role=driver")
    assert search == "?role=driver&employee=crm%3A1"
    search, request = role_grid_click({"rowId": "crm:1", "colId": "revenue"}, "")
    assert request == {"kpi": "revenue", "slice": {"employee": "crm:1"}}
    assert month_request("revenue", "crm:1", dt.date(2024, 2, 1))["end"] == "2024-02-29"


def test_the_figures_sort_and_mark_the_plan() -> None:
    import pandas as pd

    from dashboards import theme
    from dashboards.figures import employees as figures_employees

    frame = pd.DataFrame(
        {
            "employee": ["a", "b", "c"],
            "name": ["A", "B", "C"],
            "score": [0.9, 1.2, 0.5],
            "bonus": [900.0, 1200.0, 0.0],
            "bonus_text": ["$900.00", "$1,200.00", "$0.00"],
            "gate": ["", "", "revenue below 80% of plan"],
            "months": [1, 1, 1],
            "gated_months": [0, 0, 1],
        }
    )
    figure = figures_employees.ranking(frame, title="t", selected="a")
    bar = figure.data[0]
    assert list(bar.y) == ["C", "A", "B"] and list(bar.x) == pytest.approx([50, 90, 120])
    assert list(bar.marker.color) == [figures_employees.GATED, theme.ACCENT, theme.INK]
    assert bar.text[0].endswith("no bonus")
    bullet = figures_employees.bullet(
        [
            {"kpi": "revenue", "label": "Revenue", "achievement": 1.1},
            {"kpi": "calls", "label": "Calls", "achievement": None},
        ],
        title="t",
    )
    actual = bullet.data[1]
    assert list(actual.y) == ["Calls", "Revenue"]  # the card's first KPI on top
    assert list(actual.x) == pytest.approx([0, 110]) and actual.text[0] == "no plan"
    assert list(bullet.data[2].x) == [100.0, 100.0]  # the plan's marker


# -- in a browser ---------------------------------------------------------------------------------


def test_the_page_loads_clean_with_the_engines_leader(
    served: str, page: Page, in_app: Data
) -> None:
    from reports import formats

    _, scored = engine_card(in_app, "")
    top = scored.summary.groupby("employee")["score"].mean().sort_values(ascending=False)
    names = dict(in_app.employees())
    page.goto(served + "employees")
    # the served process computes its first scorecard cold
    page.wait_for_selector(
        "#employees-role-grid .ag-center-cols-container .ag-row[row-index='0']", timeout=90_000
    )
    settle(page)
    first = page.locator(
        "#employees-role-grid .ag-center-cols-container .ag-row[row-index='0']"
    ).first
    assert first.locator("[col-id='name']").inner_text() == names[top.index[0]]
    assert first.locator("[col-id='score']").inner_text() == formats.percent(top.iloc[0])
    assert errors_of(page) == []


def test_an_employee_in_the_address_shows_the_engines_kpis(
    served: str, page: Page, in_app: Data
) -> None:
    from dashboards.app import filters_of
    from dashboards.pages.employees import employee_scope
    from reports import formats

    employee = first_employee(in_app, "")
    f = filters_of(f"?employee={employee}")
    scored = in_app.engine().scorecard(ROLE, start=f.start, end=f.end, scope=employee_scope(f))
    last = max(scored.parts["period"])
    parts = scored.parts[(scored.parts["employee"] == employee) & (scored.parts["period"] == last)]
    page.goto(served + f"employees?employee={employee}")
    page.wait_for_selector("#employees-kpi-grid .ag-row", timeout=90_000)
    settle(page)
    kpis = in_app.engine().kpis
    for part in parts.to_dict("records"):
        row = page.locator(
            f"#employees-kpi-grid .ag-center-cols-container .ag-row[row-id='{part['kpi']}']"
        ).first
        fmt = formats.unit_format(kpis[part["kpi"]].unit)
        assert row.locator("[col-id='value']").inner_text() == formats.format_value(
            part["value"], fmt, in_app.currency
        )
        assert row.locator("[col-id='contribution']").inner_text() == formats.format_value(
            part["contribution"], "percent"
        )
    assert errors_of(page) == []
