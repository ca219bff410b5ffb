"""KPI numbers as pages show them, asked of the engine: a tile's headline and a trend.

Thin over :class:`kpi_designer.engine.Engine`: every number here is one the engine answered for
the same KPI, period, slice and scope (``kpiboard kpi eval`` prints the same), so a test can
compare a tile with the engine directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dashboards.filters import Filters
from dashboards.format import number_or_none

if TYPE_CHECKING:
    import pandas as pd

    from dashboards.data import Data

TREND_MONTHS = 12


@dataclass(frozen=True)
class Headline:
    """One KPI over the filters' period: value, plan and status, the same KPI over the
    previous period and a year earlier, and its last months for the sparkline."""

    kpi: str
    label: str
    unit: str
    direction: str
    description: str
    value: float | None = None
    plan: float | None = None
    achievement: float | None = None
    status: str | None = None
    previous: float | None = None
    last_year: float | None = None
    trend: tuple[tuple[dt.date, float | None, float | None], ...] = ()
    """(month, value, plan) for the last :data:`TREND_MONTHS` months up to the period's end."""
    problem: str | None = None
    """Why there is no number (the KPI is not defined, its definition has a problem …)."""
    extra: Mapping[str, Any] = field(default_factory=dict)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def trend_range(end: dt.date, months: int = TREND_MONTHS) -> tuple[dt.date, dt.date]:
    """The whole months ending with ``end``'s month."""
    last = add_months(month_start(end), 1) - dt.timedelta(days=1)
    return add_months(month_start(end), -(months - 1)), last


def _by_kpi(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for record in frame.to_dict("records"):
        out[str(record["kpi"])] = record
    return out


def headlines(data: Data, kpi_ids: Sequence[str], filters: Filters) -> list[Headline]:
    """The headline of each KPI in ``kpi_ids`` under ``filters`` (their scope and period). A KPI
    that is not defined, or whose definition has a problem, gets a headline with ``problem``
    and no number; the others are unaffected. Kept per snapshot and definitions
    (:meth:`Data.cached`): a page asked again answers from memory."""
    key = ("headlines", tuple(kpi_ids), filters.start, filters.end, _scope_key(filters.scope()))
    return data.cached(key, lambda: _headlines(data, kpi_ids, filters))


def _scope_key(scope: Mapping[str, Sequence[str]]) -> tuple[object, ...]:
    return tuple(sorted((k, tuple(v)) for k, v in scope.items()))


def _headlines(data: Data, kpi_ids: Sequence[str], filters: Filters) -> list[Headline]:
    engine = data.engine()
    kpis = engine.kpis
    left_out = engine.definitions.left_out
    known = [k for k in kpi_ids if k in kpis]
    scope = filters.scope()

    def ask(start: dt.date, end: dt.date, grain: str = "range") -> Any:
        return engine.evaluate_apart(known, start=start, end=end, grain=grain, scope=scope)

    now = ask(filters.start, filters.end)
    before = ask(*filters.previous())
    year = ask(*filters.last_year())
    first, last = trend_range(filters.end)
    trend = ask(first, last, "month")
    values, previous, last_year = _by_kpi(now.frame), _by_kpi(before.frame), _by_kpi(year.frame)
    out = []
    for kpi_id in kpi_ids:
        kpi = kpis.get(kpi_id)
        if kpi is None:
            why = left_out[kpi_id].message if kpi_id in left_out else "not defined in this project"
            out.append(Headline(kpi_id, kpi_id, "count", "higher", "", problem=why))
            continue
        failed = now.failed.get(kpi_id)
        row = values.get(kpi_id, {})
        points = trend.frame[trend.frame["kpi"] == kpi_id].sort_values("period")
        out.append(
            Headline(
                kpi=kpi_id,
                label=kpi.label,
                unit=kpi.unit,
                direction=kpi.direction,
                description=kpi.description,
                value=number_or_none(row.get("value")),
                plan=number_or_none(row.get("plan")),
                achievement=number_or_none(row.get("achievement")),
                status=row.get("status") or None,
                previous=number_or_none(previous.get(kpi_id, {}).get("value")),
                last_year=number_or_none(last_year.get(kpi_id, {}).get("value")),
                trend=tuple(
                    (_day(p), number_or_none(v), number_or_none(pl))
                    for p, v, pl in zip(
                        points["period"], points["value"], points["plan"], strict=True
                    )
                ),
                problem=failed.message if failed is not None else None,
            )
        )
    return out


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
