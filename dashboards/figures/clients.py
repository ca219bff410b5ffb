"""The Clients page's figures: where new clients come from, which segments carry the sales, and
whether new clients come back.

Pure like :mod:`dashboards.figures`: each takes the frame the engine or a catalog report answered
and returns a Plotly figure in the product's template, its title the message and its axes with
units. Nothing here queries anything, so tests hand them frames and compare what is drawn with
the numbers given.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from dashboards import theme
from dashboards.format import kpi_value, number_or_none

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

CHANNEL_LABELS = {
    "website_form": "Website questionnaire",
    "call_in": "Inbound call",
    "email": "E-mail",
    "chat": "Chat",
    "referral": "Referral",
    "social": "Social media",
    "marketplace": "Marketplace",
    "exhibition": "Trade show",
    "walk_in": "Walk-in",
    "other": "Other",
}
"""A client's acquisition channel in words (the words of ``client_acquisition_by_channel``)."""
OTHER = "other"

RETENTION_MONTHS = (
    ("month_1", 1),
    ("month_2", 2),
    ("month_3", 3),
    ("month_6", 6),
    ("month_9", 9),
    ("month_12", 12),
)
"""The columns of ``client_cohort_retention`` and the months since first purchase each is."""

RETENTION_SCALE = [[0.0, "#f4f8fc"], [0.55, "#8dbde0"], [1.0, "#08306b"]]
"""One hue, light to dark: read by lightness alone, so colour-blind readers read it too."""

CHART_HEIGHT = 380


def _go() -> Any:
    import plotly.graph_objects as go

    theme.template()  # registers the product's template once
    return go


def channel_label(channel: Any) -> str:
    """``website_form`` → ``Website questionnaire``; an unknown code reads as itself."""
    if channel is None or (isinstance(channel, float) and math.isnan(channel)):
        return CHANNEL_LABELS[OTHER]
    text = str(channel)
    return CHANNEL_LABELS.get(text, text.replace("_", " ").capitalize())


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _month_end(first: dt.date) -> dt.date:
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def channel_order(frame: pd.DataFrame) -> list[str]:
    """The channels of ``frame`` (``channel``, ``value``), most new clients first, the catch-all
    ``other`` last (it is no channel to act on)."""
    totals = frame.assign(channel=frame["channel"].fillna(OTHER)).groupby("channel")["value"].sum()
    ranked = sorted(totals.index, key=lambda c: (c == OTHER, -float(totals[c]), str(c)))
    return [str(c) for c in ranked]


def acquisition(
    frame: pd.DataFrame, *, kpi: str = "new_clients", label: str = "New clients"
) -> go.Figure:
    """New clients per month, one stacked bar segment per acquisition channel.

    ``frame`` is the engine's answer for ``kpi`` by ``channel`` at month grain (``period``,
    ``channel``, ``value``). Each bar carries the request that explains it (the KPI, the month,
    the channel) in its ``customdata``, so a click opens the clients behind it."""
    go = _go()
    data = frame.assign(channel=frame["channel"].fillna(OTHER))
    data = data.assign(month=[_day(p) for p in data["period"]])
    months = sorted(set(data["month"]))
    order = channel_order(data)
    colours = [*theme.SERIES[1:7], theme.SERIES[0]]  # the greys are kept for "other"
    figure = go.Figure()
    for index, channel in enumerate(order):
        part = data[data["channel"] == channel].set_index("month")["value"]
        values = [number_or_none(part.get(m)) or 0.0 for m in months]
        colour = theme.PREVIOUS if channel == OTHER else colours[index % len(colours)]
        figure.add_trace(
            go.Bar(
                x=months,
                y=values,
                name=channel_label(channel),
                marker={"color": colour, "line": {"color": "white", "width": 0.5}},
                customdata=[
                    [kpi, channel, m.isoformat(), _month_end(m).isoformat()] for m in months
                ],
                hovertemplate=f"%{{x|%B %Y}}<br>{channel_label(channel)}: %{{y:,.0f}}"
                "<extra>click for the clients</extra>",
            )
        )
    total = float(data["value"].sum()) if len(data) else 0.0
    if total > 0 and order:
        top = order[0]
        share = float(data.loc[data["channel"] == top, "value"].sum()) / total
        title = (
            f"{channel_label(top)} brought {share:.0%} of the {total:,.0f} "
            f"{label.lower()} in {len(months)} months"
        )
    else:
        title = f"No {label.lower()} in these months"
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={"text": title},
        barmode="stack",
        height=CHART_HEIGHT,
        xaxis={"title": None, "tickformat": "%b %Y", "dtick": "M1"},
        yaxis={"title": {"text": f"{label} per month (clients)"}, "tickformat": ",d"},
        legend={"traceorder": "normal"},
        hovermode="closest",
        margin={"t": 90},
    )
    return figure


