"""``period_over_period``: the KPI's rows now (``input`` ``current``) and in the period it is
compared with (``previous``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpi_designer import model as m
from kpi_designer.compiler.behind.derived import earlier
from kpi_designer.compiler.behind.parts import Part, tagged
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.types.period_over_period import pop_offset

if TYPE_CHECKING:
    from kpi_designer.compiler.behind.registry import Behind


def period_over_period(behind: Behind, kpi: m.PeriodOverPeriod, query: Query) -> list[Part]:
    source = behind.kpis[kpi.kpi]
    parts = tagged(behind.kpi(source, query), "input", "current")
    before = earlier(query, pop_offset(kpi), whole_periods=not kpi.like_for_like)
    if before is not None:
        parts += tagged(behind.kpi(source, before), "input", "previous")
    return parts
