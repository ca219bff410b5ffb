"""Figures: pure functions from numbers to Plotly figures, one notation everywhere.

Actual solid and dark, plan dashed, previous year light grey (``DESIGN.md``, "Charts"); the
product's one template (:func:`dashboards.theme.template`). No figure queries anything: pages
hand them frames the engine or the runner answered, and tests call them directly.
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
