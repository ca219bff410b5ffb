"""Service & delivery: is the workshop keeping its promises, and are the drivers?

Tiles for the service and delivery KPIs; requests and the SLA month by month (a click on a
month explains it); first-time fix by engineer and warranty by month from the catalog's
reports; each driver's on-time rate (a click explains that driver's number), with the
lateness of the late ones in the table below. Every number is asked of the engine or the
report runner under the filters' period and scope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, callback, html, no_update

from dashboards.app import data, filters_of, remembered
from dashboards.components.chart_slot import (
    HIDDEN,
    SHOWN,
    chart_slot,
    drawn,
    not_drawn,
    period_param,
)
from dashboards.components.grid import report_table
from dashboards.components.states import empty, failed, notices, skeleton
from dashboards.components.tiles import page_tiles
from dashboards.data import Data
from dashboards.figures import service as fs
from dashboards.filters import Filters
from dashboards.format import number_or_none
from dashboards.kpis import trend_range
from dashboards.phrases import month_text, scope_words

log = logging.getLogger("kpiboard.dashboards")

PATH = "/service"
TILES = (
    "service_requests",
    "repairs_completed",
    "repair_sla_rate",
    "median_repair_turnaround_hours",
    "repeat_service_14d",
    "warranty_share",
    "on_time_delivery_rate",
    "failed_delivery_rate",
)
"""The page's headline KPIs; one the project does not define is left out."""
DELIVERED = "deliveries_completed"
COME_BACK_DAYS = 30
"""``service_first_time_fix``'s default window: a repair that came back within it failed."""


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            html.H1("Service & delivery", className="kb-page-title"),
            html.Div(id="service-notices"),
            html.Div([skeleton(170) for _ in TILES], id="service-tiles", className="kb-tiles"),
            html.H2("Requests and the SLA, last 12 months", className="kb-section-title"),
            chart_slot("service-trend", 460),
            html.H2("First-time fix and warranty", className="kb-section-title"),
            html.Div(
                [chart_slot("service-ftf", 300), chart_slot("service-warranty", 420)],
                className="kb-charts",
            ),
            html.Div(skeleton(200), id="service-ftf-table"),
            html.Div(skeleton(200), id="service-warranty-table"),
            html.H2("Deliveries on time by driver", className="kb-section-title"),
            chart_slot("service-drivers", 300),
            html.Div(skeleton(200), id="service-drivers-table"),
        ]
    )


dash.register_page(
    __name__,
    path=PATH,
    name="Service & delivery",
    title="Service & delivery",
    order=3,
    layout=layout,
)


def _failed(what: str) -> Any:
    return failed(what, page="service")


def _known(d: Data, kpi_ids: tuple[str, ...] | list[str]) -> list[str]:
    kpis = d.engine().kpis
    return [k for k in kpi_ids if k in kpis]


# -- tiles -----------------------------------------------------------------------------------------


@callback(
    Output("service-tiles", "children"),
    Output("service-notices", "children"),
    Input("url", "search"),
)
@remembered
def fill_tiles(search: str | None) -> tuple[Any, Any]:
    """The headline tiles of the KPIs in :data:`TILES` the project defines."""
    d = data()
    f = filters_of(search)
    try:
        tiles = page_tiles(d, f, TILES, href=PATH + f.search())
    except Exception:  # a failing callback shows a message, never a stack trace
        return [_failed("tiles")], notices(f.ignored)
    return tiles, notices(f.ignored)


# -- requests and the SLA --------------------------------------------------------------------------


def trend_frame(d: Data, f: Filters) -> pd.DataFrame:
    """``service_requests`` and ``repair_sla_rate`` by month, the 12 months to the period's
    end, under the filters' scope (what the chart draws)."""
    kpi_ids = _known(d, [fs.REQUESTS, fs.SLA])
    if not kpi_ids:
        return pd.DataFrame(columns=["kpi", "period", "value", "plan"])
    first, last = trend_range(f.end)
    return (
        d.engine()
        .evaluate_apart(kpi_ids, start=first, end=last, grain="month", scope=f.scope())
        .frame
    )


