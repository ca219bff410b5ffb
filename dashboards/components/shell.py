"""Parts of the shell: the data's freshness and the data-quality badge (``DESIGN.md``, "Page
anatomy": nobody reads a number without knowing how fresh and how clean it is)."""

from __future__ import annotations

import datetime as dt

from dash import dcc, html

from dashboards.data import Data
from reports import formats


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return formats.EM_DASH
    return formats.datetime(moment)


def freshness(data: Data, *, quality: bool = True) -> list[html.Span | dcc.Link]:
    """ "Data as of 2026-12-06 15:03 UTC (up to 2026-10-31)" and, when ``quality`` (a viewer
    who may open the data-quality page), the quality badge: amber when any row is held in
    quarantine or an expectation failed, with the numbers, linking to that page."""
    as_of = data.as_of()
    if as_of is None:
        return [html.Span("No data published yet: run `kpiboard etl run`.", className="kb-asof")]
    last = data.last_day()
    shown = html.Span(
        [
            "Data as of ",
            html.Time(_when(as_of), dateTime=as_of.isoformat()),
            f" · up to {last.isoformat()}" if last else "",
        ],
        className="kb-asof",
        id="kb-asof",
    )
    if not quality:
        return [shown]
    return [shown, _badge(data)]


def _badge(data: Data) -> dcc.Link:
    quality = data.quality()
    badge_class = "kb-quality kb-quality-clean" if quality.clean else "kb-quality kb-quality-held"
    parts = []
    if quality.quarantined:
        parts.append(f"{quality.quarantined:,} rows held")
    if quality.failing:
        parts.append(f"{quality.failing:,} checks failing")
    text = ("⚠ " + ", ".join(parts)) if parts else "✓ all checks pass"
    validated = _when(quality.validated_at)
    return dcc.Link(
        text,
        href="/quality",
        className=badge_class,
        id="kb-quality-badge",
        title=f"Last validation {validated}. Open the data-quality page.",
    )
