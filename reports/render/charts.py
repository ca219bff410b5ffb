"""A report's chart: a pure function from a :class:`~reports.result.Result` to a Plotly figure.

One notation everywhere (``docs/DESIGN.md``, "Charts"): the actual is solid and dark, a plan is
dashed (lines) or outlined (bars), the previous year light grey, a forecast hatched; a series is
recognised by its column's name (``plan``, ``previous``/``prior``/``last_year``, ``forecast``).
Rankings are horizontal bars sorted by value, biggest on top; trends run left to right; a pie
only for two or three parts (the loader checks the type; the figure draws what it is given).
There is never a second y axis. The title is the chart's message, the subtitle the measure and
the period, and the value axis carries the unit. Hover labels read exactly like the table's
cells (:mod:`reports.formats`).

The product's one template (fonts, colours, margins) is :data:`TEMPLATE`, registered with Plotly
as ``kpiboard`` the first time a figure is made.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from reports import formats
from reports.model import Column
from reports.result import CURRENCY_COLUMN, Result, ordered_records

if TYPE_CHECKING:
    import plotly.graph_objects as go

FONT = "Liberation Sans, DejaVu Sans, Arial, sans-serif"
INK = "#1f2933"
"""Text and the actual series: solid, dark."""
GRID = "#e4e7eb"
PREVIOUS = "#b8bec6"
"""The previous year: light grey."""
SERIES = ("#1f2933", "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7f8c99")
"""Series colours after the first dark one: the Okabe–Ito palette, told apart by colour-blind
readers."""
TEMPLATE_NAME = "kpiboard"

_registered = False


def template() -> Any:
    """The product's Plotly template (registered once as ``kpiboard``)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    global _registered
    if not _registered:
        pio.templates[TEMPLATE_NAME] = go.layout.Template(
            layout=go.Layout(
                font={"family": FONT, "size": 12, "color": INK},
                title={
                    "font": {"size": 15, "color": INK, "weight": 700},
                    "x": 0,
                    "xanchor": "left",
                    "xref": "container",
                },
                colorway=list(SERIES),
                paper_bgcolor="white",
                plot_bgcolor="white",
                margin={"l": 10, "r": 20, "t": 62, "b": 10, "pad": 4},
                separators=".,",
                hoverlabel={"font": {"family": FONT}},
                xaxis={
                    "showgrid": False,
                    "linecolor": "#9aa5b1",
                    "ticks": "outside",
                    "tickcolor": "#9aa5b1",
                    "automargin": True,
                    "zeroline": False,
                },
                yaxis={
                    "gridcolor": GRID,
                    "zerolinecolor": "#9aa5b1",
                    "automargin": True,
                },
                legend={
                    "orientation": "h",
                    "x": 1,
                    "xanchor": "right",
                    "y": 1.02,
                    "yanchor": "bottom",
                },
                bargap=0.25,
            )
        )
        _registered = True
    return pio.templates[TEMPLATE_NAME]


PLAN_WORDS = re.compile(r"\b(plan|planned|target|budget)\b")
PREVIOUS_WORDS = re.compile(r"\b(prev|previous|prior|last year|py|ly)\b")
FORECAST_WORDS = re.compile(r"\b(forecast|projected|expected)\b")


def role(name: str, label: str = "") -> str:
    """A series' place in the notation, from its column's name and label: ``actual``, ``plan``
    (plan, target, budget), ``previous`` (prev, previous, prior, last year) or ``forecast``."""
    words = f"{name} {label}".lower().replace("_", " ")
    if PLAN_WORDS.search(words):
        return "plan"
    if PREVIOUS_WORDS.search(words):
        return "previous"
    if FORECAST_WORDS.search(words):
        return "forecast"
    return "actual"


