"""Figures of the Service & delivery page: pure functions from the engine's or the reports'
frames to Plotly figures, in the product's notation (actual solid and dark, plan dashed).

Trends run left to right by month; rankings are horizontal bars sorted by value, biggest on
top; two measures of different units are two small multiples over one shared x axis, never a
second y axis. Each title is the chart's message, the subtitle the measure and the period.
Points that are KPI values carry what the explanation drawer needs in ``customdata``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards import theme
from dashboards.format import number_or_none
from dashboards.kpis import add_months
from dashboards.phrases import month_text
from reports import formats

REQUESTS = "service_requests"
SLA = "repair_sla_rate"
ON_TIME = "on_time_delivery_rate"


def escape(text: str) -> str:
    """Plotly reads a little HTML in titles and labels: a name's ``<`` stays a character."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def month_end(start: dt.date) -> dt.date:
    return add_months(start, 1) - dt.timedelta(days=1)


def _percent(value: float | None) -> str:
    return formats.EM_DASH if value is None else formats.percent(value)


SUBPLOT_TOP = 104
"""The top margin of small multiples: the title, the subtitle, then each panel's own title."""


def finish(figure: go.Figure, title: str, subtitle: str, height: int) -> go.Figure:
    """``figure`` in the product's template with its message as the title (at the top, however
    tall the margin under it) and the measure and period as the subtitle."""
    theme.template()
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={
            "text": escape(title),
            "subtitle": {"text": escape(subtitle), "font": {"size": 12}},
            "yref": "container",
            "y": 1,
            "yanchor": "top",
            "pad": {"t": 14},
        },
        height=height,
    )
    return figure


def _series(trend: pd.DataFrame, kpi: str) -> pd.DataFrame:
    part = trend[trend["kpi"] == kpi].copy()
    part["month"] = [_day(p) for p in part["period"]]
    return part.sort_values("month")


def has_values(frame: pd.DataFrame, column: str = "value") -> bool:
    """Whether ``frame`` holds any number in ``column`` (an empty chart is not drawn)."""
    return bool(len(frame)) and any(number_or_none(v) is not None for v in frame[column])


# -- requests and the SLA, month by month ---------------------------------------------------------


def trend_message(trend: pd.DataFrame) -> str:
    """``Oct 2026: 1,134 requests, 61.8% of repairs within SLA (+2.0 pp on Sep)``."""
    requests, sla = _series(trend, REQUESTS), _series(trend, SLA)
    months = sorted(set(requests["month"]) | set(sla["month"]))
    if not months:
        return "No service requests"
    last = months[-1]
    count = number_or_none(requests.loc[requests["month"] == last, "value"].sum())
    now = [number_or_none(v) for v in sla.loc[sla["month"] == last, "value"]]
    text = f"{month_text(last)}: {formats.count(count or 0)} requests"
    if now and now[0] is not None:
        text += f", {formats.percent(now[0])} of repairs within SLA"
        if len(months) > 1:
            before = [number_or_none(v) for v in sla.loc[sla["month"] == months[-2], "value"]]
            if before and before[0] is not None:
                text += f" ({formats.pp(now[0] - before[0])} on {months[-2].strftime('%b')})"
    return text


