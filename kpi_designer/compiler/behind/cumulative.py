"""``cumulative``: the input's rows in the window ending on the period's last day (from the
start of the to-date period, from N days or months before, or from the first row)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING

from kpi_designer import model as m
from kpi_designer.compiler.behind.parts import Part, fact_rows
from kpi_designer.compiler.dates import period_start, shift
from kpi_designer.compiler.query import Query

if TYPE_CHECKING:
    from kpi_designer.compiler.behind.registry import Behind


def cumulative(behind: Behind, kpi: m.Cumulative, query: Query) -> list[Part]:
    source = behind.kpis[kpi.kpi]
    assert isinstance(source, m.Simple)
    last = query.end  # the period's last day, as the value's calendar clips it to the range
    if kpi.to_date is not None:
        window = replace(query, start=period_start(last, kpi.to_date))
    elif kpi.window is not None:
        # as types.cumulative.calendar: (last day + 1) - N units is the window's first day
        window = replace(query, start=shift(last + dt.timedelta(days=1), kpi.window, "day", -1))
    else:
        return [fact_rows(behind.builder, source.measure, query, from_the_start=True)]
    return [fact_rows(behind.builder, source.measure, window)]