def rfm(frame: pd.DataFrame, *, currency: str | None = None) -> go.Figure:
    """Clients and their sales per RFM segment, as two sorted rankings of horizontal bars side
    by side on one segment axis (two panels, each its own unit; never two scales on one axis).

    ``frame`` is ``client_rfm_segments``' result (``segment``, ``clients``, ``client_share``,
    ``sales``, ``sales_share``); the segments are sorted by clients, most at the top."""
    go = _go()
    from plotly.subplots import make_subplots

    data = frame.sort_values("clients", ascending=True, kind="stable")
    segments = [str(s) for s in data["segment"]]
    clients = [number_or_none(v) or 0.0 for v in data["clients"]]
    sales = [number_or_none(v) or 0.0 for v in data["sales"]]
    client_share = [number_or_none(v) for v in data.get("client_share", [None] * len(data))]
    sales_share = [number_or_none(v) for v in data.get("sales_share", [None] * len(data))]
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=("Clients", f"Sales ({currency})" if currency else "Sales"),
    )

    def share(value: float | None) -> str:
        return "" if value is None else f" ({value:.0%})"

    figure.add_trace(
        go.Bar(
            x=clients,
            y=segments,
            orientation="h",
            name="Clients",
            marker={"color": theme.INK},
            text=[f"{v:,.0f}{share(s)}" for v, s in zip(clients, client_share, strict=True)],
            textposition="auto",
            hovertemplate="%{y}: %{x:,.0f} clients<extra></extra>",
        ),
        row=1,
        col=1,
    )
    figure.add_trace(
        go.Bar(
            x=sales,
            y=segments,
            orientation="h",
            name="Sales",
            marker={"color": theme.SERIES[1]},
            text=[
                f"{kpi_value(v, 'money', currency, short=True)}{share(s)}"
                for v, s in zip(sales, sales_share, strict=True)
            ],
            textposition="auto",
            hovertemplate="%{y}: %{text}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    title = "No buying clients to segment"
    if len(data) and sum(sales) > 0:
        best = data.sort_values("sales", ascending=False).iloc[0]
        c_share = number_or_none(best.get("client_share"))
        s_share = number_or_none(best.get("sales_share"))
        if c_share is not None and s_share is not None:
            title = f"{best['segment']}: {c_share:.0%} of clients bring {s_share:.0%} of sales"
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={"text": title},
        height=max(260, 70 + 44 * len(segments)),
        showlegend=False,
        bargap=0.3,
        margin={"t": 70},
    )
    figure.update_xaxes(showgrid=True, gridcolor=theme.GRID, tickformat="~s")
    figure.update_xaxes(title={"text": "clients"}, row=1, col=1)
    figure.update_xaxes(
        title={"text": f"sales ({currency})" if currency else "sales"}, row=1, col=2
    )
    figure.update_annotations(font={"size": 13})
    return figure


def retention_matrix(frame: pd.DataFrame) -> tuple[list[str], list[int], list[list[float | None]]]:
    """(cohorts, months since first purchase, share retained) of a ``client_cohort_retention``
    result: one row per cohort, oldest first; ``None`` where the month is not over yet."""
    cohorts = [str(c) for c in frame["cohort"]]
    months = [n for column, n in RETENTION_MONTHS if column in frame.columns]
    z = [
        [number_or_none(row[column]) for column, _ in RETENTION_MONTHS if column in frame.columns]
        for _, row in frame.iterrows()
    ]
    return cohorts, months, z


def _pooled(frame: pd.DataFrame, n: int) -> float | None:
    """The share of all cohorts' clients seen again ``n`` months on (as the report's total)."""
    seen, base = f"seen_{n}", f"base_{n}"
    if seen not in frame.columns or base not in frame.columns:
        return None
    kept = frame[seen].astype("float").sum(skipna=True)
    clients = frame[base].astype("float").sum(skipna=True)
    return float(kept / clients) if clients else None


def retention(frame: pd.DataFrame) -> go.Figure:
    """Cohort retention as a heatmap: first-purchase month (rows, oldest at the top) × months
    since, the share of the cohort that bought in that month printed in each cell, one hue
    from light (few came back) to dark (many)."""
    go = _go()
    cohorts, months, z = retention_matrix(frame)
    text = [["" if v is None else f"{v * 100:.1f}%" for v in row] for row in z]
    clients = [number_or_none(c) for c in frame.get("clients", [None] * len(frame))]
    sizes = [[f"{c:,.0f}" if c is not None else "—"] * len(months) for c in clients]
    values = [v for row in z for v in row if v is not None]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"+{n}" for n in months],
            y=cohorts,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 12},
            customdata=sizes,
            colorscale=RETENTION_SCALE,
            zmin=0,
            zmax=max(values) if values else 1,
            xgap=2,
            ygap=2,
            hoverongaps=False,
            hovertemplate="First purchase %{y} (%{customdata} clients)<br>"
            "%{x} months on: %{text} bought again<extra></extra>",
            colorbar={"title": {"text": "bought again"}, "tickformat": ".0%", "thickness": 12},
        )
    )
    first = _pooled(frame, 1)
    later = _pooled(frame, 6)
    if first is None and not values:
        title = "Too soon to see whether these new clients come back"
    elif later is not None:
        title = (
            f"{first or 0:.0%} of new clients buy again the next month, {later:.0%} six months on"
        )
    else:
        title = f"{first or 0:.0%} of new clients buy again the next month"
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={"text": title},
        height=max(260, 110 + 30 * len(cohorts)),
        xaxis={
            "title": {"text": "months since the first purchase"},
            "side": "top",
            "showline": False,
            "ticks": "",
            "type": "category",
        },
        yaxis={
            "title": {"text": "month of first purchase"},
            "autorange": "reversed",
            "type": "category",
            "showgrid": False,
        },
        plot_bgcolor="white",
        margin={"t": 110},
    )
    return figure
