"""Sales & pipeline: for executives and branch heads — is revenue on plan, which branch and
which sales manager is not, and what the pipeline says about the months ahead.

Tiles for the sales headlines; revenue by month against plan and last year; each branch and
each sales manager against plan; the pipeline funnel with its stage conversions; why deals are
lost; and the open deals past their expected close. Every number comes from the KPI engine or a
catalog report under the page's filters (their scope), and a revenue point or bar explains
itself when clicked (the shell's explanation drawer).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import dash
from dash import ALL, Input, Output, callback, ctx, dcc, html, no_update

from dashboards.app import data, filters_of, remembered
from dashboards.components.grid import report_table
from dashboards.components.states import empty, failed, notices, skeleton
from dashboards.components.tiles import tile
from dashboards.data import Data
from dashboards.figures import sales as figures_sales
from dashboards.filters import Filters
from dashboards.format import kpi_value
from dashboards.kpis import add_months, headlines, trend_range
from reports import formats

log = logging.getLogger("kpiboard.dashboards")

HEADLINES = (
    "revenue",
    "gross_margin",
    "cash_collected",
    "receivables_overdue",
    "open_pipeline_value",
    "win_rate",
)
"""The page's tiles (a KPI the project does not define shows why on its tile)."""
KPI = "revenue"
"""The KPI the trend and the rankings show."""
MANAGER_ROLE = "sales_manager"
AT_RISK = "slipping_deals"
"""Open deals past the date their sales manager expected them to close: the plainest list of
deals at risk (days late and the money at stake)."""


def _chart(kind: str) -> dict[str, str]:
    """The id of a clickable chart of this page (the click callback listens to all of them)."""
    return {"type": "sales-chart", "index": kind}


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            html.H1("Sales & pipeline", className="kb-page-title"),
            html.Div(id="sales-notices"),
            html.Div([skeleton(170) for _ in HEADLINES], id="sales-tiles", className="kb-tiles"),
            html.H2("Revenue against plan", className="kb-section-title"),
            html.Div(skeleton(360), id="sales-trend", className="kb-card"),
            html.H2("Branches and sales managers", className="kb-section-title"),
            html.Div(
                [
                    html.Div(skeleton(260), id="sales-branches", className="kb-card"),
                    html.Div(skeleton(260), id="sales-managers", className="kb-card"),
                ],
                className="kb-charts",
            ),
            html.H2("Pipeline", className="kb-section-title"),
            html.Div(skeleton(320), id="sales-funnel", className="kb-card sales-pipeline"),
            html.Div(skeleton(320), id="sales-lost", className="kb-card sales-pipeline"),
            html.H2("Deals at risk", className="kb-section-title"),
            html.Div(skeleton(300), id="sales-risk", className="kb-card"),
        ],
        className="sales-page",
    )


dash.register_page(
    __name__,
    path="/sales",
    name="Sales & pipeline",
    title="Sales & pipeline",
    order=1,
    layout=layout,
)


# -- parts -------------------------------------------------------------------------------------


def _where(d: Data, f: Filters) -> str:
    """``in Denver`` / ``for Mark Patel`` / ``""``: whose numbers the page shows."""
    if f.employee:
        return "for " + dict(d.employees(f.branch)).get(f.employee, f.employee)
    if f.branch:
        return "in " + dict(d.branches()).get(f.branch, f.branch)
    return ""


def _whom(d: Data, f: Filters) -> str:
    """``for Denver`` — for an empty state's sentence."""
    where = _where(d, f)
    return (" " + where.replace("in ", "for ", 1)) if where else ""


def _graph(kind: str, figure: Any) -> dcc.Graph:
    return dcc.Graph(
        id=_chart(kind),
        figure=figure,
        config={"displaylogo": False},
        className=f"sales-graph sales-graph-{kind}",
    )


def _caption(text: str) -> html.P:
    """The chart's message in words under it (its text alternative)."""
    return html.P(text, className="kb-muted kb-small sales-caption")


def tiles_part(d: Data, f: Filters) -> list[Any]:
    items = headlines(d, HEADLINES, f)
    return [tile(h, href="/sales" + f.search(), currency=d.currency) for h in items]


