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
from dash import Input, Output, callback, dcc, html

from dashboards.app import data, filters_of, remembered
from dashboards.components.states import empty, notices, skeleton
from dashboards.components.tiles import tile
from dashboards.figures import achievement_bars
from dashboards.filters import Filters
from dashboards.format import kpi_value, number_or_none
from dashboards.kpis import Headline, headlines

HIDDEN = {"display": "none"}
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
            html.Div(
                [
                    html.Div(skeleton(220), id="overview-branches"),
                    dcc.Graph(
                        id="overview-branch-chart",
                        config={"displaylogo": False, "displayModeBar": False},
                        style={"display": "none"},
                    ),
                    html.P(
                        "Bars are % of plan; the dashed line is the plan. Click a bar for the "
                        "rows behind it.",
                        className="kb-muted kb-small",
                    ),
                ],
                className="kb-card",
            ),
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
    Output("overview-branch-chart", "figure"),
    Output("overview-branch-chart", "style"),
    Input("url", "search"),
)
@remembered
def fill(search: str | None) -> tuple[Any, ...]:
    d = data()
    f = filters_of(search)
    kpi_ids = list(d.settings.dashboard.overview)
    items = headlines(d, kpi_ids, f)
    if not items:
        message = empty("No headline KPIs configured: list them in [dashboard] overview.")
        return [message], None, None, {}, HIDDEN
    tiles = tiles_row(items, f, d.currency)
    rows, kpis = branch_rows(d, kpi_ids[:4], f)
    if not kpis:
        gap = empty(f"No branch has a plan for these KPIs in {f.period_text()}.")
        return tiles, notices(f.ignored), gap, {}, HIDDEN
    figure = achievement_bars(rows, kpis, title=branch_message(rows, kpis))
    return tiles, notices(f.ignored), None, figure, {}


def branch_rows(
    d: Any, kpi_ids: list[str], f: Filters
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Each branch's value and achievement for the headline KPIs that have plans by branch
    (kept per snapshot, like every answer of :class:`Data`)."""
    scope = tuple(sorted((k, tuple(v)) for k, v in f.scope().items()))
    key = ("overview-branches", tuple(kpi_ids), f.start, f.end, scope)
    rows: tuple[list[dict[str, Any]], list[tuple[str, str]]] = d.cached(
        key, lambda: _branch_rows(d, kpi_ids, f)
    )
    return rows


def _branch_rows(
    d: Any, kpi_ids: list[str], f: Filters
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    engine = d.engine()
    known = [k for k in kpi_ids if k in engine.kpis]
    if not known:
        return [], []
    frame = engine.evaluate_apart(
        known, start=f.start, end=f.end, grain="range", by=["branch"], scope=f.scope()
    ).frame
    names = dict(d.branches())
    rows = []
    for record in frame.to_dict("records"):
        kpi = engine.kpis[record["kpi"]]
        rows.append(
            {
                "kpi": record["kpi"],
                "member": record["branch"],
                "name": names.get(record["branch"], record["branch"]),
                "achievement": number_or_none(record["achievement"]),
                "status": record["status"],
                "text": kpi_value(record["value"], kpi.unit, d.currency, short=True),
            }
        )
    planned = [
        k for k in known if any(r["kpi"] == k and r["achievement"] is not None for r in rows)
    ]
    return rows, [(k, engine.kpis[k].label) for k in planned]


def branch_message(rows: list[dict[str, Any]], kpis: list[tuple[str, str]]) -> str:
    """The chart's title: the branch furthest behind plan on the first KPI, or all on plan."""
    if not kpis:
        return ""
    first, label = kpis[0]
    mine = [r for r in rows if r["kpi"] == first and r["achievement"] is not None]
    if not mine:
        return label
    worst = min(mine, key=lambda r: r["achievement"])
    gap = (1 - worst["achievement"]) * 100
    if gap <= 0:
        return f"Every branch at or above its {label.lower()} plan"
    return f"{worst['name']} {gap:.0f}% below its {label.lower()} plan"


@callback(
    Output("kb-explain-request", "data", allow_duplicate=True),
    Input("overview-branch-chart", "clickData"),
    prevent_initial_call=True,
)
def explain_branch(click: dict[str, Any] | None) -> Any:
    """A bar explains that KPI for that branch."""
    if not click or not click.get("points"):
        return dash.no_update
    kpi_id, branch = click["points"][0]["customdata"]
    return {"kpi": kpi_id, "slice": {"branch": branch}}
