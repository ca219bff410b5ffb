"""The Sales & pipeline page's figures: pure functions from the engine's and the runner's frames
to Plotly figures, in the product's notation (actual solid dark, plan dashed or a marker, last
year light grey; rankings as sorted horizontal bars).

Each title is the chart's message ("Revenue 6.3% above plan in 2026-10"), computed from the
same numbers the chart draws. A point a reader may click carries what explains it in its
``customdata``: ``[text as shown, explanation request as JSON]`` (the page's click callback
writes the request to the shell's ``kb-explain-request`` store); an empty request means the
point explains nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dashboards import theme
from dashboards.format import kpi_value, number_or_none
from reports import formats

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

BAR_ROW = 30
"""Pixels per bar of a ranking (its height follows the number of bars)."""


def _go() -> Any:
    import plotly.graph_objects as go

    theme.template()  # registers the product's template once
    return go


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def month_end(first: dt.date) -> dt.date:
    """The last day of the month ``first`` starts."""
    after = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return after - dt.timedelta(days=1)


def year_later(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def request(kpi: str, **parts: Any) -> str:
    """An explanation request as the shell's store reads it (JSON)."""
    return json.dumps({"kpi": kpi, **parts}, sort_keys=True)


def month_name(first: dt.date) -> str:
    """``October 2026``: how a month reads in a title."""
    return first.strftime("%B %Y")


def against_plan(value: float | None, plan: float | None) -> str | None:
    """``6.3% above plan`` / ``12.0% below plan`` / ``on plan``; ``None`` without a plan."""
    if value is None or plan is None or plan == 0:
        return None
    gap = (value - plan) / abs(plan)
    if abs(gap) < 0.0005:
        return "on plan"
    return f"{formats.percent(abs(gap))} {'above' if gap > 0 else 'below'} plan"


def _unit_title(label: str, unit: str, currency: str) -> str:
    if unit == "money":
        return f"{label} ({currency})"
    if unit == "percent":
        return f"{label} (%)"
    return label


def _value_axis(unit: str, currency: str, label: str) -> dict[str, Any]:
    axis: dict[str, Any] = {"title": {"text": _unit_title(label, unit, currency)}}
    if unit == "money":
        axis.update(tickprefix=formats.currency_symbol(currency), tickformat="~s")
    elif unit == "percent":
        axis.update(tickformat=".0%")
    else:
        axis.update(tickformat="~s")
    axis["rangemode"] = "tozero"
    return axis


def _title(message: str, subtitle: str) -> dict[str, Any]:
    return {"text": message, "subtitle": {"text": subtitle, "font": {"size": 12}}}


# -- the trend -------------------------------------------------------------------------------


def trend_points(frame: pd.DataFrame) -> list[tuple[dt.date, float | None, float | None]]:
    """(month, value, plan) of an engine frame with one KPI by month, in time order."""
    if frame.empty:
        return []
    ordered = frame.sort_values("period")
    return [
        (_day(p), number_or_none(v), number_or_none(pl))
        for p, v, pl in zip(ordered["period"], ordered["value"], ordered["plan"], strict=True)
    ]


def trend_message(
    points: Sequence[tuple[dt.date, float | None, float | None]],
    *,
    label: str,
    unit: str,
    currency: str,
    where: str = "",
) -> str:
    """The trend's message, about its last month with a value: against plan when it has one,
    else the value itself (``Revenue 6.3% above plan in 2026-10``)."""
    shown = [p for p in points if p[1] is not None]
    if not shown:
        return f"No {label.lower()} in these months"
    month, value, plan = shown[-1]
    place = f" {where}" if where else ""
    gap = against_plan(value, plan)
    if gap is not None:
        return f"{label}{place} {gap} in {month_name(month)}"
    return f"{label}{place}: {kpi_value(value, unit, currency)} in {month_name(month)}"


