"""``conversion``: the base events of the period, each with whether it ``converted``; the
value is the share that did."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpi_designer import model as m
from kpi_designer.compiler.behind.parts import Part, recognised
from kpi_designer.compiler.query import Query
from kpi_designer.compiler.types.conversion import converts

if TYPE_CHECKING:
    from kpi_designer.compiler.behind.registry import Behind


def conversion(behind: Behind, kpi: m.Conversion, query: Query) -> list[Part]:
    """Each base event converts as the value counts it (:func:`converts`); where base and
    conversion events are the same rows the value looks at each entity's next row instead,
    which comes to the same: another of the entity's rows within the window."""
    base, cols = behind.builder.rows(kpi.base.fact, kpi.base.time, query)
    if kpi.base.filters:
        base = base.where(*map(cols.rewrite, kpi.base.filters), copy=False)
    converted = converts(behind.builder, kpi, cols)
    return [Part(base, cols, {**recognised(cols), "converted": converted})]