@callback(
    Output("service-trend", "figure"),
    Output("service-trend", "style"),
    Output("service-trend-state", "children"),
    Input("url", "search"),
)
@remembered
def fill_trend(search: str | None) -> tuple[Any, Any, Any]:
    d = data()
    f = filters_of(search)
    try:
        frame = trend_frame(d, f)
    except Exception:
        return not_drawn(_failed("requests trend"))
    whose = scope_words(d, f)
    if not fs.has_values(frame):
        first, _ = trend_range(f.end)
        return not_drawn(
            empty(
                f"No service requests from {month_text(first)} to {month_text(f.end)}{whose}"
                " — choose another branch or a later period."
            )
        )
    return drawn(fs.requests_and_sla(frame, whose=whose))


# -- first-time fix and warranty -------------------------------------------------------------------


def _run(d: Data, f: Filters, report_id: str, given: Mapping[str, object]) -> Any:
    return d.report(report_id, dict(given), scope=f.scope())


def period_of(f: Filters) -> str:
    """The filters' period as a report's ``period`` parameter."""
    return period_param(f.start, f.end)


def first_time_fix_result(d: Data, f: Filters) -> Any:
    return _run(d, f, "service_first_time_fix", {"period": period_of(f), "group_by": "engineer"})


def fix_note(d: Data, f: Filters) -> str:
    """Why a recent rate reads high: a repair of the data's last 30 days may come back yet."""
    last = d.last_day()
    if last is not None and (last - f.end).days < COME_BACK_DAYS:
        return "; recent repairs may still come back"
    return ""


def warranty_result(d: Data, f: Filters) -> Any:
    """Warranty by month over the 12 months to the period's end: a trend needs months."""
    first, last = trend_range(f.end)
    return _run(d, f, "service_warranty", {"period": f"{first.isoformat()}..{last.isoformat()}"})


def headed(heading: str, table: Any) -> list[Any]:
    """A table under its heading (neither when there is no table)."""
    return [html.H3(heading, className="kb-sub"), table]


def _report_part(
    what: str,
    build: Callable[[], Any],
    draw: Callable[[Any], Any],
    nothing: str,
    heading: str,
) -> tuple[Any, Any, Any, Any]:
    """A report's chart (figure, style, state) and table, or why there is none."""
    try:
        result = build()
    except Exception:
        failed = _failed(what)
        return no_update, HIDDEN, failed, None
    if result.frame.empty:
        return no_update, HIDDEN, empty(nothing), None
    table = headed(heading, report_table(f"service-{what.replace(' ', '-')}-grid", result))
    return draw(result), SHOWN, None, table


@callback(
    Output("service-ftf", "figure"),
    Output("service-ftf", "style"),
    Output("service-ftf-state", "children"),
    Output("service-ftf-table", "children"),
    Output("service-warranty", "figure"),
    Output("service-warranty", "style"),
    Output("service-warranty-state", "children"),
    Output("service-warranty-table", "children"),
    Input("url", "search"),
)
@remembered
def fill_repairs(search: str | None) -> tuple[Any, ...]:
    d = data()
    f = filters_of(search)
    whose = scope_words(d, f)
    period = f.period_text()
    fix = _report_part(
        "first time fix",
        lambda: first_time_fix_result(d, f),
        lambda r: fs.first_time_fix(r.frame, period=period, whose=whose, note=fix_note(d, f)),
        f"No repair was finished in {period}{whose} — widen the period.",
        "First-time fix by engineer",
    )
    first, _ = trend_range(f.end)
    warranty = _report_part(
        "warranty",
        lambda: warranty_result(d, f),
        lambda r: fs.warranty(r.frame, d.currency, whose=whose),
        f"No repair was finished from {month_text(first)} to {month_text(f.end)}{whose}"
        " — choose another branch or a later period.",
        "Warranty repairs by month",
    )
    return (*fix, *warranty)


