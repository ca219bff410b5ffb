"""Figures of the Stock page: pure functions from the engine's and the reports' frames to
Plotly figures, in the product's notation.

Warehouses are ranked as horizontal bars, biggest on top; the stock's value and its days of
cover are two small multiples beside each other over the same warehouses (two units, never
one chart with two value axes). Bars that are KPI values carry the warehouse's id in
``customdata`` so a click explains them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards import theme
from dashboards.figures.service import SUBPLOT_TOP, escape, finish
from dashboards.format import number_or_none
from reports import formats

STOCK_VALUE = "stock_value"
SHORT_DAYS = 14
"""An item with less cover than this runs out within two weeks at its recent pace."""


@dataclass(frozen=True)
class WarehouseRow:
    """One warehouse: its id (what a click explains), name, stock value from the engine, and
    the days of cover of its items from the ``days_of_cover`` report."""

    warehouse: str
    name: str
    value: float | None
    median_days: float | None = None
    items: int = 0
    running_out: int = 0
    """Items with less than :data:`SHORT_DAYS` days of cover."""


def cover_by_warehouse(cover: pd.DataFrame) -> dict[str, tuple[float | None, int, int]]:
    """The ``days_of_cover`` report's items summed up per warehouse name: the median item's
    days of cover, the items with an outflow, and those running out within
    :data:`SHORT_DAYS` days."""
    out: dict[str, tuple[float | None, int, int]] = {}
    if cover.empty:
        return out
    for name, part in cover.groupby("warehouse", sort=True):
        days = pd.to_numeric(part["days_of_cover"], errors="coerce").dropna()
        median = number_or_none(days.median()) if len(days) else None
        out[str(name)] = (median, len(part), int((days < SHORT_DAYS).sum()))
    return out


def warehouse_rows(
    values: pd.DataFrame,
    names: Mapping[str, str],
    cover: Mapping[str, tuple[float | None, int, int]],
) -> list[WarehouseRow]:
    """The engine's ``stock_value`` by warehouse joined with the cover per warehouse name,
    biggest value first."""
    rows = []
    for record in values.to_dict("records"):
        warehouse = record.get("warehouse")
        if warehouse is None or warehouse != warehouse:
            continue
        name = names.get(str(warehouse), str(warehouse))
        median, items, short = cover.get(name, (None, 0, 0))
        rows.append(
            WarehouseRow(
                str(warehouse), name, number_or_none(record.get("value")), median, items, short
            )
        )
    return sorted(rows, key=lambda r: (r.value is None, -(r.value or 0), r.name))


def warehouses_message(rows: list[WarehouseRow], currency: str) -> str:
    valued = [r for r in rows if r.value is not None]
    if not valued:
        return "No stock on hand"
    total = sum(r.value or 0 for r in valued)
    top = valued[0]
    money = formats.money(total, currency, cents=False)
    if len(valued) == 1 or not total:
        return f"{money} of stock in {top.name}"
    share = formats.percent((top.value or 0) / total)
    return f"{money} of stock; {top.name} holds {share} of it"


def warehouses(
    rows: list[WarehouseRow], currency: str, *, as_of: str, whose: str = ""
) -> go.Figure:
    """Stock value (left) and the median item's days of cover (right) per warehouse, the
    most valuable on top; ``customdata[0]`` of a value bar is the warehouse's id."""
    names = [escape(r.name) for r in rows]
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=("Stock value at cost", "Days of cover (median item)"),
    )
    money = [
        formats.EM_DASH if r.value is None else formats.money(r.value, currency, cents=False)
        for r in rows
    ]
    figure.add_trace(
        go.Bar(
            x=[r.value for r in rows],
            y=names,
            orientation="h",
            marker={"color": theme.INK},
            customdata=[[r.warehouse, m] for r, m in zip(rows, money, strict=True)],
            text=money,
            textposition="auto",
            hovertemplate="%{y}: %{customdata[1]}<extra>Stock value</extra>",
        ),
        row=1,
        col=1,
    )
    days = [formats.EM_DASH if r.median_days is None else formats.days(r.median_days) for r in rows]
    figure.add_trace(
        go.Bar(
            x=[r.median_days for r in rows],
            y=names,
            orientation="h",
            marker={"color": theme.INK},
            customdata=[
                [r.warehouse, d, formats.count(r.running_out), formats.count(r.items)]
                for r, d in zip(rows, days, strict=True)
            ],
            text=days,
            textposition="auto",
            hovertemplate="%{y}: %{customdata[1]}; %{customdata[2]} of %{customdata[3]} items "
            f"run out within {SHORT_DAYS} days<extra>Days of cover</extra>",
        ),
        row=1,
        col=2,
    )
    symbol = formats.currency_symbol(currency)
    figure.update_xaxes(
        title_text=f"Value ({symbol})", tickprefix=symbol, rangemode="tozero", row=1, col=1
    )
    figure.update_xaxes(title_text="Days", rangemode="tozero", row=1, col=2)
    figure.update_xaxes(showgrid=True, gridcolor=theme.GRID)
    figure.update_yaxes(autorange="reversed")
    figure.update_annotations(font={"size": 12})
    figure.update_layout(showlegend=False, bargap=0.3, margin={"t": SUBPLOT_TOP})
    subtitle = f"Stock value at cost and days of cover at the recent outflow, as of {as_of}{whose}"
    return finish(
        figure,
        warehouses_message(rows, currency),
        subtitle,
        max(260, min(540, 150 + 44 * len(rows))),
    )


def stock_outs(frame: pd.DataFrame, *, period: str, whose: str = "") -> go.Figure:
    """The ``stock_outs`` report summed per warehouse: the items that ran out (bars, most on
    top), the days out in the hover."""
    per = (
        frame.groupby("warehouse", sort=False)
        .agg(items=("product", "count"), days_out=("days_out", "sum"))
        .reset_index()
        .sort_values(["items", "warehouse"], ascending=[False, True])
    )
    total = int(per["items"].sum())
    top = per.iloc[0]
    title = f"{formats.count(total)} items ran out of stock"
    if len(per) > 1:
        title += f"; the most in {top['warehouse']} ({formats.count(top['items'])})"
    figure = go.Figure(
        go.Bar(
            x=list(per["items"]),
            y=[escape(str(w)) for w in per["warehouse"]],
            orientation="h",
            marker={"color": theme.INK},
            customdata=[
                [formats.count(i), formats.count(d)]
                for i, d in zip(per["items"], per["days_out"], strict=True)
            ],
            text=[formats.count(i) for i in per["items"]],
            textposition="auto",
            hovertemplate="%{y}: %{customdata[0]} items out, %{customdata[1]} item-days "
            "out of stock<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={
            "title": {"text": "Items out of stock"},
            "rangemode": "tozero",
            "showgrid": True,
            "gridcolor": theme.GRID,
        },
        yaxis={"autorange": "reversed", "title": {"text": ""}},
        showlegend=False,
        bargap=0.3,
    )
    subtitle = f"Items out of stock at least one day, {period}{whose}"
    return finish(figure, title, subtitle, max(220, min(420, 120 + 40 * len(per))))