def trend(
    frame: pd.DataFrame,
    last_year: pd.DataFrame | None = None,
    *,
    kpi: str,
    label: str,
    unit: str,
    currency: str,
    where: str = "",
) -> go.Figure:
    """A KPI by month: the actual solid and dark with markers, its plan dashed, the same months
    a year earlier light grey (``last_year`` holds those earlier months; they are drawn under
    the month a year later). Each point explains its own month when clicked."""
    go = _go()
    points = trend_points(frame)
    months = [p[0] for p in points]
    figure = go.Figure()

    def shown(value: float | None) -> str:
        return kpi_value(value, unit, currency)

    def custom(first: dt.date, value: float | None) -> list[str]:
        return [
            shown(value),
            request(kpi, start=first.isoformat(), end=month_end(first).isoformat()),
        ]

    if last_year is not None and not last_year.empty:
        before = trend_points(last_year)
        figure.add_trace(
            go.Scatter(
                x=[year_later(p[0]) for p in before],
                y=[p[1] for p in before],
                name="Last year",
                mode="lines",
                line={"color": theme.PREVIOUS, "width": 2},
                customdata=[custom(p[0], p[1]) for p in before],
                hovertemplate="%{x|%Y-%m} a year earlier: %{customdata[0]}<extra></extra>",
            )
        )
    plans = [p[2] for p in points]
    if any(v is not None for v in plans):
        figure.add_trace(
            go.Scatter(
                x=months,
                y=plans,
                name="Plan",
                mode="lines",
                line={"color": theme.PLAN, "width": 1.5, "dash": "dash"},
                customdata=[custom(p[0], p[2]) for p in points],
                hovertemplate="%{x|%Y-%m} plan: %{customdata[0]}<extra></extra>",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=months,
            y=[p[1] for p in points],
            name="Actual",
            mode="lines+markers",
            line={"color": theme.INK, "width": 2.5},
            marker={"size": 7, "color": theme.INK},
            customdata=[custom(p[0], p[1]) for p in points],
            hovertemplate="%{x|%Y-%m}: %{customdata[0]}<extra></extra>",
        )
    )
    span = f"{formats.month(months[0])} to {formats.month(months[-1])}" if months else ""
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title=_title(
            trend_message(points, label=label, unit=unit, currency=currency, where=where),
            f"{label} by month, {span}; plan dashed, last year grey. Click a month for its rows.",
        ),
        xaxis={"type": "date", "tickformat": "%b\n%Y", "dtick": "M1", "title": {"text": ""}},
        yaxis=_value_axis(unit, currency, label),
        hovermode="closest",
        height=360,
    )
    return figure


# -- a KPI by branch or by person against plan -----------------------------------------------


def bullet(
    frame: pd.DataFrame,
    *,
    dim: str,
    names: Mapping[str, str],
    kpi: str,
    label: str,
    unit: str,
    currency: str,
    noun: str,
    period: str,
) -> go.Figure:
    """Each member of ``dim`` (``branch``, ``employee``) against its plan: a dark bar for the
    actual, a plan marker across it, the achievement and status at the bar's end; sorted by
    value, biggest on top. A bar explains its slice when clicked."""
    go = _go()
    rows: list[dict[str, Any]] = []
    for record in frame.to_dict("records"):
        key = str(record[dim])
        rows.append(
            {
                "key": key,
                "name": names.get(key, key),
                "value": number_or_none(record.get("value")),
                "plan": number_or_none(record.get("plan")),
                "achievement": number_or_none(record.get("achievement")),
                "status": record.get("status") if isinstance(record.get("status"), str) else None,
            }
        )
    rows.sort(key=lambda r: (-(r["value"] or 0), r["name"]))
    names_shown = [r["name"] for r in rows]
    custom = [
        [kpi_value(r["value"], unit, currency), request(kpi, slice={dim: r["key"]})] for r in rows
    ]

    def note(r: dict[str, Any]) -> str:
        if r["achievement"] is None:
            return "  no plan"
        icon = theme.STATUS_ICONS.get(r["status"] or "", "")
        share = f"{r['achievement'] * 100:,.0f}%"
        return f"  {icon} {share}" if icon else f"  {share}"

    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=[r["value"] for r in rows],
            y=names_shown,
            orientation="h",
            name="Actual",
            marker={"color": theme.INK},
            text=[note(r) for r in rows],
            textposition="outside",
            cliponaxis=False,
            customdata=custom,
            hovertemplate="%{y}: %{customdata[0]}<extra>Actual</extra>",
        )
    )
    planned = [r for r in rows if r["plan"] is not None]
    if planned:
        plan_x = [r["plan"] for r in planned]
        plan_y = [r["name"] for r in planned]
        figure.add_trace(  # a white halo, so the dark plan mark reads on the dark bar
            go.Scatter(
                x=plan_x,
                y=plan_y,
                mode="markers",
                marker={"symbol": "line-ns", "size": 28, "line": {"width": 7, "color": "white"}},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=plan_x,
                y=plan_y,
                mode="markers",
                name="Plan",
                marker={"symbol": "line-ns", "size": 28, "line": {"width": 3, "color": theme.PLAN}},
                customdata=[
                    [kpi_value(r["plan"], unit, currency), request(kpi, slice={dim: r["key"]})]
                    for r in planned
                ],
                hovertemplate="%{y} plan: %{customdata[0]}<extra>Plan</extra>",
            )
        )
    high = max([v for r in rows for v in (r["value"], r["plan"]) if v is not None] or [0])
    axis = _value_axis(unit, currency, label)
    if high > 0:
        axis["range"] = [0, high * 1.18]  # room for the achievement at the bar's end
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title=_title(
            bullet_message(rows, noun=noun),
            f"{label}, {period}. Bar: actual; mark: plan; % of plan at the bar's end.",
        ),
        xaxis=axis,
        yaxis={"autorange": "reversed", "title": {"text": ""}, "type": "category"},
        height=max(220, 110 + BAR_ROW * len(rows)),
        showlegend=False,
        bargap=0.35,
    )
    return figure


