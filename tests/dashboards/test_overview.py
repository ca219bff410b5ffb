"""The Overview's numbers are the engine's: tiles, comparisons, sparklines and branch bars."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dashboards.data import Data


def same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and math.isclose(float(a), float(b), rel_tol=1e-9)


@pytest.mark.parametrize("search", ["", "?branch=denver&period=last_quarter"])
def test_headlines_are_the_engines_values(in_app: Data, search: str) -> None:
    from dashboards.app import filters_of
    from dashboards.kpis import headlines, trend_range

    f = filters_of(search)
    engine = in_app.engine()
    ids = ["revenue", "new_clients", "repair_sla_rate", "no_such_kpi"]
    items = headlines(in_app, ids, f)
    assert [h.kpi for h in items] == ids
    assert items[-1].problem == "not defined in this project" and items[-1].value is None
    scope = f.scope()
    for h in items[:-1]:
        now = engine.evaluate(h.kpi, start=f.start, end=f.end, grain="range", scope=scope)
        before = engine.evaluate(
            h.kpi, start=f.previous()[0], end=f.previous()[1], grain="range", scope=scope
        )
        year = engine.evaluate(
            h.kpi, start=f.last_year()[0], end=f.last_year()[1], grain="range", scope=scope
        )
        assert same(h.value, now["value"].iloc[0])
        assert same(h.plan, now["plan"].iloc[0])
        assert same(h.previous, before["value"].iloc[0])
        assert same(h.last_year, year["value"].iloc[0])
        first, last = trend_range(f.end)
        months = engine.evaluate(h.kpi, start=first, end=last, grain="month", scope=scope)
        assert len(h.trend) == 12
        assert [v for _, v, _ in h.trend] == pytest.approx(months["value"].tolist(), nan_ok=True)
    # the company's plan is its branches' plans: revenue is planned per branch in the demo
    if not f.branch:
        by_branch = engine.evaluate(
            "revenue", start=f.start, end=f.end, grain="range", by=["branch"], scope=scope
        )
        assert items[0].plan == pytest.approx(by_branch["plan"].sum())


def test_the_tiles_page_shows_the_values_and_the_branch_bars(in_app: Data) -> None:
    from dashboards.app import filters_of
    from dashboards.pages.overview import branch_rows, fill

    tiles, _notices, _gap, figure, style = fill("?period=last_month")
    values = {}
    for card in tiles:
        found = [c for c in card.children if getattr(c, "className", "") == "kb-tile-value"]
        if found and card.id:
            values[card.id] = found[0].to_plotly_json()["props"].get("data-value")
    f = filters_of("?period=last_month")
    revenue = (
        in_app.engine()
        .evaluate("revenue", start=f.start, end=f.end, grain="range", scope=f.scope())["value"]
        .iloc[0]
    )
    assert float(values["tile-revenue"]) == revenue
    assert style == {}
    rows, kpis = branch_rows(in_app, ["revenue", "gross_margin"], f)
    assert [k for k, _ in kpis] == ["revenue", "gross_margin"]
    by_branch = in_app.engine().evaluate(
        "revenue", start=f.start, end=f.end, grain="range", by=["branch"], scope=f.scope()
    )
    expected = dict(zip(by_branch["branch"], by_branch["achievement"], strict=True))
    shown = {r["member"]: r["achievement"] for r in rows if r["kpi"] == "revenue"}
    assert shown == pytest.approx(expected)
    bars = figure.data[0]
    assert sorted(bars.x) == pytest.approx(sorted(v * 100 for v in expected.values()))
    assert all(c[0] == "revenue" for c in bars.customdata)
