"""``derived``: each input's rows, tagged with the input's name (``input``). An input with an
offset lists the rows of the earlier period its value comes from."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from kpi_designer import model as m
from kpi_designer.compiler.behind.parts import Part, tagged
from kpi_designer.compiler.dates import period_end, period_start, shift
from kpi_designer.compiler.query import Query

if TYPE_CHECKING:
    from kpi_designer.compiler.behind.registry import Behind


def derived(behind: Behind, kpi: m.Derived, query: Query) -> list[Part]:
    parts = []
    for one in kpi.named:
        asked = query if one.offset is None else earlier(query, one.offset, whole_periods=True)
        if asked is not None:
            source = behind.kpis[one.kpi]
            parts += tagged(behind.kpi(source, asked, one.filters), "input", one.alias)
    return parts


def earlier(query: Query, offset: m.Span, *, whole_periods: bool) -> Query | None:
    """The query of the period ``offset`` before the one of ``query`` whose value an input
    with that offset gives it: the period the current one meets moved back (as the value's
    join does, :func:`kpi_designer.compiler.trees.meets`), within the range the input is
    computed on (:meth:`Query.moved`); ``None`` when no period starts there (30 days before
    a month's first day)."""
    first = shift(query.start, offset, query.grain, -1)
    if first != period_start(first, query.grain):
        return None
    moved = query.moved(offset, whole_periods=whole_periods)
    start, end = max(first, moved.start), min(period_end(first, query.grain), moved.end)
    return replace(query, start=start, end=end) if start <= end else None