def bullet_message(rows: Sequence[Mapping[str, Any]], *, noun: str) -> str:
    """Who is furthest below plan and how many are below, or that all are on plan."""
    planned = [r for r in rows if r.get("achievement") is not None]
    if not rows:
        return f"No {noun} has a value"
    if not planned:
        return f"No {noun} has a plan for this period"
    below = [r for r in planned if r["achievement"] < 1]
    if not below:
        best = max(planned, key=lambda r: r["achievement"])
        gap = against_plan(best["value"], best["plan"])
        return f"Every {noun} on or above plan; {best['name']} {gap}"
    worst = min(below, key=lambda r: r["achievement"])
    gap = against_plan(worst["value"], worst["plan"])
    plural = noun if len(planned) == 1 else _plural(noun)
    return f"{worst['name']} {gap}; {len(below)} of {len(planned)} {plural} below plan"


def _plural(noun: str) -> str:
    if noun.endswith("ch"):
        return noun + "es"
    return noun + "s"


# -- the pipeline -----------------------------------------------------------------------------


def funnel(frame: pd.DataFrame, *, period: str) -> go.Figure:
    """The ``pipeline_funnel`` report's stages as a funnel: the deals that reached each stage,
    and the share of the stage before that moved on (the conversion), the weakest step named
    in the title."""
    go = _go()
    ordered = frame.sort_values("stage_order") if "stage_order" in frame else frame
    stages = [str(s) for s in ordered["stage"]]
    deals = [number_or_none(v) or 0.0 for v in ordered["deals"]]
    conversions = [number_or_none(v) for v in ordered["from_previous"]]
    texts = []
    for i, (count, rate) in enumerate(zip(deals, conversions, strict=True)):
        text = formats.count(count)
        if i and rate is not None:
            text += f" · {formats.percent(rate)}"
        texts.append(text)
    widest = max(deals or [0])
    figure = go.Figure(
        go.Funnel(
            y=stages,
            x=deals,
            text=texts,
            textinfo="text",
            # inside a wide bar, beside a narrow one (its text would be cut inside it)
            textposition=["inside" if d >= 0.45 * widest else "outside" for d in deals],
            insidetextfont={"color": "white"},
            outsidetextfont={"color": theme.INK},
            constraintext="none",
            hovertemplate="%{y}: %{text}<extra></extra>",
            marker={"color": theme.INK},
            connector={"fillcolor": theme.GRID},
        )
    )
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title=_title(
            funnel_message(stages, deals, conversions),
            f"Deals opened in {period} by stage reached; % = moved on from the stage before.",
        ),
        yaxis={"title": {"text": ""}},
        height=max(260, 110 + 52 * len(stages)),
        showlegend=False,
    )
    return figure


def funnel_message(
    stages: Sequence[str], deals: Sequence[float], conversions: Sequence[float | None]
) -> str:
    if not stages or not deals[0]:
        return "No deals reached a stage"
    reached = deals[-1] / deals[0]
    steps = [(c, i) for i, c in enumerate(conversions) if i and c is not None]
    head = f"{formats.percent(reached)} of deals opened reached {stages[-1]}"
    if not steps:
        return head
    _rate, i = min(steps)
    return f"{head}; weakest step {stages[i - 1]} → {stages[i]}"


def lost_reasons(frame: pd.DataFrame, *, currency: str, period: str) -> go.Figure:
    """The ``lost_reasons`` report as a ranking: the amount lost with each reason, biggest on
    top, the number of deals at the bar's end."""
    go = _go()
    records = sorted(
        frame.to_dict("records"),
        key=lambda r: (-(number_or_none(r.get("amount")) or 0), str(r["lost_group"])),
    )
    reasons = [str(r["lost_group"]) for r in records]
    amounts = [number_or_none(r.get("amount")) for r in records]
    counts = [number_or_none(r.get("deals")) or 0 for r in records]
    figure = go.Figure(
        go.Bar(
            x=amounts,
            y=reasons,
            orientation="h",
            marker={"color": theme.INK},
            text=[f"  {formats.count(c)} deal{'s' if c != 1 else ''}" for c in counts],
            textposition="outside",
            cliponaxis=False,
            customdata=[formats.money(a, currency) if a is not None else "" for a in amounts],
            hovertemplate="%{y}: %{customdata}%{text}<extra></extra>",
        )
    )
    if records:
        top = amounts[0]
        message = (
            f"“{reasons[0]}” lost the most: {kpi_value(top, 'money', currency)} "
            f"in {formats.count(counts[0])} deals"
        )
    else:
        message = "No deals lost"
    high = max([a for a in amounts if a is not None] or [0])
    axis = _value_axis("money", currency, "Amount lost")
    if high > 0:
        axis["range"] = [0, high * 1.2]
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title=_title(message, f"Amount of the deals lost in {period}, by the reason given."),
        xaxis=axis,
        yaxis={"autorange": "reversed", "title": {"text": ""}, "type": "category"},
        height=max(220, 110 + BAR_ROW * len(records)),
        showlegend=False,
    )
    return figure
