"""``simple``: an aggregation of a fact's rows (:meth:`Builder.measures` does the work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from kpi_designer import model as m
from kpi_designer.compiler.query import Query

if TYPE_CHECKING:
    from kpi_designer.compiler.builder import Builder


def simple(builder: Builder, kpi: m.Simple, query: Query) -> exp.Select:
    """The fact's rows in the range, placed on the branch's local day, filtered and scoped,
    grouped by period and slice."""
    return builder.measures(kpi.measure.fact, kpi.measure.time, [("value", kpi.measure)], query)
