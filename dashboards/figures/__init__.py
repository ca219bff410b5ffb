"""Figures: pure functions from numbers to Plotly figures, one notation everywhere.

Actual solid and dark, plan dashed, previous year light grey (``DESIGN.md``, "Charts"); the
product's one template (:func:`dashboards.theme.template`). No figure queries anything: pages
hand them frames the engine or the runner answered, and tests call them directly.

This module holds the figures every page uses (the tiles' sparkline, bars against plan by
branch); each page's own are in a module named after it (``figures.sales``, ``figures.stock`` …).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dashboards import theme

if TYPE_CHECKING:
    import plotly.graph_objects as go

SPARK_HEIGHT = 48


def _go() -> Any:
    import plotly.graph_objects as go

    theme.template()  # registers the product's template once
    return go


def sparkline(
    points: Sequence[tuple[dt.date, float | None, float | None]], *, label: str = ""
) -> go.Figure:
    """The last months of a KPI: the actual as a solid line, its plan dashed; no axes (the tile
    carries the numbers)."""
    go = _go()
    months = [p[0] for p in points]
    figure = go.Figure()
    plans = [p[2] for p in points]
    if any(v is not None for v in plans):
        figure.add_trace(
            go.Scatter(
                x=months,
                y=plans,
                mode="lines",
                name="Plan",
                line={"color": theme.PLAN, "width": 1, "dash": "dash"},
                hoverinfo="skip",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=months,
            y=[p[1] for p in points],
            mode="lines",
            name=label or "Actual",
            line={"color": theme.INK, "width": 2},
            hoverinfo="skip",
        )
    )
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        height=SPARK_HEIGHT,
        margin={"l": 0, "r": 0, "t": 2, "b": 2},
        showlegend=False,
        xaxis={"visible": False, "fixedrange": True},
        yaxis={"visible": False, "fixedrange": True},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def achievement_bars(
    rows: Sequence[dict[str, Any]], kpis: Sequence[tuple[str, str]], *, title: str
) -> go.Figure:
    """Small multiples, one per KPI, on one scale: each member's achievement (% of plan) as a
    horizontal bar, coloured by status with the words on the bar, and the plan as the line at
    100%. ``rows``: ``kpi``, ``member`` (the id), ``name``, ``achievement``, ``status``,
    ``text`` (the value as it reads). A bar without a plan is left out and named in the hover
    of an empty slot. ``customdata`` carries the KPI and member, for the explanation."""
    from plotly.subplots import make_subplots

    go = _go()
    count = max(1, len(kpis))
    figure = make_subplots(
        rows=1,
        cols=count,
        shared_yaxes=True,
        subplot_titles=[label for _, label in kpis],
        horizontal_spacing=0.04,
    )
    highest = 1.2
    for col, (kpi_id, _label) in enumerate(kpis, start=1):
        mine = [r for r in rows if r["kpi"] == kpi_id and r.get("achievement") is not None]
        mine.sort(key=lambda r: str(r["name"]), reverse=True)
        highest = max([highest, *(float(r["achievement"]) for r in mine)])
        figure.add_trace(
            go.Bar(
                x=[float(r["achievement"]) * 100 for r in mine],
                y=[r["name"] for r in mine],
                orientation="h",
                marker={
                    "color": [
                        theme.STATUS_COLOURS.get(r.get("status") or "", theme.PREVIOUS)
                        for r in mine
                    ]
                },
                text=[
                    f"{theme.STATUS_ICONS.get(r.get('status') or '', '')} "
                    f"{float(r['achievement']) * 100:,.0f}% · {r['text']}"
                    for r in mine
                ],
                textposition="inside",
                insidetextanchor="start",
                textfont={"color": "#ffffff"},
                customdata=[[kpi_id, r["member"]] for r in mine],
                hovertemplate="%{y}: %{x:.1f}% of plan<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
        figure.add_vline(
            x=100, line={"color": theme.PLAN, "dash": "dash", "width": 1}, row=1, col=col
        )
    figure.update_xaxes(range=[0, highest * 100 * 1.05], ticksuffix="%", fixedrange=True)
    figure.update_yaxes(fixedrange=True)
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={"text": title},
        height=140 + 40 * max(1, len({r["member"] for r in rows})),
        margin={"l": 10, "r": 10, "t": 80, "b": 30},
        bargap=0.25,
    )
    return figure