# -- deliveries on time by driver ------------------------------------------------------------------


def driver_rates(d: Data, f: Filters) -> tuple[list[fs.DriverRate], float | None]:
    """Each driver's on-time rate (with plan and deliveries) and the rate of all of them,
    from the engine under the filters."""
    engine = d.engine()
    kpi_ids = _known(d, [fs.ON_TIME, DELIVERED])
    if fs.ON_TIME not in kpi_ids:
        return [], None
    scope = f.scope()
    by = engine.evaluate_apart(
        kpi_ids, start=f.start, end=f.end, grain="range", by=["employee"], scope=scope
    ).frame
    whole = engine.evaluate(fs.ON_TIME, start=f.start, end=f.end, grain="range", scope=scope)
    overall = number_or_none(whole["value"].iloc[0]) if len(whole) else None
    names = dict(d.employees(None))
    counts = {
        str(r["employee"]): number_or_none(r["value"])
        for r in by[by["kpi"] == DELIVERED].to_dict("records")
    }
    rows = by[(by["kpi"] == fs.ON_TIME) & by["employee"].notna()]
    taken = [names.get(str(e), str(e)) for e in rows["employee"]]
    rates = []
    for record, name in zip(rows.to_dict("records"), taken, strict=True):
        employee = str(record["employee"])
        label = f"{name} ({employee})" if taken.count(name) > 1 else name
        value = number_or_none(record["value"])
        if value is None and not counts.get(employee):
            continue
        rates.append(
            fs.DriverRate(
                employee, label, value, number_or_none(record["plan"]), counts.get(employee)
            )
        )
    return rates, overall


@callback(
    Output("service-drivers", "figure"),
    Output("service-drivers", "style"),
    Output("service-drivers-state", "children"),
    Output("service-drivers-table", "children"),
    Input("url", "search"),
)
@remembered
def fill_drivers(search: str | None) -> tuple[Any, ...]:
    d = data()
    f = filters_of(search)
    whose = scope_words(d, f)
    nothing = f"No deliveries in {f.period_text()}{whose} — widen the period."
    try:
        rates, overall = driver_rates(d, f)
        result = _run(d, f, "delivery_on_time", {"period": period_of(f), "group_by": "driver"})
    except Exception:
        return no_update, HIDDEN, _failed("deliveries on time"), None
    if not any(r.value is not None for r in rates):
        return no_update, HIDDEN, empty(nothing), None
    figure = fs.drivers_on_time(rates, overall=overall, period=f.period_text(), whose=whose)
    table = (
        None
        if result.frame.empty
        else headed(
            "Deliveries and lateness by driver", report_table("service-drivers-grid", result)
        )
    )
    return figure, SHOWN, None, table


# -- a click explains the number -------------------------------------------------------------------


def click_request(trigger: str | None, click: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the explanation drawer is asked for a click on the chart ``trigger``: a month of
    requests or of the SLA rate, or a driver's on-time rate; ``None`` for anything else."""
    points = (click or {}).get("points") or []
    if not points:
        return None
    custom = points[0].get("customdata")
    if not isinstance(custom, list) or not custom:
        return None
    if trigger == "service-trend" and len(custom) >= 3 and custom[0] in (fs.REQUESTS, fs.SLA):
        return {"kpi": custom[0], "start": custom[1], "end": custom[2]}
    if trigger == "service-drivers" and isinstance(custom[0], str) and custom[0]:
        return {"kpi": fs.ON_TIME, "slice": {"employee": custom[0]}}
    return None


@callback(
    Output("kb-explain-request", "data", allow_duplicate=True),
    Input("service-trend", "clickData"),
    Input("service-drivers", "clickData"),
    prevent_initial_call=True,
)
def explain_click(trend: dict[str, Any] | None, drivers: dict[str, Any] | None) -> Any:
    trigger = dash.ctx.triggered_id
    request = click_request(trigger, trend if trigger == "service-trend" else drivers)
    return request if request is not None else no_update
