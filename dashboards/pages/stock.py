"""Stock: what the stock is worth, how long it lasts, what ran out, what sits idle, and what
to order now.

Tiles for the stock and purchasing KPIs; the stock's value per warehouse at the period's end
from the engine (a click explains a warehouse's value) beside each warehouse's days of cover
from the ``days_of_cover`` report; then the catalog's stock-outs, dead stock and reorder
suggestions as grids, with a short chart where one reads faster than the table. Every number
is asked of the engine or the report runner under the filters' period and scope; the reports
that look at one day look at the period's last.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import dash
from dash import Input, Output, callback, html, no_update

from dashboards.app import data, filters_of, remembered
from dashboards.components.chart_slot import HIDDEN, SHOWN, chart_slot, period_param
from dashboards.components.grid import report_table
from dashboards.components.states import empty, failed, notices, skeleton
from dashboards.components.tiles import page_tiles
from dashboards.data import Data
from dashboards.figures import stock as fk
from dashboards.filters import Filters
from dashboards.phrases import scope_words
from reports import formats
from reports.render import charts

log = logging.getLogger("kpiboard.dashboards")

PATH = "/stock"
TILES = ("stock_value", "stock_below_minimum", "days_of_stock", "write_off_value", "purchase_spend")
"""The page's headline KPIs; one the project does not define is left out."""


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            html.H1("Stock", className="kb-page-title"),
            html.Div(id="stock-notices"),
            html.Div([skeleton(170) for _ in TILES], id="stock-tiles", className="kb-tiles"),
            html.H2("Value and days of cover by warehouse", className="kb-section-title"),
            chart_slot("stock-warehouses", 300),
            html.H3("Items by days of cover, the first to run out on top", className="kb-sub"),
            html.Div(skeleton(200), id="stock-cover-table"),
            html.H2("Stock-outs", className="kb-section-title"),
            chart_slot("stock-outs", 240),
            html.Div(skeleton(200), id="stock-outs-table", className="stock-table"),
            html.H2("Dead stock", className="kb-section-title"),
            chart_slot("stock-dead", 360),
            html.Div(skeleton(200), id="stock-dead-table", className="stock-table"),
            html.H2("Reorder list", className="kb-section-title"),
            html.P(id="stock-reorder-summary", className="kb-muted"),
            html.Div(skeleton(200), id="stock-reorder-table"),
        ]
    )


dash.register_page(__name__, path=PATH, name="Stock", title="Stock", order=4, layout=layout)


def _failed(what: str) -> Any:
    return failed(what, page="stock")


def _run(d: Data, f: Filters, report_id: str, given: Mapping[str, object]) -> Any:
    return d.report(report_id, dict(given), scope=f.scope())


def as_of(f: Filters) -> dict[str, object]:
    """A one-day report's parameter: the period's last day."""
    return {"as_of": f.end.isoformat()}


# -- tiles -----------------------------------------------------------------------------------------


