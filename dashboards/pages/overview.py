"""Overview: the executive's Monday morning — are we on plan, where not, and why.

The headline KPIs of the project (``[dashboard] overview`` in ``kpiboard.toml``) as tiles:
value, plan and status, the change against the previous period and a year earlier, the last
twelve months. Each tile links to the page that explains it, with the same filters, and its
"Why?" opens the rows behind the number. Below, each branch against its plan for the first
tiles, so "where not" is answered on the same page.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, html

from dashboards.app import data, filters_of
from dashboards.components.grid import Col, grid
from dashboards.components.states import empty, notices, problem, skeleton
from dashboards.components.tiles import tile
from dashboards.filters import Filters
from dashboards.kpis import Headline, headlines

DRILL = {
    "revenue": "/sales",
    "gross_margin": "/sales",
    "cash_collected": "/sales",
    "receivables_overdue": "/sales",
    "open_pipeline_value": "/sales",
    "new_clients": "/clients",
    "repair_sla_rate": "/service",
    "stock_value": "/stock",
}
"""The page that explains each headline KPI (a KPI not listed drills into the Sales page)."""


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            html.H1("Overview", className="kb-page-title"),
            html.Div(id="overview-notices"),
            html.Div([skeleton(170) for _ in range(8)], id="overview-tiles", className="kb-tiles"),
            html.H2("Branches against plan", className="kb-section-title"),
            html.Div(skeleton(220), id="overview-branches"),
        ]
    )


dash.register_page(__name__, path="/", name="Overview", title="Overview", order=0, layout=layout)


def tiles_row(items: list[Headline], filters: Filters, currency: str) -> list[Any]:
    search = filters.search()
    return [tile(h, href=DRILL.get(h.kpi, "/sales") + search, currency=currency) for h in items]


@callback(
    Output("overview-tiles", "children"),
    Output("overview-notices", "children"),
    Output("overview-branches", "children"),
    Input("url", "search"),
)
def fill(search: str | None) -> tuple[Any, Any, Any]:
    d = data()
    f = filters_of(search)
    kpi_ids = list(d.settings.dashboard.overview)
    try:
        items = headlines(d, kpi_ids, f)
    except Exception as exc:  # a failing callback shows a message, never a stack trace
        import logging

        logging.getLogger("kpiboard.dashboards").exception("overview failed")
        return [problem(str(exc))], notices(f.ignored), None
    if not items:
        return (
            [empty("No headline KPIs configured: list them in [dashboard] overview.")],
            None,
            None,
        )
    return tiles_row(items, f, d.currency), notices(f.ignored), branch_table(d, kpi_ids[:4], f)


def branch_table(d: Any, kpi_ids: list[str], f: Filters) -> Any:
    """Each branch's value, plan and status for the first headline KPIs."""
    engine = d.engine()
    known = [k for k in kpi_ids if k in engine.kpis]
    if not known:
        return None
    frame = engine.evaluate_apart(
        known, start=f.start, end=f.end, grain="range", by=["branch"], scope=f.scope()
    ).frame
    if frame.empty:
        return empty(f"No branch has data for {f.period_text()}: widen the period.")
    names = dict(d.branches())
    records = []
    for branch, part in frame.groupby("branch", sort=True):
        record: dict[str, Any] = {"branch": names.get(branch, branch)}
        for row in part.to_dict("records"):
            record[row["kpi"]] = row["value"]
            record[row["kpi"] + "_achievement"] = row["achievement"]
            record[row["kpi"] + "_status"] = row["status"]
        records.append(record)
    columns = [Col("branch", "Branch")]
    for kpi_id in known:
        kpi = engine.kpis[kpi_id]
        fmt = {"money": "money", "percent": "percent", "count": "count"}.get(kpi.unit, "number")
        columns += [
            Col(kpi_id, kpi.label, fmt),
            Col(kpi_id + "_achievement", "of plan", "percent"),
            Col(kpi_id + "_status", "Status", "status"),
        ]
    return dbc.Card(grid("overview-branch-grid", records, columns, currency=d.currency), body=True)
