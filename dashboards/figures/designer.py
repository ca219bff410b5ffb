"""The designer's preview: a draft KPI's last twelve months on real data, before it is saved.

Pure: the frame :meth:`~kpi_designer.engine.Engine.evaluate` answered in, a figure out; actual
solid and dark, plan dashed (``DESIGN.md``, "Charts").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dashboards import theme
from dashboards.format import kpi_value

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

AXIS_TITLES = {
    "money": "Amount ({currency})",
    "count": "Count",
    "percent": "Share (%)",
    "hours": "Hours",
    "days": "Days",
}


def _go() -> Any:
    import plotly.graph_objects as go

    theme.template()
    return go


def preview_title(frame: pd.DataFrame, label: str, unit: str, currency: str) -> str:
    """The message: the latest month's value and, with a plan, how far from it."""
    if frame.empty:
        return f"{label}: no value in the last 12 months"
    last = frame.sort_values("period").iloc[-1]
    month = f"{last['period']:%B %Y}"
    value = None if last["value"] != last["value"] else last["value"]
    text = f"{label}: {kpi_value(value, unit, currency)} in {month}"
    plan = last["plan"]
    if plan == plan and plan is not None and last["achievement"] == last["achievement"]:
        text += f", {last['achievement']:.0%} of plan"
    return text


def preview(frame: pd.DataFrame, *, label: str, unit: str, currency: str) -> go.Figure:
    """The draft KPI by month: the actual as a solid line with markers, its plan dashed."""
    go = _go()
    data = frame.sort_values("period")
    percent = unit == "percent"
    scale = 100.0 if percent else 1.0
    months = list(data["period"])
    figure = go.Figure()
    plans = [None if p != p or p is None else p * scale for p in data["plan"]]
    if any(p is not None for p in plans):
        figure.add_trace(
            go.Scatter(
                x=months,
                y=plans,
                mode="lines",
                name="Plan",
                line={"color": theme.PLAN, "width": 1.5, "dash": "dash"},
            )
        )
    figure.add_trace(
        go.Scatter(
            x=months,
            y=[None if v != v or v is None else v * scale for v in data["value"]],
            mode="lines+markers",
            name="Actual",
            line={"color": theme.INK, "width": 2.5},
        )
    )
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={"text": preview_title(frame, label, unit, currency)},
        height=300,
        margin={"l": 64, "r": 16, "t": 48, "b": 40},
        showlegend=len(figure.data) > 1,
        legend={"orientation": "h", "y": -0.18},
        xaxis={"title": None, "dtick": "M1", "tickformat": "%b\n%Y"},
        yaxis={
            "title": AXIS_TITLES.get(unit, unit).format(currency=currency),
            "rangemode": "tozero",
        },
    )
    return figure