def trend_part(d: Data, f: Filters) -> Any:
    """Revenue in the 12 months to the period's end, with its plan and the year before."""
    engine = d.engine()
    if KPI not in engine.kpis:
        return empty(f"The KPI {KPI!r} is not defined in this project: add it in kpis/.")
    kpi = engine.kpis[KPI]
    first, last = trend_range(f.end)
    scope = f.scope()
    frame = engine.evaluate(KPI, start=first, end=last, grain="month", scope=scope)
    before_first = add_months(first, -12)
    before = engine.evaluate(
        KPI,
        start=before_first,
        end=figures_sales.month_end(add_months(last.replace(day=1), -12)),
        grain="month",
        scope=scope,
    )
    if frame.empty or frame["value"].isna().all():
        return empty(
            f"No revenue from {formats.month(first)} to {formats.month(last)}{_whom(d, f)}: "
            "choose a later period or another branch."
        )
    figure = figures_sales.trend(
        frame,
        before,
        kpi=KPI,
        label=kpi.label,
        unit=kpi.unit,
        currency=d.currency,
        where=_where(d, f),
    )
    return [_graph("trend", figure), _caption(_trend_caption(frame, d.currency))]


def _trend_caption(frame: Any, currency: str) -> str:
    points = figures_sales.trend_points(frame)
    total = sum(v for _, v, _ in points if v is not None)
    plans = [p for _, _, p in points if p is not None]
    text = f"12 months: {kpi_value(total, 'money', currency)}"
    if plans and len(plans) == len(points):
        gap = figures_sales.against_plan(total, sum(plans))
        text += f", {gap}" if gap else ""
    return text + ". The rows behind any month open with a click on it."


def slices_part(d: Data, f: Filters) -> tuple[Any, Any]:
    """Revenue by branch and by sales manager over the period, each against its plan."""
    engine = d.engine()
    if KPI not in engine.kpis:
        gone = empty(f"The KPI {KPI!r} is not defined in this project: add it in kpis/.")
        return gone, gone
    kpi = engine.kpis[KPI]
    scope = f.scope()
    period = f.period_text()
    common = {"kpi": KPI, "label": kpi.label, "unit": kpi.unit, "currency": d.currency}
    by_branch = engine.evaluate(
        KPI, start=f.start, end=f.end, grain="range", by=["branch"], scope=scope
    )
    by_manager = engine.evaluate(
        KPI,
        start=f.start,
        end=f.end,
        grain="range",
        by=["employee"],
        filters=[f"role = '{MANAGER_ROLE}'"],
        scope=scope,
    )
    whom = _whom(d, f)
    if by_branch.empty:
        branches: Any = empty(f"No revenue in {period}{whom}: widen the period.")
    else:
        figure = figures_sales.bullet(
            by_branch,
            dim="branch",
            names=dict(d.branches()),
            noun="branch",
            period=period,
            **common,
        )
        branches = [_graph("branches", figure), _caption("Click a bar for its rows.")]
    if by_manager.empty:
        managers: Any = empty(
            f"No sales manager invoiced in {period}{whom}: widen the period or choose "
            "another branch."
        )
    else:
        figure = figures_sales.bullet(
            by_manager,
            dim="employee",
            names=dict(d.employees()),
            noun="sales manager",
            period=period,
            **common,
        )
        managers = [_graph("managers", figure), _caption("Click a bar for the invoices.")]
    return branches, managers


def _period(f: Filters) -> str:
    return f"{f.start.isoformat()}..{f.end.isoformat()}"


def funnel_part(d: Data, f: Filters) -> Any:
    result = d.report("pipeline_funnel", {"period": _period(f)}, scope=f.scope())
    if result.frame.empty:
        return empty(f"No deals were opened in {f.period_text()}{_whom(d, f)}: widen the period.")
    figure = figures_sales.funnel(result.frame, period=f"{f.start} – {f.end}")
    return html.Div(
        [_graph("funnel", figure), report_table("sales-funnel-table", result)],
        className="sales-split",
    )