@callback(
    Output("stock-tiles", "children"),
    Output("stock-notices", "children"),
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


# -- value and days of cover by warehouse ---------------------------------------------------------


def warehouses(d: Data) -> dict[str, str]:
    """Warehouse id → name."""
    return dict(d.cached("warehouses", lambda: d.runner().members("warehouse")))


def warehouse_rows(d: Data, f: Filters) -> tuple[list[fk.WarehouseRow], Any]:
    """Each warehouse's stock value at the period's end (engine) with its days of cover
    (report), and the ``days_of_cover`` result itself (the table below the chart)."""
    cover = _run(d, f, "days_of_cover", as_of(f))
    engine = d.engine()
    if fk.STOCK_VALUE not in engine.kpis:
        return [], cover
    values = engine.evaluate_apart(
        [fk.STOCK_VALUE],
        start=f.start,
        end=f.end,
        grain="range",
        by=["warehouse"],
        scope=f.scope(),
    ).frame
    rows = fk.warehouse_rows(values, warehouses(d), fk.cover_by_warehouse(cover.frame))
    return rows, cover


@callback(
    Output("stock-warehouses", "figure"),
    Output("stock-warehouses", "style"),
    Output("stock-warehouses-state", "children"),
    Output("stock-cover-table", "children"),
    Input("url", "search"),
)
@remembered
def fill_warehouses(search: str | None) -> tuple[Any, ...]:
    d = data()
    f = filters_of(search)
    whose = scope_words(d, f)
    try:
        rows, cover = warehouse_rows(d, f)
    except Exception:
        return no_update, HIDDEN, _failed("stock by warehouse"), None
    table = (
        empty(
            f"No item went out in the 90 days to {f.end.isoformat()}{whose}, so none has a "
            "days of cover — choose another branch or an earlier day."
        )
        if cover.frame.empty
        else report_table("stock-cover-grid", cover)
    )
    if not any(r.value for r in rows):
        return (
            no_update,
            HIDDEN,
            empty(f"No stock on hand on {f.end.isoformat()}{whose} — choose another branch."),
            table,
        )
    figure = fk.warehouses(rows, d.currency, as_of=f.end.isoformat(), whose=whose)
    return figure, SHOWN, None, table


# -- stock-outs, dead stock, the reorder list -----------------------------------------------------


@callback(
    Output("stock-outs", "figure"),
    Output("stock-outs", "style"),
    Output("stock-outs-state", "children"),
    Output("stock-outs-table", "children"),
    Input("url", "search"),
)
@remembered
def fill_stock_outs(search: str | None) -> tuple[Any, ...]:
    d = data()
    f = filters_of(search)
    whose = scope_words(d, f)
    try:
        result = _run(d, f, "stock_outs", {"period": period_param(f.start, f.end)})
    except Exception:
        return no_update, HIDDEN, _failed("stock-outs"), None
    if result.frame.empty:
        return (
            no_update,
            HIDDEN,
            empty(f"No item ran out of stock in {f.period_text()}{whose}."),
            None,
        )
    figure = fk.stock_outs(result.frame, period=f.period_text(), whose=whose)
    return figure, SHOWN, None, report_table("stock-outs-grid", result)


@callback(
    Output("stock-dead", "figure"),
    Output("stock-dead", "style"),
    Output("stock-dead-state", "children"),
    Output("stock-dead-table", "children"),
    Input("url", "search"),
)
@remembered
def fill_dead_stock(search: str | None) -> tuple[Any, ...]:
    d = data()
    f = filters_of(search)
    whose = scope_words(d, f)
    try:
        result = _run(d, f, "dead_stock", as_of(f))
        figure = charts.figure(result)
    except Exception:
        return no_update, HIDDEN, _failed("dead stock"), None
    if result.frame.empty or figure is None:
        return (
            no_update,
            HIDDEN,
            empty(f"Nothing has sat idle for 90 days on {f.end.isoformat()}{whose}."),
            None,
        )
    total = float(result.frame["value"].sum())
    figure.update_layout(
        title_text=(
            f"{formats.money(total, d.currency, cents=False)} tied up in "
            f"{formats.count(len(result.frame))} idle items; the 15 costliest"
        ),
    )
    return figure, SHOWN, None, report_table("stock-dead-grid", result)


@callback(
    Output("stock-reorder-summary", "children"),
    Output("stock-reorder-table", "children"),
    Input("url", "search"),
)
@remembered
def fill_reorder(search: str | None) -> tuple[Any, Any]:
    d = data()
    f = filters_of(search)
    whose = scope_words(d, f)
    try:
        result = _run(d, f, "reorder_suggestions", as_of(f))
    except Exception:
        return None, _failed("reorder list")
    if result.frame.empty:
        return None, empty(f"Nothing needs reordering on {f.end.isoformat()}{whose}.")
    return reorder_summary(result.frame, d.currency, f.end.isoformat()), report_table(
        "stock-reorder-grid", result
    )


def reorder_summary(frame: Any, currency: str, day: str) -> str:
    """``312 items to reorder on 2026-10-31, $123,456 at purchase prices``."""
    value = float(frame["order_value"].fillna(0).sum())
    return (
        f"{formats.count(len(frame))} items at or below their reorder level on {day}; "
        f"ordering the suggested quantities costs {formats.money(value, currency, cents=False)} at "
        "purchase prices (orders already placed are not deducted)."
    )


# -- a click explains the number -------------------------------------------------------------------


def click_request(click: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the explanation drawer is asked for a click on a warehouse's value bar."""
    points = (click or {}).get("points") or []
    if not points or points[0].get("curveNumber") != 0:
        return None
    custom = points[0].get("customdata")
    if not isinstance(custom, list) or not custom or not isinstance(custom[0], str):
        return None
    return {"kpi": fk.STOCK_VALUE, "slice": {"warehouse": custom[0]}}


@callback(
    Output("kb-explain-request", "data", allow_duplicate=True),
    Input("stock-warehouses", "clickData"),
    prevent_initial_call=True,
)
def explain_click(click: dict[str, Any] | None) -> Any:
    request = click_request(click)
    return request if request is not None else no_update