def requests_and_sla(trend: pd.DataFrame, *, whose: str = "") -> go.Figure:
    """Requests taken in per month (columns) above the share of repairs finished within SLA
    (a line): two small multiples sharing the months. ``trend`` is the engine's frame of
    ``service_requests`` and ``repair_sla_rate`` by month; each point's ``customdata`` is
    ``[kpi, first day, last day]`` of its month (a click explains it)."""
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.14,
        subplot_titles=("Service requests taken in", "Repairs finished within SLA"),
    )
    for row, kpi in ((1, REQUESTS), (2, SLA)):
        part = _series(trend, kpi)
        months = list(part["month"])
        values = [number_or_none(v) for v in part["value"]]
        plans = [number_or_none(v) for v in part["plan"]]
        data = [[kpi, m.isoformat(), month_end(m).isoformat()] for m in months]
        text = [
            formats.EM_DASH
            if v is None
            else (formats.percent(v) if kpi == SLA else formats.count(v))
            for v in values
        ]
        custom = [[*d, t] for d, t in zip(data, text, strict=True)]
        hover = "%{x|%b %Y}: %{customdata[3]}<extra></extra>"
        if kpi == REQUESTS:
            figure.add_trace(
                go.Bar(
                    x=months,
                    y=values,
                    name="Requests",
                    marker={"color": theme.INK},
                    customdata=custom,
                    hovertemplate=hover,
                ),
                row=row,
                col=1,
            )
        else:
            figure.add_trace(
                go.Scatter(
                    x=months,
                    y=values,
                    name="Within SLA",
                    mode="lines+markers",
                    line={"color": theme.INK, "width": 2},
                    marker={"size": 7},
                    customdata=custom,
                    hovertemplate=hover,
                ),
                row=row,
                col=1,
            )
        if any(p is not None for p in plans):
            figure.add_trace(
                go.Scatter(
                    x=months,
                    y=plans,
                    name="Plan",
                    mode="lines",
                    line={"color": theme.PLAN, "width": 1.5, "dash": "dash"},
                    hoverinfo="skip",
                    showlegend=row == 1,
                ),
                row=row,
                col=1,
            )
    figure.update_yaxes(title_text="Requests", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title_text="% of repairs", tickformat=".0%", row=2, col=1)
    figure.update_xaxes(dtick="M1", tickformat="%b<br>%Y", row=2, col=1)
    figure.update_annotations(font={"size": 12}, xanchor="left", x=0)
    first = trend["period"].min() if len(trend) else None
    last = trend["period"].max() if len(trend) else None
    span = f"{month_text(_day(first))} – {month_text(_day(last))}" if first is not None else ""
    figure.update_layout(showlegend=False, bargap=0.35, margin={"t": SUBPLOT_TOP})
    return finish(
        figure,
        trend_message(trend),
        f"Requests taken in and repairs within SLA by month, {span}{whose}",
        460,
    )


# -- on time per driver ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DriverRate:
    """One driver's on-time rate from the engine (``employee`` is the id a click explains)."""

    employee: str
    name: str
    value: float | None
    plan: float | None = None
    delivered: float | None = None


def drivers_message(rates: Sequence[DriverRate], overall: float | None) -> str:
    known = sorted((r for r in rates if r.value is not None), key=lambda r: r.value or 0)
    if not known:
        return "No delivery was completed"
    whole = f"; {_percent(overall)} overall" if overall is not None else ""
    if len(known) == 1:
        return f"{known[0].name}: {_percent(known[0].value)} of deliveries on time{whole}"
    low, high = known[0], known[-1]
    return (
        f"{low.name} on time least often ({_percent(low.value)}), "
        f"{high.name} most ({_percent(high.value)}){whole}"
    )


def drivers_on_time(
    rates: Sequence[DriverRate], *, overall: float | None = None, period: str = "", whose: str = ""
) -> go.Figure:
    """Each driver's share of deliveries on time as horizontal bars, best on top, with the
    plan as a dashed tick where there is one; ``customdata[0]`` is the driver's id."""
    ranked = sorted(rates, key=lambda r: (r.value is None, -(r.value or 0), r.name))
    names = [escape(r.name) for r in ranked]
    values = [r.value for r in ranked]
    custom = [
        [
            r.employee,
            _percent(r.value),
            formats.count(r.delivered) if r.delivered is not None else formats.EM_DASH,
        ]
        for r in ranked
    ]
    figure = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            name="On time",
            marker={"color": theme.INK},
            customdata=custom,
            text=[c[1] for c in custom],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{customdata[1]} of %{customdata[2]} deliveries on time"
            "<extra></extra>",
        )
    )
    plans = [r.plan for r in ranked]
    if any(p is not None for p in plans):
        figure.add_trace(
            go.Scatter(
                x=plans,
                y=names,
                mode="markers",
                name="Plan",
                marker={
                    "symbol": "line-ns",
                    "size": 20,
                    "line": {"color": theme.PLAN, "width": 2.5},
                    "color": theme.PLAN,
                },
                hovertemplate="%{y}: plan %{x:.1%}<extra></extra>",
            )
        )
    figure.update_layout(
        xaxis={
            "title": {"text": "Deliveries on time (% of completed)"},
            "tickformat": ".0%",
            "rangemode": "tozero",
            "gridcolor": theme.GRID,
            "showgrid": True,
        },
        yaxis={"autorange": "reversed", "title": {"text": ""}},
        showlegend=any(p is not None for p in plans),
        bargap=0.3,
    )
    height = max(220, min(640, 110 + 30 * len(ranked)))
    subtitle = f"Share of completed deliveries handed over by the promised time, {period}{whose}"
    return finish(figure, drivers_message(ranked, overall), subtitle, height)


# -- first-time fix and warranty (catalog reports) ------------------------------------------------