def _float(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def _axis_value(value: Any, fmt: str) -> Any:
    """The value drawn: durations in hours (seconds make unreadable axes)."""
    value = _float(value)
    if value is None:
        return None
    if fmt == "duration":
        return value / 3600
    return value


def _unit(fmt: str, currency: str) -> str:
    return {
        "money": currency,
        "percent": "%",
        "pp": "pp",
        "duration": "hours",
        "days": "days",
    }.get(fmt, "")


def _value_axis(columns: Sequence[Column], currency: str) -> dict[str, Any]:
    fmt = columns[0].format
    labels = ", ".join(dict.fromkeys(c.label for c in columns))
    unit = _unit(fmt, currency)
    title = f"{labels}, {unit}" if unit else labels
    if len(columns) > 1 and unit:
        title = unit  # the legend names the measures
    axis: dict[str, Any] = {"title": {"text": _escape(title)}}
    if fmt == "money":
        symbol = formats.currency_symbol(currency)
        if symbol in formats.PREFIX_SYMBOLS:
            axis["tickprefix"] = symbol
        axis["tickformat"] = ",.0f"
    elif fmt in ("percent", "pp"):
        axis["tickformat"] = ".0%"
    elif fmt == "count":
        axis["tickformat"] = ",d"
    else:
        axis["tickformat"] = ",~f"
    return axis


def _subtitle(result: Result, columns: Sequence[Column]) -> str:
    measure = ", ".join(dict.fromkeys(c.label for c in columns))
    period_labels = {p.label for p in result.report.parameters if p.type in ("period", "date")}
    when = [value for label, value in result.parameters if label in period_labels]
    return " · ".join([measure, *when]) if when else measure


def _style(trace_type: str, kind: str, index: int) -> dict[str, Any]:
    """Colours and strokes of one series by its role in the notation."""
    colour = SERIES[index % len(SERIES)]
    if trace_type == "bar":
        if kind == "plan":
            return {"marker": {"color": "white", "line": {"color": INK, "width": 1.5}}}
        if kind == "previous":
            return {"marker": {"color": PREVIOUS}}
        if kind == "forecast":
            return {
                "marker": {
                    "color": "white",
                    "line": {"color": INK, "width": 1},
                    "pattern": {"shape": "/", "fgcolor": INK},
                }
            }
        return {"marker": {"color": colour}}
    if kind == "plan":
        return {"line": {"color": INK, "dash": "dash", "width": 1.5}}
    if kind == "previous":
        return {"line": {"color": PREVIOUS, "width": 2}}
    if kind == "forecast":
        return {"line": {"color": INK, "dash": "dot", "width": 1.5}}
    return {"line": {"color": colour, "width": 2.5}}


def _series(
    rows: Sequence[dict[str, Any]], result: Result, x: str, ys: Sequence[Column], color: str | None
) -> list[tuple[str, str, list[Any], list[Any], list[str]]]:
    """(role name, legend name, x values, y values, hover texts) per series."""

    def hover(value: Any, column: Column, row: dict[str, Any]) -> str:
        currency = str(row.get(CURRENCY_COLUMN) or result.currency)
        return formats.format_value(value, column.format, currency)

    out = []
    if color is not None:
        column = ys[0]
        groups: dict[Any, list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(row.get(color), []).append(row)
        for value, members in groups.items():
            name = _escape(formats.format_value(value))
            out.append(
                (
                    str(value),
                    name,
                    [r.get(x) for r in members],
                    [_axis_value(r.get(column.name), column.format) for r in members],
                    [hover(r.get(column.name), column, r) for r in members],
                )
            )
        return out
    for column in ys:
        out.append(
            (
                column.name,
                _escape(column.label),
                [r.get(x) for r in rows],
                [_axis_value(r.get(column.name), column.format) for r in rows],
                [hover(r.get(column.name), column, r) for r in rows],
            )
        )
    return out


def _is_time(values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, dt.date) for v in present)


def _column(result: Result, name: str) -> Column:
    found = next((c for c in result.columns if c.name == name), None)
    return found or Column(name=name, label=name.replace("_", " ").capitalize(), format="number")


def figure(result: Result) -> go.Figure | None:
    """The report's chart drawn from its rows, or ``None`` when it has no chart or no rows."""
    chart = result.report.chart
    if chart is None or result.frame.empty:
        return None
    import plotly.graph_objects as go

    rows = [row for row in ordered_records(result) if row.get(chart.x) is not None]
    if chart.limit is not None:
        rows = rows[: chart.limit]
    if not rows:
        return None
    ys = [_column(result, name) for name in chart.y]
    x_column = _column(result, chart.x)
    currencies = {str(r.get(CURRENCY_COLUMN) or result.currency) for r in rows}
    currency = currencies.pop() if len(currencies) == 1 else result.currency

    time_axis = _is_time([r[chart.x] for r in rows])
    if chart.type in ("line", "column", "stacked") and time_axis:
        rows = sorted(rows, key=lambda r: r[chart.x])  # time runs left to right
    if chart.type == "bar":
        first = ys[0].name
        totals: dict[Any, float] = {}
        for row in rows:
            value = _float(row.get(first)) or 0
            totals[row[chart.x]] = totals.get(row[chart.x], 0) + value
        rows = sorted(rows, key=lambda r: -totals[r[chart.x]])  # a ranking, biggest first

    roles = {c.name: role(c.name, c.label) for c in ys} if chart.color is None else {}
    fig = go.Figure()
    series = _series(rows, result, chart.x, ys, chart.color)
    if not time_axis or chart.type in ("bar", "pie", "funnel"):
        # categories read like the table's cells, and a '<' in a name stays a character
        series = [
            (key, name, [_escape(formats.format_value(v, x_column.format)) for v in xs], ys_, t)
            for key, name, xs, ys_, t in series
        ]
    if chart.type == "pie":
        _, _, labels, values, texts = series[0]
        fig.add_trace(
            go.Pie(
                labels=labels,
                values=values,
                customdata=texts,
                hovertemplate="%{label}: %{customdata}<extra></extra>",
                sort=False,
                direction="clockwise",
                hole=0.45,
                marker={"colors": list(SERIES), "line": {"color": "white", "width": 2}},
                texttemplate="%{label}<br>%{percent:.1%}",
            )
        )
    elif chart.type == "funnel":
        _, _, stages, values, texts = series[0]
        fig.add_trace(
            go.Funnel(
                y=stages,
                x=values,
                customdata=texts,
                texttemplate="%{customdata} (%{percentInitial:.1%})",
                hovertemplate="%{y}: %{customdata}<extra></extra>",
                marker={"color": INK},
                connector={"fillcolor": GRID},
            )
        )
    else:
        for index, (key, name, xs, values, texts) in enumerate(series):
            if chart.type == "line":
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=values,
                        name=name,
                        customdata=texts,
                        mode="lines+markers" if len(xs) < 40 else "lines",
                        hovertemplate="%{x}: %{customdata}<extra>" + _escape(name) + "</extra>",
                        **_style("line", roles.get(key, "actual"), index),
                    )
                )
            else:
                horizontal = chart.type == "bar"
                fig.add_trace(
                    go.Bar(
                        x=values if horizontal else xs,
                        y=xs if horizontal else values,
                        orientation="h" if horizontal else "v",
                        name=name,
                        customdata=texts,
                        hovertemplate=("%{y}" if horizontal else "%{x}")
                        + ": %{customdata}<extra>"
                        + _escape(name)
                        + "</extra>",
                        **_style("bar", roles.get(key, "actual"), index),
                    )
                )

    value_axis = _value_axis(ys, currency)
    category_axis: dict[str, Any] = {"title": {"text": ""}}
    if chart.type == "bar":
        category_axis["autorange"] = "reversed"
        fig.update_layout(xaxis=value_axis, yaxis=category_axis)
    elif chart.type in ("line", "column", "stacked"):
        if time_axis:
            category_axis["type"] = "date"
        else:
            category_axis["type"] = "category"
        fig.update_layout(xaxis=category_axis, yaxis=value_axis)
    categories = len({str(r[chart.x]) for r in rows})
    height = 340
    if chart.type in ("bar", "funnel"):
        height = max(
            220, min(620, 90 + 24 * categories * (len(series) if chart.type == "bar" else 1))
        )
    fig.update_layout(
        template=template(),
        title={
            "text": _escape(chart.title or result.report.title),
            "subtitle": {"text": _escape(_subtitle(result, ys)), "font": {"size": 12}},
        },
        barmode="stack" if chart.type == "stacked" else "group",
        showlegend=len(series) > 1 and chart.type not in ("pie", "funnel"),
        height=height,
    )
    return fig


def _escape(text: str) -> str:
    """Plotly reads a little HTML in titles and labels: a value's ``<`` stays a character."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
