"""A chart's place on a page: a skeleton until the page's callback draws the figure, or says in
words why there is none (``DESIGN.md``, "States").

The graph is in the page's layout from the start (hidden), so a callback can listen to its
clicks; the callback fills ``figure`` and shows it, or hides it and fills ``<id>-state`` with
an empty state or a problem.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import dcc, html

from dashboards.components.states import skeleton

CONFIG: Any = {"displaylogo": False, "displayModeBar": False}
"""Every chart's Plotly config: no logo, no toolbar over the title."""
HIDDEN = {"display": "none"}
SHOWN: dict[str, str] = {}


def chart_slot(name: str, height: int) -> html.Div:
    """The card of chart ``name``: its state (a skeleton of ``height`` px at first) and its
    graph, hidden until drawn."""
    return html.Div(
        [
            html.Div(skeleton(height), id=f"{name}-state"),
            dcc.Graph(id=name, config=CONFIG, style=HIDDEN, className="kb-chart"),
        ],
        className="kb-card",
    )


def drawn(figure: Any) -> tuple[Any, dict[str, str], None]:
    """The outputs (figure, style, state) of a chart that is drawn."""
    return figure, SHOWN, None


def not_drawn(state: Any) -> tuple[Any, dict[str, str], Any]:
    """The outputs of a chart that is not drawn: it is hidden and ``state`` says why."""
    from dash import no_update

    return no_update, HIDDEN, state


def period_param(start: dt.date, end: dt.date) -> str:
    """A period as a report's ``period`` parameter: ``2026-10-01..2026-10-31``."""
    return f"{start.isoformat()}..{end.isoformat()}"
