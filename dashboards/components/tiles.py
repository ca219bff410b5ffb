"""A KPI tile (``DESIGN.md``, "A KPI tile"): label, value, plan and achievement, status as an
icon and words as well as a colour, the change against the previous period and a year earlier
(coloured by good or bad for the KPI's direction), and a sparkline of the last months with the
plan. The tile links to the page that explains it, with the same filters; its "Why?" button
opens the rows behind the number."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboards import figures, theme
from dashboards.components.states import attrs, empty
from dashboards.filters import Filters
from dashboards.format import achievement, change, is_good, kpi_value
from dashboards.kpis import Headline, headlines

if TYPE_CHECKING:
    from dashboards.data import Data

EXPLAIN = "kb-explain"
"""The type of every "Why?" control: ``{"type": EXPLAIN, "index": <request as JSON>}``."""


def explain_id(kpi: str, **request: object) -> dict[str, str]:
    """The id of a control that opens the explanation of ``kpi`` (``slice`` = {dim: member},
    ``start``/``end`` ISO days; the filters' period when left out)."""
    return {"type": EXPLAIN, "index": json.dumps({"kpi": kpi, **request}, sort_keys=True)}


def _change_line(h: Headline, before: float | None, against: str, currency: str) -> html.Div:
    text = change(h.value, before, h.unit, currency)
    good = is_good(h.value, before, h.direction)
    arrow = "" if good is None else ("▲ " if (h.value or 0) > (before or 0) else "▼ ")
    colour = "kb-neutral" if good is None else ("kb-good" if good else "kb-bad")
    verdict = "" if good is None else (" (better)" if good else " (worse)")
    return html.Div(
        [
            html.Span(arrow + text, className=colour),
            html.Span(f" vs {against}", className="kb-muted"),
            html.Span(verdict, className="visually-hidden"),
        ],
        className="kb-tile-change",
    )


def status_badge(status: str | None) -> html.Span:
    if not status:
        return html.Span(theme.NO_PLAN, className="kb-status kb-status-none")
    return html.Span(
        theme.STATUS_TEXT.get(status, status),
        className=f"kb-status kb-status-{status}",
        title=f"status: {status}",
    )


def tile(h: Headline, *, href: str, currency: str) -> dbc.Card:
    """The tile of one headline; ``href`` is the page that explains it (with the filters)."""
    header = html.Div(
        [
            dcc.Link(h.label, href=href, className="kb-tile-label"),
            html.Button(
                "Why?",
                id=explain_id(h.kpi),
                className="kb-why",
                title=f"What {h.label} is made of",
                **attrs(aria_label=f"Explain {h.label}"),
            ),
        ],
        className="kb-tile-head",
    )
    if h.problem:
        body = [
            html.Div("—", className="kb-tile-value"),
            html.Small(h.problem, className="kb-muted"),
        ]
        return dbc.Card([header, *body], className="kb-tile", id=f"tile-{h.kpi}")
    plan_line = html.Div(
        [
            html.Span(
                f"Plan {kpi_value(h.plan, h.unit, currency, short=True)} · "
                if h.plan is not None
                else ""
            ),
            html.Span(achievement(h.achievement) + " " if h.plan is not None else ""),
            status_badge(h.status),
        ],
        className="kb-tile-plan",
    )
    graph = dcc.Graph(
        figure=figures.sparkline(h.trend, label=h.label),
        config={"staticPlot": True, "displayModeBar": False},
        className="kb-spark",
        style={"height": f"{figures.SPARK_HEIGHT}px"},
    )
    return dbc.Card(
        [
            header,
            html.Div(
                kpi_value(h.value, h.unit, currency, short=True),
                className="kb-tile-value",
                title=kpi_value(h.value, h.unit, currency),
                **attrs(data_value="" if h.value is None else repr(h.value)),
            ),
            plan_line,
            _change_line(h, h.previous, "previous period", currency),
            _change_line(h, h.last_year, "last year", currency),
            graph,
        ],
        className=f"kb-tile kb-tile-{h.status or 'none'}",
        id=f"tile-{h.kpi}",
    )


def page_tiles(data: Data, filters: Filters, kpi_ids: Sequence[str], *, href: str) -> list[Any]:
    """A page's headline tiles: those of ``kpi_ids`` the project defines, each linking to
    ``href``; a sentence when it defines none of them."""
    kpis = data.engine().kpis
    known = [k for k in kpi_ids if k in kpis]
    if not known:
        return [empty("None of this page's KPIs is defined in this project.")]
    return [tile(h, href=href, currency=data.currency) for h in headlines(data, known, filters)]
