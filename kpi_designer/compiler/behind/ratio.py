"""``ratio``: the numerator's rows and the denominator's, each tagged with its ``side``; the
value is the numerator's aggregate over the denominator's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpi_designer import model as m
from kpi_designer.compiler.behind.parts import Part, tagged
from kpi_designer.compiler.query import Query

if TYPE_CHECKING:
    from kpi_designer.compiler.behind.registry import Behind


def ratio(behind: Behind, kpi: m.Ratio, query: Query) -> list[Part]:
    parts = []
    for side, one in (("numerator", kpi.numerator), ("denominator", kpi.denominator)):
        parts += tagged(behind.kpi(behind.kpis[one.kpi], query, one.filters), "side", side)
    return parts