def first_time_fix(
    frame: pd.DataFrame, *, period: str = "", whose: str = "", note: str = ""
) -> go.Figure:
    """The ``service_first_time_fix`` report's rows as horizontal bars of the first-time fix
    rate, best on top; the title gives the whole rate and the lowest row (when the rows
    differ). ``note`` ends the subtitle (repairs too recent to have come back yet)."""
    rows = frame.dropna(subset=["first_time_fix_rate"]).sort_values(
        ["first_time_fix_rate", "repaired"], ascending=[False, False]
    )
    repaired = float(frame["repaired"].sum()) if len(frame) else 0.0
    fixed = float(frame["fixed_first_time"].sum()) if len(frame) else 0.0
    whole = fixed / repaired if repaired else None
    title = f"{_percent(whole)} of {formats.count(repaired)} repairs stayed fixed"
    if len(rows) > 1 and rows["first_time_fix_rate"].nunique() > 1:
        low = rows.iloc[-1]
        title += f"; lowest {low['row_label']} ({formats.percent(low['first_time_fix_rate'])})"
    custom = [
        [formats.percent(r), formats.count(n), formats.count(b)]
        for r, n, b in zip(
            rows["first_time_fix_rate"], rows["repaired"], rows["came_back"], strict=True
        )
    ]
    figure = go.Figure(
        go.Bar(
            x=list(rows["first_time_fix_rate"]),
            y=[escape(str(v)) for v in rows["row_label"]],
            orientation="h",
            marker={"color": theme.INK},
            customdata=custom,
            text=[c[0] for c in custom],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{customdata[0]} of %{customdata[1]} repairs, "
            "%{customdata[2]} came back<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={
            "title": {"text": "Repairs that did not come back within 30 days (%)"},
            "tickformat": ".0%",
            "range": [0, 1.12],
            "gridcolor": theme.GRID,
            "showgrid": True,
        },
        yaxis={"autorange": "reversed", "title": {"text": ""}},
        showlegend=False,
        bargap=0.3,
    )
    height = max(220, min(560, 110 + 28 * len(rows)))
    subtitle = f"First-time fix rate by engineer, {period}{whose}{note}"
    return finish(figure, title, subtitle, height)


def warranty(frame: pd.DataFrame, currency: str, *, whose: str = "") -> go.Figure:
    """The ``service_warranty`` report by month: the warranty share of finished repairs (a
    line) above the parts cost of warranty repairs (columns), two small multiples sharing
    the months."""
    rows = frame.copy()
    rows["month"] = [_day(m) for m in rows["month"]]
    rows = rows.sort_values("month")
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.14,
        subplot_titles=("Warranty share of finished repairs", "Parts cost of warranty repairs"),
    )
    shares = [number_or_none(v) for v in rows["warranty_share"]]
    costs = [number_or_none(v) for v in rows["warranty_parts_cost"]]
    months = list(rows["month"])
    figure.add_trace(
        go.Scatter(
            x=months,
            y=shares,
            mode="lines+markers",
            line={"color": theme.INK, "width": 2},
            marker={"size": 7},
            customdata=[_percent(v) for v in shares],
            hovertemplate="%{x|%b %Y}: %{customdata}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    figure.add_trace(
        go.Bar(
            x=months,
            y=costs,
            marker={"color": theme.INK},
            customdata=[
                formats.EM_DASH if v is None else formats.money(v, currency) for v in costs
            ],
            hovertemplate="%{x|%b %Y}: %{customdata}<extra></extra>",
        ),
        row=2,
        col=1,
    )
    symbol = formats.currency_symbol(currency)
    figure.update_yaxes(title_text="% of repairs", tickformat=".0%", rangemode="tozero", row=1)
    figure.update_yaxes(title_text=f"Parts cost ({symbol})", tickprefix=symbol, row=2)
    figure.update_xaxes(dtick="M1", tickformat="%b<br>%Y", row=2, col=1)
    figure.update_annotations(font={"size": 12}, xanchor="left", x=0)
    figure.update_layout(showlegend=False, bargap=0.35, margin={"t": SUBPLOT_TOP})
    if months:
        last = rows.iloc[-1]
        title = (
            f"{month_text(months[-1])}: {_percent(number_or_none(last['warranty_share']))} "
            f"of finished repairs under warranty, "
            f"{formats.money(float(last['warranty_parts_cost'] or 0), currency, cents=False)} "
            "in parts"
        )
        span = f"{month_text(months[0])} – {month_text(months[-1])}"
    else:
        title, span = "No repair was finished", ""
    return finish(figure, title, f"Warranty repairs by month finished, {span}{whose}", 420)