def lost_part(d: Data, f: Filters) -> Any:
    result = d.report("lost_reasons", {"period": _period(f)}, scope=f.scope())
    if result.frame.empty:
        return empty(f"No deals were lost in {f.period_text()}{_whom(d, f)}.")
    figure = figures_sales.lost_reasons(
        result.frame, currency=d.currency, period=f"{f.start} – {f.end}"
    )
    return html.Div(
        [_graph("lost", figure), report_table("sales-lost-table", result)],
        className="sales-split",
    )


def risk_part(d: Data, f: Filters) -> Any:
    """Open deals past their expected close date, as of the period's end."""
    given: dict[str, object] = {"as_of": f.end.isoformat()}
    if f.employee:
        given["owner"] = f.employee
    result = d.report(AT_RISK, given, scope=f.scope())
    frame = result.frame
    if frame.empty:
        return empty(
            f"No open deal was past its expected close date on {f.end.isoformat()}{_whom(d, f)}."
        )
    at_stake = float(frame["amount"].fillna(0).sum())
    late = int((frame["days_late"] > 14).sum())
    deals = (
        "1 open deal past its expected close"
        if len(frame) == 1
        else f"{formats.count(len(frame))} open deals past their expected close"
    )
    summary = (
        f"{deals} on {f.end.isoformat()}, {kpi_value(at_stake, 'money', d.currency)} at stake; "
        f"{formats.count(late)} more than two weeks late. Latest first."
    )
    return [
        html.P(summary, className="sales-risk-summary", id="sales-risk-summary"),
        report_table("sales-risk-table", result),
    ]


# -- callbacks ---------------------------------------------------------------------------------


def _guarded(what: str, count: int, make: Callable[[], Any]) -> Any:
    """``make()``, or a problem message in each of ``count`` places when it fails (the details
    go to the server's log, never to the page)."""
    try:
        return make()
    except Exception:
        shown = failed(what, page="sales")
        return shown if count == 1 else (shown,) * count


@callback(
    Output("sales-tiles", "children"),
    Output("sales-notices", "children"),
    Input("url", "search"),
)
@remembered
def fill_tiles(search: str | None) -> tuple[Any, Any]:
    d = data()
    f = filters_of(search)
    return _guarded("headlines", 1, lambda: tiles_part(d, f)), notices(f.ignored)


@callback(Output("sales-trend", "children"), Input("url", "search"))
@remembered
def fill_trend(search: str | None) -> Any:
    d = data()
    f = filters_of(search)
    return _guarded("revenue trend", 1, lambda: trend_part(d, f))


@callback(
    Output("sales-branches", "children"),
    Output("sales-managers", "children"),
    Input("url", "search"),
)
@remembered
def fill_slices(search: str | None) -> tuple[Any, Any]:
    d = data()
    f = filters_of(search)
    found: tuple[Any, Any] = _guarded("revenue by branch and manager", 2, lambda: slices_part(d, f))
    return found


@callback(
    Output("sales-funnel", "children"),
    Output("sales-lost", "children"),
    Output("sales-risk", "children"),
    Input("url", "search"),
)
@remembered
def fill_pipeline(search: str | None) -> tuple[Any, Any, Any]:
    d = data()
    f = filters_of(search)
    return (
        _guarded("pipeline funnel", 1, lambda: funnel_part(d, f)),
        _guarded("lost reasons", 1, lambda: lost_part(d, f)),
        _guarded("list of deals at risk", 1, lambda: risk_part(d, f)),
    )


def clicked_request(click: dict[str, Any] | None) -> dict[str, Any] | None:
    """The explanation request a chart's click carries (its point's ``customdata[1]``)."""
    if not click or not click.get("points"):
        return None
    custom = click["points"][0].get("customdata")
    if not isinstance(custom, list) or len(custom) < 2 or not custom[1]:
        return None
    try:
        found = json.loads(custom[1])
    except (TypeError, ValueError):
        return None
    return found if isinstance(found, dict) else None


@callback(
    Output("kb-explain-request", "data", allow_duplicate=True),
    Input({"type": "sales-chart", "index": ALL}, "clickData"),
    prevent_initial_call=True,
)
def explain_click(_clicks: list[dict[str, Any] | None]) -> Any:
    """A clicked month or bar opens what it is made of."""
    if not ctx.triggered:
        return no_update
    found = clicked_request(ctx.triggered[0]["value"])
    return found if found is not None else no_update
