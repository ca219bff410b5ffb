"""Figures of the Employees & KPIs page: the ranking of a role's scores and one employee's
bullet graph. Pure: frames in, :class:`plotly.graph_objects.Figure` out, nothing queried.

Scores and achievements are shown in percent of plan (a score of 1.0 is 100%: every KPI on
plan), with 100% as the reference the reader measures against (``DESIGN.md``, "Charts":
rankings as sorted horizontal bars, plan against actual as bullet graphs, never gauges).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dashboards import theme

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

ROW_HEIGHT = 26
"""Pixels per bar: the ranking and the bullet graph grow with their rows."""
CHROME = 110
"""Pixels a chart needs beyond its bars (title, axis, margins)."""
GATED = "#8a949e"
"""A bar whose bonus a gate stopped: grey, with the reason in its hover and label."""


def _go() -> Any:
    import plotly.graph_objects as go

    theme.template()
    return go


def height_for(rows: int) -> int:
    return CHROME + ROW_HEIGHT * max(rows, 1)


def _percent(value: float | None) -> float | None:
    return None if value is None else value * 100.0


def _gate_note(gated: int, months: int) -> str:
    if not gated:
        return ""
    return " · no bonus" if gated == months else f" · no bonus {gated} of {months} mo"


def ranking(
    frame: pd.DataFrame,
    *,
    title: str,
    selected: str | None = None,
) -> go.Figure:
    """A role's employees as horizontal bars of ``score`` (a fraction; shown in percent),
    highest on top, with a dashed line at 100%. ``frame`` has ``employee``, ``name``,
    ``score``, ``bonus``, ``bonus_text``, ``months``, ``gated_months`` and ``gate`` (why a
    bonus is 0, or empty); a bar whose whole bonus a gate stopped is grey. Each bar's
    ``customdata`` is the employee's id (a click picks the employee). ``selected`` is drawn
    in the accent colour."""
    go = _go()
    ordered = frame.sort_values(["score", "name"], ascending=[True, False], kind="stable")
    scores = [float(s) * 100.0 for s in ordered["score"]]
    gates = [str(g) if isinstance(g, str) and g else "" for g in ordered["gate"]]
    colours = [
        theme.ACCENT if e == selected else (GATED if bonus == 0 and g else theme.INK)
        for e, g, bonus in zip(ordered["employee"], gates, ordered["bonus"], strict=True)
    ]
    labels = [
        f"{s:.1f}%" + _gate_note(int(g), int(m))
        for s, g, m in zip(scores, ordered["gated_months"], ordered["months"], strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=scores,
            y=list(ordered["name"]),
            orientation="h",
            marker={"color": colours},
            text=labels,
            textposition="outside",
            cliponaxis=False,
            customdata=[
                [e, b, g or "bonus paid"]
                for e, b, g in zip(ordered["employee"], ordered["bonus_text"], gates, strict=True)
            ],
            hovertemplate=(
                "<b>%{y}</b><br>Score %{x:.1f}%<br>Bonus %{customdata[1]}"
                "<br>%{customdata[2]}<extra></extra>"
            ),
            name="Score",
        )
    )
    top = max([*scores, 100.0])
    figure.add_vline(
        x=100,
        line={"color": theme.PLAN, "dash": "dash", "width": 1.5},
        annotation={"text": "100% = on plan", "font": {"size": 11}},
        annotation_position="top",
    )
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={"text": title},
        height=height_for(len(ordered)),
        margin={"l": 10, "r": 80, "t": 60, "b": 50},
        showlegend=False,
        xaxis={
            "title": {"text": "Score (% of plan, weighted)"},
            "range": [0, top * 1.12],
            "ticksuffix": "%",
        },
        yaxis={"title": None, "automargin": True},
        bargap=0.3,
    )
    return figure


def bullet(
    kpis: Sequence[dict[str, Any]],
    *,
    title: str,
    floor: float = 0.0,
    cap: float = 1.5,
) -> go.Figure:
    """One employee's month as a bullet graph: per KPI (``label``, ``kpi``, ``achievement``
    a fraction or ``None``, ``value_text``, ``plan_text``) a dark bar of the fact in percent
    of plan against the plan's marker at 100%, on a light band up to the scorecard's ``cap``
    (what counts towards the score). A KPI without a plan has no bar and says so."""
    go = _go()
    rows = list(reversed(kpis))  # the card's first KPI on top
    labels = [str(k["label"]) for k in rows]
    achieved = [_percent(k.get("achievement")) for k in rows]
    top = max([cap * 100.0, *(a for a in achieved if a is not None)]) * 1.08
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=[cap * 100.0] * len(rows),
            y=labels,
            orientation="h",
            marker={"color": "#e4e7eb"},
            width=0.8,
            hoverinfo="skip",
            name=f"Counts up to {cap:.0%}",
        )
    )
    figure.add_trace(
        go.Bar(
            x=[a if a is not None else 0 for a in achieved],
            y=labels,
            orientation="h",
            marker={"color": theme.INK},
            width=0.45,
            text=[f"{a:.1f}%" if a is not None else "no plan" for a in achieved],
            textposition="outside",
            textfont={"size": 12},
            constraintext="none",
            cliponaxis=False,
            customdata=[[k["kpi"], k.get("value_text", ""), k.get("plan_text", "")] for k in rows],
            hovertemplate=(
                "<b>%{y}</b><br>Fact %{customdata[1]} · plan %{customdata[2]}"
                "<br>%{x:.1f}% of plan<br>Click: the rows behind it<extra></extra>"
            ),
            name="Fact, % of plan",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[100.0] * len(rows),
            y=labels,
            mode="markers",
            marker={"symbol": "line-ns", "size": 22, "line": {"width": 3, "color": theme.PLAN}},
            hoverinfo="skip",
            name="Plan (100%)",
        )
    )
    if floor > 0:
        figure.add_vline(x=floor * 100.0, line={"color": theme.GRID, "width": 1})
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={"text": title},
        barmode="overlay",
        height=height_for(len(rows)) + 30,
        margin={"l": 10, "r": 60, "t": 80, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        xaxis={"title": {"text": "Fact, % of plan"}, "range": [0, top], "ticksuffix": "%"},
        yaxis={"title": None, "automargin": True},
    )
    return figure
